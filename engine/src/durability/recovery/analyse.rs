//! Reading a database back: the snapshot, an interrupted checkpoint's new log, and the log,
//! replayed in order, with the end of the log classified as clean, torn or corrupt.
//!
//! Everything here only reads. [`analyse`] decides; the callers (open, `check`, `repair`)
//! act on the decision, so a file we refuse is never touched.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;

use crate::durability::Map;
use crate::durability::snapshot;
use crate::durability::text::{self, Canonicaliser, MAX_TEXT_DEPTH};
use crate::durability::wal::record::{self, Frame, Header, Layout, Op, SECTOR, SnapshotId};
use crate::error::{Error, Result};
use crate::files;
use crate::fs::Fs;

/// How the written part of a log ends: what recovery decides, and what `check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogTail {
    /// Zeros (or the end of the file) right after the last commit.
    Clean,
    /// Bytes after the last commit that hold no complete, valid commit, and no record of a
    /// later commit after them: a crash during an append. Open cuts it off (it held only
    /// unacknowledged writes).
    Torn {
        /// Where the cut starts.
        offset: u64,
        /// How many bytes it holds, up to the last non-zero byte.
        bytes: u64,
        /// What was wrong with them.
        reason: String,
    },
    /// Damage that is not a torn tail: a bad record with a record of a later commit after
    /// it, a gap in sequence numbers, or a valid record that cannot be applied. Open
    /// refuses; `repair` can cut the log at `cut`.
    Corrupt {
        /// The first bad byte found.
        offset: u64,
        /// What is wrong there.
        reason: String,
        /// Where a repair cuts: where the commit after the last good one starts.
        cut: u64,
        /// Bytes from `cut` to the last non-zero byte of the file.
        bytes: u64,
        /// Valid records found after the damage, which a repair would drop.
        records_after: u64,
    },
}

/// One log file, read and replayed.
#[derive(Debug, Clone)]
pub(crate) struct LogScan {
    pub path: PathBuf,
    pub header: Header,
    /// Records of complete commits applied.
    pub records: u64,
    pub last_seq: u64,
    /// The end of the last complete commit's bytes (the next commit starts at the next
    /// sector boundary: [`LogScan::append_at`]).
    pub end: u64,
    pub file_len: u64,
    pub tail: LogTail,
    /// The length the file's chunks say it has at least, if it is shorter (see
    /// [`Warning::ShortLog`](crate::Warning::ShortLog)).
    pub short_of: Option<u64>,
    /// CRC32C of the whole file, so a repair can tell the file has not changed since its
    /// plan was made.
    pub fingerprint: u32,
}

/// What recovery makes of the files beside `PATH.wal.next`, the log a checkpoint prepares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextLog {
    /// There is none.
    Absent,
    /// It names the snapshot on disk: the checkpoint got past installing its snapshot, so
    /// this is the live log and must be renamed over `PATH.wal`.
    Finish,
    /// It does not: the checkpoint never installed its snapshot; delete it.
    Abandon,
}

/// Why the log cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unusable {
    pub path: PathBuf,
    pub reason: String,
    pub file_len: u64,
}

/// The log recovery continues from.
#[derive(Debug, Clone)]
pub(crate) enum LogChoice {
    /// No log: the snapshot is everything.
    None,
    Log(LogScan),
    /// The header is damaged, or names another snapshot.
    Unusable(Unusable),
}

/// Everything recovery needs to know, found without changing anything.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    /// The snapshot's length, if there is one.
    pub snapshot_len: Option<u64>,
    pub snapshot_id: SnapshotId,
    /// The snapshot with every complete, valid commit of the log applied.
    pub map: Map,
    pub next: NextLog,
    pub log: LogChoice,
}

impl Analysis {
    /// The error that refuses to open, if the files are not a recoverable state.
    pub fn refusal(&self) -> Option<Error> {
        match &self.log {
            LogChoice::Unusable(unusable) => Some(Error::Corrupt {
                path: unusable.path.clone(),
                offset: 0,
                reason: unusable.reason.clone(),
            }),
            LogChoice::Log(LogScan {
                path,
                tail: LogTail::Corrupt { offset, reason, .. },
                ..
            }) => Some(Error::Corrupt {
                path: path.clone(),
                offset: *offset,
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    /// The log scan, if there is a usable log.
    pub fn scan(&self) -> Option<&LogScan> {
        match &self.log {
            LogChoice::Log(scan) => Some(scan),
            _ => None,
        }
    }
}

/// Reads a file that may be missing.
pub(crate) fn read_optional(fs: &dyn Fs, path: &Path) -> Result<Option<Vec<u8>>> {
    match fs.read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

/// Reads the snapshot at `path` and the logs beside it, and replays them. Fails only if a
/// file cannot be read or the snapshot cannot be parsed; damage in the log is reported in
/// the result (see [`Analysis::refusal`]).
pub(crate) fn analyse(fs: &dyn Fs, path: &Path) -> Result<Analysis> {
    let snapshot_bytes = read_optional(fs, path)?;
    let mut map = match &snapshot_bytes {
        Some(bytes) => snapshot::parse(path, bytes)?,
        None => Map::new(),
    };
    let snapshot_id = SnapshotId::of(snapshot_bytes.as_deref());
    let snapshot_len = snapshot_bytes.as_ref().map(|bytes| bytes.len() as u64);
    drop(snapshot_bytes);

    let wal_path = files::wal_path(path);
    let next_path = files::wal_next_path(path);
    let next_bytes = read_optional(fs, &next_path)?;
    let next_header = next_bytes
        .as_deref()
        .and_then(|bytes| Header::decode(bytes).ok());
    // Read once: both the decision about `.next` and the replay need it.
    let wal_bytes = read_optional(fs, &wal_path)?;

    // A checkpoint writes and syncs its new log before it installs the snapshot that log
    // names, so a new log naming the snapshot on disk *may* mean the snapshot was
    // installed. Content alone cannot prove it: a checkpoint whose records netted to no
    // change names a snapshot byte-identical to the old one, and if it failed before
    // installing, more commits went to the old log. So the new log is taken only when it
    // provably continues the old one: its base sequence number covers every commit the
    // old log holds (then the snapshot it names, which is on disk, holds them all).
    if let (Some(bytes), Some(header)) = (&next_bytes, next_header)
        && header.snapshot == snapshot_id
        && next_continues_log(wal_bytes.as_deref(), header.base_seq)
    {
        let scan = scan(&next_path, bytes, header, &mut map);
        return Ok(Analysis {
            snapshot_len,
            snapshot_id,
            map,
            next: NextLog::Finish,
            log: LogChoice::Log(scan),
        });
    }
    let next = if next_bytes.is_some() {
        NextLog::Abandon
    } else {
        NextLog::Absent
    };
    drop(next_bytes);

    let log = match wal_bytes {
        None => LogChoice::None,
        Some(bytes) => match Header::decode(&bytes) {
            Err(reason) => LogChoice::Unusable(Unusable {
                path: wal_path,
                reason: format!("bad log header: {reason}"),
                file_len: bytes.len() as u64,
            }),
            Ok(header) if header.snapshot != snapshot_id => LogChoice::Unusable(Unusable {
                path: wal_path,
                reason: format!(
                    "the log continues {}, but {} is {} (was the snapshot replaced or edited?)",
                    describe(header.snapshot),
                    path.display(),
                    describe(snapshot_id)
                ),
                file_len: bytes.len() as u64,
            }),
            Ok(header) => LogChoice::Log(scan(&wal_path, &bytes, header, &mut map)),
        },
    };
    Ok(Analysis {
        snapshot_len,
        snapshot_id,
        map,
        next,
        log,
    })
}

fn describe(id: SnapshotId) -> String {
    match id {
        SnapshotId::Absent => "no snapshot file".to_string(),
        SnapshotId::Present { len, crc } => {
            format!("a snapshot of {len} bytes with CRC32C {crc:08x}")
        }
    }
}

/// Whether a checkpoint's new log whose header says it follows sequence number
/// `base_seq` holds every commit of the old log `wal` (or there is none). The old log's
/// records are only counted, not applied; a log whose header cannot be read proves
/// nothing, so the answer is then no.
fn next_continues_log(wal: Option<&[u8]>, base_seq: u64) -> bool {
    let Some(bytes) = wal else {
        return true;
    };
    match Header::decode(bytes) {
        Ok(header) => last_committed_seq(bytes, header) <= base_seq,
        Err(_) => false,
    }
}

/// The sequence number of the last complete commit of a log, or of any valid record
/// found after damage if that is higher: without replaying anything.
pub(crate) fn last_committed_seq(bytes: &[u8], header: Header) -> u64 {
    let layout = header.layout;
    let mut pos = layout.data_start() as usize;
    let mut last = header.base_seq;
    while let Frame::Record {
        seq, commit, len, ..
    } = record::decode(bytes, pos, header.generation, layout)
    {
        pos += len;
        if commit {
            last = last.max(seq);
            pos = layout.align(pos as u64) as usize;
        }
    }
    // Records after damage: any valid one with a higher number also counts.
    let min_record = layout.min_record();
    let mut probe = pos;
    while probe + min_record <= bytes.len() {
        if let Frame::Record { seq, len, .. } =
            record::decode(bytes, probe, header.generation, layout)
        {
            last = last.max(seq);
            probe += len;
        } else {
            probe += 1;
        }
    }
    last
}

/// Replays the complete commits of the log in `bytes` onto `map` and classifies its end.
/// Stops applying at the first damage, so `map` is exact whenever the tail is not corrupt.
pub(crate) fn scan(path: &Path, bytes: &[u8], header: Header, map: &mut Map) -> LogScan {
    let generation = header.generation;
    let layout = header.layout;
    let start = layout.data_start() as usize;
    let mut pos = start;
    let mut end = start;
    let mut expected = header.base_seq.wrapping_add(1);
    let mut last_seq = header.base_seq;
    let mut records = 0u64;
    // The records of the commit being read: applied only once its last record arrives, so
    // a torn commit leaves no trace.
    let mut pending: Vec<(usize, Op<'_>)> = Vec::new();
    let mut canonicaliser = Canonicaliser::default();
    let corrupt = |offset: usize, reason: String, end: usize, last_seq: u64| {
        let cut = tail_start(bytes, end, layout);
        let (bytes_after, records_after) = damage_extent(bytes, cut, last_seq, header);
        LogTail::Corrupt {
            offset: offset as u64,
            reason,
            cut: cut as u64,
            bytes: bytes_after,
            records_after,
        }
    };

    let stop = loop {
        match record::decode(bytes, pos, generation, layout) {
            Frame::Record {
                seq,
                op,
                commit,
                commit_first,
                len,
                ..
            } => {
                if seq != expected {
                    let reason = format!(
                        "record has sequence number {seq} where {expected} was expected \
                         (a gap or reordering in the log)"
                    );
                    let tail = corrupt(pos, reason, end, last_seq);
                    return finish(path, bytes, header, records, last_seq, end, tail);
                }
                if let Some(first) = commit_first
                    && first != last_seq.wrapping_add(1)
                {
                    let reason = format!(
                        "record {seq} says its commit began at sequence number {first}, \
                         but the commit began at {}",
                        last_seq.wrapping_add(1)
                    );
                    let tail = corrupt(pos, reason, end, last_seq);
                    return finish(path, bytes, header, records, last_seq, end, tail);
                }
                pending.push((pos, op));
                pos += len;
                expected = expected.wrapping_add(1);
                if commit {
                    for (offset, op) in pending.drain(..) {
                        if let Err(reason) = apply(map, op, &mut canonicaliser) {
                            let tail = corrupt(offset, reason, end, last_seq);
                            return finish(path, bytes, header, records, last_seq, end, tail);
                        }
                        records += 1;
                    }
                    last_seq = seq;
                    end = pos;
                    // The next commit starts on the next sector; the gap is never written.
                    pos = (layout.align(pos as u64) as usize).min(bytes.len());
                }
            }
            Frame::End if pending.is_empty() => {
                break (pos, "non-zero bytes after the end of the log".to_string());
            }
            Frame::End => break (pos, "a commit without its last record".to_string()),
            Frame::Bad(reason) => break (pos, reason),
        }
    };
    let (stop_pos, stop_reason) = stop;
    let tail_start = tail_start(bytes, end, layout);

    // A valid record after the point where reading stopped is a torn tail only if it
    // belongs to the commit that was being written when the power went: that commit's
    // pages may reach the disk in any order, so a later page can survive an earlier one.
    // A record of a *later* commit proves the damage is not a torn tail: only the last
    // commit can be unsynced, and a later one was written after it — unless the record
    // says it was written while earlier commits were unsynced (asynchronous commit,
    // stage 5), whose pages may land in any order. (A version-1 log does
    // not say which commit a record belongs to, so there any valid record proves it.)
    // A record cannot end in the zeros after the last non-zero byte, so the probes stop
    // there: in a preallocated log that is right after the end, not the end of the file.
    let min_record = layout.min_record();
    let last = last_nonzero(bytes, tail_start);
    let probe_end = last.map_or(0, |last| (last + 1).saturating_sub(min_record - 1));
    let max_seq =
        last_seq.saturating_add((bytes.len().saturating_sub(end) / min_record) as u64 + 1);
    let first_seq = last_seq.saturating_add(1);
    let mut probe = stop_pos + 1;
    while probe < probe_end {
        if !record::plausible_at(bytes, probe, first_seq..=max_seq, layout) {
            probe += 1;
            continue;
        }
        match record::decode(bytes, probe, generation, layout) {
            Frame::Record {
                commit_first: Some(first),
                len,
                ..
            } if first == first_seq => {
                // Part of the torn commit itself.
                probe += len;
            }
            // Written while earlier commits were not yet synced (asynchronous commit): its
            // pages may have reached the disk before theirs, so it proves nothing.
            Frame::Record {
                after_unsynced: true,
                len,
                ..
            } => probe += len,
            Frame::Record { seq, .. } => {
                let reason = format!(
                    "{stop_reason}, yet a valid record of a later commit, sequence \
                     number {seq}, follows at offset {probe}"
                );
                let tail = corrupt(stop_pos, reason, end, last_seq);
                return finish(path, bytes, header, records, last_seq, end, tail);
            }
            _ => probe += 1,
        }
    }
    let tail = match last {
        None => LogTail::Clean,
        Some(last) => LogTail::Torn {
            offset: tail_start as u64,
            bytes: (last + 1 - tail_start) as u64,
            reason: if stop_pos > tail_start {
                format!("{stop_reason} at offset {stop_pos}, in an incomplete commit")
            } else {
                stop_reason
            },
        },
    };
    finish(path, bytes, header, records, last_seq, end, tail)
}

fn finish(
    path: &Path,
    bytes: &[u8],
    header: Header,
    records: u64,
    last_seq: u64,
    end: usize,
    tail: LogTail,
) -> LogScan {
    // The file grows by whole chunks, each made durable before a record is written in it,
    // so it is never shorter than the chunks its last commit needed: if it is, something
    // cut it, and whatever it held after the cut is gone. (Version 1 did not record its
    // chunk size.)
    let expected = header.whole_chunks(end as u64).unwrap_or(0);
    LogScan {
        path: path.to_path_buf(),
        header,
        records,
        last_seq,
        end: end as u64,
        file_len: bytes.len() as u64,
        tail,
        short_of: (expected > bytes.len() as u64).then_some(expected),
        fingerprint: crc32c::crc32c(bytes),
    }
}

/// Where the tail after the last complete commit (ending at `end`) starts: the next
/// sector boundary, where the next commit would have been written. Cutting a tail from
/// there never writes into the sector holding acknowledged bytes, which on media without
/// power-safe overwrite a crash during the cut could destroy. Only if the gap before it
/// is not zero (damage that no crash of ours leaves) does the tail start right at `end`.
fn tail_start(bytes: &[u8], end: usize, layout: Layout) -> usize {
    let next = (layout.align(end as u64) as usize).min(bytes.len());
    match bytes.get(end..next) {
        Some(gap) if gap.iter().all(|&byte| byte == 0) => next,
        _ => end.min(bytes.len()),
    }
}

impl LogScan {
    /// Where the next commit goes: the first sector boundary after the last commit.
    pub fn append_at(&self) -> u64 {
        self.header.layout.align(self.end)
    }
}

/// The bytes from `end` to the last non-zero byte, and the valid records among them.
fn damage_extent(bytes: &[u8], end: usize, last_seq: u64, header: Header) -> (u64, u64) {
    let layout = header.layout;
    let min_record = layout.min_record();
    let extent = last_nonzero(bytes, end).map_or(0, |last| last + 1 - end);
    let max_seq = last_seq.saturating_add((extent / min_record) as u64 + 1);
    let mut records = 0;
    let mut probe = end;
    while probe + min_record <= end + extent {
        if record::plausible_at(bytes, probe, last_seq.saturating_add(1)..=max_seq, layout)
            && let Frame::Record { len, .. } =
                record::decode(bytes, probe, header.generation, layout)
        {
            records += 1;
            probe += len;
            continue;
        }
        probe += 1;
    }
    (extent as u64, records)
}

fn last_nonzero(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .rposition(|&byte| byte != 0)
        .map(|index| from + index)
}

/// Applies one logged operation.
fn apply(map: &mut Map, op: Op<'_>, canonicaliser: &mut Canonicaliser) -> Result<(), String> {
    match op {
        Op::Put { key, value: bytes } => {
            // Records this crate writes hold canonical text: checked, and copied from the
            // record straight into the map's entry.
            let fast = serde_json::from_slice::<&RawValue>(bytes)
                .ok()
                .and_then(|raw| {
                    canonicaliser
                        .canonical_borrowed(raw.get(), MAX_TEXT_DEPTH)
                        .ok()
                });
            let value = match fast {
                Some(value) => value,
                // Anything else goes through a `Value`, as it always did: the same
                // canonical text, or the parser's own reason for refusing it.
                None => serde_json::from_slice::<Value>(bytes)
                    .and_then(|value| text::from_value(&value))
                    .map(|text| Cow::Owned(text.into()))
                    .map_err(|err| format!("the value of key {key:?} is not valid JSON: {err}"))?,
            };
            // One descent of the tree: a key already there has its entry replaced.
            map.insert(key, &value);
        }
        Op::Delete { key } => {
            map.remove(key);
        }
    }
    Ok(())
}

/// How many bytes [`zero_back_to_front`] zeroes per sync.
const ZERO_PIECE: u64 = 1 << 20;

/// Overwrites `len` bytes at `offset` with zeros, from the end backwards in pieces, syncing
/// after each. A crash part-way then leaves the region's beginning and zeros after it,
/// never zeros followed by surviving records of a later commit, which the next open would
/// take for damage followed by a valid record (corruption). Within a piece, sectors may
/// land in any order, but every record in the region is dropped by the same decision, so
/// what a crash leaves reads the same way as before the cut. For a torn tail (one commit,
/// never acknowledged) of a current-format log, one piece is enough whatever its size:
/// its records all belong to the torn commit, however they land. Version-1 logs do not
/// say which commit a record belongs to, so there the pieces are single sectors.
pub(crate) fn zero_back_to_front(
    file: &mut dyn crate::fs::FsFile,
    offset: u64,
    len: u64,
    layout: Layout,
) -> io::Result<()> {
    let piece = if layout.version() == 1 {
        SECTOR
    } else {
        ZERO_PIECE
    };
    let zeros = vec![0u8; len.min(piece) as usize];
    let mut high = offset + len;
    while high > offset {
        let low = ((high - 1) / piece * piece).max(offset);
        file.write_all_at(low, &zeros[..(high - low) as usize])?;
        file.sync_data()?;
        high = low;
    }
    Ok(())
}

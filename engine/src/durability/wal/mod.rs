//! Stage 3: a write-ahead log with checkpoints.
//!
//! Files: `PATH` (the snapshot, a plain JSON object), `PATH.wal` (the log: a header naming
//! the snapshot it continues, then one record per mutation), `PATH.wal.next` (the log a
//! checkpoint prepares). Formats in [`record`]; the space a log file is written in, in
//! [`space`]. Reading a database back, in every mode, is `durability::recovery`'s; `check`
//! and `repair` are `maintenance`'s.
//!
//! # Append (one commit = one batch = one sync)
//!
//! 1. Encode the batch's records, numbered on from the last sequence number; the last one
//!    carries the commit flag.
//! 2. If they do not fit in the preallocated space, extend the file by a chunk of real
//!    zeros and `fsync` it (once per chunk: writing inside already-allocated, already-synced
//!    space lets every later `fdatasync` skip the metadata commit an append would cost).
//! 3. Write the records at the first sector boundary after the last commit (the gap stays
//!    preallocated zeros), so that the write never touches a sector holding acknowledged
//!    bytes. *Crash point `mid-append`*: half written. *Crash point `after-append`*: all
//!    written, not synced.
//! 4. `fdatasync` the log. Only then does the commit return `Ok` and memory show it.
//!
//! A crash before step 4 completes leaves, after the last acknowledged commit, zeros, a
//! prefix of the new records, or all of them: recovery applies a commit only when its last
//! record is present and valid, and cuts anything else off as a torn tail (never
//! acknowledged). A failed write or sync leaves the tail unknown and poisons the store.
//!
//! # Checkpoint (the log passed its threshold, or `KvStore::checkpoint`)
//!
//! 1. Serialise the map; its snapshot id is (length, CRC32C) of those bytes.
//! 2. Create `PATH.wal.next` holding a header (generation + 1, base sequence number = the
//!    last one committed, the new snapshot's id) and a chunk of zeros; `fsync` it.
//! 3. `fsync` the directory, so `PATH.wal.next` is durable before anything relies on it.
//! 4. Install the snapshot with stage 2's protocol (temp file, write, fsync, rename over
//!    `PATH`, fsync the directory). *Crash point `mid-checkpoint`* just after.
//! 5. Rename `PATH.wal.next` over `PATH.wal`; `fsync` the directory.
//!
//! What recovery finds after a crash at each step:
//!
//! | crash during/after | on disk | recovery |
//! | --- | --- | --- |
//! | 1–3 | old snapshot, old log, maybe a (partial) `.next` naming a snapshot not on disk | replays the old log; deletes `.next` |
//! | 4, before the rename is durable | the same, plus maybe a temp file | the same; deletes the temp file |
//! | 4, after the rename (`mid-checkpoint`) | new snapshot, old log, `.next` naming the new snapshot | `.next` names the snapshot on disk and its base sequence number covers the old log, so the snapshot holds every record of the old log: writes the new log afresh, renames it over the log, removes `.next`, replays nothing twice |
//! | 5, rename not yet durable | either of the two rows above | as above |
//! | after 5 | new snapshot, new empty log | replays the new log |
//!
//! The old log's header names the old snapshot, so recovery never pairs a log with a
//! snapshot it does not continue: a snapshot edited or replaced by hand is refused rather
//! than silently combined with the wrong records. Naming by content is not enough to
//! finish a checkpoint, though: a checkpoint whose records netted to no change names a
//! snapshot byte-identical to the old one, so `.next` is taken only if its base sequence
//! number covers every commit of the old log (see `recovery::analyse`). And a checkpoint
//! step that fails without poisoning removes `.next` durably before the store goes on, or
//! poisons it.

use std::path::{Path, PathBuf};

pub(crate) mod record;
pub(crate) mod space;

use record::{Header, Layout, SnapshotId};
pub use space::DEFAULT_CHUNK_BYTES;
use space::{write_log, zero_range};

use super::recovery::Recovered;
use super::recovery::analyse;

use super::Durability;
use super::{Change, CommitFailure, Disk, Map, snapshot};
use crate::crash::CrashPoint;
use crate::error::{Error, Result};
use crate::files::{self, NEW_FILE_MODE};
use crate::fs::{FileKind, Fs, FsFile, OpenMode};

/// The largest chunk of snapshot mode's journal: one window's checkpoint writes a fresh
/// journal of one chunk, so 64 KiB of zeros per window instead of the log's 1 MiB, and a
/// growth (one `fsync`) comes at most every 128 single-put commits.
pub(crate) const JOURNAL_CHUNK_BYTES: u64 = 64 << 10;

/// Default log size past which a commit triggers a checkpoint. A checkpoint rewrites the
/// whole snapshot, so it is taken only once the log is at least as big as the snapshot
/// too: the bytes written per mutation then stay bounded by a
/// small multiple of the record size, however big the store grows. 64 MiB keeps small
/// stores from rewriting their snapshot often, while bounding the replay on open to a few
/// hundred thousand records (well under a second in a release build).
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;

/// Tunables of the log, from `Options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalSettings {
    pub checkpoint_bytes: u64,
    pub chunk_bytes: u64,
    /// The log is snapshot mode's journal: each log it starts says so in its header.
    pub journal: bool,
}

impl Default for WalSettings {
    fn default() -> Self {
        WalSettings {
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            journal: false,
        }
    }
}

impl WalSettings {
    /// The settings for snapshot mode's journal (see `flusher`): chunks of at most
    /// [`JOURNAL_CHUNK_BYTES`]. The journal is never synced, so big chunks buy nothing,
    /// and each window's checkpoint starts a fresh journal with one chunk of zeros.
    pub fn for_journal(self) -> Self {
        WalSettings {
            chunk_bytes: self.chunk_bytes.min(JOURNAL_CHUNK_BYTES),
            journal: true,
            ..self
        }
    }

    /// The chunk size a new log records in its header (which holds 32 bits of it), in
    /// whole sectors: growing the file then never writes into a sector that holds a
    /// commit, which on media without power-safe overwrite a crash could destroy.
    fn chunk(&self) -> u64 {
        let max = u64::from(u32::MAX) / record::SECTOR * record::SECTOR;
        (self.chunk_bytes.div_ceil(record::SECTOR) * record::SECTOR).clamp(record::SECTOR, max)
    }

    /// The log size that triggers a checkpoint: the configured size, or the snapshot's
    /// size if that is larger, so a checkpoint's cost is paid for by as many logged bytes.
    fn threshold(&self, snapshot_len: u64) -> u64 {
        self.checkpoint_bytes.max(snapshot_len)
    }
}

/// The open log file.
#[derive(Debug)]
struct LiveLog {
    file: Box<dyn FsFile>,
    path: PathBuf,
    header: Header,
    /// Where the next commit goes: a sector boundary.
    end: u64,
    /// The end of the last commit's bytes: what `stats` calls the log's size.
    used: u64,
    /// The file's length: bytes from `end` up to here are zeros that were synced.
    allocated: u64,
    /// What the file grows by: the size its header records, so that its length stays a
    /// multiple of it whatever the options of a later open say.
    chunk: u64,
}

impl LiveLog {
    /// The bytes the records take, from the first to the end of the last (the padding
    /// between commits included): what a checkpoint would fold.
    fn logged_bytes(&self) -> u64 {
        self.used.saturating_sub(self.header.layout.data_start())
    }
}

/// The write-ahead-log backend.
#[derive(Debug)]
pub(crate) struct Wal {
    pub disk: Disk,
    settings: WalSettings,
    /// `None` until the first commit or checkpoint creates the log.
    log: Option<LiveLog>,
    /// The snapshot on disk, which the log continues.
    snapshot_id: SnapshotId,
    snapshot_len: u64,
    /// The last committed sequence number.
    last_seq: u64,
    /// The generation of the current (or last) log.
    generation: u64,
    /// Records appended since the last checkpoint (including those replayed on open).
    records_since_checkpoint: u64,
    checkpoints: u64,
    /// After a checkpoint failed without poisoning, the next is tried once the log has
    /// grown to this size rather than on every commit.
    retry_checkpoint_at: u64,
    last_checkpoint_error: Option<String>,
    buf: Vec<u8>,
    snapshot_buf: Vec<u8>,
    temp_counter: u64,
    /// Records were appended to the live log since its last sync: the next commit's
    /// records say so (see `record::Frame::Record`).
    unsynced: bool,
}

/// Counters the store folds into `Stats`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WalStats {
    pub log_size: u64,
    pub records_since_checkpoint: u64,
    pub checkpoints: u64,
    pub last_checkpoint_error: Option<String>,
}

/// The bytes of an empty log that folds the log beside `path` (if there is one) into the
/// snapshot `snapshot`: the next generation, based on the old log's last commit, naming
/// `snapshot`. What a checkpoint would write as `PATH.wal.next` before installing that
/// snapshot, so that an install which replaces the snapshot of a database with a log can
/// put it in place in a checkpoint's order.
pub(crate) fn folding_log(disk: &Disk, snapshot: &[u8]) -> Result<Option<Vec<u8>>> {
    let wal_path = files::wal_path(&disk.path);
    let Some(old) = analyse::read_optional(disk.fs.as_ref(), &wal_path)? else {
        return Ok(None);
    };
    // The old database does not open then; folding it would hide that.
    let old_header = Header::decode(&old).map_err(|reason| Error::Corrupt {
        path: wal_path.clone(),
        offset: 0,
        reason: format!("bad log header: {reason}"),
    })?;
    let chunk = match old_header.chunk_bytes {
        0 => DEFAULT_CHUNK_BYTES,
        chunk => chunk,
    };
    let header = Header {
        journal: old_header.journal,
        ..Header::new(
            old_header.generation + 1,
            analyse::last_committed_seq(&old, old_header),
            SnapshotId::of(Some(snapshot)),
            chunk,
        )
    };
    let data_start = header.layout.data_start();
    let len = header.whole_chunks(data_start).unwrap_or(data_start);
    let mut bytes = header.encode().to_vec();
    bytes.resize(usize::try_from(len).unwrap_or(bytes.len()), 0);
    Ok(Some(bytes))
}

/// After a step of a checkpoint (or an install) failed: removes `PATH.wal.next` and makes
/// the removal durable before anything else is committed, so that no later open can
/// mistake the half-made log for the live one. If that cannot be done, the disk's state is
/// not what the writer believes: the failure becomes a poisoning one. A failure that
/// already poisons is returned as it is: the snapshot may be in place, and then `.next` is
/// what makes it open.
pub(crate) fn discard_next_log(disk: &mut Disk, failure: CommitFailure) -> CommitFailure {
    if failure.poisons {
        return failure;
    }
    let next_path = files::wal_next_path(&disk.path);
    let removed = match disk.fs.remove(&next_path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io("remove", &next_path, err)),
    };
    match removed.and_then(|()| disk.sync_dir()) {
        Ok(()) => failure,
        Err(cleanup) => CommitFailure::poisoning(Error::CleanupFailed {
            path: next_path,
            failure: Box::new(failure.error),
            cleanup: Box::new(cleanup),
        }),
    }
}

/// Step 5 of a checkpoint (and of an install): renames `PATH.wal.next` over `PATH.wal`
/// and makes that durable.
pub(crate) fn switch_next_log(disk: &mut Disk) -> Result<(), CommitFailure> {
    let next_path = files::wal_next_path(&disk.path);
    let wal_path = files::wal_path(&disk.path);
    disk.fs.rename(&next_path, &wal_path).map_err(|err| {
        CommitFailure::poisoning(Error::io(
            format!("rename {} over", next_path.display()),
            &wal_path,
            err,
        ))
    })?;
    disk.sync_dir().map_err(CommitFailure::poisoning)
}

/// The mode the database at `path` (symlinks already resolved) was last written in, as
/// its log tells: `Some(Snapshot)` if the log is snapshot mode's journal (stage 5), `Some(Wal)`
/// for any other log (or the new log of an interrupted checkpoint), `None` without one. A
/// log that is not a regular file, or whose header does not decode, says `Wal`: opening it
/// then reports what is wrong with it. Reads only the header, and only of a regular file.
pub fn logged_mode(fs: &dyn Fs, path: &Path) -> Option<Durability> {
    for log in [files::wal_path(path), files::wal_next_path(path)] {
        match fs.metadata(&log) {
            Ok(Some(meta)) => {
                let journal = meta.kind == FileKind::Regular
                    && fs
                        .read_prefix(&log, record::MAX_HEADER_LEN)
                        .ok()
                        .and_then(|bytes| Header::decode(&bytes).ok())
                        .is_some_and(|header| header.journal);
                return Some(match journal {
                    true => Durability::Snapshot,
                    false => Durability::Wal,
                });
            }
            Ok(None) => {}
            Err(_) => return Some(Durability::Wal),
        }
    }
    None
}

impl Wal {
    /// The backend for a database just recovered with [`recover`](super::recovery::recover) in
    /// [`RecoveryMode::Repair`](super::recovery::RecoveryMode::Repair) (the lock held).
    pub fn open(mut disk: Disk, recovered: &Recovered, settings: WalSettings) -> Result<Self> {
        let analysis = &recovered.analysis;
        let snapshot_len = analysis.snapshot_len.unwrap_or(0);
        let (log, last_seq, generation, records) = match analysis.scan() {
            None => (None, 0, 0, 0),
            Some(scan) => {
                let path = files::wal_path(&disk.path);
                let file = disk
                    .fs
                    .open(&path, OpenMode::Existing)
                    .map_err(|err| Error::io("open", &path, err))?;
                let allocated = file.size().map_err(|err| Error::io("stat", &path, err))?;
                let chunk = match scan.header.chunk_bytes {
                    0 => settings.chunk(),
                    chunk => chunk,
                };
                let log = LiveLog {
                    file,
                    path,
                    header: scan.header,
                    end: scan.append_at(),
                    used: scan.end,
                    allocated,
                    chunk,
                };
                (
                    Some(log),
                    scan.last_seq,
                    scan.header.generation,
                    scan.records,
                )
            }
        };
        // Opening reads and repairs; its I/O is not the workload's.
        disk.counters = Default::default();
        Ok(Wal {
            disk,
            settings,
            log,
            snapshot_id: analysis.snapshot_id,
            snapshot_len,
            last_seq,
            generation,
            records_since_checkpoint: records,
            checkpoints: 0,
            retry_checkpoint_at: 0,
            last_checkpoint_error: None,
            buf: Vec::new(),
            snapshot_buf: Vec::new(),
            temp_counter: 0,
            unsynced: false,
        })
    }

    /// The format version of the open log, if it is older than the one this code writes
    /// (appending to it would mix formats: [`Wal::checkpoint_now`] replaces it).
    pub fn old_log_version(&self) -> Option<u32> {
        let version = self.log.as_ref()?.header.layout.version();
        (version != Layout::CURRENT.version()).then_some(version)
    }

    pub fn stats(&self) -> WalStats {
        WalStats {
            log_size: self.log.as_ref().map_or(0, |log| log.used),
            records_since_checkpoint: self.records_since_checkpoint,
            checkpoints: self.checkpoints,
            last_checkpoint_error: self.last_checkpoint_error.clone(),
        }
    }

    /// Appends `batch` to the log and makes it durable (see the module doc).
    pub fn commit(&mut self, batch: &[Change]) -> Result<(), CommitFailure> {
        self.append(batch)?;
        self.sync_log().map_err(CommitFailure::poisoning)
    }

    /// `fdatasync`s the log: every record appended so far becomes durable. (The log's
    /// length never changes by an append, only by growth, which `fsync`s at once, so
    /// `fdatasync` is enough.)
    pub fn sync_log(&mut self) -> Result<()> {
        match self.log.as_mut() {
            Some(log) => {
                self.disk.sync_data(log.file.as_mut(), &log.path)?;
                self.unsynced = false;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Writes `batch` to the log without making it durable: a process kill keeps it (it is
    /// in the kernel's cache), a power loss may cut the log anywhere after the last sync,
    /// and recovery then finds a prefix of the records, whole ([`SyncPolicy`] other than
    /// `Always`; [`commit`](Self::commit) adds the sync).
    ///
    /// [`SyncPolicy`]: crate::SyncPolicy
    pub fn append(&mut self, batch: &[Change]) -> Result<(), CommitFailure> {
        let log = match self.log.take() {
            Some(log) => log,
            None => self.start_log(self.snapshot_id)?,
        };
        let log = self.log.insert(log);
        let disk = &mut self.disk;
        self.buf.clear();
        // Whether an earlier commit is still unsynced. (A growth below syncs them after
        // all; the flag then only says more than needed, which costs nothing.)
        record::encode_batch(
            batch,
            self.last_seq + 1,
            log.header.generation,
            self.unsynced,
            &mut self.buf,
        );
        let new_end = log.end + self.buf.len() as u64;
        if new_end > log.allocated {
            let chunk = log.chunk;
            let target = new_end.div_ceil(chunk) * chunk;
            // The zeros mean nothing yet, so a failed write leaves the log as it was; a
            // failed fsync does not (the kernel may have dropped dirty pages).
            zero_range(
                disk,
                log.file.as_mut(),
                &log.path,
                log.allocated,
                target - log.allocated,
            )
            .map_err(CommitFailure::clean)?;
            disk.sync_all(log.file.as_mut(), &log.path)
                .map_err(CommitFailure::poisoning)?;
            log.allocated = target;
        }
        if disk.armed == Some(CrashPoint::MidAppend) {
            let half = &self.buf[..self.buf.len() / 2];
            disk.write_at(log.file.as_mut(), &log.path, log.end, half)
                .map_err(CommitFailure::poisoning)?;
            disk.crash_point(CrashPoint::MidAppend)?;
        }
        // From here a failure leaves the log's tail unknown: poison.
        disk.write_at(log.file.as_mut(), &log.path, log.end, &self.buf)
            .map_err(CommitFailure::poisoning)?;
        self.unsynced = true;
        disk.crash_point(CrashPoint::AfterAppend)?;
        // The next commit starts on a fresh sector, so that writing it can never disturb
        // the sector holding the end of this one (see `record`).
        log.used = new_end;
        log.end = log.header.layout.align(new_end);
        self.last_seq += batch.len() as u64;
        self.records_since_checkpoint += batch.len() as u64;
        Ok(())
    }

    /// Removes the log if it holds no record (the snapshot then is the whole state), and
    /// makes the removal durable: what a store whose log is only a journal (snapshot mode
    /// with a delayed sync) does at a clean close, so the database is a plain snapshot
    /// again and opens in snapshot mode. A crash before the directory's fsync leaves either
    /// the empty log or none, and both recover the same state.
    pub fn remove_empty_log(&mut self) -> Result<()> {
        if self.records_since_checkpoint != 0 || self.log.is_none() {
            return Ok(());
        }
        let path = files::wal_path(&self.disk.path);
        self.log = None;
        self.disk
            .fs
            .remove(&path)
            .map_err(|err| Error::io("remove", &path, err))?;
        self.disk.sync_dir()
    }

    /// Whether the log has grown enough that the store should checkpoint after a commit.
    pub fn wants_checkpoint(&self) -> bool {
        let size = self.log.as_ref().map_or(0, LiveLog::logged_bytes);
        size >= self.settings.threshold(self.snapshot_len) && size >= self.retry_checkpoint_at
    }

    /// Notes a checkpoint that failed without poisoning, so the next attempt waits for the
    /// log to grow by another threshold rather than slowing every commit.
    pub fn checkpoint_failed(&mut self, error: &Error) {
        let size = self.log.as_ref().map_or(0, LiveLog::logged_bytes);
        self.retry_checkpoint_at = size + self.settings.threshold(self.snapshot_len);
        self.last_checkpoint_error = Some(error.to_string());
    }

    /// Writes `map` as the new snapshot and starts a fresh log (see the module doc).
    pub fn checkpoint(&mut self, map: &Map) -> Result<(), CommitFailure> {
        if self.log.is_some() && self.records_since_checkpoint == 0 {
            // The snapshot already holds everything and the log continues it: rewriting
            // both would change nothing.
            return Ok(());
        }
        self.checkpoint_now(map)
    }

    /// A checkpoint even if the log is empty (to replace a log of an older format).
    pub fn checkpoint_now(&mut self, map: &Map) -> Result<(), CommitFailure> {
        snapshot::serialise(map, &mut self.snapshot_buf);
        let id = SnapshotId::of(Some(&self.snapshot_buf));
        let next = self.prepare_next_log(id)?;
        if let Err(failure) =
            snapshot::install(&mut self.disk, &self.snapshot_buf, &mut self.temp_counter)
        {
            drop(next);
            return Err(self.discard_next_log(failure));
        }
        self.disk.crash_point(CrashPoint::MidCheckpoint)?;
        self.snapshot_id = id;
        self.snapshot_len = self.snapshot_buf.len() as u64;
        self.log = Some(self.switch_to(next)?);
        self.records_since_checkpoint = 0;
        self.checkpoints += 1;
        self.retry_checkpoint_at = 0;
        self.last_checkpoint_error = None;
        // The snapshot of a big store is big; don't hold its memory between checkpoints.
        self.snapshot_buf = Vec::new();
        Ok(())
    }

    /// After a checkpoint step failed: see [`discard_next_log`].
    fn discard_next_log(&mut self, failure: CommitFailure) -> CommitFailure {
        discard_next_log(&mut self.disk, failure)
    }

    /// Creates the first log, continuing the snapshot `id` already on disk.
    fn start_log(&mut self, id: SnapshotId) -> Result<LiveLog, CommitFailure> {
        // The snapshot may have been written by someone who never synced it (naive mode,
        // `cp`, an editor): a log that names it must not become durable before it does,
        // or a power loss could leave a log whose records continue a snapshot that is
        // gone. A failed fsync leaves the file's state unknown: poison.
        if id != SnapshotId::Absent {
            let path = self.disk.path.clone();
            let mut file = self
                .disk
                .fs
                .open(&path, OpenMode::Existing)
                .map_err(|err| CommitFailure::clean(Error::io("open", &path, err)))?;
            self.disk
                .sync_all(file.as_mut(), &path)
                .map_err(CommitFailure::poisoning)?;
            drop(file);
            self.disk.sync_dir().map_err(CommitFailure::poisoning)?;
        }
        let next = self.prepare_next_log(id)?;
        self.switch_to(next)
    }

    /// Steps 2 and 3 of a checkpoint: a durable `PATH.wal.next` whose header names the
    /// snapshot `id` and the last committed sequence number.
    fn prepare_next_log(&mut self, id: SnapshotId) -> Result<LiveLog, CommitFailure> {
        let chunk = self.settings.chunk();
        let header = Header {
            journal: self.settings.journal,
            ..Header::new(self.generation + 1, self.last_seq, id, chunk)
        };
        let path = files::wal_next_path(&self.disk.path);
        let disk = &mut self.disk;
        // The log holds the same data as the snapshot, so it gets the same permissions.
        let mode = match disk.fs.metadata(&disk.path) {
            Ok(Some(meta)) => meta.mode,
            _ => NEW_FILE_MODE,
        };
        // A leftover from a checkpoint that failed earlier names a snapshot that was never
        // installed, so it is garbage; replacing it lets `CreateNew` set the exact mode.
        match disk.fs.remove(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(CommitFailure::clean(Error::io("remove", &path, err))),
        }
        let mut file = disk
            .fs
            .open(&path, OpenMode::CreateNew { mode })
            .map_err(|err| CommitFailure::clean(Error::io("create", &path, err)))?;
        let data_start = header.layout.data_start();
        let allocated = header.whole_chunks(data_start).unwrap_or(data_start);
        if let Err(error) = write_log(disk, file.as_mut(), &path, &header, &[], allocated) {
            // Disk full, say: the store goes on, so the half-made file must not stay.
            drop(file);
            return Err(self.discard_next_log(CommitFailure::clean(error)));
        }
        disk.sync_all(file.as_mut(), &path)
            .map_err(CommitFailure::poisoning)?;
        // The new log must be durable before a snapshot that relies on it is installed:
        // a snapshot without its log would not match the old log's header.
        disk.sync_dir().map_err(CommitFailure::poisoning)?;
        Ok(LiveLog {
            file,
            path,
            header,
            end: data_start,
            used: data_start,
            allocated,
            chunk,
        })
    }

    /// Step 5 of a checkpoint: rename `PATH.wal.next` over `PATH.wal` and make it durable.
    /// Returns the log, now the live one, for the caller to keep.
    fn switch_to(&mut self, mut next: LiveLog) -> Result<LiveLog, CommitFailure> {
        switch_next_log(&mut self.disk)?;
        next.path = files::wal_path(&self.disk.path);
        self.generation = next.header.generation;
        // A fresh log: nothing in it is unsynced.
        self.unsynced = false;
        Ok(next)
    }
}

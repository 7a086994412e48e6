//! The log's on-disk format: the file header and the record frame, encoded and decoded.
//!
//! Everything is little-endian. The byte tables are in `history/stage-3-write-ahead-log.md`.
//! This code writes format version 2 and reads versions 1 and 2 (a version-1 log is read
//! once and replaced by a version-2 one at the next writer's open; see `Wal::open`).
//!
//! Header (version 2: 56 bytes at offset 0; version 1: the first 44 bytes, then its CRC):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `KVWAL\0\r\n` |
//! | 8 | 4 | format version (2) |
//! | 12 | 4 | flags: bit 0 = a snapshot file existed when the log was started; bit 1 = the log is snapshot mode's journal (stage 5: never synced; the database's mode is snapshot) |
//! | 16 | 8 | generation: rises by one at every checkpoint, salts every record checksum |
//! | 24 | 8 | base sequence number: the last one the snapshot contains |
//! | 32 | 8 | the snapshot's length in bytes |
//! | 40 | 4 | the snapshot's CRC32C |
//! | 44 | 4 | the chunk size the file grows by: its length is always a multiple of it |
//! | 48 | 4 | reserved, zero |
//! | 52 | 4 | CRC32C of bytes 0..52 |
//!
//! Records start at [`SECTOR`] (512), and every commit starts on a fresh 512-byte sector,
//! the gap after the previous commit left as zeros: a power loss during a commit's write
//! can then only damage sectors that hold nothing acknowledged, even on media without
//! power-safe overwrite, where the sector being written may come back as garbage.
//!
//! Record (one per mutation, 25 + key + value bytes):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | CRC32C of the generation (8 bytes) followed by bytes 4..end of the record |
//! | 4 | 4 | body length `n`: the bytes after offset 8 (at least 17) |
//! | 8 | 8 | sequence number: the previous record's plus one |
//! | 16 | 1 | kind: 1 = put, 2 = delete; bit 7 set on the last record of a commit; bit 6 set when an earlier commit of the log was not yet synced as this one was written (asynchronous commit, stage 5) |
//! | 17 | 4 | index of the record in its commit (0 for the first), so that a record found after damage tells which commit it belongs to |
//! | 21 | 4 | key length `k` |
//! | 25 | k | key, UTF-8 |
//! | 25 + k | n - 17 - k | put: the value as compact JSON text (exact numbers, key order kept) |
//!
//! Version 1 had no index field (the key length at 17, the key at 21), put its first
//! record right after a 48-byte header, and packed commits with no gap.

use crate::durability::Change;

/// The first bytes of every log file.
pub(crate) const MAGIC: [u8; 8] = *b"KVWAL\0\r\n";
/// The format version this code writes.
pub(crate) const VERSION: u32 = 2;
/// The oldest format version this code reads.
const OLDEST_VERSION: u32 = 1;
/// The unit a disk writes atomically (at best): commits start on a fresh one.
pub(crate) const SECTOR: u64 = 512;
/// The longest header of any version: how many bytes a reader needs to decode one.
pub(crate) const MAX_HEADER_LEN: usize = 56;
/// Length of a record's crc and length fields.
pub(crate) const FRAME_HEAD: usize = 8;
/// The fixed part of a record body in the current format: sequence number, kind, index
/// and key length (the key and the value follow).
pub(crate) const MIN_BODY: usize = 17;

const KIND_PUT: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_MASK: u8 = 0x3f;
/// Set in the kind byte of a record written while an earlier commit of the log was not
/// yet synced (stage 5's asynchronous commit): a power loss may keep this record and lose
/// that one, so damage before it is a torn tail, not corruption.
const AFTER_UNSYNCED_FLAG: u8 = 0x40;
/// Set in the kind byte of the last record of a commit: a commit is applied on recovery
/// only once this record has been read, so a batch is all-or-nothing.
const COMMIT_FLAG: u8 = 0x80;
const FLAG_SNAPSHOT_PRESENT: u32 = 1;
/// The log is snapshot mode's journal under a delayed sync: what it says of the database's
/// mode, so the next open without a mode keeps snapshot mode. A reader that does not know
/// the bit ignores it and reads the log as any other.
const FLAG_JOURNAL: u32 = 2;

/// How a log of one format version lays out its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    version: u32,
}

impl Layout {
    /// The layout this code writes.
    pub const CURRENT: Layout = Layout { version: VERSION };

    pub fn version(self) -> u32 {
        self.version
    }

    /// The layout a log whose header may be damaged most likely has: version 1 if its
    /// version field says so, else the current one.
    pub fn guess(bytes: &[u8]) -> Layout {
        match bytes.get(8..12) {
            Some(field) if field == 1u32.to_le_bytes() => Layout { version: 1 },
            _ => Layout::CURRENT,
        }
    }

    /// Length of the header.
    pub fn header_len(self) -> usize {
        if self.version == 1 { 48 } else { 56 }
    }

    /// Where the first record starts.
    pub fn data_start(self) -> u64 {
        if self.version == 1 { 48 } else { SECTOR }
    }

    /// Each commit starts at a multiple of this.
    pub fn commit_align(self) -> u64 {
        if self.version == 1 { 1 } else { SECTOR }
    }

    /// `offset` rounded up to where the next commit may start.
    pub fn align(self, offset: u64) -> u64 {
        offset.div_ceil(self.commit_align()) * self.commit_align()
    }

    /// Where the key length field sits in a record.
    pub fn key_len_at(self) -> usize {
        if self.version == 1 { 17 } else { 21 }
    }

    /// The smallest body: sequence number, kind, (index,) key length.
    pub fn min_body(self) -> usize {
        if self.version == 1 { 13 } else { MIN_BODY }
    }

    /// The smallest record.
    pub fn min_record(self) -> usize {
        FRAME_HEAD + self.min_body()
    }
}

/// Names a snapshot file by its content: a log only ever continues the snapshot it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotId {
    /// No snapshot file existed.
    Absent,
    /// The file's length and CRC32C.
    Present { len: u64, crc: u32 },
}

impl SnapshotId {
    /// The identity of a snapshot with these bytes (or of no file).
    pub fn of(bytes: Option<&[u8]>) -> Self {
        match bytes {
            None => SnapshotId::Absent,
            Some(bytes) => SnapshotId::Present {
                len: bytes.len() as u64,
                crc: crc32c::crc32c(bytes),
            },
        }
    }
}

/// A log file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub layout: Layout,
    pub generation: u64,
    /// The last sequence number the snapshot contains; the first record is this plus one.
    pub base_seq: u64,
    pub snapshot: SnapshotId,
    /// The chunk size the file grows by (0 in a version-1 log, which did not record it).
    pub chunk_bytes: u64,
    /// Snapshot mode's journal (see [`FLAG_JOURNAL`]).
    pub journal: bool,
}

impl Header {
    /// A header of the current format.
    pub fn new(generation: u64, base_seq: u64, snapshot: SnapshotId, chunk_bytes: u64) -> Self {
        Header {
            layout: Layout::CURRENT,
            generation,
            base_seq,
            snapshot,
            chunk_bytes,
            journal: false,
        }
    }

    /// The least length a log of this header has once it holds `len` bytes: its file only
    /// ever grows by whole chunks. `None` in a version-1 log, which did not record its
    /// chunk size.
    pub fn whole_chunks(&self, len: u64) -> Option<u64> {
        let chunk = self.chunk_bytes;
        (chunk > 0).then(|| len.max(self.layout.data_start()).div_ceil(chunk) * chunk)
    }

    /// The header's bytes, in the current format (the layout is always current: nothing
    /// writes a version-1 header).
    pub fn encode(&self) -> [u8; MAX_HEADER_LEN] {
        let mut out = [0u8; MAX_HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let (mut flags, len, crc) = match self.snapshot {
            SnapshotId::Absent => (0, 0, 0),
            SnapshotId::Present { len, crc } => (FLAG_SNAPSHOT_PRESENT, len, crc),
        };
        if self.journal {
            flags |= FLAG_JOURNAL;
        }
        out[12..16].copy_from_slice(&flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.generation.to_le_bytes());
        out[24..32].copy_from_slice(&self.base_seq.to_le_bytes());
        out[32..40].copy_from_slice(&len.to_le_bytes());
        out[40..44].copy_from_slice(&crc.to_le_bytes());
        let chunk = u32::try_from(self.chunk_bytes).unwrap_or(u32::MAX);
        out[44..48].copy_from_slice(&chunk.to_le_bytes());
        let header_crc = crc32c::crc32c(&out[0..52]);
        out[52..56].copy_from_slice(&header_crc.to_le_bytes());
        out
    }

    /// Decodes the header at the start of `bytes`, or says why it is not one.
    pub fn decode(bytes: &[u8]) -> Result<Header, String> {
        let too_short = |len: usize| {
            format!(
                "the file is {} long, shorter than the {len}-byte log header",
                crate::human::count(bytes.len() as u64, "byte")
            )
        };
        if bytes.len() < 48 {
            return Err(too_short(48));
        }
        if bytes[0..8] != MAGIC {
            return Err("not a kv-engine log (wrong magic bytes)".to_string());
        }
        let version = u32_at(bytes, 8);
        let layout = Layout { version };
        let crc_at = layout.header_len() - 4;
        if (OLDEST_VERSION..=VERSION).contains(&version) && bytes.len() < layout.header_len() {
            return Err(too_short(layout.header_len()));
        }
        // A damaged version field must not pass for another format's header: check the
        // checksum before believing the version.
        let crc_matches =
            |at: usize| bytes.len() >= at + 4 && crc32c::crc32c(&bytes[0..at]) == u32_at(bytes, at);
        if !(OLDEST_VERSION..=VERSION).contains(&version) {
            return Err(if crc_matches(44) || crc_matches(52) {
                format!(
                    "log format version {version} (this build reads versions \
                     {OLDEST_VERSION} to {VERSION})"
                )
            } else {
                "the log header's checksum does not match".to_string()
            });
        }
        if !crc_matches(crc_at) {
            return Err("the log header's checksum does not match".to_string());
        }
        let flags = u32_at(bytes, 12);
        let snapshot = if flags & FLAG_SNAPSHOT_PRESENT != 0 {
            SnapshotId::Present {
                len: u64_at(bytes, 32),
                crc: u32_at(bytes, 40),
            }
        } else {
            SnapshotId::Absent
        };
        let chunk_bytes = if version == 1 {
            0
        } else {
            u64::from(u32_at(bytes, 44))
        };
        Ok(Header {
            layout,
            generation: u64_at(bytes, 16),
            base_seq: u64_at(bytes, 24),
            snapshot,
            chunk_bytes,
            journal: flags & FLAG_JOURNAL != 0,
        })
    }
}

/// One decoded operation, borrowing from the log's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Put { key: &'a str, value: &'a [u8] },
    Delete { key: &'a str },
}

/// What [`decode`] finds at an offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A record whose checksum matches.
    Record {
        seq: u64,
        op: Op<'a>,
        /// Whether this record ends a commit.
        commit: bool,
        /// The sequence number of the first record of this record's commit (`None` in a
        /// version-1 log, which did not record it).
        commit_first: Option<u64>,
        /// The record's length in bytes.
        len: usize,
        /// Written while an earlier commit was not yet synced: it may have reached the disk
        /// before that one did.
        after_unsynced: bool,
    },
    /// Zeros where a record would start: the end of the written part of the log.
    End,
    /// Anything else, with the reason.
    Bad(String),
}

/// Appends the records of `batch`, numbered from `first_seq`, to `out`, in the current
/// format; the last one carries the commit flag. The values are the store's texts, copied
/// as they are. Each body must fit [`MAX_BODY`] (the store refuses bigger puts).
/// `after_unsynced`: an earlier commit of the log is not yet synced (see
/// [`Frame::Record`]).
pub(crate) fn encode_batch(
    batch: &[Change],
    first_seq: u64,
    generation: u64,
    after_unsynced: bool,
    out: &mut Vec<u8>,
) {
    let unsynced = if after_unsynced {
        AFTER_UNSYNCED_FLAG
    } else {
        0
    };
    for (index, mutation) in batch.iter().enumerate() {
        let start = out.len();
        out.extend_from_slice(&[0u8; FRAME_HEAD]);
        out.extend_from_slice(&(first_seq + index as u64).to_le_bytes());
        let commit = if index + 1 == batch.len() {
            COMMIT_FLAG
        } else {
            0
        };
        let (kind, key, value): (u8, &str, &str) = match mutation {
            Change::Put { key, value } => (KIND_PUT, key, value),
            Change::Delete { key } => (KIND_DELETE, key, ""),
        };
        out.push(kind | commit | unsynced);
        // A batch cannot hold 2^32 mutations (each takes far more than one byte of memory).
        out.extend_from_slice(&(index as u32).to_le_bytes());
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value.as_bytes());
        let body_len = (out.len() - start - FRAME_HEAD) as u32;
        out[start + 4..start + 8].copy_from_slice(&body_len.to_le_bytes());
        let crc = record_crc(generation, &out[start + 4..]);
        out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// The checksum of a record: salted with the log's generation so that bytes left over from
/// another log never pass as this log's records.
fn record_crc(generation: u64, after_crc: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&generation.to_le_bytes()), after_crc)
}

/// Decodes the record starting at `offset` of `bytes`, in a log of `layout`.
pub(crate) fn decode(bytes: &[u8], offset: usize, generation: u64, layout: Layout) -> Frame<'_> {
    let rest = bytes.get(offset..).unwrap_or_default();
    if rest.len() < FRAME_HEAD {
        return if rest.iter().all(|&byte| byte == 0) {
            Frame::End
        } else {
            Frame::Bad(format!(
                "{} at the end of the file, too short for a record",
                crate::human::count(rest.len() as u64, "byte")
            ))
        };
    }
    if rest[..FRAME_HEAD].iter().all(|&byte| byte == 0) {
        return Frame::End;
    }
    let body_len = u32_at(rest, 4) as usize;
    if body_len < layout.min_body() {
        return Frame::Bad(format!("record length {body_len} is too small"));
    }
    let Some(record) = rest.get(..FRAME_HEAD + body_len) else {
        return Frame::Bad(format!(
            "record of {} bytes runs past the end of the file ({} bytes left)",
            FRAME_HEAD + body_len,
            rest.len()
        ));
    };
    if record_crc(generation, &record[4..]) != u32_at(record, 0) {
        return Frame::Bad("record checksum does not match".to_string());
    }
    let seq = u64_at(record, 8);
    let kind = record[16];
    let key_at = layout.key_len_at() + 4;
    let key_len = u32_at(record, layout.key_len_at()) as usize;
    let Some(key) = record.get(key_at..key_at + key_len) else {
        return Frame::Bad(format!("key length {key_len} runs past the record"));
    };
    let Ok(key) = std::str::from_utf8(key) else {
        return Frame::Bad("key is not UTF-8".to_string());
    };
    let value = &record[key_at + key_len..];
    let commit_first = match layout.version {
        1 => None,
        _ => match seq.checked_sub(u64::from(u32_at(record, 17))) {
            Some(first) => Some(first),
            None => return Frame::Bad("record index exceeds its sequence number".to_string()),
        },
    };
    let op = match kind & KIND_MASK {
        KIND_PUT => Op::Put { key, value },
        KIND_DELETE if value.is_empty() => Op::Delete { key },
        other => return Frame::Bad(format!("unknown record kind {other}")),
    };
    Frame::Record {
        seq,
        op,
        commit: kind & COMMIT_FLAG != 0,
        commit_first,
        len: record.len(),
        after_unsynced: kind & AFTER_UNSYNCED_FLAG != 0,
    }
}

/// A cheap test of whether a record with a sequence number in `seqs` might start at
/// `offset`, before paying for its checksum.
pub(crate) fn plausible_at(
    bytes: &[u8],
    offset: usize,
    seqs: std::ops::RangeInclusive<u64>,
    layout: Layout,
) -> bool {
    let Some(head) = bytes.get(offset..offset + layout.min_record()) else {
        return false;
    };
    let body_len = u32_at(head, 4) as usize;
    body_len >= layout.min_body()
        && offset + FRAME_HEAD + body_len <= bytes.len()
        && seqs.contains(&u64_at(head, 8))
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut out = [0u8; 4];
    out.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(out)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const V2: Layout = Layout::CURRENT;

    #[test]
    fn a_batch_round_trips_and_only_its_last_record_commits() {
        let value = json!({"z": 1, "a": 12345678901234567890u64});
        let batch = vec![
            Change::Put {
                key: "n".into(),
                value: crate::durability::text::from_value(&value).unwrap(),
            },
            Change::Delete { key: "gone".into() },
        ];
        let mut buf = Vec::new();
        encode_batch(&batch, 7, 3, false, &mut buf);
        let Frame::Record {
            seq,
            op,
            commit,
            commit_first,
            len,
            after_unsynced: false,
        } = decode(&buf, 0, 3, V2)
        else {
            panic!("first record did not decode");
        };
        assert_eq!((seq, commit, commit_first), (7, false, Some(7)));
        assert_eq!(
            op,
            Op::Put {
                key: "n",
                value: br#"{"z":1,"a":12345678901234567890}"#
            }
        );
        assert_eq!(
            decode(&buf, len, 3, V2),
            Frame::Record {
                seq: 8,
                op: Op::Delete { key: "gone" },
                commit: true,
                commit_first: Some(7),
                len: buf.len() - len,
                after_unsynced: false,
            }
        );
        // Written after an unsynced commit: said in every record, the rest unchanged.
        let mut flagged = Vec::new();
        encode_batch(&batch, 7, 3, true, &mut flagged);
        assert!(matches!(
            decode(&flagged, 0, 3, V2),
            Frame::Record {
                seq: 7,
                commit: false,
                after_unsynced: true,
                ..
            }
        ));
        assert!(matches!(
            decode(&flagged, len, 3, V2),
            Frame::Record {
                seq: 8,
                commit: true,
                after_unsynced: true,
                op: Op::Delete { key: "gone" },
                ..
            }
        ));
        // Another generation's salt makes the same bytes invalid.
        assert!(matches!(decode(&buf, 0, 4, V2), Frame::Bad(_)));
        assert_eq!(decode(&[0u8; 40], 0, 3, V2), Frame::End);
    }

    #[test]
    fn a_header_round_trips_and_detects_damage() {
        let header = Header::new(9, 1234, SnapshotId::of(Some(b"{}\n")), 4096);
        let mut bytes = header.encode();
        assert_eq!(Header::decode(&bytes), Ok(header));
        let journal = Header {
            journal: true,
            ..header
        };
        assert_eq!(Header::decode(&journal.encode()), Ok(journal));
        assert_ne!(
            journal.encode(),
            bytes,
            "the journal's flag is in the header"
        );
        bytes[30] ^= 1;
        assert!(Header::decode(&bytes).is_err());
    }

    #[test]
    fn a_damaged_version_field_reads_as_a_checksum_error() {
        let mut bytes = Header::new(1, 0, SnapshotId::Absent, 4096).encode();
        bytes[8] = 1; // Claims version 1, whose checksum sits elsewhere.
        assert_eq!(
            Header::decode(&bytes),
            Err("the log header's checksum does not match".to_string())
        );
        bytes[8] = 7;
        assert_eq!(
            Header::decode(&bytes),
            Err("the log header's checksum does not match".to_string())
        );
    }

    /// A version-1 log (as the previous release wrote it) still decodes.
    #[test]
    fn version_1_headers_and_records_decode() {
        let mut header = [0u8; 48];
        header[0..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&1u32.to_le_bytes());
        header[16..24].copy_from_slice(&5u64.to_le_bytes());
        header[24..32].copy_from_slice(&10u64.to_le_bytes());
        let crc = crc32c::crc32c(&header[0..44]);
        header[44..48].copy_from_slice(&crc.to_le_bytes());
        let decoded = Header::decode(&header).unwrap();
        assert_eq!(decoded.layout.version(), 1);
        assert_eq!((decoded.generation, decoded.base_seq), (5, 10));
        assert_eq!(decoded.layout.data_start(), 48);

        // seq 11, a put of "k" = 1, committing; no index field.
        let mut record = vec![0u8; 8];
        record.extend_from_slice(&11u64.to_le_bytes());
        record.push(KIND_PUT | COMMIT_FLAG);
        record.extend_from_slice(&1u32.to_le_bytes());
        record.extend_from_slice(b"k1");
        let body_len = (record.len() - 8) as u32;
        record[4..8].copy_from_slice(&body_len.to_le_bytes());
        let crc = record_crc(5, &record[4..]);
        record[0..4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode(&record, 0, 5, decoded.layout),
            Frame::Record {
                seq: 11,
                op: Op::Put {
                    key: "k",
                    value: b"1"
                },
                commit: true,
                commit_first: None,
                len: record.len(),
                after_unsynced: false,
            }
        );
    }
}

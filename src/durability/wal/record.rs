//! The log's on-disk format: the file header and the record frame, encoded and decoded.
//!
//! Everything is little-endian. The byte tables are in `history/stage-3-write-ahead-log.md`.
//!
//! Header (48 bytes, at offset 0):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `KVWAL\0\r\n` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | flags: bit 0 = a snapshot file existed when the log was started |
//! | 16 | 8 | generation: rises by one at every checkpoint, salts every record checksum |
//! | 24 | 8 | base sequence number: the last one the snapshot contains |
//! | 32 | 8 | the snapshot's length in bytes |
//! | 40 | 4 | the snapshot's CRC32C |
//! | 44 | 4 | CRC32C of bytes 0..44 |
//!
//! Record (one per mutation, 21 + key + value bytes):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | CRC32C of the generation (8 bytes) followed by bytes 4..end of the record |
//! | 4 | 4 | body length `n`: the bytes after offset 8 (at least 13) |
//! | 8 | 8 | sequence number: the previous record's plus one |
//! | 16 | 1 | kind: 1 = put, 2 = delete; bit 7 set on the last record of a commit |
//! | 17 | 4 | key length `k` |
//! | 21 | k | key, UTF-8 |
//! | 21 + k | n - 13 - k | put: the value as compact JSON text (exact numbers, key order kept) |

use crate::durability::Change;

/// The first bytes of every log file.
pub(crate) const MAGIC: [u8; 8] = *b"KVWAL\0\r\n";
/// The format version this code writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Length of the file header; the first record starts here.
pub(crate) const HEADER_LEN: usize = 48;
/// Length of a record's crc and length fields.
pub(crate) const FRAME_HEAD: usize = 8;
/// The smallest body: sequence number, kind and key length.
pub(crate) const MIN_BODY: usize = 13;
/// The smallest record.
pub(crate) const MIN_RECORD: usize = FRAME_HEAD + MIN_BODY;

const KIND_PUT: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_MASK: u8 = 0x7f;
/// Set in the kind byte of the last record of a commit: a commit is applied on recovery
/// only once this record has been read, so a batch is all-or-nothing.
const COMMIT_FLAG: u8 = 0x80;
const FLAG_SNAPSHOT_PRESENT: u32 = 1;

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
    pub generation: u64,
    /// The last sequence number the snapshot contains; the first record is this plus one.
    pub base_seq: u64,
    pub snapshot: SnapshotId,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let (flags, len, crc) = match self.snapshot {
            SnapshotId::Absent => (0, 0, 0),
            SnapshotId::Present { len, crc } => (FLAG_SNAPSHOT_PRESENT, len, crc),
        };
        out[12..16].copy_from_slice(&flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.generation.to_le_bytes());
        out[24..32].copy_from_slice(&self.base_seq.to_le_bytes());
        out[32..40].copy_from_slice(&len.to_le_bytes());
        out[40..44].copy_from_slice(&crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&out[0..44]);
        out[44..48].copy_from_slice(&header_crc.to_le_bytes());
        out
    }

    /// Decodes the header at the start of `bytes`, or says why it is not one.
    pub fn decode(bytes: &[u8]) -> Result<Header, String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!(
                "the file is {} bytes long, shorter than the {HEADER_LEN}-byte log header",
                bytes.len()
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err("not a kv-engine log (wrong magic bytes)".to_string());
        }
        if crc32c::crc32c(&bytes[0..44]) != u32_at(bytes, 44) {
            return Err("the log header's checksum does not match".to_string());
        }
        let version = u32_at(bytes, 8);
        if version != VERSION {
            return Err(format!(
                "log format version {version} (this build reads version {VERSION})"
            ));
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
        Ok(Header {
            generation: u64_at(bytes, 16),
            base_seq: u64_at(bytes, 24),
            snapshot,
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
        /// The record's length in bytes.
        len: usize,
    },
    /// Zeros where a record would start: the end of the written part of the log.
    End,
    /// Anything else, with the reason.
    Bad(String),
}

/// Appends the records of `batch`, numbered from `first_seq`, to `out`; the last one
/// carries the commit flag.
/// The values are the store's texts, copied as they are.
pub(crate) fn encode_batch(batch: &[Change], first_seq: u64, generation: u64, out: &mut Vec<u8>) {
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
        out.push(kind | commit);
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

/// Decodes the record starting at `offset` of `bytes`.
pub(crate) fn decode(bytes: &[u8], offset: usize, generation: u64) -> Frame<'_> {
    let rest = bytes.get(offset..).unwrap_or_default();
    if rest.len() < FRAME_HEAD {
        return if rest.iter().all(|&byte| byte == 0) {
            Frame::End
        } else {
            Frame::Bad(format!(
                "{} bytes at the end of the file, too short for a record",
                rest.len()
            ))
        };
    }
    if rest[..FRAME_HEAD].iter().all(|&byte| byte == 0) {
        return Frame::End;
    }
    let body_len = u32_at(rest, 4) as usize;
    if body_len < MIN_BODY {
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
    let key_len = u32_at(record, 17) as usize;
    let Some(key) = record.get(21..21 + key_len) else {
        return Frame::Bad(format!("key length {key_len} runs past the record"));
    };
    let Ok(key) = std::str::from_utf8(key) else {
        return Frame::Bad("key is not UTF-8".to_string());
    };
    let value = &record[21 + key_len..];
    let op = match kind & KIND_MASK {
        KIND_PUT => Op::Put { key, value },
        KIND_DELETE if value.is_empty() => Op::Delete { key },
        other => return Frame::Bad(format!("unknown record kind {other}")),
    };
    Frame::Record {
        seq,
        op,
        commit: kind & COMMIT_FLAG != 0,
        len: record.len(),
    }
}

/// A cheap test of whether a record with a sequence number in `seqs` might start at
/// `offset`, before paying for its checksum.
pub(crate) fn plausible_at(
    bytes: &[u8],
    offset: usize,
    seqs: std::ops::RangeInclusive<u64>,
) -> bool {
    let Some(head) = bytes.get(offset..offset + MIN_RECORD) else {
        return false;
    };
    let body_len = u32_at(head, 4) as usize;
    body_len >= MIN_BODY
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
        encode_batch(&batch, 7, 3, &mut buf);
        let Frame::Record {
            seq,
            op,
            commit,
            len,
        } = decode(&buf, 0, 3)
        else {
            panic!("first record did not decode");
        };
        assert_eq!((seq, commit), (7, false));
        assert_eq!(
            op,
            Op::Put {
                key: "n",
                value: br#"{"z":1,"a":12345678901234567890}"#
            }
        );
        assert_eq!(
            decode(&buf, len, 3),
            Frame::Record {
                seq: 8,
                op: Op::Delete { key: "gone" },
                commit: true,
                len: buf.len() - len
            }
        );
        // Another generation's salt makes the same bytes invalid.
        assert!(matches!(decode(&buf, 0, 4), Frame::Bad(_)));
        assert_eq!(decode(&[0u8; 40], 0, 3), Frame::End);
    }

    #[test]
    fn a_header_round_trips_and_detects_damage() {
        let header = Header {
            generation: 9,
            base_seq: 1234,
            snapshot: SnapshotId::of(Some(b"{}\n")),
        };
        let mut bytes = header.encode();
        assert_eq!(Header::decode(&bytes), Ok(header));
        bytes[30] ^= 1;
        assert!(Header::decode(&bytes).is_err());
    }
}

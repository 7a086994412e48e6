//! Opening a database in any mode: [`recover`] reads the snapshot and the logs
//! ([`analyse`]: deciding only; [`lockfree`]: the same for a reader without the lock) and,
//! holding the lock, acts on the decision: finishes or abandons an interrupted checkpoint,
//! and cuts a torn tail, before anything new is written.

pub(crate) mod analyse;
pub(crate) mod lockfree;

use analyse::{Analysis, LogChoice, LogScan, LogTail, NextLog};

use super::wal::record::{Header, Layout};
use super::wal::space::{DEFAULT_CHUNK_BYTES, write_log, zero_range};
use super::warning::Warning;
use super::{Disk, Map, snapshot};
use crate::error::{Error, Result};
use crate::files::{self, NEW_FILE_MODE};
use crate::fs::OpenMode;

/// How far open may change the files while recovering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecoveryMode {
    /// Finish or abandon an interrupted checkpoint and cut a torn tail (holding the lock).
    Repair,
    /// Change nothing (a memory store reading a database it does not own).
    ReadOnly,
}

/// The result of recovering a database on open.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub map: Map,
    pub warnings: Vec<Warning>,
    pub(crate) analysis: Analysis,
}

impl Recovered {
    /// The records of the log recovery continues from, or `None` if there is no log.
    pub fn log_records(&self) -> Option<u64> {
        self.analysis.scan().map(|scan| scan.records)
    }
}

/// Reads the snapshot and the log, refuses damage that is not a torn tail (changing
/// nothing), then in [`RecoveryMode::Repair`] finishes or abandons an interrupted
/// checkpoint and cuts a torn tail off before anything new can be appended.
pub(crate) fn recover(disk: &mut Disk, mode: RecoveryMode) -> Result<Recovered> {
    let mut analysis = match mode {
        RecoveryMode::Repair => analyse::analyse(disk.fs.as_ref(), &disk.path)?,
        // Without the lock a writer may change the files while they are read.
        RecoveryMode::ReadOnly => lockfree::analyse(disk.fs.as_ref(), &disk.path)?,
    };
    if let Some(refusal) = analysis.refusal() {
        return Err(refusal);
    }
    let map = std::mem::take(&mut analysis.map);
    let mut warnings = Vec::new();
    let next_path = files::wal_next_path(&disk.path);
    let read_only = mode == RecoveryMode::ReadOnly;

    let has_log = matches!(analysis.log, LogChoice::Log(_)) || analysis.next != NextLog::Absent;
    if !read_only && has_log {
        // A killed process may have left renames visible but not durable (a snapshot a
        // checkpoint installed, a first log put in place). Recovery builds on what it
        // sees, so make those durable before changing anything or appending anything.
        disk.sync_dir()?;
    }

    match analysis.next {
        NextLog::Absent => {}
        NextLog::Finish => {
            if !read_only && let LogChoice::Log(scan) = &mut analysis.log {
                finish_checkpoint(disk, scan)?;
            }
            let path = disk.path.clone();
            warnings.push(if read_only {
                Warning::CheckpointLeft { path }
            } else {
                Warning::FinishedCheckpoint { path }
            });
        }
        NextLog::Abandon => {
            if !read_only {
                disk.fs
                    .remove(&next_path)
                    .map_err(|err| Error::io("remove", &next_path, err))?;
                disk.sync_dir()?;
            }
            let path = disk.path.clone();
            warnings.push(if read_only {
                Warning::UnusedCheckpointLogLeft { path }
            } else {
                Warning::AbandonedCheckpoint { path }
            });
        }
    }

    // A killed process may have written commits it never synced: they are in the page
    // cache, so they are replayed, and what is shown must survive a power loss after this
    // open. Sync the log before serving them (cutting a torn tail below syncs anyway).
    if !read_only
        && let LogChoice::Log(scan) = &analysis.log
        && scan.records > 0
        && !matches!(scan.tail, LogTail::Torn { .. })
    {
        let mut file = disk
            .fs
            .open(&scan.path, OpenMode::Existing)
            .map_err(|err| Error::io("open", &scan.path, err))?;
        disk.sync_all(file.as_mut(), &scan.path)?;
    }

    if let LogChoice::Log(scan) = &analysis.log
        && let LogTail::Torn {
            offset,
            bytes,
            reason,
        } = &scan.tail
    {
        if read_only {
            warnings.push(Warning::TornTailLeft {
                path: scan.path.clone(),
                offset: *offset,
                bytes: *bytes,
            });
        } else {
            // Zero the torn bytes (rather than truncating) so the preallocated space stays
            // allocated, and make that durable before anything new is appended: appending
            // after garbage would turn it into corruption in the middle of the log.
            let mut file = disk
                .fs
                .open(&scan.path, OpenMode::Existing)
                .map_err(|err| Error::io("open", &scan.path, err))?;
            analyse::zero_back_to_front(file.as_mut(), *offset, *bytes, scan.header.layout)
                .map_err(|err| Error::io("cut the torn tail of", &scan.path, err))?;
            warnings.push(Warning::TornTail {
                path: scan.path.clone(),
                offset: *offset,
                bytes: *bytes,
                reason: reason.clone(),
            });
        }
    }
    if let LogChoice::Log(scan) = &mut analysis.log
        && let Some(expected) = scan.short_of
    {
        warnings.push(Warning::ShortLog {
            path: scan.path.clone(),
            len: scan.file_len,
            expected,
            records: scan.records,
        });
        if !read_only {
            // Grow it back to whole chunks (the warning has told what was lost), so that
            // appends go on into synced, allocated space and the next open is quiet.
            let mut file = disk
                .fs
                .open(&scan.path, OpenMode::Existing)
                .map_err(|err| Error::io("open", &scan.path, err))?;
            zero_range(
                disk,
                file.as_mut(),
                &scan.path,
                scan.file_len,
                expected - scan.file_len,
            )?;
            disk.sync_all(file.as_mut(), &scan.path)?;
            scan.file_len = expected;
            scan.short_of = None;
        }
    }
    Ok(Recovered {
        map,
        warnings,
        analysis,
    })
}

/// Makes the new log of an interrupted checkpoint (`.next`, read into `scan`) the live
/// log `PATH.wal`.
///
/// `.next` is not trusted to be on disk as read. A process killed while creating a first
/// log leaves one that was never synced; a process whose fsync of it failed leaves one
/// whose bytes the page cache still shows but the disk may never get (a failed fsync
/// drops them, and a second fsync finds nothing to write: fsyncgate). Nor is it written
/// over in place: on media without power-safe overwrite, a crash during that write could
/// turn its header, durable until then, into garbage. So it is written afresh into a temp
/// file (its header as read, the records of its complete commits, then zeros to whole
/// chunks), synced, renamed over `PATH.wal`, and only then is `.next` removed. A crash at
/// any step leaves `.next` as it was (the temp file is removed unread by the next open),
/// or the fresh log with `.next` beside it, which the next open finishes the same way (or,
/// once the fresh log holds records past `.next`'s base, abandons: the log has them).
///
/// A checkpoint's new log holds no record. One that an install put in place (a saved
/// database's log, see `crate::install`) may: it was complete and synced before it was
/// renamed to `.next`, so its complete commits are copied with it.
fn finish_checkpoint(disk: &mut Disk, scan: &mut LogScan) -> Result<()> {
    let next_path = files::wal_next_path(&disk.path);
    let wal_path = files::wal_path(&disk.path);
    let header_len = scan.header.layout.header_len();
    let records = match scan.records {
        0 => Vec::new(),
        // Records of an older layout cannot follow a header of the current one; nothing
        // of ours writes such a `.next`, so refuse to build on it.
        records if scan.header.layout != Layout::CURRENT => {
            return Err(Error::Corrupt {
                path: next_path,
                offset: 0,
                reason: format!(
                    "a checkpoint's new log of format version {} holds {}, where a new log \
                     holds none",
                    scan.header.layout.version(),
                    crate::human::count(records, "record")
                ),
            });
        }
        _ => {
            let bytes = disk
                .fs
                .read(&next_path)
                .map_err(|err| Error::io("read", &next_path, err))?;
            let end = usize::try_from(scan.end).unwrap_or(usize::MAX);
            bytes
                .get(header_len..end)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| Error::Corrupt {
                    path: next_path.clone(),
                    offset: bytes.len() as u64,
                    reason: "the file changed while it was recovered".to_string(),
                })?
        }
    };
    let mode = match disk.fs.metadata(&next_path) {
        Ok(Some(meta)) => meta.mode,
        _ => NEW_FILE_MODE,
    };
    let header = Header {
        journal: scan.header.journal,
        ..Header::new(
            scan.header.generation,
            scan.header.base_seq,
            scan.header.snapshot,
            match scan.header.chunk_bytes {
                0 => DEFAULT_CHUNK_BYTES,
                chunk => chunk,
            },
        )
    };
    let end = match records.is_empty() {
        true => header.layout.data_start(),
        false => scan.end,
    };
    let len = header
        .whole_chunks(scan.file_len.max(end))
        .unwrap_or(scan.file_len.max(end));
    let (temp, mut file) = snapshot::create_temp(disk, mode, &mut 0)?;
    write_log(disk, file.as_mut(), &temp, &header, &records, len)?;
    disk.sync_all(file.as_mut(), &temp)?;
    drop(file);
    disk.fs
        .rename(&temp, &wal_path)
        .map_err(|err| Error::io(format!("rename {} over", temp.display()), &wal_path, err))?;
    disk.sync_dir()?;
    disk.fs
        .remove(&next_path)
        .map_err(|err| Error::io("remove", &next_path, err))?;
    disk.sync_dir()?;
    scan.path = wal_path;
    scan.header = header;
    scan.end = end;
    scan.file_len = len;
    scan.short_of = None;
    scan.tail = LogTail::Clean;
    Ok(())
}

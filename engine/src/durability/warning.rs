//! [`Warning`]: what recovery did or found on open, in any mode, for the shell to show.

use std::fmt;
use std::path::PathBuf;

/// Something recovery did or found that the user should hear about; the engine never
/// prints, so the shell shows these (see `KvStore::open_warnings`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// An incomplete or damaged commit at the very end of the log (what a crash during an
    /// append leaves) was cut off: those mutations had never been acknowledged.
    TornTail {
        /// The log file.
        path: PathBuf,
        /// Where the dropped bytes started.
        offset: u64,
        /// How many bytes were dropped.
        bytes: u64,
        /// What was wrong with them.
        reason: String,
    },
    /// A checkpoint had installed its snapshot when the process stopped; open finished it
    /// by switching to the new, empty log.
    FinishedCheckpoint {
        /// The database file.
        path: PathBuf,
    },
    /// A checkpoint had not installed its snapshot when the process stopped; open deleted
    /// its unused new log. Nothing was lost.
    AbandonedCheckpoint {
        /// The database file.
        path: PathBuf,
    },
    /// The store was opened in a mode without a log, so the log's contents were folded
    /// into the snapshot and the log removed.
    FoldedLog {
        /// The database file.
        path: PathBuf,
        /// How many logged mutations were folded in.
        records: u64,
    },
    /// Opened read-only (in memory): a checkpoint had installed its snapshot when the
    /// process stopped; its new log was replayed but nothing was renamed, so a writer
    /// opening the database will finish it.
    CheckpointLeft {
        /// The database file.
        path: PathBuf,
    },
    /// Opened read-only (in memory): a checkpoint had not installed its snapshot when the
    /// process stopped; its unused new log was ignored and left on disk, for a writer
    /// opening the database to remove.
    UnusedCheckpointLogLeft {
        /// The database file.
        path: PathBuf,
    },
    /// Opened read-only (in memory): a torn tail was skipped but left on disk.
    TornTailLeft {
        /// The log file.
        path: PathBuf,
        /// Where the skipped bytes start.
        offset: u64,
        /// How many bytes were skipped.
        bytes: u64,
    },
    /// The log was written in an older format version: open folded it into the snapshot
    /// and started a log in the current format (which older builds cannot read).
    UpgradedLog {
        /// The database file.
        path: PathBuf,
        /// The format version the old log was written in.
        from_version: u32,
    },
    /// The log file is shorter than the chunks it was grown by: something cut it (a
    /// truncation, a copy that stopped early), and acknowledged commits that were
    /// written after `len` may be gone. Open goes on with what is there.
    ShortLog {
        /// The log file.
        path: PathBuf,
        /// The file's length.
        len: u64,
        /// The length its chunks say it has at least.
        expected: u64,
        /// Records of complete commits that were still there.
        records: u64,
    },
    /// Temp files of commits or checkpoints that were interrupted (their process died
    /// before the rename) were removed unread: they never held acknowledged data. Only
    /// files of the exact shape the engine makes are removed (see `files::is_temp_of`).
    RemovedTempFiles {
        /// The database file.
        path: PathBuf,
        /// The temp files removed.
        files: Vec<PathBuf>,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::TornTail {
                path,
                offset,
                bytes,
                reason,
            } => write!(
                f,
                "{}: cut off a torn tail of {} at offset {offset} ({reason}); \
                 it held only unacknowledged writes",
                path.display(),
                crate::human::count(*bytes, "byte")
            ),
            Warning::FinishedCheckpoint { path } => write!(
                f,
                "{}: finished a checkpoint that was interrupted after writing its snapshot",
                path.display()
            ),
            Warning::AbandonedCheckpoint { path } => write!(
                f,
                "{}: removed the new log of a checkpoint interrupted before its snapshot was installed",
                path.display()
            ),
            Warning::CheckpointLeft { path } => write!(
                f,
                "{}: found a checkpoint interrupted after installing its snapshot; left as it \
                 is (opened read-only): a writer opening it will finish it",
                path.display()
            ),
            Warning::UnusedCheckpointLogLeft { path } => write!(
                f,
                "{}: found the unused new log of a checkpoint interrupted before its snapshot \
                 was installed; ignored and left on disk (opened read-only): a writer opening \
                 it will remove it",
                path.display()
            ),
            Warning::FoldedLog { path, records } => write!(
                f,
                "{}: folded {} into the snapshot and removed the log",
                path.display(),
                crate::human::count(*records, "logged mutation")
            ),
            Warning::TornTailLeft {
                path,
                offset,
                bytes,
            } => write!(
                f,
                "{}: ignored a torn tail of {} at offset {offset} (left on disk: opened read-only)",
                path.display(),
                crate::human::count(*bytes, "byte")
            ),
            Warning::UpgradedLog { path, from_version } => write!(
                f,
                "{}: folded a format-{from_version} log into the snapshot and started a \
                 format-{} log (builds before it cannot read it)",
                path.display(),
                super::wal::record::VERSION
            ),
            Warning::ShortLog {
                path,
                len,
                expected,
                records,
            } => write!(
                f,
                "{}: the log is {len} bytes long but was grown to at least {expected}: \
                 {} missing from its end, losing any acknowledged commits held there (was \
                 it truncated or copied incompletely?); kept the {} before the cut",
                path.display(),
                crate::human::count(expected - len, "byte"),
                crate::human::count(*records, "record")
            ),
            Warning::RemovedTempFiles { path, files } => {
                let names: Vec<String> = files
                    .iter()
                    .map(|file| file.display().to_string())
                    .collect();
                let what = match files.len() {
                    1 => "1 leftover temp file".to_string(),
                    n => format!("{n} leftover temp files"),
                };
                write!(
                    f,
                    "{}: removed {what} of an interrupted commit, unread (never acknowledged): {}",
                    path.display(),
                    names.join(", ")
                )
            }
        }
    }
}

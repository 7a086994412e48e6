//! Durability modes: how a committed mutation reaches the disk. One file per stage.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::crash::{CrashAction, CrashPoint};
use crate::error::{Error, Result};
use crate::fs::{Fs, FsFile, parent_dir};
use crate::json_text::JsonText;

pub(crate) mod guard;
pub(crate) mod lock;
pub(crate) mod map;
pub(crate) mod mode;
pub(crate) mod naive;
pub(crate) mod recovery;
pub(crate) mod snapshot;
pub(crate) mod sync_policy;
pub(crate) mod text;
pub(crate) mod wal;
pub(crate) mod warning;

pub(crate) use map::Map;
pub use mode::Durability;
pub use sync_policy::SyncPolicy;

/// One change to the map.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Set `key` to `value`, replacing whatever it held.
    Put {
        /// The key to set.
        key: String,
        /// Its new value.
        value: Value,
    },
    /// A put of a value that is already canonical text (what a shell statement carries):
    /// stored as it is, with no [`Value`] built and serialised back.
    PutText {
        /// The key to set.
        key: String,
        /// Its new value, as canonical JSON text.
        text: JsonText,
    },
    /// Remove `key`; deleting a key that is not there is not an error.
    Delete {
        /// The key to remove.
        key: String,
    },
}

impl Mutation {
    /// The key the mutation changes.
    pub fn key(&self) -> &str {
        match self {
            Mutation::Put { key, .. }
            | Mutation::PutText { key, .. }
            | Mutation::Delete { key } => key,
        }
    }
}

/// A mutation as the backends see it: the value already serialised to its stored text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Put { key: String, value: Box<str> },
    Delete { key: String },
}

/// A failed commit, and whether what is on disk is now unknown (so the store must stop
/// accepting writes: see [`Error::Poisoned`]).
#[derive(Debug)]
pub(crate) struct CommitFailure {
    pub error: Error,
    pub poisons: bool,
}

impl CommitFailure {
    /// A failure that left the committed state on disk as it was.
    pub fn clean(error: Error) -> Self {
        CommitFailure {
            error,
            poisons: false,
        }
    }

    /// A failure after which the disk's state is unknown.
    pub fn poisoning(error: Error) -> Self {
        CommitFailure {
            error,
            poisons: true,
        }
    }
}

/// I/O counters for `stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IoCounters {
    pub fsyncs: u64,
    pub bytes_written: u64,
    /// The part of `bytes_written` that only preallocated space (the log's zero-filled
    /// chunks): I/O, but no data.
    pub zero_filled: u64,
}

/// The database file and the filesystem it lives on, with the counted, error-wrapped
/// operations every file-backed stage uses.
#[derive(Debug)]
pub(crate) struct Disk {
    pub fs: Arc<dyn Fs>,
    /// The database file, symlinks resolved.
    pub path: PathBuf,
    pub counters: IoCounters,
    /// A crash button armed by the user (see [`CrashPoint`]).
    pub armed: Option<CrashPoint>,
    /// What reaching the armed point does.
    pub crash_action: CrashAction,
}

impl Disk {
    pub fn dir(&self) -> &Path {
        parent_dir(&self.path)
    }

    /// Writes `buf` at `offset` of `file`, counting the bytes.
    pub fn write_at(
        &mut self,
        file: &mut dyn FsFile,
        path: &Path,
        offset: u64,
        buf: &[u8],
    ) -> Result<()> {
        file.write_all_at(offset, buf)
            .map_err(|err| Error::io("write", path, err))?;
        self.counters.bytes_written += buf.len() as u64;
        Ok(())
    }

    /// `fdatasync`s `file`.
    pub fn sync_data(&mut self, file: &mut dyn FsFile, path: &Path) -> Result<()> {
        self.counters.fsyncs += 1;
        file.sync_data()
            .map_err(|err| Error::io("fdatasync", path, err))
    }

    /// `fsync`s `file`.
    pub fn sync_all(&mut self, file: &mut dyn FsFile, path: &Path) -> Result<()> {
        self.counters.fsyncs += 1;
        file.sync_all().map_err(|err| Error::io("fsync", path, err))
    }

    /// Makes the database directory's entries durable.
    pub fn sync_dir(&mut self) -> Result<()> {
        self.counters.fsyncs += 1;
        let dir = self.dir().to_path_buf();
        self.fs
            .sync_dir(&dir)
            .map_err(|err| Error::io("fsync directory", dir, err))
    }

    /// If the user armed `point`, crashes here: aborts the process (no destructors, no
    /// flushing, exactly what a `kill -9` at this instant would leave behind), or with
    /// [`CrashAction::Halt`] fails the commit on the spot and poisons the store.
    pub fn crash_point(&self, point: CrashPoint) -> Result<(), CommitFailure> {
        if self.armed != Some(point) {
            return Ok(());
        }
        match self.crash_action {
            CrashAction::Abort => std::process::abort(),
            CrashAction::Halt => Err(CommitFailure::poisoning(Error::Crashed {
                path: self.path.clone(),
                point,
            })),
        }
    }
}

/// The mode-specific half of a store.
#[derive(Debug)]
pub(crate) enum Backend {
    Memory,
    Naive(naive::Naive),
    Snapshot(snapshot::Snapshot),
    // Boxed: the log backend carries more state than the others.
    Wal(Box<wal::Wal>),
}

impl Backend {
    /// Makes `map` (which already includes `batch`) durable as the mode promises.
    pub fn commit(&mut self, map: &Map, batch: &[Change]) -> Result<(), CommitFailure> {
        // The full-rewrite stages need only the resulting map, the log only the batch.
        match self {
            Backend::Memory => Ok(()),
            Backend::Naive(naive) => naive.commit(map),
            Backend::Snapshot(snapshot) => snapshot.commit(map),
            Backend::Wal(wal) => wal.commit(batch),
        }
    }

    pub fn disk(&self) -> Option<&Disk> {
        match self {
            Backend::Memory => None,
            Backend::Naive(naive) => Some(&naive.disk),
            Backend::Snapshot(snapshot) => Some(&snapshot.disk),
            Backend::Wal(wal) => Some(&wal.disk),
        }
    }

    pub fn disk_mut(&mut self) -> Option<&mut Disk> {
        match self {
            Backend::Memory => None,
            Backend::Naive(naive) => Some(&mut naive.disk),
            Backend::Snapshot(snapshot) => Some(&mut snapshot.disk),
            Backend::Wal(wal) => Some(&mut wal.disk),
        }
    }
}

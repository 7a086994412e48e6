//! [`Installer`]: the one crash-safe way to write a whole database (a snapshot, a log, or
//! both) over the one at a path, under its lock. `kv --simulate`'s `save` copies the
//! simulated database onto the real disk with it.
//!
//! Under `PATH.lock`, in a checkpoint's order (see `durability::wal`):
//!
//! 1. The log image, if there is one, is installed as `PATH.wal.next` (temp file, write,
//!    fsync, rename, directory fsync): complete or absent, never half of it. Without a log
//!    image, a log already beside `PATH` gets an empty successor naming the new snapshot,
//!    as a checkpoint prepares one, so that the old log never meets the new snapshot.
//! 2. The snapshot image, if there is one, replaces `PATH` as a commit replaces it (temp
//!    file, write, fsync, rename, directory fsync).
//! 3. `PATH.wal.next` is renamed over `PATH.wal`, and the directory fsynced. Without a log
//!    image, that empty log is then removed, and the directory fsynced.
//!
//! What an open finds after a crash at each step:
//!
//! | crash during/after | on disk | an open reads |
//! | --- | --- | --- |
//! | 1 | the old files, maybe a temp file, maybe `.next` naming the new snapshot | the old database (the temp file is removed; `.next` names a snapshot not on disk, or, naming the same snapshot, does not continue the old log, and is removed) |
//! | 2 | the new snapshot, the old log, `.next` naming the new snapshot and covering the old log | the new database (the checkpoint is finished: `.next` becomes the log, its records copied with it) |
//! | 3 | the new snapshot and the new log (or an empty one) | the new database |
//!
//! The images must be a database that opens: the log (if any) must continue the snapshot
//! that is on disk once the install is done, and, replacing a database that has a log,
//! continue that log (a log copied from it and written on since does).

use std::path::Path;
use std::sync::Arc;

use crate::crash::CrashAction;
use crate::durability::guard::{self, Access};
use crate::durability::wal::record::{Header, SnapshotId};
use crate::durability::{CommitFailure, Disk, IoCounters, Map, lock, snapshot, wal};
use crate::error::{Error, Result};
use crate::files;
use crate::fs::{Fs, FsLock};

/// What an [`Installer`] writes: the new contents of the database's files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Image<'a> {
    /// The new database file (`PATH`), a JSON object; `None` keeps the one on disk (or
    /// its absence: a log that starts from nothing).
    pub snapshot: Option<&'a [u8]>,
    /// The new write-ahead log (`PATH.wal`), whose header names the snapshot it continues;
    /// `None` leaves the database without a log (one on disk is folded away).
    pub log: Option<&'a [u8]>,
}

/// The lock of a database, held to replace its files crash-safely with [`Installer::install`].
///
/// Between [`Installer::lock`] and the install, the caller may read the files through the
/// same filesystem, knowing no writer can change them meanwhile (`save` checks that they
/// are what it loaded, and refuses to overwrite another process's commits).
#[derive(Debug)]
pub struct Installer {
    disk: Disk,
    _lock: Box<dyn FsLock>,
    temp_counter: u64,
    /// Why an earlier install left the files in an unknown state, if one did.
    poisoned: Option<String>,
}

impl Installer {
    /// Takes the lock of the database at `path` (symlinks resolved: the lock and every
    /// file are the ones beside the file a link names), after refusing, before anything is
    /// created or locked, a database file or log that is not a regular file or has a
    /// second name (as a store opening to write refuses them). [`Error::Locked`] if a store
    /// or another installer holds the lock.
    pub fn lock(path: impl AsRef<Path>, fs: Arc<dyn Fs>) -> Result<Installer> {
        let given = path.as_ref();
        let path = fs
            .resolve(given)
            .map_err(|err| Error::io("open", given, err))?;
        guard::admit(fs.as_ref(), &path, Access::Write)?;
        let lock = lock::lock(fs.as_ref(), &path)?;
        Ok(Installer {
            disk: Disk {
                fs,
                path,
                counters: IoCounters::default(),
                armed: None,
                crash_action: CrashAction::Abort,
            },
            _lock: lock,
            temp_counter: 0,
            poisoned: None,
        })
    }

    /// The database file, symlinks resolved: the files beside it are the ones installed.
    pub fn path(&self) -> &Path {
        &self.disk.path
    }

    /// Replaces the database's files with `image`, crash-safely and in a checkpoint's
    /// order (see the module doc): when it returns `Ok` the new database is durable, and a
    /// crash at any step opens as the old database or the new one. Refuses, writing
    /// nothing, a log image whose header cannot be read or does not name the snapshot
    /// image ([`Error::BadImage`]). A failure that leaves the files in an unknown state (a
    /// failed fsync or rename) makes every later install fail with [`Error::Poisoned`];
    /// the files then open as the old database or the new one, as after a crash.
    pub fn install(&mut self, image: Image<'_>) -> Result<()> {
        if let Some(cause) = &self.poisoned {
            return Err(Error::Poisoned {
                path: self.disk.path.clone(),
                cause: cause.clone(),
                advice: "open the database to see which of the two it holds, and install again \
                         with a new installer",
            });
        }
        self.check(image)?;
        match install(&mut self.disk, image, &mut self.temp_counter) {
            Ok(()) => Ok(()),
            Err(failure) => {
                if failure.poisons {
                    self.poisoned = Some(failure.error.to_string());
                }
                Err(failure.error)
            }
        }
    }

    /// Refuses a log image that would not open with the snapshot image.
    fn check(&self, image: Image<'_>) -> Result<()> {
        let Some(log) = image.log else {
            return Ok(());
        };
        let bad = |reason: String| Error::BadImage {
            path: files::wal_path(&self.disk.path),
            reason,
        };
        let header = Header::decode(log)
            .map_err(|reason| bad(format!("the log image has no valid header: {reason}")))?;
        if let Some(snapshot) = image.snapshot
            && header.snapshot != SnapshotId::of(Some(snapshot))
        {
            return Err(bad(
                "the log image does not continue the snapshot image (its header names \
                 another snapshot)"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// The three steps of the module doc, under the lock the caller holds (an [`Installer`],
/// or a store folding its log away on open); `temp_counter` keeps the caller's temp names
/// apart. Without a log image, a log on disk is folded by an empty successor.
pub(crate) fn install(
    disk: &mut Disk,
    image: Image<'_>,
    temp_counter: &mut u64,
) -> Result<(), CommitFailure> {
    let folding = match (image.log, image.snapshot) {
        (None, Some(snapshot)) => wal::folding_log(disk, snapshot).map_err(CommitFailure::clean)?,
        _ => None,
    };
    let folding = folding.as_deref();
    let next = image.log.or(folding);
    if let Some(log) = next {
        let next_path = files::wal_next_path(&disk.path);
        snapshot::install_at(disk, &next_path, log, temp_counter)?;
    }
    if let Some(bytes) = image.snapshot
        && let Err(failure) = snapshot::install(disk, bytes, temp_counter)
    {
        return Err(match next {
            // Until the snapshot is renamed, `.next` must not stay: naming the snapshot
            // on disk, it could be taken for the live log.
            Some(_) => wal::discard_next_log(disk, failure),
            None => failure,
        });
    }
    if next.is_some() {
        wal::switch_next_log(disk)?;
    }
    if folding.is_some() {
        let wal_path = files::wal_path(&disk.path);
        disk.fs
            .remove(&wal_path)
            .map_err(|err| CommitFailure::poisoning(Error::io("remove", &wal_path, err)))?;
        disk.sync_dir().map_err(CommitFailure::poisoning)?;
    }
    Ok(())
}

/// Folds the log of the database `disk` names, which holds `records` records, into a
/// snapshot of `map` (what the snapshot and the log hold together), for a store opening
/// in a mode without a log: [`install`] of that snapshot, which gives the log an empty
/// successor first, so a crash at any step opens with the same data. A log with no record
/// adds nothing to the snapshot it names: it is only removed.
pub(crate) fn fold_log(disk: &mut Disk, map: &Map, records: u64) -> Result<()> {
    if records == 0 {
        let wal_path = files::wal_path(&disk.path);
        disk.fs
            .remove(&wal_path)
            .map_err(|err| Error::io("remove", &wal_path, err))?;
        return disk.sync_dir();
    }
    let mut bytes = Vec::new();
    snapshot::serialise(map, &mut bytes);
    let image = Image {
        snapshot: Some(&bytes),
        log: None,
    };
    install(disk, image, &mut 0).map_err(|failure| failure.error)
}

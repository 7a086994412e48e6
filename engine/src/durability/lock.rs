//! The single-writer lock, `PATH.lock`: taken the same way by a store opening to write,
//! by `repair`, and by an install (`kv --simulate`'s `save`).

use std::io;
use std::path::Path;

use crate::error::{Error, Result};
use crate::files;
use crate::fs::{Fs, FsLock};

/// Takes the lock of the database at `path` (symlinks already resolved, so every name of
/// the database finds the same lock file) without waiting. [`Error::Locked`] if another
/// store, in this process or another, holds it; released when the guard is dropped or the
/// process dies.
pub(crate) fn lock(fs: &dyn Fs, path: &Path) -> Result<Box<dyn FsLock>> {
    let lock_path = files::lock_path(path);
    fs.lock(&lock_path).map_err(|err| {
        if err.kind() == io::ErrorKind::WouldBlock {
            Error::Locked {
                path: path.to_path_buf(),
                lock_path: lock_path.clone(),
            }
        } else {
            Error::io("lock", &lock_path, err)
        }
    })
}

//! What every entry point refuses before it creates, locks or reads anything: files that
//! are not regular files, and, for writers, a file with more than one name.
//!
//! - **Not a regular file.** Reading a named pipe blocks until someone writes to it (`kv
//!   FIFO` hung forever), reading `/dev/zero` never ends (it ate gigabytes), and taking
//!   the lock of `/dev/null` creates `/dev/null.lock`. So `PATH`, `PATH.wal` and
//!   `PATH.wal.next` must each be missing or a regular file (symlinks are followed), in
//!   every mode and for `check` and `repair` too. Checked with `stat`, which never blocks;
//!   a file swapped for a FIFO between the check and the read can still block the read
//!   (the seam reads whole files; no user does that by accident).
//! - **Hard links.** The single-writer lock is `PATH.lock`, found by name: after `ln
//!   db.json alias.json`, a writer of each name takes its own lock, keeps its own log, and
//!   the first snapshot or checkpoint splits the data between the two names. SQLite warns
//!   about the same hole. So a writer refuses a database file, or a log, with more than one
//!   name. Readers that take no lock (memory mode on a path, `check`, `plan_repair`) change
//!   nothing, so they may read a linked file. `repair` only cuts `PATH.wal` under
//!   `PATH.lock`, and a writer of another name never touches that log, so it is allowed
//!   too. `PATH.lock` itself may have other names: `flock` locks the file, not the name, so
//!   a shared lock file only makes two databases exclude each other.

use std::path::Path;

use crate::error::{Error, Result};
use crate::files;
use crate::fs::{FileKind, Fs};

/// The files of the database at `path` that the engine reads, with what each is for.
fn read_files(path: &Path) -> [(std::path::PathBuf, &'static str); 3] {
    [
        (path.to_path_buf(), "the database file"),
        (files::wal_path(path), "the write-ahead log"),
        (files::wal_next_path(path), "the new log of a checkpoint"),
    ]
}

/// What an entry point will do with the database's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only, with no lock (memory mode, `check`, `plan_repair`, `repair` of the log).
    Read,
    /// Write under the lock `PATH.lock`.
    Write,
}

/// Refuses the database at `path` (symlinks resolved) if the database file or a log
/// beside it exists and is not a regular file ([`Error::IsDirectory`] for a database file
/// that is a directory, [`Error::NotARegularFile`] for anything else), or, for
/// [`Access::Write`], has more than one name ([`Error::HardLinked`]). Only `stat`s, one
/// per file.
pub fn admit(fs: &dyn Fs, path: &Path, access: Access) -> Result<()> {
    for (file, role) in read_files(path) {
        let Some(meta) = fs
            .metadata(&file)
            .map_err(|err| Error::io("stat", &file, err))?
        else {
            continue;
        };
        match meta.kind {
            FileKind::Regular => {}
            FileKind::Directory if file == path => {
                return Err(Error::IsDirectory { path: file });
            }
            kind => {
                return Err(Error::NotARegularFile {
                    path: file,
                    kind,
                    role,
                });
            }
        }
        if access == Access::Write && meta.nlink > 1 {
            return Err(Error::HardLinked {
                path: file,
                links: meta.nlink,
            });
        }
    }
    Ok(())
}

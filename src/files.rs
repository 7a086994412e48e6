//! The names of the files that live beside a database `PATH`, in one place.
//!
//! - `PATH`: the snapshot, a plain JSON object of key → value that `cat` can show.
//! - `PATH.lock`: the single-writer lock (an advisory lock; its content is empty).
//! - `PATH.tmp-<pid>-<n>`: a snapshot being written; never read, and removed on open.
//! - `PATH.wal`: the write-ahead log (stage 3). Its header names the snapshot it continues
//!   (by length and CRC32C) and the last sequence number that snapshot contains, so the
//!   snapshot itself stays a plain JSON object.
//! - `PATH.wal.next`: the log a checkpoint prepares before installing its snapshot; renamed
//!   over `PATH.wal` to finish the checkpoint (see `durability::wal`).
//! - `PATH.wal.cut-<n>`: bytes `repair` cut from the log, kept as a backup; never read.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Suffix of the single-writer lock file.
pub const LOCK_SUFFIX: &str = ".lock";
/// Infix of temp files: `PATH.tmp-<pid>-<n>`.
pub const TEMP_INFIX: &str = ".tmp-";
/// Suffix of the write-ahead log.
pub const WAL_SUFFIX: &str = ".wal";
/// Suffix of the log a checkpoint prepares.
pub const WAL_NEXT_SUFFIX: &str = ".wal.next";
/// Infix of the backups `repair` keeps: `PATH.wal.cut-<n>`.
pub const WAL_CUT_INFIX: &str = ".wal.cut-";
/// Permission bits of a database file the engine creates.
pub const NEW_FILE_MODE: u32 = 0o600;

/// `PATH` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The lock file of the database at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    sibling(path, LOCK_SUFFIX)
}

/// The write-ahead log of the database at `path`.
pub fn wal_path(path: &Path) -> PathBuf {
    sibling(path, WAL_SUFFIX)
}

/// The log a checkpoint of the database at `path` prepares.
pub fn wal_next_path(path: &Path) -> PathBuf {
    sibling(path, WAL_NEXT_SUFFIX)
}

/// The `n`th backup of bytes cut from the log of the database at `path`.
pub fn wal_cut_path(path: &Path, n: u64) -> PathBuf {
    sibling(path, &format!("{WAL_CUT_INFIX}{n}"))
}

/// A temp file name for a snapshot of `path`, unique within this process by `n`.
pub fn temp_path(path: &Path, n: u64) -> PathBuf {
    sibling(path, &format!("{TEMP_INFIX}{}-{n}", std::process::id()))
}

/// Whether the directory entry `name` is a temp file of the database named `db_name`:
/// exactly the shape [`temp_path`] makes, `NAME.tmp-<digits>-<digits>`. Anything else that
/// merely starts the same way (`NAME.tmp-backup`, a user's file) is not ours to delete.
pub fn is_temp_of(db_name: &OsStr, name: &OsStr) -> bool {
    let mut prefix = OsString::from(db_name);
    prefix.push(TEMP_INFIX);
    let Some(rest) = name
        .as_encoded_bytes()
        .strip_prefix(prefix.as_encoded_bytes())
    else {
        return false;
    };
    let is_number = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    let mut parts = rest.split(|&byte| byte == b'-');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(pid), Some(n), None) if is_number(pid) && is_number(n)
    )
}

//! The names of the files that live beside a database `PATH`, in one place.
//!
//! - `PATH`: the snapshot, a plain JSON object of key → value that `cat` can show.
//! - `PATH.lock`: the single-writer lock (an advisory lock; its content is empty).
//! - `PATH.kv-tmp.<pid>.<16 hex digits>`: a snapshot being written; never read, and
//!   removed on open. The marker and the random part make it a name no user would choose
//!   (the old `PATH.tmp-<digits>-<digits>` deleted a user's `db.json.tmp-2024-06`).
//! - `PATH.wal`: the write-ahead log (stage 3). Its header names the snapshot it continues
//!   (by length and CRC32C) and the last sequence number that snapshot contains, so the
//!   snapshot itself stays a plain JSON object.
//! - `PATH.wal.next`: the log a checkpoint prepares before installing its snapshot; renamed
//!   over `PATH.wal` to finish the checkpoint (see `durability::wal`).
//! - `PATH.wal.cut-<n>`: bytes `repair` cut from the log, kept as a backup; never read.

use std::collections::hash_map::RandomState;
use std::ffi::{OsStr, OsString};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

/// Suffix of the single-writer lock file.
pub const LOCK_SUFFIX: &str = ".lock";
/// Marker of temp files: `PATH.kv-tmp.<pid>.<16 hex digits>`.
pub const TEMP_MARKER: &str = ".kv-tmp.";
/// Hex digits of a temp file's random part.
const TEMP_RANDOM_DIGITS: usize = 16;
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

/// A temp file name for a snapshot of `path`: `PATH.kv-tmp.<pid>.<16 hex digits>`, the
/// hex digits random (a fresh `RandomState`'s hash of `n`), so that no user's file has
/// this name by accident, and two names made with different `n` differ.
pub fn temp_path(path: &Path, n: u64) -> PathBuf {
    // Each `RandomState` has its own random keys, so the hash of anything is random; `n`
    // keeps the names of one state apart too. No new dependency for eight bytes.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(n);
    let random = hasher.finish();
    sibling(
        path,
        &format!("{TEMP_MARKER}{}.{random:016x}", std::process::id()),
    )
}

/// Whether the directory entry `name` is a temp file of the database named `db_name`:
/// exactly the shape [`temp_path`] makes, `NAME.kv-tmp.<digits>.<16 lowercase hex
/// digits>`. Anything else (`NAME.tmp-2024-06`, `NAME.kv-tmp.backup`, a user's file) is
/// not ours to delete.
pub fn is_temp_of(db_name: &OsStr, name: &OsStr) -> bool {
    let mut prefix = OsString::from(db_name);
    prefix.push(TEMP_MARKER);
    let Some(rest) = name
        .as_encoded_bytes()
        .strip_prefix(prefix.as_encoded_bytes())
    else {
        return false;
    };
    let mut parts = rest.splitn(2, |&byte| byte == b'.');
    let (Some(pid), Some(random)) = (parts.next(), parts.next()) else {
        return false;
    };
    !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && random.len() == TEMP_RANDOM_DIGITS
        && random
            .iter()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_and_nothing_else() {
        let db = OsStr::new("db.json");
        let made = temp_path(Path::new("dir/db.json"), 1);
        let name = made.file_name().unwrap_or_default();
        assert!(is_temp_of(db, name), "{made:?}");
        assert_ne!(made, temp_path(Path::new("dir/db.json"), 1), "random part");
        for other in [
            "db.json.tmp-2024-06",
            "db.json.tmp-1-1",
            "db.json.kv-tmp.",
            "db.json.kv-tmp.1",
            "db.json.kv-tmp.1.",
            "db.json.kv-tmp..0123456789abcdef",
            "db.json.kv-tmp.x.0123456789abcdef",
            "db.json.kv-tmp.1.0123456789abcde",
            "db.json.kv-tmp.1.0123456789abcdef0",
            "db.json.kv-tmp.1.0123456789ABCDEF",
            "db.json.kv-tmp.1.0123456789abcdeg",
            "db.json.kv-tmp.1.2.0123456789abcdef",
            "other.json.kv-tmp.1.0123456789abcdef",
            "xdb.json.kv-tmp.1.0123456789abcdef",
        ] {
            assert!(!is_temp_of(db, OsStr::new(other)), "{other}");
        }
        assert!(is_temp_of(
            db,
            OsStr::new("db.json.kv-tmp.42.0123456789abcdef")
        ));
    }
}

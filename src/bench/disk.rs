//! The disk's own limits, measured in the benchmark's directory through the [`Fs`] seam:
//! what the cheapest possible program doing the same I/O as a durability mode achieves.

use std::path::Path;

use super::stats::Sample;
use super::timing::time_each;
use crate::error::{Error, Result};
use crate::fs::{Fs, OpenMode};

/// Permission bits of the scratch files.
const SCRATCH_MODE: u32 = 0o600;

/// One append of `record_bytes` at the end of a growing file, then `fdatasync`: what a log
/// that grows its file pays (the size change makes every fdatasync commit metadata too).
pub(crate) fn append_fdatasync(
    fs: &dyn Fs,
    dir: &Path,
    record_bytes: usize,
    warmup: usize,
    ops: usize,
) -> Result<Sample> {
    let path = dir.join("limit-append");
    let mut file = fs
        .open(&path, OpenMode::CreateNew { mode: SCRATCH_MODE })
        .map_err(|err| Error::io("create", &path, err))?;
    let record = vec![b'r'; record_bytes];
    let mut append = |i: usize| -> Result<()> {
        let offset = (i * record_bytes) as u64;
        file.write_all_at(offset, &record)
            .map_err(|err| Error::io("write", &path, err))?;
        file.sync_data()
            .map_err(|err| Error::io("fdatasync", &path, err))
    };
    for i in 0..warmup {
        append(i)?;
    }
    let sample = time_each(ops, |i| append(warmup + i))?;
    drop(file);
    remove(fs, &path)?;
    Ok(sample)
}

/// One overwrite of `record_bytes` inside a file whose space was written and fsynced
/// beforehand, then `fdatasync`: only data moves, so this is the floor for one durable
/// record (SQLite's WAL reuses its log file in place to get here).
pub(crate) fn overwrite_fdatasync(
    fs: &dyn Fs,
    dir: &Path,
    record_bytes: usize,
    warmup: usize,
    ops: usize,
) -> Result<Sample> {
    let path = dir.join("limit-overwrite");
    let mut file = fs
        .open(&path, OpenMode::CreateNew { mode: SCRATCH_MODE })
        .map_err(|err| Error::io("create", &path, err))?;
    // Real bytes, not `set_len`: a hole would make each overwrite allocate a block, which
    // is a metadata change again.
    let space = vec![0u8; (warmup + ops) * record_bytes];
    file.write_all_at(0, &space)
        .map_err(|err| Error::io("preallocate", &path, err))?;
    file.sync_all()
        .map_err(|err| Error::io("fsync", &path, err))?;
    let record = vec![b'r'; record_bytes];
    let mut overwrite = |i: usize| -> Result<()> {
        file.write_all_at((i * record_bytes) as u64, &record)
            .map_err(|err| Error::io("write", &path, err))?;
        file.sync_data()
            .map_err(|err| Error::io("fdatasync", &path, err))
    };
    for i in 0..warmup {
        overwrite(i)?;
    }
    let sample = time_each(ops, |i| overwrite(warmup + i))?;
    drop(file);
    remove(fs, &path)?;
    Ok(sample)
}

/// The snapshot recipe for `bytes` bytes: create a temp file, write it, fsync it, rename it
/// over the target, fsync the directory. What the snapshot mode does minus serialising.
pub(crate) fn snapshot_recipe(
    fs: &dyn Fs,
    dir: &Path,
    bytes: usize,
    warmup: usize,
    ops: usize,
) -> Result<Sample> {
    let target = dir.join("limit-recipe");
    let content = filler(bytes);
    let recipe = |i: usize| -> Result<()> {
        let temp = dir.join(format!("limit-recipe.tmp-{i}"));
        let mut file = fs
            .open(&temp, OpenMode::CreateNew { mode: SCRATCH_MODE })
            .map_err(|err| Error::io("create", &temp, err))?;
        file.write_all_at(0, &content)
            .map_err(|err| Error::io("write", &temp, err))?;
        file.sync_all()
            .map_err(|err| Error::io("fsync", &temp, err))?;
        drop(file);
        fs.rename(&temp, &target)
            .map_err(|err| Error::io(format!("rename {} over", temp.display()), &target, err))?;
        fs.sync_dir(dir)
            .map_err(|err| Error::io("fsync directory", dir, err))
    };
    for i in 0..warmup {
        recipe(i)?;
    }
    let sample = time_each(ops, |i| recipe(warmup + i))?;
    remove(fs, &target)?;
    Ok(sample)
}

/// Truncating a file and writing `bytes` bytes into it, with no sync: what the naive mode
/// does minus serialising. Bounded by the page cache, not the disk.
pub(crate) fn rewrite_unsynced(
    fs: &dyn Fs,
    dir: &Path,
    bytes: usize,
    warmup: usize,
    ops: usize,
) -> Result<Sample> {
    let path = dir.join("limit-rewrite");
    let content = filler(bytes);
    let rewrite = |_: usize| -> Result<()> {
        let mut file = fs
            .open(&path, OpenMode::Truncate { mode: SCRATCH_MODE })
            .map_err(|err| Error::io("open", &path, err))?;
        file.write_all_at(0, &content)
            .map_err(|err| Error::io("write", &path, err))
    };
    for i in 0..warmup {
        rewrite(i)?;
    }
    let sample = time_each(ops, rewrite)?;
    remove(fs, &path)?;
    Ok(sample)
}

/// `bytes` bytes of text ending in a newline, like a snapshot.
fn filler(bytes: usize) -> Vec<u8> {
    let mut content = vec![b'x'; bytes];
    if let Some(last) = content.last_mut() {
        *last = b'\n';
    }
    content
}

fn remove(fs: &dyn Fs, path: &Path) -> Result<()> {
    fs.remove(path)
        .map_err(|err| Error::io("remove", path, err))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // tests inspect the disk directly

    use super::*;
    use crate::fs::RealFs;

    #[test]
    fn limits_time_what_was_asked_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RealFs;
        assert_eq!(append_fdatasync(&fs, dir.path(), 64, 2, 5).unwrap().ops, 5);
        assert_eq!(
            overwrite_fdatasync(&fs, dir.path(), 64, 2, 5).unwrap().ops,
            5
        );
        assert_eq!(snapshot_recipe(&fs, dir.path(), 1000, 2, 3).unwrap().ops, 3);
        assert_eq!(
            rewrite_unsynced(&fs, dir.path(), 1000, 2, 3).unwrap().ops,
            3
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

//! The disk's own limits, measured in the benchmark's directory through the [`Fs`] seam:
//! what the cheapest possible program doing the same I/O as a durability mode achieves.
//!
//! A [`Probe`] performs one operation of a limit per [`Probe::step`], so a limit can be
//! timed alone or interleaved op by op with the engine operation it bounds (the same
//! moment sees the same noise from other processes).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::stats::Sample;
use super::timing::time_each;
use kv_engine::fs::{Fs, FsFile, OpenMode};
use kv_engine::{Error, Result};

/// The disk limits an engine figure can be bounded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    AppendFdatasync,
    OverwriteFdatasync,
    SnapshotRecipe,
    RewriteUnsynced,
}

impl LimitKind {
    /// A short description for tables.
    pub fn describe(self) -> &'static str {
        match self {
            LimitKind::AppendFdatasync => "append + fdatasync",
            LimitKind::OverwriteFdatasync => "overwrite + fdatasync",
            LimitKind::SnapshotRecipe => "snapshot recipe",
            LimitKind::RewriteUnsynced => "rewrite, no sync",
        }
    }
}

/// Permission bits of the scratch files.
const SCRATCH_MODE: u32 = 0o600;

/// A limit being measured: its scratch file(s) and where the next operation goes.
pub(crate) struct Probe<'a> {
    fs: &'a dyn Fs,
    dir: &'a Path,
    kind: LimitKind,
    /// The file every operation goes to (the rename target, for the recipe).
    path: PathBuf,
    /// The open file, for the append and overwrite limits.
    file: Option<Box<dyn FsFile>>,
    /// What one operation writes.
    content: Vec<u8>,
    /// Operations done, which places the next append or overwrite and names temp files.
    steps: usize,
}

impl<'a> Probe<'a> {
    /// Prepares `kind` writing `bytes` bytes per operation, in files named `name*` in
    /// `dir`, for at most `capacity` operations (the overwrite limit preallocates them).
    pub fn new(
        fs: &'a dyn Fs,
        dir: &'a Path,
        name: &str,
        kind: LimitKind,
        bytes: usize,
        capacity: usize,
    ) -> Result<Self> {
        let path = dir.join(name);
        let mut content = vec![b'x'; bytes];
        if let Some(last) = content.last_mut() {
            *last = b'\n';
        }
        let file = match kind {
            LimitKind::AppendFdatasync | LimitKind::OverwriteFdatasync => {
                let mut file = fs
                    .open(&path, OpenMode::CreateNew { mode: SCRATCH_MODE })
                    .map_err(|err| Error::io("create", &path, err))?;
                if kind == LimitKind::OverwriteFdatasync {
                    // Real bytes, not `set_len`: a hole would make each overwrite allocate
                    // a block, which is a metadata change again.
                    file.write_all_at(0, &vec![0u8; capacity * bytes])
                        .map_err(|err| Error::io("preallocate", &path, err))?;
                    file.sync_all()
                        .map_err(|err| Error::io("fsync", &path, err))?;
                }
                Some(file)
            }
            LimitKind::SnapshotRecipe | LimitKind::RewriteUnsynced => None,
        };
        Ok(Probe {
            fs,
            dir,
            kind,
            path,
            file,
            content,
            steps: 0,
        })
    }

    /// Performs one operation of the limit.
    pub fn step(&mut self) -> Result<()> {
        let (fs, path, content) = (self.fs, &self.path, &self.content);
        let offset = (self.steps * content.len()) as u64;
        self.steps += 1;
        match (self.kind, self.file.as_mut()) {
            // One record at the end of a growing file, then fdatasync: the size change
            // makes every fdatasync commit metadata too.
            // One record inside written, synced space, then fdatasync: only data moves,
            // the floor for one durable record (SQLite's WAL reuses its file to get here).
            (LimitKind::AppendFdatasync | LimitKind::OverwriteFdatasync, Some(file)) => {
                file.write_all_at(offset, content)
                    .map_err(|err| Error::io("write", path, err))?;
                file.sync_data()
                    .map_err(|err| Error::io("fdatasync", path, err))
            }
            // The snapshot mode's I/O without serialising: temp file, write, fsync,
            // rename over the target, fsync the directory.
            (LimitKind::SnapshotRecipe, _) => {
                let temp = self.dir.join(format!(
                    "{}.tmp-{}",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    self.steps
                ));
                let mut file = fs
                    .open(&temp, OpenMode::CreateNew { mode: SCRATCH_MODE })
                    .map_err(|err| Error::io("create", &temp, err))?;
                file.write_all_at(0, content)
                    .map_err(|err| Error::io("write", &temp, err))?;
                file.sync_all()
                    .map_err(|err| Error::io("fsync", &temp, err))?;
                drop(file);
                fs.rename(&temp, path).map_err(|err| {
                    Error::io(format!("rename {} over", temp.display()), path, err)
                })?;
                fs.sync_dir(self.dir)
                    .map_err(|err| Error::io("fsync directory", self.dir, err))
            }
            // The naive mode's I/O without serialising: truncate, write, no sync.
            (LimitKind::RewriteUnsynced, _) => {
                let mut file = fs
                    .open(path, OpenMode::Truncate { mode: SCRATCH_MODE })
                    .map_err(|err| Error::io("open", path, err))?;
                file.write_all_at(0, content)
                    .map_err(|err| Error::io("write", path, err))
            }
            (LimitKind::AppendFdatasync | LimitKind::OverwriteFdatasync, None) => Err(Error::io(
                "write",
                path,
                std::io::Error::other("probe file is closed"),
            )),
        }
    }

    /// Removes the probe's file.
    pub fn close(mut self) -> Result<()> {
        drop(self.file.take());
        match self.fs.remove(&self.path) {
            Ok(()) => Ok(()),
            // The recipe and the rewrite create their file on the first step only.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && self.steps == 0 => Ok(()),
            Err(err) => Err(Error::io("remove", &self.path, err)),
        }
    }
}

/// Times `ops` operations of `kind` alone, after `warmup` untimed ones, and removes its
/// files.
pub(crate) fn measure(
    fs: &dyn Fs,
    dir: &Path,
    kind: LimitKind,
    bytes: usize,
    warmup: usize,
    ops: usize,
) -> Result<Sample> {
    let mut probe = Probe::new(fs, dir, "limit", kind, bytes, warmup + ops)?;
    for _ in 0..warmup {
        probe.step()?;
    }
    let sample = time_each(ops, |_| probe.step())?;
    probe.close()?;
    Ok(sample)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // tests inspect the disk directly

    use std::ffi::OsString;
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;
    use kv_engine::fs::{FsLock, Metadata, RealFs};

    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    struct Counts {
        /// File syncs (fsync and fdatasync) and directory syncs.
        syncs: usize,
        bytes: usize,
        renames: usize,
    }

    /// The real filesystem, counting, so a test can check that each limit does exactly
    /// the I/O it claims to.
    #[derive(Debug, Default)]
    struct Counting {
        counts: Arc<Mutex<Counts>>,
    }

    #[derive(Debug)]
    struct CountingFile {
        inner: Box<dyn FsFile>,
        counts: Arc<Mutex<Counts>>,
    }

    impl Counting {
        fn take(&self) -> Counts {
            std::mem::take(&mut *self.counts.lock().unwrap())
        }
    }

    impl FsFile for CountingFile {
        fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
            self.counts.lock().unwrap().bytes += buf.len();
            self.inner.write_all_at(offset, buf)
        }
        fn sync_data(&mut self) -> io::Result<()> {
            self.counts.lock().unwrap().syncs += 1;
            self.inner.sync_data()
        }
        fn sync_all(&mut self) -> io::Result<()> {
            self.counts.lock().unwrap().syncs += 1;
            self.inner.sync_all()
        }
        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.inner.set_len(len)
        }
        fn size(&self) -> io::Result<u64> {
            self.inner.size()
        }
    }

    impl Fs for Counting {
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            RealFs.read(path)
        }
        fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
            Ok(Box::new(CountingFile {
                inner: RealFs.open(path, mode)?,
                counts: Arc::clone(&self.counts),
            }))
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.counts.lock().unwrap().renames += 1;
            RealFs.rename(from, to)
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            RealFs.remove(path)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            self.counts.lock().unwrap().syncs += 1;
            RealFs.sync_dir(dir)
        }
        fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
            RealFs.list_dir(dir)
        }
        fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
            RealFs.metadata(path)
        }
        fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
            RealFs.resolve(path)
        }
        fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
            RealFs.lock(path)
        }
    }

    #[test]
    fn each_limit_does_exactly_its_io_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Counting::default();
        let run = |kind| {
            let sample = measure(&fs, dir.path(), kind, 100, 2, 5).unwrap();
            assert_eq!(sample.ops, 5);
            fs.take()
        };
        let counts = |syncs, bytes, renames| Counts {
            syncs,
            bytes,
            renames,
        };
        // 2 warm-up + 5 timed operations of 100 bytes each.
        assert_eq!(run(LimitKind::AppendFdatasync), counts(7, 700, 0));
        // Plus preallocating 7 records and one fsync of them.
        assert_eq!(
            run(LimitKind::OverwriteFdatasync),
            counts(1 + 7, 700 + 700, 0)
        );
        // fsync of the temp file and of the directory, per operation.
        assert_eq!(run(LimitKind::SnapshotRecipe), counts(14, 700, 7));
        assert_eq!(run(LimitKind::RewriteUnsynced), counts(0, 700, 0));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

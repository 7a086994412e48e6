//! [`RealFs`]: the [`Fs`] seam on the operating system's filesystem.
#![allow(clippy::disallowed_methods)] // This module is the one place allowed to call std::fs.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{FileKind, Fs, FsFile, FsLock, Metadata, OpenMode, parent_dir};

/// Symlink hops [`Fs::resolve`] follows before giving up, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: usize = 40;

/// The operating system's filesystem, through `std::fs`: what [`Options`](crate::Options)
/// uses unless a test or the shell's `--simulate` gives it another [`Fs`].
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl Fs for RealFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn read_prefix(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut bytes = Vec::with_capacity(len);
        fs::File::open(path)?
            .take(len as u64)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let create_mode = match mode {
            OpenMode::CreateNew { mode } => {
                options.create_new(true).mode(mode);
                Some(mode)
            }
            OpenMode::Truncate { mode } => {
                options.create(true).truncate(true).mode(mode);
                None
            }
            OpenMode::CreateOrOpen { mode } => {
                options.create(true).mode(mode);
                None
            }
            OpenMode::Existing => None,
        };
        let file = options.open(path)?;
        // open(2) applies the umask to the mode; a snapshot must carry the exact bits of
        // the file it replaces, so set them explicitly on a file we just created.
        if let Some(mode) = create_mode {
            file.set_permissions(Permissions::from_mode(mode))?;
        }
        Ok(Box::new(RealFile { file }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // fsync(2): syncing a file does not make its directory entry durable; on Linux a
        // directory opened read-only can be fsynced.
        File::open(dir)?.sync_all()
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect()
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        match fs::metadata(path) {
            Ok(meta) => {
                let file_type = meta.file_type();
                let kind = if file_type.is_dir() {
                    FileKind::Directory
                } else if file_type.is_fifo() {
                    FileKind::Fifo
                } else if file_type.is_char_device() {
                    FileKind::CharDevice
                } else if file_type.is_block_device() {
                    FileKind::BlockDevice
                } else if file_type.is_socket() {
                    FileKind::Socket
                } else {
                    FileKind::Regular
                };
                Ok(Some(Metadata {
                    is_dir: meta.is_dir(),
                    kind,
                    len: meta.len(),
                    mode: meta.permissions().mode() & 0o777,
                    nlink: meta.nlink(),
                }))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        let mut current = path.to_path_buf();
        for _ in 0..MAX_SYMLINK_HOPS {
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = fs::read_link(&current)?;
                    current = if target.is_absolute() {
                        target
                    } else {
                        parent_dir(&current).join(target)
                    };
                }
                Ok(_) => return Ok(current),
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(current),
                Err(err) => return Err(err),
            }
        }
        Err(io::Error::other(format!(
            "more than {MAX_SYMLINK_HOPS} levels of symbolic links"
        )))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        // flock(2) locks belong to the open file description, so a second open in this
        // same process conflicts too, and the kernel drops the lock when the process dies.
        match file.try_lock() {
            Ok(()) => Ok(Box::new(RealLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(TryLockError::Error(err)) => Err(err),
        }
    }
}

#[derive(Debug)]
struct RealFile {
    file: File,
}

impl FsFile for RealFile {
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

#[derive(Debug)]
struct RealLock {
    _file: File,
}

impl FsLock for RealLock {}

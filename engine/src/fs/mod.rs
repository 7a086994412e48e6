//! The filesystem seam: the only door through which the engine touches the disk.
//!
//! Every byte the engine reads, writes, renames or syncs goes through [`Fs`], so that a
//! test (or a classroom demo) can put a simulated disk behind it and cut the power at any
//! step. `clippy.toml` bans direct `std::fs` calls everywhere but in [`real`].

use std::ffi::OsString;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};

pub mod real;
pub mod sim;
pub mod trace;

pub use real::RealFs;
pub use sim::{CrashMode, SimFs};
pub use trace::TraceFs;

/// How [`Fs::open`] treats an existing or missing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file, failing with `AlreadyExists` if it exists. Its permission bits are
    /// set to exactly `mode` (the process umask does not apply).
    CreateNew {
        /// The new file's permission bits.
        mode: u32,
    },
    /// Open for writing and truncate to zero length; create it with `mode` (less the
    /// umask) if it is missing.
    Truncate {
        /// The permission bits of a file created here, before the umask.
        mode: u32,
    },
    /// Open an existing file for reading and writing without changing it.
    Existing,
    /// Open for reading and writing, creating it with `mode` (less the umask) if it is
    /// missing.
    CreateOrOpen {
        /// The permission bits of a file created here, before the umask.
        mode: u32,
    },
}

/// What kind of thing a path names (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An ordinary file: the only kind the engine reads or writes as a database or log.
    Regular,
    /// A directory.
    Directory,
    /// A named pipe: reading it blocks until someone writes.
    Fifo,
    /// A character device such as `/dev/null` or `/dev/zero`.
    CharDevice,
    /// A block device such as a disk partition.
    BlockDevice,
    /// A Unix domain socket.
    Socket,
}

impl FileKind {
    /// The kind as a user would name it in an error message.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a named pipe (FIFO)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
        }
    }
}

/// What [`Fs::metadata`] reports about a path (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Whether the path names a directory (the same as `kind == FileKind::Directory`).
    pub is_dir: bool,
    /// What kind of thing the path names.
    pub kind: FileKind,
    /// The size in bytes, as `stat` reports it.
    pub len: u64,
    /// Permission bits (`0o777` mask).
    pub mode: u32,
    /// How many directory entries name this file (hard links); 1 for a file with one name.
    pub nlink: u64,
}

/// A filesystem as the engine needs it. Implementations: [`RealFs`], and a simulated disk
/// for crash tests. Every method is one system call's worth of work, so a crash can be
/// placed between any two of them.
pub trait Fs: Debug + Send + Sync {
    /// Reads the whole file; `NotFound` if it does not exist.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Reads at most the first `len` bytes of the file (all of it if it is shorter);
    /// `NotFound` if it does not exist. For a header, without reading a whole log.
    fn read_prefix(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        let mut bytes = self.read(path)?;
        bytes.truncate(len);
        Ok(bytes)
    }
    /// Opens `path` for writing as `mode` says.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>>;
    /// Atomically replaces `to` with `from`; durable only after [`Fs::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file; durable only after [`Fs::sync_dir`].
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Names of the entries in `dir`, in no particular order.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Metadata of `path`, following symlinks; `Ok(None)` if nothing is there.
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>>;
    /// Follows symlinks in the last component of `path` until it names a non-link (which
    /// need not exist), so that replacing the result replaces the file, not the link.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf>;
    /// Takes an exclusive advisory lock on `path` (created if missing) without waiting;
    /// `WouldBlock` if anyone, in this process or another, holds it. Dropping the returned
    /// guard, or the process dying, releases it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>>;
}

/// An open file. Writes are positional so the same call serves rewrites, appends and
/// overwrites of preallocated space.
pub trait FsFile: Debug + Send {
    /// Writes all of `buf` at `offset`; durable only after a sync.
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes the file's data (and the size, if it changed) durable: `fdatasync`.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Makes the file's data and all its metadata durable: `fsync`.
    fn sync_all(&mut self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes (extension reads as zeros).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// The file's current length in bytes.
    fn size(&self) -> io::Result<u64>;
}

/// Proof that a lock is held; released on drop.
pub trait FsLock: Debug + Send {}

/// The directory holding `path`: `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

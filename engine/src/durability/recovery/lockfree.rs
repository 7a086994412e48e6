//! Reading a database without its lock: what `check`, `plan_repair` and a memory store do.
//!
//! [`analyse::analyse`] reads the snapshot, then `PATH.wal.next`, then the log, one after
//! another. A writer holding the lock may checkpoint or append in between, so one pass can
//! pair an old snapshot with the new log that names the new one ("corrupt at offset 0"),
//! see a checkpoint in the middle of its steps, or see one commit's `pwrite` half copied
//! into the page cache (a hole and then a valid record, or a torn tail). None of that is
//! damage: the writer is alive and the files settle a moment later.
//!
//! So a lock-free reader believes what it reads only when the files could not have
//! changed under it:
//! - a clean result (nothing refused, no pending checkpoint, a clean log end) is taken at
//!   once: every state a pass can stitch together that analyses clean is the state of some
//!   moment of the writer's (a prefix of its commits on the snapshot that log continues);
//! - anything else is believed only once the files it was made from read back
//!   byte-identical (same paths, lengths and CRC32C) after a pause: each file then held
//!   those bytes from its first read to its second, and those intervals overlap, so there
//!   was one moment when all of them were on disk together, and the result is that
//!   moment's. Damage is believed after one pause ([`CONFIRM_DAMAGE`]); a pending
//!   checkpoint or a torn tail, which a live writer leaves for the length of a few fsyncs,
//!   only once the files have held still for [`CONFIRM_IN_FLIGHT`]. If they changed, the
//!   whole analysis runs again. Confirming re-reads the files but parses nothing, so a big
//!   database costs one analysis plus a few reads from the page cache;
//! - after [`MAX_LOOKS`] reads of the files, or [`GIVE_UP`], the reader stops and
//!   reports what the last analysis found, whatever it says, so a writer that never pauses
//!   cannot keep it reading forever.
//!
//! Real damage does not change, so it is reported after one analysis and one re-read.
//! Two different files with equal length and CRC32C would pass for the same: a chance of
//! 2^-32 per comparison, against a writer that is changing the file at that very moment.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::analyse::{self, Analysis, LogChoice, LogTail, NextLog};
use crate::error::Result;
use crate::fs::{Fs, FsFile, FsLock, Metadata, OpenMode};

/// The most times a reader reads the files (whole passes, and re-reads that confirm
/// one) before it reports what the last pass found...
const MAX_LOOKS: usize = 64;
/// ...or the longest it keeps trying. A writer that checkpoints every few commits spends
/// half its time between a checkpoint's first and last step, so a reader may need a few
/// dozen passes to catch it in between.
const GIVE_UP: Duration = Duration::from_secs(3);
/// The pause before a re-read; it doubles up to [`MAX_PAUSE`] while the files hold
/// still, and starts again when they change.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(100);
/// How long identical files must show damage before it is believed: longer than a
/// `pwrite` into the page cache takes, which is what a live writer could be in the middle
/// of.
const CONFIRM_DAMAGE: Duration = Duration::from_millis(10);
/// How long identical files must show a pending checkpoint or a torn tail before it is
/// believed: a live writer passes through those states for a few fsyncs, and one fsync of
/// a new log's 1 MiB of zeros took over 250 ms on a busy disk. After a real crash this is
/// what `kv check` or a memory open waits before saying so.
const CONFIRM_IN_FLIGHT: Duration = Duration::from_secs(1);

/// What one pass found, as far as believing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Nothing to report: taken at once.
    Clean,
    /// It opens, but with something a live writer passes through (a checkpoint between
    /// its steps, a commit half copied at the log's end).
    InFlight,
    /// A refusal or an error: damage, or a pass that mixed two moments.
    Damage,
}

impl Finding {
    fn confirm_after(self) -> Duration {
        match self {
            Finding::Clean => Duration::ZERO,
            Finding::InFlight => CONFIRM_IN_FLIGHT,
            Finding::Damage => CONFIRM_DAMAGE,
        }
    }
}

/// How far an analysis can be believed at once.
pub(crate) fn judge(analysis: &Analysis) -> Finding {
    if analysis.refusal().is_some() {
        return Finding::Damage;
    }
    let log_clean = match &analysis.log {
        LogChoice::Log(scan) => matches!(scan.tail, LogTail::Clean),
        _ => true,
    };
    if log_clean && analysis.next == NextLog::Absent {
        Finding::Clean
    } else {
        Finding::InFlight
    }
}

/// [`analyse::analyse`] for a reader that holds no lock (see the module doc).
pub(crate) fn analyse(fs: &dyn Fs, path: &Path) -> Result<Analysis> {
    read_settled(
        fs,
        |fs| analyse::analyse(fs, path),
        |result| result.as_ref().map_or(Finding::Damage, judge),
    )
}

/// Runs `pass` (which reads through the filesystem it is given) until its result can be
/// believed, as the module doc says, and returns that result. A result that is not clean
/// is confirmed by reading the same files again, not by running `pass` again: the result
/// is a function of their bytes, and re-reading costs no parsing or replay.
pub(crate) fn read_settled<T>(
    fs: &dyn Fs,
    mut pass: impl FnMut(&dyn Fs) -> Result<T>,
    judge: impl Fn(&Result<T>) -> Finding,
) -> Result<T> {
    let started = Instant::now();
    // Passes and re-reads: each reads every file once more.
    let mut looks = 0;
    loop {
        looks += 1;
        let recorder = Recorder::new(fs);
        let result = pass(&recorder);
        let reads = recorder.into_reads();
        let finding = judge(&result);
        // A file read twice in one pass (`check` reads the snapshot again) must not have
        // changed in between, or the pass mixed two moments: run it again.
        let settled_within = reads.iter().enumerate().all(|(index, read)| {
            reads[..index]
                .iter()
                .all(|earlier| earlier.path != read.path || earlier.seen == read.seen)
        });
        if finding == Finding::Clean && settled_within {
            return result;
        }
        let since = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            if looks >= MAX_LOOKS || started.elapsed() >= GIVE_UP {
                return result;
            }
            thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
            looks += 1;
            if !settled_within || reread(fs, &reads) != reads {
                break;
            }
            if since.elapsed() >= finding.confirm_after() {
                return result;
            }
        }
    }
}

/// Reads the files of `reads` again, in the same order.
fn reread(fs: &dyn Fs, reads: &[Read]) -> Vec<Read> {
    reads
        .iter()
        .map(|read| Read {
            path: read.path.clone(),
            seen: Seen::of(&fs.read(&read.path)),
        })
        .collect()
}

/// What one read returned, reduced to what tells two reads apart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Missing,
    Bytes { len: u64, crc: u32 },
    Failed(io::ErrorKind),
}

impl Seen {
    fn of(result: &io::Result<Vec<u8>>) -> Self {
        match result {
            Ok(bytes) => Seen::Bytes {
                len: bytes.len() as u64,
                crc: crc32c::crc32c(bytes),
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => Seen::Missing,
            Err(err) => Seen::Failed(err.kind()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    path: PathBuf,
    seen: Seen,
}

/// A filesystem that passes reads through and notes what each returned. A lock-free
/// reader writes nothing, so everything that would change the disk is refused.
#[derive(Debug)]
struct Recorder<'a> {
    inner: &'a dyn Fs,
    reads: Mutex<Vec<Read>>,
}

impl<'a> Recorder<'a> {
    fn new(inner: &'a dyn Fs) -> Self {
        Recorder {
            inner,
            reads: Mutex::new(Vec::new()),
        }
    }

    fn into_reads(self) -> Vec<Read> {
        self.reads
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_only(what: &str, path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "a reader without the lock may not {what} {}",
            path.display()
        ),
    )
}

impl Fs for Recorder<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let result = self.inner.read(path);
        let seen = Seen::of(&result);
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        reads.push(Read {
            path: path.to_path_buf(),
            seen,
        });
        result
    }
    fn open(&self, path: &Path, _mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        Err(read_only("open for writing", path))
    }
    fn rename(&self, from: &Path, _to: &Path) -> io::Result<()> {
        Err(read_only("rename", from))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        Err(read_only("remove", path))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        Err(read_only("sync", dir))
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.inner.list_dir(dir)
    }
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        self.inner.metadata(path)
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        self.inner.resolve(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        Err(read_only("lock", path))
    }
}

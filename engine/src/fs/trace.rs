//! [`TraceFs`]: an [`Fs`] wrapper that records every operation, with its byte count and
//! duration, so the shell's `trace on` can show what each command cost the disk.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Fs, FsFile, FsLock, Metadata, OpenMode};

/// What a traced operation was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceOp {
    /// A whole file read ([`Fs::read`]).
    Read,
    /// An open, and how ([`Fs::open`]).
    Open(OpenMode),
    /// A positional write ([`FsFile::write_all_at`]).
    Write {
        /// Where in the file the write started.
        offset: u64,
    },
    /// A truncation or extension to this length ([`FsFile::set_len`]).
    SetLen(u64),
    /// A query of a file's length ([`FsFile::size`]).
    Size,
    /// `fdatasync`.
    SyncData,
    /// `fsync` of a file.
    SyncAll,
    /// `fsync` of a directory.
    SyncDir,
    /// A rename of the event's path ([`Fs::rename`]).
    Rename {
        /// The name it was renamed to.
        to: PathBuf,
    },
    /// A removal ([`Fs::remove`]).
    Remove,
    /// A directory listing ([`Fs::list_dir`]).
    ListDir,
    /// A `stat` ([`Fs::metadata`]).
    Metadata,
    /// Following symlinks ([`Fs::resolve`]).
    Resolve,
    /// Taking the advisory lock ([`Fs::lock`]).
    Lock,
}

impl TraceOp {
    /// Whether the operation changes or syncs the disk (as opposed to looking at it).
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self,
            TraceOp::Read | TraceOp::Size | TraceOp::ListDir | TraceOp::Metadata | TraceOp::Resolve
        )
    }
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// What the operation was.
    pub op: TraceOp,
    /// The file or directory it acted on.
    pub path: PathBuf,
    /// Bytes read or written, for reads and writes.
    pub bytes: Option<u64>,
    /// How long the call took (on a simulated disk, not I/O time: see
    /// [`TraceEvent::untimed`]).
    pub duration: Duration,
    /// The error it returned, if it failed.
    pub error: Option<String>,
}

impl TraceEvent {
    /// The event without its duration: on a simulated disk the time is not I/O time,
    /// and printing it beside the operation would look as if it were.
    pub fn untimed(&self) -> impl fmt::Display + '_ {
        Untimed(self)
    }

    fn fmt_timed(&self, f: &mut fmt::Formatter<'_>, timed: bool) -> fmt::Result {
        let path = self.path.display();
        match &self.op {
            TraceOp::Read => write!(f, "read {} B {path}", self.bytes.unwrap_or(0))?,
            TraceOp::Open(mode) => {
                let how = match mode {
                    OpenMode::CreateNew { .. } => "create",
                    OpenMode::Truncate { .. } => "open+truncate",
                    OpenMode::Existing => "open",
                    OpenMode::CreateOrOpen { .. } => "open/create",
                };
                write!(f, "{how} {path}")?;
            }
            TraceOp::Write { offset } => {
                write!(f, "write {} B {path} at {offset}", self.bytes.unwrap_or(0))?;
            }
            TraceOp::SetLen(len) => write!(f, "set length {path} to {len} B")?,
            TraceOp::Size => write!(f, "size {path}")?,
            TraceOp::SyncData => write!(f, "fdatasync {path}")?,
            TraceOp::SyncAll => write!(f, "fsync {path}")?,
            TraceOp::SyncDir => write!(f, "directory fsync {path}")?,
            TraceOp::Rename { to } => write!(f, "rename {path} -> {}", to.display())?,
            TraceOp::Remove => write!(f, "remove {path}")?,
            TraceOp::ListDir => write!(f, "list {path}")?,
            TraceOp::Metadata => write!(f, "stat {path}")?,
            TraceOp::Resolve => write!(f, "resolve {path}")?,
            TraceOp::Lock => write!(f, "lock {path}")?,
        }
        if timed {
            write!(f, " ({})", crate::human::duration(self.duration))?;
        }
        if let Some(error) = &self.error {
            write!(f, " failed: {error}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TraceEvent {
    /// `write 412 B /db/db.json.tmp-7-1 at 0 (31 µs)`, `fsync /db/db.json.tmp-7-1 (2.1 ms)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_timed(f, true)
    }
}

/// [`TraceEvent::untimed`].
struct Untimed<'a>(&'a TraceEvent);

impl fmt::Display for Untimed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_timed(f, false)
    }
}

#[derive(Debug, Default)]
struct Log {
    enabled: bool,
    events: Vec<TraceEvent>,
    /// The current name of each open file, by its id: a file keeps writing under its new
    /// name after a rename (the log a checkpoint prepares as `.wal.next` is written as
    /// `.wal` once renamed), and the trace must say so.
    open_names: std::collections::HashMap<u64, PathBuf>,
    next_id: u64,
}

/// Wraps a filesystem and records what goes through it while enabled. Cloning gives
/// another handle on the same log, so the shell keeps one while the store owns another.
#[derive(Debug, Clone)]
pub struct TraceFs {
    inner: Arc<dyn Fs>,
    log: Arc<Mutex<Log>>,
}

impl TraceFs {
    /// Traces `inner`, recording from the start.
    pub fn new(inner: Arc<dyn Fs>) -> Self {
        TraceFs {
            inner,
            log: Arc::new(Mutex::new(Log {
                enabled: true,
                ..Log::default()
            })),
        }
    }

    /// Starts or stops recording (operations go through either way).
    pub fn set_enabled(&self, enabled: bool) {
        lock(&self.log).enabled = enabled;
    }

    /// Whether operations are being recorded.
    pub fn is_enabled(&self) -> bool {
        lock(&self.log).enabled
    }

    /// Takes the events recorded since the last drain, oldest first.
    pub fn drain(&self) -> Vec<TraceEvent> {
        std::mem::take(&mut lock(&self.log).events)
    }

    fn record<T>(
        &self,
        op: TraceOp,
        path: &Path,
        bytes: impl FnOnce(&T) -> Option<u64>,
        call: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        record(&self.log, op, path, bytes, call)
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn record<T>(
    log: &Mutex<Log>,
    op: TraceOp,
    path: &Path,
    bytes: impl FnOnce(&T) -> Option<u64>,
    call: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    let started = Instant::now();
    let result = call();
    let duration = started.elapsed();
    let mut log = lock(log);
    if log.enabled {
        let (bytes, error) = match &result {
            Ok(value) => (bytes(value), None),
            Err(err) => (None, Some(err.to_string())),
        };
        log.events.push(TraceEvent {
            op,
            path: path.to_path_buf(),
            bytes,
            duration,
            error,
        });
    }
    result
}

fn none<T>(_: &T) -> Option<u64> {
    None
}

impl Fs for TraceFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.record(
            TraceOp::Read,
            path,
            |bytes: &Vec<u8>| Some(bytes.len() as u64),
            || self.inner.read(path),
        )
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let file = self.record(TraceOp::Open(mode), path, none, || {
            self.inner.open(path, mode)
        })?;
        let id = {
            let mut log = lock(&self.log);
            let id = log.next_id;
            log.next_id += 1;
            log.open_names.insert(id, path.to_path_buf());
            id
        };
        Ok(Box::new(TraceFile {
            inner: file,
            id,
            log: Arc::clone(&self.log),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let op = TraceOp::Rename {
            to: to.to_path_buf(),
        };
        self.record(op, from, none, || self.inner.rename(from, to))?;
        for name in lock(&self.log).open_names.values_mut() {
            if name == from {
                *name = to.to_path_buf();
            }
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.record(TraceOp::Remove, path, none, || self.inner.remove(path))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.record(TraceOp::SyncDir, dir, none, || self.inner.sync_dir(dir))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.record(TraceOp::ListDir, dir, none, || self.inner.list_dir(dir))
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        self.record(TraceOp::Metadata, path, none, || self.inner.metadata(path))
    }

    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        self.record(TraceOp::Resolve, path, none, || self.inner.resolve(path))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        self.record(TraceOp::Lock, path, none, || self.inner.lock(path))
    }
}

struct TraceFile {
    inner: Box<dyn FsFile>,
    /// Its key in the log's `open_names`.
    id: u64,
    log: Arc<Mutex<Log>>,
}

impl TraceFile {
    /// The file's current name (it follows renames).
    fn path(&self) -> PathBuf {
        lock(&self.log)
            .open_names
            .get(&self.id)
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for TraceFile {
    fn drop(&mut self) {
        lock(&self.log).open_names.remove(&self.id);
    }
}

impl fmt::Debug for TraceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceFile")
            .field("path", &self.path())
            .field("inner", &self.inner)
            .finish()
    }
}

impl FsFile for TraceFile {
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let len = buf.len() as u64;
        let path = self.path();
        let inner = &mut self.inner;
        record(
            &self.log,
            TraceOp::Write { offset },
            &path,
            |_| Some(len),
            || inner.write_all_at(offset, buf),
        )
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let path = self.path();
        let inner = &mut self.inner;
        record(&self.log, TraceOp::SyncData, &path, none, || {
            inner.sync_data()
        })
    }

    fn sync_all(&mut self) -> io::Result<()> {
        let path = self.path();
        let inner = &mut self.inner;
        record(&self.log, TraceOp::SyncAll, &path, none, || {
            inner.sync_all()
        })
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let path = self.path();
        let inner = &mut self.inner;
        record(&self.log, TraceOp::SetLen(len), &path, none, || {
            inner.set_len(len)
        })
    }

    fn size(&self) -> io::Result<u64> {
        let path = self.path();
        record(&self.log, TraceOp::Size, &path, none, || self.inner.size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::SimFs;
    use crate::fs::sim::{FaultError, OpKind, Repeat};
    use crate::{Durability, KvStore, Options};

    fn traced_store(durability: Durability) -> (SimFs, TraceFs, KvStore) {
        let sim = SimFs::new();
        sim.create_dir_all("/db");
        let trace = TraceFs::new(Arc::new(sim.clone()));
        let options = Options::new()
            .durability(durability)
            .fs(Arc::new(trace.clone()));
        let store = KvStore::open("/db/db.json", options).unwrap();
        (sim, trace, store)
    }

    /// The mutating operations, as the shell would print them minus the durations.
    fn mutating(events: &[TraceEvent]) -> Vec<String> {
        events
            .iter()
            .filter(|event| event.op.is_mutating())
            .map(|event| {
                let line = event.to_string();
                let cut = line.rfind(" (").unwrap();
                line[..cut].to_string()
            })
            .collect()
    }

    #[test]
    fn a_snapshot_commit_shows_its_protocol_with_byte_counts() {
        let (_sim, trace, mut store) = traced_store(Durability::Snapshot);
        let opened = trace.drain();
        assert!(opened.iter().any(|event| event.op == TraceOp::Lock));
        store.put("key", serde_json::json!("value")).unwrap();
        let events = trace.drain();
        let ops = mutating(&events);
        let temp = ops[0].strip_prefix("create ").unwrap().to_string();
        let temp_name = std::path::Path::new(&temp).file_name().unwrap();
        assert!(
            temp.starts_with("/db/")
                && crate::files::is_temp_of(std::ffi::OsStr::new("db.json"), temp_name),
            "{temp}"
        );
        assert_eq!(
            mutating(&events),
            vec![
                format!("create {temp}"),
                format!("write 16 B {temp} at 0"),
                format!("fsync {temp}"),
                format!("rename {temp} -> /db/db.json"),
                "directory fsync /db".to_string(),
            ]
        );
        let write = events
            .iter()
            .find(|event| matches!(event.op, TraceOp::Write { .. }))
            .unwrap();
        assert_eq!(write.bytes, Some(br#"{"key":"value"}"#.len() as u64 + 1));
        assert!(trace.drain().is_empty(), "drain empties the log");
    }

    #[test]
    fn a_naive_commit_shows_no_sync() {
        let (_sim, trace, mut store) = traced_store(Durability::Naive);
        trace.drain();
        store.put("k", serde_json::json!(1)).unwrap();
        assert_eq!(
            mutating(&trace.drain()),
            vec!["open+truncate /db/db.json", "write 8 B /db/db.json at 0"]
        );
    }

    #[test]
    fn recording_can_be_paused_and_failures_are_recorded() {
        let (sim, trace, mut store) = traced_store(Durability::Snapshot);
        trace.drain();
        trace.set_enabled(false);
        assert!(!trace.is_enabled());
        store.put("a", serde_json::json!(1)).unwrap();
        assert!(trace.drain().is_empty());

        trace.set_enabled(true);
        sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
        store.put("a", serde_json::json!(2)).unwrap_err();
        let events = trace.drain();
        let failed: Vec<_> = events
            .iter()
            .filter(|event| event.error.is_some())
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].op, TraceOp::SyncAll);
        let line = failed[0].to_string();
        assert!(line.starts_with("fsync /db/db.json.kv-tmp."), "{line}");
        assert!(line.contains("failed: Input/output error"), "{line}");
    }

    #[test]
    fn durations_read_like_a_person_would_write_them() {
        assert_eq!(crate::human::duration(Duration::from_micros(412)), "412 µs");
        assert_eq!(
            crate::human::duration(Duration::from_micros(2_140)),
            "2.14 ms"
        );
        assert_eq!(
            crate::human::duration(Duration::from_millis(3_250)),
            "3.25 s"
        );
    }

    #[test]
    fn a_file_is_traced_under_its_name_after_a_rename() {
        let sim = SimFs::new();
        sim.create_dir_all("/db");
        let trace = TraceFs::new(Arc::new(sim.clone()));
        let mut file = trace
            .open(
                Path::new("/db/log.next"),
                crate::fs::OpenMode::CreateNew { mode: 0o600 },
            )
            .unwrap();
        trace
            .rename(Path::new("/db/log.next"), Path::new("/db/log"))
            .unwrap();
        file.write_all_at(0, b"abc").unwrap();
        file.sync_data().unwrap();
        let names: Vec<String> = trace
            .drain()
            .iter()
            .map(|event| event.to_string())
            .map(|line| line.split(" (").next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "create /db/log.next",
                "rename /db/log.next -> /db/log",
                "write 3 B /db/log at 0",
                "fdatasync /db/log"
            ]
        );
    }
}

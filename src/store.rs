//! [`KvStore`]: the map, the public API, and the commit rule that memory only ever shows
//! committed state.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::crash::{CrashAction, CrashPoint};
use crate::durability::naive::Naive;
use crate::durability::snapshot::{self, Snapshot};
use crate::durability::{Backend, Disk, Durability, IoCounters, Map, Mutation};
use crate::error::{Error, Result};
use crate::files;
use crate::fs::{Fs, FsLock, RealFs};

/// How deeply a stored value may nest arrays and objects.
///
/// The loader (serde_json) refuses input nested more than 127 levels deep, and the database
/// file wraps every value in one more object, so a deeper value would be written happily
/// and then make the file impossible to open. The margin below 126 leaves room for a log
/// record's own wrapping.
pub const MAX_VALUE_DEPTH: usize = 100;

/// How to open a store.
#[derive(Clone)]
pub struct Options {
    durability: Durability,
    fs: Arc<dyn Fs>,
    crash_action: CrashAction,
}

impl Options {
    /// Snapshot durability on the real filesystem.
    pub fn new() -> Self {
        Options {
            durability: Durability::default(),
            fs: Arc::new(RealFs),
            crash_action: CrashAction::Abort,
        }
    }

    /// Chooses the durability mode.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Chooses what an armed crash point does (default: abort the process).
    pub fn crash_action(mut self, action: CrashAction) -> Self {
        self.crash_action = action;
        self
    }

    /// Puts another filesystem (a simulated disk, a tracer) behind the store.
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("durability", &self.durability)
            .field("fs", &self.fs)
            .field("crash_action", &self.crash_action)
            .finish()
    }
}

/// What a store has done, for the shell's `stats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    pub durability: Durability,
    /// The database file (symlinks resolved), or `None` in memory.
    pub path: Option<PathBuf>,
    pub keys: usize,
    /// The database file's size, if it exists.
    pub file_size: Option<u64>,
    /// Successful commits since open.
    pub commits: u64,
    /// fsync/fdatasync calls on files and directories since open.
    pub fsyncs: u64,
    /// Bytes handed to write calls since open.
    pub bytes_written: u64,
    /// How long the last successful commit took.
    pub last_commit: Option<Duration>,
    /// Why the store refuses writes, if it does (see [`Error::Poisoned`]).
    pub poisoned: Option<String>,
}

/// A key-value store: string keys, JSON values, durable as its [`Durability`] says.
///
/// Every mutation is committed through the durability mode before it is applied for
/// readers: when `put` or `delete` returns `Err`, `get` still returns the previous value.
#[derive(Debug)]
pub struct KvStore {
    map: Map,
    backend: Backend,
    durability: Durability,
    /// Set after a failure that leaves the disk's state unknown; no more writes then.
    poisoned: Option<String>,
    commits: u64,
    last_commit: Option<Duration>,
    /// Held for the store's lifetime: one writer per database.
    _lock: Option<Box<dyn FsLock>>,
}

impl KvStore {
    /// A store that lives only in memory (stage 0).
    pub fn in_memory() -> Self {
        KvStore::with_backend(Map::new(), Backend::Memory, Durability::Memory, None)
    }

    /// Opens the database at `path`, or starts an empty one there if no file exists (it is
    /// created by the first commit).
    ///
    /// Fails, without modifying any file, if the file is not a UTF-8 JSON object, is a
    /// directory, or another store holds its lock. With [`Durability::Memory`] the file is
    /// only read: it seeds the store, is not locked and is never written.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let Options {
            durability,
            fs,
            crash_action,
        } = options;
        let given = path.as_ref();
        let path = fs
            .resolve(given)
            .map_err(|err| Error::io("open", given, err))?;
        // Without a file name there is nowhere to put the lock or the temp files beside it
        // (`""` would lock `.lock` in the working directory and fail at the first commit).
        if path.file_name().is_none() {
            return Err(Error::io(
                "open",
                given,
                io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
            ));
        }
        // Said plainly here, or the first error would be about the lock file beside it.
        let dir = crate::fs::parent_dir(&path);
        if let Ok(None) = fs.metadata(dir) {
            let missing = io::Error::new(
                io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            );
            return Err(Error::io("open", &path, missing));
        }
        match fs.metadata(&path) {
            Ok(Some(meta)) if meta.is_dir => return Err(Error::IsDirectory { path }),
            Ok(_) => {}
            Err(err) => return Err(Error::io("stat", &path, err)),
        }

        if durability == Durability::Memory {
            let map = snapshot::load(fs.as_ref(), &path)?.unwrap_or_default();
            return Ok(KvStore::with_backend(
                map,
                Backend::Memory,
                durability,
                None,
            ));
        }

        let lock_path = files::lock_path(&path);
        let lock = fs.lock(&lock_path).map_err(|err| {
            if err.kind() == io::ErrorKind::WouldBlock {
                Error::Locked {
                    path: path.clone(),
                    lock_path: lock_path.clone(),
                }
            } else {
                Error::io("lock", &lock_path, err)
            }
        })?;
        // Parse before touching anything, so a file we cannot read is never modified.
        let map = snapshot::load(fs.as_ref(), &path)?.unwrap_or_default();
        snapshot::remove_stray_temps(fs.as_ref(), &path)?;

        let disk = Disk {
            fs,
            path,
            counters: IoCounters::default(),
            armed: None,
            crash_action,
        };
        let backend = match durability {
            Durability::Naive => Backend::Naive(Naive::new(disk)),
            _ => Backend::Snapshot(Snapshot::new(disk)),
        };
        Ok(KvStore::with_backend(map, backend, durability, Some(lock)))
    }

    fn with_backend(
        map: Map,
        backend: Backend,
        durability: Durability,
        lock: Option<Box<dyn FsLock>>,
    ) -> Self {
        KvStore {
            map,
            backend,
            durability,
            poisoned: None,
            commits: 0,
            last_commit: None,
            _lock: lock,
        }
    }

    /// The value stored under `key`; `None` if there is none (a stored `null` is
    /// `Some(&Value::Null)`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// All entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.map.iter().map(|(key, value)| (key.as_str(), value))
    }

    /// The entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.map
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.as_str(), value))
    }

    /// Stores `value` under `key`, replacing any previous value, once it is durable.
    pub fn put(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        self.apply(vec![Mutation::Put {
            key: key.into(),
            value,
        }])
    }

    /// Removes `key` once the removal is durable; returns whether it was there. Removing a
    /// missing key is a no-op that writes nothing.
    pub fn delete(&mut self, key: &str) -> Result<bool> {
        // A poisoned store refuses every mutation, even one that would write nothing, so
        // a script learns at its next write that the store must be reopened.
        self.check_writable()?;
        if !self.map.contains_key(key) {
            return Ok(false);
        }
        self.apply(vec![Mutation::Delete {
            key: key.to_string(),
        }])?;
        Ok(true)
    }

    /// Applies `batch` as one commit (group commit): either all of it becomes durable and
    /// visible, or none of it does. Deletes of missing keys are skipped; a batch with
    /// nothing left writes nothing.
    pub fn apply(&mut self, batch: Vec<Mutation>) -> Result<()> {
        self.check_writable()?;
        // Refuse, before touching anything, a value the file could not be read back with.
        for mutation in &batch {
            if let Mutation::Put { key, value } = mutation
                && !nests_within(value, MAX_VALUE_DEPTH)
            {
                return Err(Error::ValueTooDeep {
                    key: key.clone(),
                    max: MAX_VALUE_DEPTH,
                });
            }
        }
        // Apply to memory, remembering how to undo, then commit; roll back on failure.
        // Nobody can observe the map in between: we hold `&mut self`.
        let mut undo: Vec<(String, Option<Value>)> = Vec::with_capacity(batch.len());
        let mut effective: Vec<Mutation> = Vec::with_capacity(batch.len());
        for mutation in batch {
            match mutation {
                Mutation::Put { key, value } => {
                    let old = self.map.insert(key.clone(), value.clone());
                    undo.push((key.clone(), old));
                    effective.push(Mutation::Put { key, value });
                }
                Mutation::Delete { key } => {
                    if let Some(old) = self.map.remove(&key) {
                        undo.push((key.clone(), Some(old)));
                        effective.push(Mutation::Delete { key });
                    }
                }
            }
        }
        if effective.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        match self.backend.commit(&self.map, &effective) {
            Ok(()) => {
                self.commits += 1;
                self.last_commit = Some(started.elapsed());
                Ok(())
            }
            Err(failure) => {
                for (key, old) in undo.into_iter().rev() {
                    match old {
                        Some(value) => self.map.insert(key, value),
                        None => self.map.remove(&key),
                    };
                }
                if failure.poisons {
                    self.poisoned = Some(failure.error.to_string());
                }
                Err(failure.error)
            }
        }
    }

    /// `Err(Poisoned)` once a failure has left the disk's state unknown.
    fn check_writable(&self) -> Result<()> {
        match &self.poisoned {
            Some(cause) => Err(Error::Poisoned {
                path: self.path().map(Path::to_path_buf).unwrap_or_default(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The database file (symlinks resolved); `None` for a store with no file behind it.
    pub fn path(&self) -> Option<&Path> {
        self.backend.disk().map(|disk| disk.path.as_path())
    }

    /// Why the store refuses writes, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Counters and sizes for `stats`.
    pub fn stats(&self) -> Stats {
        let disk = self.backend.disk();
        let counters = disk.map(|disk| disk.counters).unwrap_or_default();
        let file_size = disk.and_then(|disk| match disk.fs.metadata(&disk.path) {
            Ok(Some(meta)) => Some(meta.len),
            _ => None,
        });
        Stats {
            durability: self.durability,
            path: disk.map(|disk| disk.path.clone()),
            keys: self.map.len(),
            file_size,
            commits: self.commits,
            fsyncs: counters.fsyncs,
            bytes_written: counters.bytes_written,
            last_commit: self.last_commit,
            poisoned: self.poisoned.clone(),
        }
    }

    /// Arms a crash button: the next commit that reaches `point` crashes there, as the
    /// store's [`CrashAction`] says (by default the process aborts).
    /// Fails if `point` is not part of this store's commit protocol.
    pub fn arm_crash(&mut self, point: CrashPoint) -> Result<(), String> {
        match self.backend.disk_mut() {
            Some(disk) if point.durability() == self.durability => {
                disk.armed = Some(point);
                Ok(())
            }
            _ => Err(format!(
                "crash point {point} is not part of the {} mode's commit",
                self.durability
            )),
        }
    }
}

/// Whether `value` nests arrays and objects at most `levels` deep (a scalar is 0 deep).
/// Recurses at most `levels + 1` calls, however deep the value is.
fn nests_within(value: &Value, levels: usize) -> bool {
    match value {
        Value::Array(items) => {
            levels > 0 && items.iter().all(|item| nests_within(item, levels - 1))
        }
        Value::Object(fields) => {
            levels > 0 && fields.values().all(|field| nests_within(field, levels - 1))
        }
        _ => true,
    }
}

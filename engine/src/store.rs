//! [`KvStore`]: the map, the public API, and the commit rule that memory only ever shows
//! committed state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clock::SystemClock;
use crate::crash::CrashPoint;
use crate::durability::guard::{self, Access};
use crate::durability::lock;
use crate::durability::map::Entry;
use crate::durability::naive::Naive;
use crate::durability::recovery::{self, RecoveryMode};
use crate::durability::snapshot::{self, Snapshot};
use crate::durability::text;
use crate::durability::wal::Wal;
use crate::durability::wal::record::MIN_BODY;
use crate::durability::warning::Warning;
use crate::durability::{Backend, Change, Disk, Durability, IoCounters, Map, Mutation, SyncPolicy};
use crate::error::{Error, Result};
use crate::files;
use crate::flusher::{Committer, Shared, SyncHandle};
use crate::fs::{Fs, FsLock};
use crate::install;
use crate::json_text::JsonText;
use crate::options::Options;

/// How deeply a stored value may nest arrays and objects.
///
/// The loader (serde_json) refuses input nested more than 127 levels deep, and the database
/// file wraps every value in one more object, so a deeper value would be written happily
/// and then make the file impossible to open. The margin below 126 leaves room for a log
/// record's own wrapping.
pub const MAX_VALUE_DEPTH: usize = 100;

/// The most bytes a key and its value (as compact JSON text) may take together.
///
/// In the log ([`Durability::Wal`]) one entry is one record, whose body holds the key, the
/// value and a few fixed fields, and whose length is a 32-bit field: a bigger body would
/// wrap it, and the record would be cut as torn on the next open. The limit holds in every
/// mode, so any database can be opened in `wal` mode; a `put` over it is refused with
/// [`Error::EntryTooLarge`] before anything is written.
pub const MAX_ENTRY_BYTES: u64 = u32::MAX as u64 - MIN_BODY as u64;

/// What a store has done, for the shell's `stats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The mode the store was opened in.
    pub durability: Durability,
    /// The database file (symlinks resolved), or `None` in memory.
    pub path: Option<PathBuf>,
    /// How many keys the store holds now.
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
    /// Mutations committed since open.
    pub mutations: u64,
    /// Of `bytes_written`, the zeros that preallocated log space ([`Durability::Wal`]).
    pub zero_filled_bytes: u64,
    /// Write amplification: bytes of data (records, snapshots) written per mutation
    /// committed since open, that is `bytes_written - zero_filled_bytes` over `mutations`
    /// (`None` before the first). Stage 2 rewrites the whole store per commit; the log
    /// writes about one record.
    pub bytes_per_mutation: Option<f64>,
    /// [`Durability::Wal`]: bytes of the log in use (header and records, not the
    /// preallocated zeros); `None` in other modes.
    pub log_size: Option<u64>,
    /// [`Durability::Wal`]: the log file's length on disk (`PATH.wal`), which includes the
    /// zero-filled space preallocated past `log_size`; `None` in other modes or if there
    /// is no log file yet. `file_size` plus this is what the database takes on disk.
    pub log_file_size: Option<u64>,
    /// [`Durability::Wal`]: records in the log, that is since the last checkpoint.
    pub log_records: Option<u64>,
    /// [`Durability::Wal`]: checkpoints taken since open.
    pub checkpoints: u64,
    /// [`Durability::Wal`]: why the last automatic checkpoint failed, if it did (the
    /// commits themselves were durable in the log).
    pub checkpoint_error: Option<String>,
    /// Opened with [`Options::read_only`]: `path` is the database only read, and every
    /// mutation is refused.
    pub read_only: bool,
    /// When commits become durable.
    pub sync_policy: SyncPolicy,
    /// Acknowledged writes not yet durable (always 0 with [`SyncPolicy::Always`]).
    pub unsynced_writes: u64,
    /// How long ago the oldest of `unsynced_writes` was acknowledged.
    pub oldest_unsynced_age: Option<Duration>,
    /// Syncs run because a deadline of [`SyncPolicy::Within`] came, since open.
    pub background_syncs: u64,
}

/// A key-value store: string keys, JSON values, durable as its [`Durability`] says.
///
/// Every mutation is committed through the durability mode before it is applied for
/// readers: when `put` or `delete` returns `Err`, `get` still returns the previous value.
#[derive(Debug)]
pub struct KvStore {
    map: Map,
    /// The backend, shared with the flusher thread (if there is one).
    committer: Arc<Shared>,
    /// Runs delayed syncs at their deadlines ([`SyncPolicy::Within`] on a real clock).
    flusher: Option<JoinHandle<()>>,
    /// Dropped as a dying process leaves it ([`KvStore::abandon`]): no sync at the drop.
    abandoned: bool,
    /// The database file, for a store with one (not read-only).
    path: Option<PathBuf>,
    durability: Durability,
    /// Set after a failure that leaves the disk's state unknown; no more writes then.
    poisoned: Option<String>,
    commits: u64,
    mutations: u64,
    last_commit: Option<Duration>,
    /// What recovery did or found on open, for the shell to show.
    warnings: Vec<Warning>,
    /// Held for the store's lifetime: one writer per database.
    _lock: Option<Box<dyn FsLock>>,
    /// Opened with [`Options::read_only`]: every mutation is refused. The file and its
    /// filesystem are kept for `path` and `stats`, never to write.
    read_only: Option<(PathBuf, Arc<dyn Fs>)>,
}

impl KvStore {
    /// A store that lives only in memory (stage 0).
    pub fn in_memory() -> Self {
        KvStore::with_backend(Map::new(), Backend::Memory, Durability::Memory, None)
    }

    /// A store whose sync policy is [`SyncPolicy::Always`] and needs no thread.
    fn with_backend(
        map: Map,
        backend: Backend,
        durability: Durability,
        lock: Option<Box<dyn FsLock>>,
    ) -> Self {
        let committer = Committer::new(
            backend,
            SyncPolicy::Always,
            Arc::new(SystemClock),
            &map,
            false,
        );
        KvStore::with_committer(map, committer, durability, lock)
    }

    fn with_committer(
        map: Map,
        committer: Committer,
        durability: Durability,
        lock: Option<Box<dyn FsLock>>,
    ) -> Self {
        let path = committer.backend.disk().map(|disk| disk.path.clone());
        KvStore {
            map,
            committer: Shared::new(committer),
            flusher: None,
            abandoned: false,
            path,
            durability,
            poisoned: None,
            commits: 0,
            mutations: 0,
            last_commit: None,
            warnings: Vec::new(),
            _lock: lock,
            read_only: None,
        }
    }

    /// Opens the database at `path`, or starts an empty one there if no file exists (it is
    /// created by the first commit).
    ///
    /// Fails, without modifying any file, if the file is not a UTF-8 JSON object, is a
    /// directory, or another store holds its lock; and, before creating, locking or reading
    /// anything, if it or its log is not a regular file (a FIFO, a device:
    /// [`Error::NotARegularFile`]), or, to write, has more than one name
    /// ([`Error::HardLinked`]). With [`Durability::Memory`] the file is only read: it seeds
    /// the store, is not locked and is never written, so a file with several names opens.
    ///
    /// Temp files an interrupted commit left beside `PATH` are removed unread, and named in
    /// a [`Warning::RemovedTempFiles`] (see [`open_warnings`](Self::open_warnings)).
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let Options {
            durability,
            fs,
            crash_action,
            wal: wal_settings,
            read_only,
            sync_policy,
            clock,
        } = options;
        let given = path.as_ref();
        let path = fs
            .resolve(given)
            .map_err(|err| Error::io("open", given, err))?;
        // Without a file name there is nowhere to put the lock or the temp files beside it
        // (`""` would lock `.lock` in the working directory and fail at the first commit).
        if path.file_name().is_none() {
            return Err(Error::NoFileName {
                path: given.to_path_buf(),
            });
        }
        // Said plainly here, or the first error would be about the lock file beside it.
        let dir = crate::fs::parent_dir(&path);
        if let Ok(None) = fs.metadata(dir) {
            return Err(Error::NoDirectory {
                dir: dir.to_path_buf(),
                path,
            });
        }
        // Before anything is created, locked or read: a FIFO would block the read forever,
        // a device would never end it, and the lock is found by name, so a file with a
        // second name could have a second writer (see `durability::guard`). Memory mode
        // only reads, which is harmless through any name.
        let access = match durability {
            _ if read_only => Access::Read,
            Durability::Memory => Access::Read,
            _ => Access::Write,
        };
        guard::admit(fs.as_ref(), &path, access)?;
        if sync_policy.is_delayed()
            && !read_only
            && matches!(durability, Durability::Memory | Durability::Naive)
        {
            return Err(Error::SyncPolicyNeedsSyncs {
                policy: sync_policy,
                durability,
            });
        }

        let mut disk = Disk {
            fs: Arc::clone(&fs),
            path: path.clone(),
            counters: IoCounters::default(),
            armed: None,
            crash_action,
        };
        if durability == Durability::Memory || read_only {
            // A read-only open of a path that holds nothing is almost always a typo, and
            // an empty store would hide it: said plainly, creating nothing.
            if read_only && !has_database(fs.as_ref(), &path)? {
                return Err(Error::NoDatabase { path });
            }
            // Read the snapshot and replay any log, changing nothing on disk.
            let recovered = recovery::recover(&mut disk, RecoveryMode::ReadOnly)?;
            let mode = if read_only {
                Durability::Memory
            } else {
                durability
            };
            let mut store = KvStore::with_backend(recovered.map, Backend::Memory, mode, None);
            store.warnings = recovered.warnings;
            store.read_only = read_only.then_some((path, fs));
            return Ok(store);
        }

        let lock = lock::lock(fs.as_ref(), &path)?;
        // Read and check everything before touching anything, so a file we cannot read is
        // never modified; then finish an interrupted checkpoint and cut a torn tail.
        let mut recovered = recovery::recover(&mut disk, RecoveryMode::Repair)?;
        let removed_temps = snapshot::remove_stray_temps(fs.as_ref(), &path)?;

        let log_records = recovered.log_records();
        let map = std::mem::take(&mut recovered.map);
        let mut warnings = std::mem::take(&mut recovered.warnings);
        if !removed_temps.is_empty() {
            warnings.push(Warning::RemovedTempFiles {
                path: path.clone(),
                files: removed_temps,
            });
        }
        // Snapshot mode with a delayed sync keeps its unsaved window in a log that is never
        // synced (its journal): a write reaches the kernel before its `OK`, so a process
        // kill loses nothing, and each sync installs a snapshot and starts a fresh log.
        let journal = durability == Durability::Snapshot && sync_policy.is_delayed();
        let backend = match durability {
            _ if durability == Durability::Wal || journal => {
                let settings = match journal {
                    true => wal_settings.for_journal(),
                    false => wal_settings,
                };
                let mut wal = Wal::open(disk, &recovered, settings)?;
                // Appending to a log of an older format would mix two formats in one file.
                if let Some(from_version) = wal.old_log_version() {
                    wal.checkpoint_now(&map).map_err(|failure| failure.error)?;
                    warnings.push(Warning::UpgradedLog {
                        path: path.clone(),
                        from_version,
                    });
                }
                Backend::Wal(Box::new(wal))
            }
            _ => {
                // A mode without a log would never read it again: fold it into the snapshot
                // (see `install`), crash-safely.
                if let Some(records) = log_records {
                    install::fold_log(&mut disk, &map, records)?;
                    warnings.push(Warning::FoldedLog {
                        path: path.clone(),
                        records,
                    });
                }
                // Opening reads and repairs; its I/O is not the workload's.
                disk.counters = IoCounters::default();
                match durability {
                    Durability::Naive => Backend::Naive(Naive::new(disk)),
                    _ => Backend::Snapshot(Snapshot::new(disk)),
                }
            }
        };
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let threaded =
            matches!(sync_policy, SyncPolicy::Within(_)) && clock.wants_background_thread();
        let committer = Committer::new(backend, sync_policy, clock, &map, journal);
        let mut store = KvStore::with_committer(map, committer, durability, Some(lock));
        store.warnings = warnings;
        if threaded {
            let thread = store
                .committer
                .spawn_flusher()
                .map_err(|err| Error::io("start the flusher thread for", &path, err))?;
            store.flusher = Some(thread);
        }
        Ok(store)
    }

    /// The value stored under `key`, parsed from its stored text; `None` if there is none
    /// (a stored `null` is `Some(Value::Null)`). Callers that only print the value should
    /// use [`get_raw`](Self::get_raw), which parses nothing.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.map.get(key).and_then(text::to_value)
    }

    /// The value stored under `key` as its compact JSON text, exactly what
    /// `serde_json::to_string` gives for the value that was put (numbers and object key
    /// order as written); `None` if there is none (a stored `null` is `Some("null")`).
    pub fn get_raw(&self, key: &str) -> Option<&str> {
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
        self.map.keys()
    }

    /// All entries, in key order, each value as its compact JSON text (see
    /// [`get_raw`](Self::get_raw); `serde_json::from_str` gives the `Value`).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter()
    }

    /// The entries whose key starts with `prefix`, in key order, values as text (as
    /// [`iter`](Self::iter)).
    pub fn scan_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.map.scan_prefix(prefix)
    }

    /// The whole store as one compact JSON object, keys in order: the database file's
    /// format, without its trailing newline. Built from the stored texts, parsing nothing.
    pub fn to_json(&self) -> String {
        let mut buf = Vec::new();
        snapshot::serialise(&self.map, &mut buf);
        buf.pop(); // The newline.
        // Keys are `str`s and values valid JSON text, so the bytes are UTF-8.
        String::from_utf8(buf)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }

    /// Stores `value` under `key`, replacing any previous value, once it is durable.
    pub fn put(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        self.apply(vec![Mutation::Put {
            key: key.into(),
            value,
        }])
    }

    /// Stores `text` under `key`, as [`put`](Self::put) stores a value, without building
    /// a [`Value`]: the text is already what the store keeps.
    pub fn put_text(&mut self, key: impl Into<String>, text: JsonText) -> Result<()> {
        self.apply(vec![Mutation::PutText {
            key: key.into(),
            text,
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
        // Refuse, before touching anything, a value the file could not be read back with;
        // then serialise each value once, to the text the map, the snapshot and the log
        // all keep.
        let mut changes: Vec<Change> = Vec::with_capacity(batch.len());
        for mutation in batch {
            changes.push(match mutation {
                Mutation::Put { key, value } => {
                    if !nests_within(&value, MAX_VALUE_DEPTH) {
                        return Err(Error::ValueTooDeep {
                            key,
                            max: MAX_VALUE_DEPTH,
                        });
                    }
                    let value = text::from_value(&value).map_err(|err| Error::Unserialisable {
                        key: key.clone(),
                        path: self.path().unwrap_or(Path::new("the store")).to_path_buf(),
                        reason: err.to_string(),
                    })?;
                    entry_fits(&key, value.len() as u64)?;
                    Change::Put { key, value }
                }
                Mutation::PutText { key, text } => {
                    admit_text(&key, &text)?;
                    Change::Put {
                        key,
                        value: text.into_boxed_str(),
                    }
                }
                Mutation::Delete { key } => Change::Delete { key },
            });
        }
        // Apply to memory, remembering how to undo, then commit; roll back on failure.
        // Nobody can observe the map in between: we hold `&mut self`.
        let mut undo: Vec<(String, Option<Entry>)> = Vec::with_capacity(changes.len());
        let mut effective: Vec<Change> = Vec::with_capacity(changes.len());
        for change in changes {
            match change {
                Change::Put { key, value } => {
                    let old = self.map.insert(&key, &value);
                    undo.push((key.clone(), old));
                    effective.push(Change::Put { key, value });
                }
                Change::Delete { key } => {
                    if let Some(old) = self.map.remove(key.as_str()) {
                        undo.push((key.clone(), Some(old)));
                        effective.push(Change::Delete { key });
                    }
                }
            }
        }
        if effective.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let (committed, first_waiting) = {
            let mut committer = self.committer.lock();
            let waiting_before = committer.deadline().is_some();
            let committed = committer.commit(&self.map, &effective);
            (committed, !waiting_before && committer.deadline().is_some())
        };
        // The flusher sleeps while nothing is waiting: only a first waiting write sets a
        // deadline for it to wake at. (Waking it at every commit cost a futex call and a
        // lock handover per put, a third of a piped put's time.)
        if first_waiting {
            self.committer.notify();
        }
        match committed {
            Ok(()) => {
                self.commits += 1;
                self.mutations += effective.len() as u64;
                self.last_commit = Some(started.elapsed());
                self.checkpoint_if_due();
                Ok(())
            }
            Err(failure) => {
                for (key, old) in undo.into_iter().rev() {
                    match old {
                        Some(entry) => self.map.insert_entry(entry),
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

    /// `Err(ReadOnly)` for a store opened read-only; `Err(Poisoned)` once a failure has
    /// left the disk's state unknown.
    fn check_writable(&mut self) -> Result<()> {
        if let Some((path, _)) = &self.read_only {
            return Err(Error::ReadOnly { path: path.clone() });
        }
        // A delayed sync that failed is told in full once; later calls say it was.
        if let Some(report) = self.committer.lock().take_failure() {
            self.poisoned = Some(report.to_string());
            return Err(report);
        }
        match &self.poisoned {
            Some(cause) => Err(Error::Poisoned {
                path: self.path().map(Path::to_path_buf).unwrap_or_default(),
                cause: cause.clone(),
                advice: poisoned_advice(self.durability),
            }),
            None => Ok(()),
        }
    }

    /// After a durable commit, checkpoints if the log has passed its threshold. The commit
    /// is already durable in the log, so a failure here does not fail it: a failure that
    /// leaves the disk unknown poisons the store, any other is kept for `stats` and
    /// retried after the log grows by another threshold.
    fn checkpoint_if_due(&mut self) {
        let mut committer = self.committer.lock();
        let Backend::Wal(wal) = &mut committer.backend else {
            return;
        };
        if !wal.wants_checkpoint() {
            return;
        }
        match wal.checkpoint(&self.map) {
            Ok(()) => committer.all_durable(),
            Err(failure) => {
                wal.checkpoint_failed(&failure.error);
                if failure.poisons {
                    self.poisoned = Some(failure.error.to_string());
                }
            }
        }
    }

    /// Folds the log into a new snapshot and starts an empty log ([`Durability::Wal`]),
    /// crash-safely: a crash at any step recovers exactly the committed state. In the
    /// other modes the database file already is the whole state, so this does nothing.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.check_writable()?;
        let mut committer = self.committer.lock();
        let Backend::Wal(wal) = &mut committer.backend else {
            return Ok(());
        };
        match wal.checkpoint(&self.map) {
            Ok(()) => {
                committer.all_durable();
                Ok(())
            }
            Err(failure) => {
                if failure.poisons {
                    self.poisoned = Some(failure.error.to_string());
                }
                Err(failure.error)
            }
        }
    }

    /// What recovery did or found when the store was opened (a torn tail cut off, an
    /// interrupted checkpoint finished, ...), for the caller to show; the engine never
    /// prints.
    pub fn open_warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The durability mode ([`Durability::Memory`] for a store opened
    /// [`read_only`](Options::read_only): nothing it holds is committed anywhere).
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The database file (symlinks resolved); `None` for a store with no file behind it
    /// (in memory, and [`Durability::Memory`] on a path, which only seeds the store).
    pub fn path(&self) -> Option<&Path> {
        self.path
            .as_deref()
            .or(self.read_only.as_ref().map(|(path, _)| path.as_path()))
    }

    /// Whether the store was opened with [`Options::read_only`]: it refuses every
    /// mutation with [`Error::ReadOnly`].
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// Why the store refuses writes, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Counters and sizes for `stats`.
    pub fn stats(&self) -> Stats {
        let committer = self.committer.lock();
        let sync = committer.stats();
        let disk = committer.backend.disk();
        let counters = disk.map(|disk| disk.counters).unwrap_or_default();
        let file = disk
            .map(|disk| (&disk.path, &disk.fs))
            .or(self.read_only.as_ref().map(|(path, fs)| (path, fs)));
        let file_size = file.and_then(|(path, fs)| match fs.metadata(path) {
            Ok(Some(meta)) => Some(meta.len),
            _ => None,
        });
        let wal = match &committer.backend {
            Backend::Wal(wal) => Some(wal.stats()),
            _ => None,
        };
        Stats {
            durability: self.durability,
            path: self.path().map(Path::to_path_buf),
            keys: self.map.len(),
            file_size,
            commits: self.commits,
            fsyncs: counters.fsyncs,
            bytes_written: counters.bytes_written,
            last_commit: self.last_commit,
            poisoned: self
                .poisoned
                .clone()
                .or_else(|| committer.failure().map(|report| report.to_string())),
            mutations: self.mutations,
            zero_filled_bytes: counters.zero_filled,
            bytes_per_mutation: (self.mutations > 0).then(|| {
                (counters.bytes_written - counters.zero_filled) as f64 / self.mutations as f64
            }),
            log_size: wal.as_ref().map(|wal| wal.log_size),
            log_file_size: match (&committer.backend, disk) {
                (Backend::Wal(_), Some(disk)) => {
                    match disk.fs.metadata(&files::wal_path(&disk.path)) {
                        Ok(Some(meta)) => Some(meta.len),
                        _ => None,
                    }
                }
                _ => None,
            },
            log_records: wal.as_ref().map(|wal| wal.records_since_checkpoint),
            checkpoints: wal.as_ref().map_or(0, |wal| wal.checkpoints),
            checkpoint_error: wal.and_then(|wal| wal.last_checkpoint_error),
            read_only: self.read_only.is_some(),
            sync_policy: sync.policy,
            unsynced_writes: sync.unsynced_writes,
            oldest_unsynced_age: sync.oldest_unsynced_age,
            background_syncs: sync.background_syncs,
        }
    }

    /// Makes every acknowledged write durable now (with a delayed [`SyncPolicy`]; with
    /// [`SyncPolicy::Always`] they already are) and returns how many it covered.
    ///
    /// A failed sync poisons the store: the error says how many acknowledged writes since
    /// when may not be durable ([`Error::BackgroundSync`]).
    pub fn sync(&mut self) -> Result<u64> {
        self.check_writable()?;
        let mut committer = self.committer.lock();
        match committer.sync() {
            Ok(writes) => Ok(writes),
            Err(()) => {
                let report = committer.take_failure().or_else(|| committer.failure());
                drop(committer);
                Err(self.poison_with(report))
            }
        }
    }

    /// A handle another thread can make every acknowledged write durable with, sealing the
    /// store, before the process exits (see [`SyncHandle::seal`]).
    pub fn sync_handle(&self) -> SyncHandle {
        SyncHandle::new(&self.committer)
    }

    /// Runs the delayed sync if its deadline has come on the store's clock: what the
    /// flusher thread does on a [`SystemClock`], for a store on a clock moved by hand
    /// ([`ManualClock`](crate::ManualClock)), to call after each move. `Ok` if nothing was
    /// due; the report of what may be lost if the sync failed (or had failed before).
    pub fn flush_due(&mut self) -> Result<()> {
        let due = self.committer.lock().flush_due();
        due.map_err(|report| self.poison_with(Some(report)))
    }

    /// When the delayed sync of the oldest unsynced write falls due (`None` if nothing is
    /// waiting or the policy sets no deadline): with a [`ManualClock`](crate::ManualClock),
    /// move the clock to it and call [`flush_due`](Self::flush_due) to do what the flusher
    /// thread would do at that instant.
    pub fn sync_deadline(&self) -> Option<Instant> {
        self.committer.lock().deadline()
    }

    /// If a delayed sync failed and that has not been reported yet, the report (once): for
    /// a caller that wants to tell the user even before its next write.
    pub fn background_failure(&mut self) -> Option<Error> {
        let report = self.committer.lock().take_failure()?;
        self.poisoned = Some(report.to_string());
        Some(report)
    }

    /// Closes the store, making every acknowledged write durable first; returns how many
    /// writes that covered. Dropping the store does the same and ignores a failure: this
    /// says it, and also reports a failed delayed sync not reported yet.
    pub fn close(mut self) -> Result<u64> {
        self.stop_flusher();
        if let Some(report) = self.background_failure() {
            return Err(report);
        }
        if self.poisoned.is_some() || self.read_only.is_some() {
            return Ok(0);
        }
        let writes = self.sync()?;
        self.committer.lock().retire_journal()?;
        Ok(writes)
    }

    /// Drops the store as a process that dies now leaves it: nothing more is written or
    /// synced (a clean close, or a drop, would sync what is acknowledged). For a
    /// simulation of a crash, which must not run the clean exit's sync.
    pub fn abandon(mut self) {
        self.stop_flusher();
        self.abandoned = true;
    }

    /// Ends the flusher thread, if there is one.
    fn stop_flusher(&mut self) {
        if let Some(thread) = self.flusher.take() {
            self.committer.stop_flusher(thread);
        }
    }

    /// Poisons the store with `report` (a failed delayed sync) and returns it.
    fn poison_with(&mut self, report: Option<Error>) -> Error {
        let report = report.unwrap_or_else(|| Error::Poisoned {
            path: self.path.clone().unwrap_or_default(),
            cause: "a delayed sync failed".to_string(),
            advice: poisoned_advice(self.durability),
        });
        self.poisoned = Some(report.to_string());
        report
    }

    /// Arms a crash button: the next commit that reaches `point` crashes there, as the
    /// store's [`CrashAction`](crate::CrashAction) says (by default the process aborts).
    /// Fails if `point` is not part of this store's commit protocol.
    pub fn arm_crash(&mut self, point: CrashPoint) -> Result<()> {
        match self.committer.lock().backend.disk_mut() {
            Some(disk) if point.durability() == self.durability => {
                disk.armed = Some(point);
                Ok(())
            }
            _ => Err(Error::NotACrashPointOfThisMode {
                point,
                durability: self.durability,
            }),
        }
    }
}

impl Drop for KvStore {
    /// Makes every acknowledged write durable before the lock is released, as
    /// [`close`](KvStore::close) does; a failure cannot be reported from here.
    fn drop(&mut self) {
        self.stop_flusher();
        if self.poisoned.is_none() && self.read_only.is_none() && !self.abandoned {
            let mut committer = self.committer.lock();
            if committer.sync().is_ok() {
                let _ = committer.retire_journal();
            }
        }
    }
}

/// Whether anything of the database at `path` exists: its snapshot, its log, or the new
/// log of an interrupted checkpoint (a wal database may have a log and no snapshot yet).
fn has_database(fs: &dyn Fs, path: &Path) -> Result<bool> {
    for file in [
        path.to_path_buf(),
        files::wal_path(path),
        files::wal_next_path(path),
    ] {
        if fs
            .metadata(&file)
            .map_err(|err| Error::io("stat", &file, err))?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `Err` if the store would refuse `text` under `key` ([`Error::ValueTooDeep`] past
/// [`MAX_VALUE_DEPTH`], [`Error::EntryTooLarge`] past [`MAX_ENTRY_BYTES`]), before anything
/// is written: a batch holding such an entry is refused whole, so a caller that groups
/// statements into one commit can keep it apart.
pub fn admit_text(key: &str, text: &JsonText) -> Result<()> {
    if text.depth() > MAX_VALUE_DEPTH {
        return Err(Error::ValueTooDeep {
            key: key.to_string(),
            max: MAX_VALUE_DEPTH,
        });
    }
    entry_fits(key, text.as_str().len() as u64)
}

/// `Err(EntryTooLarge)` if `key` with a value of `value_len` bytes is over
/// [`MAX_ENTRY_BYTES`]. Takes the length, not the value, so the limit is testable without
/// allocating 4 GiB.
fn entry_fits(key: &str, value_len: u64) -> Result<()> {
    let bytes = key.len() as u64 + value_len;
    if bytes <= MAX_ENTRY_BYTES {
        return Ok(());
    }
    // The key itself may be most of the 4 GiB: name it by its start.
    const SHOWN: usize = 40;
    let key = match key.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &key[..end]),
        None => key.to_string(),
    };
    Err(Error::EntryTooLarge {
        key,
        bytes,
        max: MAX_ENTRY_BYTES,
    })
}

/// What a user can do once a store of `durability` refuses writes: every mode but naive
/// leaves the last committed state on disk for a reopen to find, but naive mode truncated
/// the file before the write that failed, so the file now holds nothing or a fragment
/// that will not open, and only this store's memory still has the data.
fn poisoned_advice(durability: Durability) -> &'static str {
    match durability {
        Durability::Naive => {
            "the file was truncated before that failure, so it holds at most a fragment that \
             will not open: reopening does not recover the data; this store still holds every \
             acknowledged write, so read it out (and write it elsewhere) before closing it"
        }
        _ => "reopen the store to recover from what is on disk",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_whose_log_record_would_wrap_its_32_bit_length_is_refused() {
        // The record body is MIN_BODY fixed bytes plus the key and the value.
        assert_eq!(MAX_ENTRY_BYTES + MIN_BODY as u64, u64::from(u32::MAX));
        assert!(entry_fits("k", MAX_ENTRY_BYTES - 1).is_ok());
        let refused = entry_fits("k", MAX_ENTRY_BYTES);
        let Err(Error::EntryTooLarge { key, bytes, max }) = &refused else {
            panic!("expected EntryTooLarge, got {refused:?}");
        };
        assert_eq!(
            (key.as_str(), *bytes, *max),
            ("k", MAX_ENTRY_BYTES + 1, MAX_ENTRY_BYTES)
        );
        let message = refused
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            message.contains("4294967278") && message.contains("nothing was written"),
            "{message}"
        );
        // 4 GiB and more would wrap to a small length: refused too, whatever the split.
        assert!(entry_fits("", 1 << 32).is_err());
        assert!(entry_fits(&"k".repeat(100), u64::from(u32::MAX)).is_err());
        let long_key = entry_fits(&"k".repeat(100), MAX_ENTRY_BYTES);
        assert!(
            matches!(&long_key, Err(Error::EntryTooLarge { key, .. }) if key.chars().count() == 41),
            "{long_key:?}"
        );
    }

    #[test]
    fn a_crash_point_of_another_mode_is_refused_with_a_typed_error() {
        let mut store = KvStore::in_memory();
        let refused = store.arm_crash(CrashPoint::MidAppend);
        assert!(
            matches!(
                refused,
                Err(Error::NotACrashPointOfThisMode {
                    point: CrashPoint::MidAppend,
                    durability: Durability::Memory,
                })
            ),
            "{refused:?}"
        );
        assert_eq!(
            refused.err().map(|err| err.to_string()),
            Some("crash point mid-append is not part of the memory mode's commit".to_string())
        );
    }
}

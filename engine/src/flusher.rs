//! The delayed sync of stage 5 ([`SyncPolicy::Within`], [`SyncPolicy::Never`]): what is
//! acknowledged but not yet durable, when it falls due, the sync that makes it durable, and
//! the background thread that runs that sync on time.
//!
//! The backend lives here, behind one mutex shared by the store and its flusher thread.
//! Readers never take it: they read the store's own map. A writer takes it for its commit,
//! and the flusher for its sync, so a background `fdatasync` delays at most the next
//! write, never a read. In snapshot mode the flusher cannot borrow the store's map from
//! another thread, so it keeps its own copy (`shadow`), updated by each commit, and writes
//! that: the price of a delayed snapshot is the map held twice.
//!
//! Snapshot mode's unsaved window is not only in memory: each commit is also appended to a
//! log that is never synced (the journal, a [`Wal`] whose sync is a checkpoint). The
//! kernel keeps it through a process kill, so a kill loses no acknowledged write; a power
//! loss may cut it anywhere, and recovery then keeps a whole prefix of its commits (the
//! log's checksums and its after-unsynced flags). The journal costs one `write` per
//! commit, as wal mode's delayed sync does, instead of a snapshot per commit.
//!
//! [`Wal`]: crate::durability::wal::Wal

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::{Clock, time_of_day};
use crate::crash::CrashPoint;
use crate::durability::{Backend, Change, CommitFailure, Map, SyncPolicy};
use crate::error::{Error, Result};

/// Acknowledged writes that are not durable yet.
#[derive(Debug, Clone, Copy, Default)]
struct Unsynced {
    writes: u64,
    /// When the oldest of them was acknowledged.
    oldest: Option<Instant>,
}

/// A sync the flusher ran on its own that failed: the store is poisoned, and the owner is
/// told once (the next call, or the close), with what may be lost.
#[derive(Debug)]
struct Failure {
    op: String,
    path: PathBuf,
    reason: String,
    writes: u64,
    since: String,
    reported: bool,
    /// The sync stopped at an armed crash point ([`CrashAction::Halt`]): reported as
    /// that crash, so the shell reboots its simulated disk as for any other.
    ///
    /// [`CrashAction::Halt`]: crate::CrashAction::Halt
    crashed: Option<CrashPoint>,
}

impl Failure {
    fn error(&self) -> Error {
        if let Some(point) = self.crashed {
            return Error::Crashed {
                path: self.path.clone(),
                point,
            };
        }
        Error::BackgroundSync {
            op: self.op.clone(),
            path: self.path.clone(),
            reason: self.reason.clone(),
            writes: self.writes,
            since: self.since.clone(),
        }
    }
}

/// The backend and the bookkeeping of its delayed syncs.
#[derive(Debug)]
pub(crate) struct Committer {
    pub backend: Backend,
    policy: SyncPolicy,
    clock: Arc<dyn Clock>,
    /// Snapshot mode with a delayed sync: the state the next snapshot writes (the backend
    /// is then the journal, whose sync is a checkpoint of this map).
    shadow: Option<Map>,
    unsynced: Unsynced,
    /// Syncs run because a deadline came (by the thread, or by a call that found one due).
    background_syncs: u64,
    failure: Option<Failure>,
    /// Tells the thread to end (the store is closing).
    stop: bool,
    /// The process is ending: everything was synced, and no commit is accepted any more
    /// (so no write is acknowledged after the last sync).
    sealed: bool,
}

/// What `stats` shows of the delayed syncs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncStats {
    pub policy: SyncPolicy,
    pub unsynced_writes: u64,
    pub oldest_unsynced_age: Option<Duration>,
    pub background_syncs: u64,
}

impl Committer {
    /// `map` is the store's state as opened (the first shadow, if one is kept). `journal`:
    /// `backend` is snapshot mode's journal (see the module doc), whose every sync is a
    /// checkpoint of the shadow.
    pub fn new(
        backend: Backend,
        policy: SyncPolicy,
        clock: Arc<dyn Clock>,
        map: &Map,
        journal: bool,
    ) -> Self {
        let shadow = (policy.is_delayed() && journal).then(|| map.clone());
        Committer {
            backend,
            policy,
            clock,
            shadow,
            unsynced: Unsynced::default(),
            background_syncs: 0,
            failure: None,
            stop: false,
            sealed: false,
        }
    }

    /// Commits `batch` (already applied to `map`): durably before returning with
    /// [`SyncPolicy::Always`], otherwise written (wal) or kept (snapshot) and counted as
    /// unsynced. A sync that fell due first is run first, so its failure leaves this
    /// batch unwritten.
    pub fn commit(&mut self, map: &Map, batch: &[Change]) -> Result<(), CommitFailure> {
        if self.sealed {
            let path = self.backend.disk().map(|disk| disk.path.clone());
            return Err(CommitFailure::clean(Error::Sealed {
                path: path.unwrap_or_default(),
            }));
        }
        if !self.policy.is_delayed() {
            return self.backend.commit(map, batch);
        }
        if let Some(error) = self.failure() {
            return Err(CommitFailure::poisoning(error));
        }
        self.flush_due().map_err(CommitFailure::poisoning)?;
        if let Backend::Wal(wal) = &mut self.backend {
            wal.append(batch)?;
        }
        if let Some(shadow) = &mut self.shadow {
            apply(shadow, batch);
        }
        let now = self.clock.now();
        self.unsynced.writes += batch.len() as u64;
        self.unsynced.oldest.get_or_insert(now);
        Ok(())
    }

    /// When the oldest unsynced write must be durable (`None`: nothing is waiting, the
    /// policy sets no deadline, or the flusher has failed and stopped).
    pub fn deadline(&self) -> Option<Instant> {
        let SyncPolicy::Within(window) = self.policy else {
            return None;
        };
        if self.failure.is_some() {
            return None;
        }
        self.unsynced.oldest.map(|oldest| oldest + window)
    }

    /// Runs the sync if its deadline has come. A failure poisons the store and is
    /// returned (once) as the report of what may be lost.
    pub fn flush_due(&mut self) -> Result<()> {
        if let Some(deadline) = self.deadline()
            && self.clock.now() >= deadline
            && self.sync().is_ok()
        {
            self.background_syncs += 1;
        }
        self.take_failure().map_or(Ok(()), Err)
    }

    /// Makes every acknowledged write durable now; returns how many it covered. A failure
    /// is kept as the store's [`Failure`] (reported by [`take_failure`](Self::take_failure)).
    pub fn sync(&mut self) -> Result<u64, ()> {
        if self.failure.is_some() {
            return Err(());
        }
        let writes = self.unsynced.writes;
        if writes == 0 {
            return Ok(0);
        }
        let synced = match (&mut self.backend, &self.shadow) {
            // The journal is never synced: the snapshot it leads to is.
            (Backend::Wal(wal), Some(shadow)) => {
                wal.checkpoint(shadow).map_err(|failure| failure.error)
            }
            (Backend::Wal(wal), None) => wal.sync_log(),
            // No other backend acknowledges before its sync.
            _ => Ok(()),
        };
        match synced {
            Ok(()) => {
                self.unsynced = Unsynced::default();
                Ok(writes)
            }
            Err(error) => {
                self.failed(error);
                Err(())
            }
        }
    }

    /// Syncs everything and refuses every later commit: for the last moments of a process
    /// that was told to end. Returns how many writes the sync covered, or the report of
    /// what may be lost.
    pub fn seal(&mut self) -> Result<u64> {
        self.sealed = true;
        match self.sync() {
            Ok(writes) => {
                self.retire_journal()?;
                Ok(writes)
            }
            Err(()) => Err(self
                .take_failure()
                .or_else(|| self.failure())
                .unwrap_or_else(|| Error::Sealed {
                    path: PathBuf::new(),
                })),
        }
    }

    /// After a successful [`sync`](Self::sync) at a clean close: removes snapshot mode's
    /// journal, now empty, so the database is a plain snapshot again. Nothing to do in any
    /// other mode.
    pub fn retire_journal(&mut self) -> Result<()> {
        match (&mut self.backend, &self.shadow) {
            (Backend::Wal(wal), Some(_)) => wal.remove_empty_log(),
            _ => Ok(()),
        }
    }

    /// Everything written is durable by other means (a checkpoint installed it all).
    pub fn all_durable(&mut self) {
        self.unsynced = Unsynced::default();
    }

    fn failed(&mut self, error: Error) {
        let since = self
            .unsynced
            .oldest
            .map(|oldest| time_of_day(self.clock.wall(oldest)))
            .unwrap_or_default();
        let crashed = match &error {
            Error::Crashed { point, .. } => Some(*point),
            _ => None,
        };
        let (op, path, reason) = match error {
            Error::Io { op, path, source } => (op, path, source.to_string()),
            Error::Crashed { path, .. } => ("sync".to_string(), path, String::new()),
            other => (
                "sync".to_string(),
                self.backend
                    .disk()
                    .map(|disk| disk.path.clone())
                    .unwrap_or_default(),
                other.to_string(),
            ),
        };
        self.failure = Some(Failure {
            op,
            path,
            reason,
            writes: self.unsynced.writes,
            since,
            reported: false,
            crashed,
        });
    }

    /// The report of a failed sync, the first time it is asked for; `None` after that
    /// (the store is poisoned by then) or if no sync failed.
    pub fn take_failure(&mut self) -> Option<Error> {
        let failure = self.failure.as_mut()?;
        if failure.reported {
            return None;
        }
        failure.reported = true;
        Some(failure.error())
    }

    /// The report of a failed sync, whether or not it was taken.
    pub fn failure(&self) -> Option<Error> {
        self.failure.as_ref().map(Failure::error)
    }

    pub fn stats(&self) -> SyncStats {
        SyncStats {
            policy: self.policy,
            unsynced_writes: self.unsynced.writes,
            oldest_unsynced_age: self
                .unsynced
                .oldest
                .map(|oldest| self.clock.now().saturating_duration_since(oldest)),
            background_syncs: self.background_syncs,
        }
    }
}

/// Applies `batch` to `map`.
fn apply(map: &mut Map, batch: &[Change]) {
    for change in batch {
        match change {
            Change::Put { key, value } => {
                map.insert(key, value);
            }
            Change::Delete { key } => {
                map.remove(key);
            }
        }
    }
}

/// A handle on a store's commits that another thread may hold: a signal handler makes
/// every acknowledged write durable with it before the process exits
/// ([`KvStore::sync_handle`](crate::KvStore::sync_handle)).
#[derive(Debug, Clone)]
pub struct SyncHandle {
    shared: Arc<Shared>,
}

impl SyncHandle {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        SyncHandle {
            shared: Arc::clone(shared),
        }
    }

    /// Makes every acknowledged write durable and makes the store refuse every later
    /// write ([`Error::Sealed`]), so that nothing is acknowledged after this sync: for a
    /// process about to exit (on SIGTERM, say) without returning to the store's owner.
    /// Waits for a commit in progress to finish first. Returns how many writes the sync
    /// covered; a failure is the report of what may be lost ([`Error::BackgroundSync`]).
    pub fn seal(&self) -> Result<u64> {
        self.shared.lock().seal()
    }
}

/// The committer and the bell that wakes its thread.
#[derive(Debug)]
pub(crate) struct Shared {
    committer: Mutex<Committer>,
    wake: Condvar,
}

impl Shared {
    pub fn new(committer: Committer) -> Arc<Self> {
        Arc::new(Shared {
            committer: Mutex::new(committer),
            wake: Condvar::new(),
        })
    }

    /// The committer. A thread that panicked holding it left it as consistent as any
    /// failed call does, so the lock's poison is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Committer> {
        self.committer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the thread a deadline may have moved (a first unsynced write, or the close).
    pub fn notify(&self) {
        self.wake.notify_all();
    }

    /// Starts the thread that runs each sync at its deadline.
    pub fn spawn_flusher(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        let shared = Arc::clone(self);
        std::thread::Builder::new()
            .name("kv-flusher".to_string())
            .spawn(move || shared.run_flusher())
    }

    fn run_flusher(&self) {
        let mut committer = self.lock();
        loop {
            if committer.stop {
                return;
            }
            let now = committer.clock.now();
            committer = match committer.deadline() {
                None => self
                    .wake
                    .wait(committer)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) if now >= deadline => {
                    // A failure is kept for the owner, who learns of it at its next call.
                    if committer.sync().is_ok() {
                        committer.background_syncs += 1;
                    }
                    committer
                }
                Some(deadline) => {
                    self.wake
                        .wait_timeout(committer, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
    }

    /// Ends the thread (it finishes a sync it is running first).
    pub fn stop_flusher(&self, thread: JoinHandle<()>) {
        self.lock().stop = true;
        self.notify();
        // A panic in the thread has nothing more to say than its message, already printed
        // by the panic hook.
        let _ = thread.join();
    }
}

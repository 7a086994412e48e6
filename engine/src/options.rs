//! [`Options`]: how to open a store, and what `check` and `repair` read a database
//! through; apart from the store, so that those need not reach up into it.

use std::fmt;
use std::sync::Arc;

use crate::clock::Clock;
use crate::crash::CrashAction;
use crate::durability::wal::WalSettings;
use crate::durability::{Durability, SyncPolicy};
use crate::fs::{Fs, RealFs};

/// How to open a store.
#[derive(Clone)]
pub struct Options {
    pub(crate) durability: Durability,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) crash_action: CrashAction,
    pub(crate) wal: WalSettings,
    pub(crate) read_only: bool,
    pub(crate) sync_policy: SyncPolicy,
    pub(crate) clock: Option<Arc<dyn Clock>>,
}

impl Options {
    /// Snapshot durability on the real filesystem.
    pub fn new() -> Self {
        Options {
            durability: Durability::default(),
            fs: Arc::new(RealFs),
            crash_action: CrashAction::Abort,
            wal: WalSettings::default(),
            read_only: false,
            sync_policy: SyncPolicy::Always,
            clock: None,
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

    /// Opens the database only to read it, as a second process may while a writer has it
    /// open: no lock is taken and no file is created, removed or written, ever (a missing
    /// database is [`Error::NoDatabase`](crate::Error::NoDatabase), not an empty store); the snapshot and log are
    /// read as the lock-free reader reads them (`durability/recovery/lockfree.rs`), so a writer
    /// committing or checkpointing meanwhile is seen at one moment of its history, never
    /// half of one; and every mutation is refused with [`Error::ReadOnly`](crate::Error::ReadOnly). The
    /// durability mode is then irrelevant and ignored: nothing is committed.
    ///
    /// The difference from [`Durability::Memory`] with a path, which reads the same way:
    /// that store accepts writes and keeps them in memory only, and a missing file opens
    /// empty.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Chooses when a commit becomes durable relative to its acknowledgement (default
    /// [`SyncPolicy::Always`]: before it). A delayed policy applies to
    /// [`Durability::Snapshot`] and [`Durability::Wal`] only; with another mode the open
    /// fails with [`Error::SyncPolicyNeedsSyncs`](crate::Error::SyncPolicyNeedsSyncs).
    pub fn sync_policy(mut self, policy: SyncPolicy) -> Self {
        self.sync_policy = policy;
        self
    }

    /// The clock deadlines of [`SyncPolicy::Within`] are measured on (default
    /// [`SystemClock`](crate::SystemClock), with a background thread that syncs at each
    /// deadline). With a clock that wants no thread ([`ManualClock`](crate::ManualClock))
    /// deadlines are checked at each call that commits, and by
    /// [`KvStore::flush_due`](crate::KvStore::flush_due).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Puts another filesystem (a simulated disk, a tracer) behind the store.
    pub fn fs(mut self, fs: Arc<dyn Fs>) -> Self {
        self.fs = fs;
        self
    }

    /// [`Durability::Wal`]: checkpoint once the log holds this many bytes, or as many as
    /// the snapshot if that is more (default
    /// [`DEFAULT_CHECKPOINT_BYTES`](crate::DEFAULT_CHECKPOINT_BYTES), 64 MiB). Tying the
    /// threshold to the snapshot's size keeps the bytes written per mutation bounded as
    /// the store grows; the fixed floor keeps small stores from checkpointing constantly
    /// and bounds the replay on open.
    pub fn checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.wal.checkpoint_bytes = bytes;
        self
    }

    /// [`Durability::Wal`]: grow the log by zero-filled chunks of this many bytes
    /// (default [`DEFAULT_CHUNK_BYTES`](crate::DEFAULT_CHUNK_BYTES), 1 MiB), so that
    /// commits overwrite already-synced space instead of growing the file. Rounded up to
    /// whole 512-byte sectors, so that growing the file never writes into a sector that
    /// holds a commit. A log keeps the chunk size it was created with.
    pub fn wal_chunk_bytes(mut self, bytes: u64) -> Self {
        self.wal.chunk_bytes = bytes.max(1);
        self
    }

    /// The filesystem the store will use.
    pub(crate) fn filesystem(&self) -> Arc<dyn Fs> {
        Arc::clone(&self.fs)
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
            .field("wal", &self.wal)
            .field("read_only", &self.read_only)
            .field("sync_policy", &self.sync_policy)
            .field("clock", &self.clock)
            .finish()
    }
}

//! [`Database`]: what the shell has open, and the demo buttons around it.
//!
//! A store in memory, on the real disk, or on a simulated disk ([`SimFs`]) loaded from the
//! real file; the tracer wrapped around its filesystem (`trace on`); the crash buttons
//! (`crash POINT`); and, on a simulated disk, the power cut (`powercut`), the reboot and
//! reopen after an armed point fires, and `save`. Nothing here prints or builds display
//! text: every button returns data (reboot causes, cuts, warnings, why no store is open) that
//! `render` puts into words. The one exception is `save`'s refusal, worded where the check is
//! made.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::shell::command::PowerCut;
use crate::shell::exec_error::{ExecError, NoStore, READ_ONLY_NO_CRASH};
use crate::shell::sync_window::SyncWindow;
use kv_engine::fs::trace::TraceEvent;
use kv_engine::fs::{CrashMode, Fs, RealFs, SimFs, TraceFs};
use kv_engine::{
    CrashAction, CrashPoint, Durability, Error, Image, Installer, KvStore, Options, SyncHandle,
    SyncPolicy, Warning, files,
};

/// Where the store's bytes live.
#[derive(Debug, Clone)]
pub enum Medium {
    /// No file at all (`kv` without a PATH).
    Memory,
    /// The real filesystem.
    Real,
    /// A simulated disk (`kv --simulate PATH`): crashes stop the commit instead of the
    /// process, and the shell reboots the disk and reopens.
    Simulated(SimFs),
}

/// Why the store is in its mode, as the banner and `stats` say: a database keeps its mode
/// from one open to the next unless `--durability` changes it, as sqlite3 keeps
/// `journal_mode=WAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeSource {
    /// `--durability` chose it.
    Given,
    /// No `--durability`, and the database has a log (`PATH.wal`): `wal`, so the log is
    /// kept rather than folded away by the default mode.
    HasLog,
    /// No `--durability`, and the database has snapshot mode's journal (a `PATH.wal` a
    /// `snapshot --sync` session left, killed before its clean exit removed it): `snapshot`,
    /// the mode it was written in; the open folds the journal into the snapshot.
    HasJournal,
    /// No `--durability` and no log: the default mode.
    Default,
    /// `--read-only`: no mode, nothing is committed.
    ReadOnly,
    /// No PATH: a transient store in memory, whatever `--durability` says.
    NoFile,
}

/// The mode to open `path` in without `--durability` (`given`): the mode its log says
/// (`wal` for a log or the new log of an interrupted checkpoint, `snapshot` for snapshot
/// mode's journal), else the default. Looks beside the file a symlink names, where the
/// store looks; a path that cannot be resolved gets the default, and the open then reports
/// why.
pub fn choose_mode(path: &Path, given: Option<Durability>) -> (Durability, ModeSource) {
    if let Some(durability) = given {
        return (durability, ModeSource::Given);
    }
    let real: &dyn Fs = &RealFs;
    let logged = real
        .resolve(path)
        .ok()
        .and_then(|target| kv_engine::logged_mode(real, &target));
    match logged {
        Some(Durability::Snapshot) => (Durability::Snapshot, ModeSource::HasJournal),
        Some(durability) => (durability, ModeSource::HasLog),
        None => (Durability::default(), ModeSource::Default),
    }
}

/// A crash or power cut with its seed decided (`0` for the modes that need none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub mode: CrashMode,
    pub seed: u64,
    /// Whether to spell out what the mode keeps: only the first time a session meets it,
    /// so a demo explains each mode once, not after every crash.
    pub explain: bool,
}

/// A crash button the user armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Armed {
    pub point: CrashPoint,
    /// `None` on the real disk: the process aborts. On a simulated disk, how it reboots.
    pub cut: Option<Cut>,
}

/// Why the simulated disk rebooted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootCause {
    /// An armed point fired during the command `verb`, which was not acknowledged.
    Crash {
        point: CrashPoint,
        cut: Cut,
        verb: &'static str,
    },
    /// `powercut`.
    PowerCut(Cut),
}

/// How the reopened store differs from what had been acknowledged before the reboot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Acknowledged keys that are gone.
    pub lost: Vec<String>,
    /// Keys whose value is not the acknowledged one: (key, acknowledged, found).
    pub changed: Vec<(String, Value, Value)>,
    /// Keys that were never acknowledged, yet are there (an interrupted commit landed).
    pub appeared: Vec<(String, Value)>,
    /// With a delayed `--sync` on a simulated disk, the policy the rest was judged by:
    /// `lost`, `changed` and `appeared` then hold only the keys acknowledged longer ago
    /// than the window (which should never be undone).
    pub window: Option<SyncPolicy>,
    /// Keys undone by the reboot whose last change was acknowledged within the window:
    /// the loss the policy allows.
    pub within_window: Vec<String>,
}

impl Diff {
    /// Whether the reopened store is exactly the acknowledged state.
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty()
            && self.changed.is_empty()
            && self.appeared.is_empty()
            && self.within_window.is_empty()
    }
}

/// What a reboot found and what reopening made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reboot {
    pub cause: RebootCause,
    /// The database file, as given.
    pub path: PathBuf,
    /// The files the reboot found (name, size in bytes), before the store reopened.
    pub files: Vec<(String, u64)>,
    /// The reopened store, or why it would not open (the shell then has no store).
    pub reopened: Result<Reopened, NoStore>,
}

/// A store that reopened after a reboot.
#[derive(Debug, Clone, PartialEq)]
pub struct Reopened {
    /// Keys in the reopened store.
    pub keys: usize,
    /// Temp files of interrupted commits that the reopen removed.
    pub removed_temps: usize,
    /// Compared with the acknowledged state; `None` if no store was open before.
    pub diff: Option<Diff>,
    /// What recovery did on the reopen (a torn tail cut off, a checkpoint finished).
    pub warnings: Vec<Warning>,
}

/// What `save` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub path: PathBuf,
    /// The snapshot's size (0 if there is none: a log that starts from nothing).
    pub bytes: u64,
    /// The log's size, if there is one (wal mode).
    pub log_bytes: Option<u64>,
    pub keys: usize,
}

/// One line of `trace` output.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceEntry {
    /// A filesystem operation.
    Op(TraceEvent),
    /// The simulated disk rebooted here, cut as `CrashMode` says (what follows is the
    /// reopen).
    Reboot(CrashMode),
    /// An operation on the real disk, beside a simulated one (`save` writes the real
    /// file): its time is real I/O time.
    Real(TraceEvent),
}

/// The shell's store, where it lives, and the buttons that crash, trace and save it.
#[derive(Debug)]
pub struct Database {
    /// `Err(why)` when a reopen after a reboot failed: the shell goes on without a store.
    store: Result<KvStore, NoStore>,
    path: Option<PathBuf>,
    durability: Durability,
    medium: Medium,
    tracer: Option<TraceFs>,
    /// Entries drained before a reboot, waiting for the end of the command.
    pending_trace: Vec<TraceEntry>,
    armed: Option<Armed>,
    /// The seed the next random crash takes when none is given: counts from 1, so a
    /// demo replays the same way every time.
    next_seed: u64,
    /// On a simulated disk: the real files as they were loaded (or last saved), so `save`
    /// can refuse to overwrite what another process wrote since.
    loaded: Vec<Loaded>,
    /// Why the store is in its mode (set by the command line; `Given` until then).
    mode_source: ModeSource,
    /// Reboots of the simulated disk so far (each reopens a fresh store).
    reboots: u64,
    /// The crash modes already explained to the user (see [`Cut::explain`]).
    explained: Vec<CrashMode>,
    /// The simulated disk started empty (`--empty`): the real files were never loaded.
    started_empty: bool,
    /// `--sync`: the policy, and on a simulated disk the clock `sleep` moves.
    sync: SyncWindow,
}

/// A real file beside the database as `--simulate` loaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loaded {
    /// The real file (beside the file a symlink names).
    path: PathBuf,
    /// `None`: there was no such file.
    seen: Option<Seen>,
}

/// A file's length and CRC32C: enough to tell that another process changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    crc: u32,
}

impl Seen {
    fn of(bytes: &[u8]) -> Seen {
        Seen {
            len: bytes.len() as u64,
            crc: crc32c::crc32c(bytes),
        }
    }
}

/// The files of the database `path` that `--simulate` loads: each name on the simulated
/// disk with the real file it comes from (`target` is `path` with symlinks resolved).
fn real_files(path: &Path, target: &Path) -> [(PathBuf, PathBuf); 3] {
    [
        (path.to_path_buf(), target.to_path_buf()),
        (files::wal_path(path), files::wal_path(target)),
        (files::wal_next_path(path), files::wal_next_path(target)),
    ]
}

/// The real file at `path` now, as [`Seen`] (`None` if it is missing).
fn seen_now(real: &dyn Fs, path: &Path) -> kv_engine::Result<Option<Seen>> {
    match real.read(path) {
        Ok(bytes) => Ok(Some(Seen::of(&bytes))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

/// How the real file changed from `then` to `now`, as part of `save`'s refusal.
fn describe_change(path: &Path, then: Option<Seen>, now: Option<Seen>) -> String {
    let path = path.display();
    match (then, now) {
        (None, Some(now)) => format!(
            "{path} was created ({})",
            kv_engine::human::count(now.len, "byte")
        ),
        (Some(_), None) => format!("{path} was removed"),
        (Some(then), Some(now)) if then.len != now.len => {
            format!(
                "{path} changed from {} to {}",
                then.len,
                kv_engine::human::count(now.len, "byte")
            )
        }
        _ => format!("{path} changed (same size, different bytes)"),
    }
}

impl From<KvStore> for Database {
    /// A database around an already open store, without a tracer.
    fn from(store: KvStore) -> Self {
        let (medium, mode_source) = match store.path() {
            Some(_) => (Medium::Real, ModeSource::Given),
            None => (Medium::Memory, ModeSource::NoFile),
        };
        // The store's own policy: a library caller may have opened it with a delayed sync.
        let policy = store.stats().sync_policy;
        Database {
            path: store.path().map(Path::to_path_buf),
            durability: store.durability(),
            store: Ok(store),
            medium,
            tracer: None,
            pending_trace: Vec::new(),
            armed: None,
            next_seed: 1,
            loaded: Vec::new(),
            mode_source,
            reboots: 0,
            explained: Vec::new(),
            started_empty: false,
            sync: SyncWindow::new(policy, false),
        }
    }
}

impl Database {
    /// A transient in-memory store.
    pub fn in_memory() -> Self {
        Database::from(KvStore::in_memory())
    }

    /// Opens `path` on the real disk, through a tracer (off until `trace on`).
    pub fn open(path: &Path, durability: Durability) -> kv_engine::Result<Self> {
        Database::open_with_sync(path, durability, SyncPolicy::Always)
    }

    /// As [`Database::open`], committing as `sync` says (`--sync`).
    pub fn open_with_sync(
        path: &Path,
        durability: Durability,
        sync: SyncPolicy,
    ) -> kv_engine::Result<Self> {
        let window = SyncWindow::new(sync, false);
        Database::open_on(path, durability, Medium::Real, Arc::new(RealFs), window)
    }

    /// Opens `path` on the real disk only to read it (`--read-only`: see
    /// [`Options::read_only`]): no lock, no file created, every mutation refused.
    pub fn open_read_only(path: &Path) -> kv_engine::Result<Self> {
        let tracer = TraceFs::new(Arc::new(RealFs));
        tracer.set_enabled(false);
        let options = Options::new().read_only(true).fs(Arc::new(tracer.clone()));
        let store = KvStore::open(path, options)?;
        let mut db = Database::from(store);
        db.path = Some(path.to_path_buf());
        db.tracer = Some(tracer);
        db.mode_source = ModeSource::ReadOnly;
        Ok(db)
    }

    /// Why the store is in its mode, for the banner and `stats`.
    pub fn mode_source(&self) -> ModeSource {
        self.mode_source
    }

    /// Reboots of the simulated disk so far: `stats` says its counters restarted.
    pub fn reboots(&self) -> u64 {
        self.reboots
    }

    /// Records why the store is in its mode (the command line decided it).
    pub fn set_mode_source(&mut self, source: ModeSource) {
        self.mode_source = source;
    }

    /// Whether the store was opened read-only (`--read-only`).
    pub fn is_read_only(&self) -> bool {
        self.store().is_some_and(KvStore::is_read_only)
    }

    /// Loads the database at `path` (if any) into a fresh simulated disk and opens it
    /// there. The real file is only read, and written again only by [`Database::save`].
    /// Refuses, reading nothing, a database file or log that is not a regular file.
    pub fn simulate(path: &Path, durability: Durability) -> kv_engine::Result<Self> {
        Database::simulate_with_sync(path, durability, SyncPolicy::Always)
    }

    /// As [`Database::simulate`], committing as `sync` says (`--sync`), on a simulated
    /// clock that `sleep` moves.
    pub fn simulate_with_sync(
        path: &Path,
        durability: Durability,
        sync: SyncPolicy,
    ) -> kv_engine::Result<Self> {
        let real: &dyn Fs = &RealFs;
        let target = real
            .resolve(path)
            .map_err(|err| Error::io("resolve symlink", path, err))?;
        // A FIFO would block the load forever, `/dev/zero` never end it.
        kv_engine::admit_reader(real, &target)?;
        let sim = SimFs::new();
        sim.create_dir_all(kv_engine::fs::parent_dir(path));
        // Memory mode keeps nothing on any disk (see `open_store`): nothing to load.
        let load = match durability {
            Durability::Memory => Vec::new(),
            _ => real_files(path, &target).to_vec(),
        };
        // The log files too: in wal mode they hold the commits since the last checkpoint.
        // Read beside the file a symlink names, as a real open reads them.
        for (name, file) in load {
            let Some(meta) = real
                .metadata(&file)
                .map_err(|err| Error::io("stat", &file, err))?
            else {
                continue;
            };
            let bytes = real
                .read(&file)
                .map_err(|err| Error::io("load onto the simulated disk", &file, err))?;
            sim.insert_file(&name, &bytes, meta.mode);
        }
        Database::on_simulated_disk_with_sync(sim, path, durability, sync)
    }

    /// Opens `path` on an empty simulated disk, reading nothing of the real one (`kv
    /// --simulate --empty`). `save` refuses to overwrite a real file there: it was never
    /// loaded, so its commits would be lost.
    pub fn simulate_empty(path: &Path, durability: Durability) -> kv_engine::Result<Self> {
        Database::simulate_empty_with_sync(path, durability, SyncPolicy::Always)
    }

    /// As [`Database::simulate_empty`], committing as `sync` says (`--sync`).
    pub fn simulate_empty_with_sync(
        path: &Path,
        durability: Durability,
        sync: SyncPolicy,
    ) -> kv_engine::Result<Self> {
        let sim = SimFs::new();
        sim.create_dir_all(kv_engine::fs::parent_dir(path));
        let mut db = Database::on_simulated_disk_with_sync(sim, path, durability, sync)?;
        db.started_empty = true;
        Ok(db)
    }

    /// Opens `path` on the simulated disk `sim` as [`Database::simulate`] does once the
    /// real file is loaded (`save` still writes to the real `path`, and refuses if the real
    /// files are no longer what `sim` holds now).
    pub fn on_simulated_disk(
        sim: SimFs,
        path: &Path,
        durability: Durability,
    ) -> kv_engine::Result<Self> {
        Database::on_simulated_disk_with_sync(sim, path, durability, SyncPolicy::Always)
    }

    /// As [`Database::on_simulated_disk`], committing as `sync` says (`--sync`).
    pub fn on_simulated_disk_with_sync(
        sim: SimFs,
        path: &Path,
        durability: Durability,
        sync: SyncPolicy,
    ) -> kv_engine::Result<Self> {
        let target = RealFs
            .resolve(path)
            .map_err(|err| Error::io("resolve symlink", path, err))?;
        let loaded = real_files(path, &target)
            .into_iter()
            .map(|(name, file)| Loaded {
                path: file,
                seen: sim.contents(&name).as_deref().map(Seen::of),
            })
            .collect();
        let fs: Arc<dyn Fs> = Arc::new(sim.clone());
        let window = SyncWindow::new(sync, true);
        let mut db = Database::open_on(path, durability, Medium::Simulated(sim), fs, window)?;
        db.loaded = loaded;
        Ok(db)
    }

    fn open_on(
        path: &Path,
        durability: Durability,
        medium: Medium,
        fs: Arc<dyn Fs>,
        sync: SyncWindow,
    ) -> kv_engine::Result<Self> {
        let tracer = TraceFs::new(fs);
        tracer.set_enabled(false);
        let store = open_store(path, durability, &medium, &tracer, &sync)?;
        Ok(Database {
            store: Ok(store),
            path: Some(path.to_path_buf()),
            durability,
            medium,
            tracer: Some(tracer),
            pending_trace: Vec::new(),
            armed: None,
            next_seed: 1,
            loaded: Vec::new(),
            mode_source: ModeSource::Given,
            reboots: 0,
            explained: Vec::new(),
            started_empty: false,
            sync,
        })
    }

    /// The open store; `None` if reopening after a reboot failed.
    pub fn store(&self) -> Option<&KvStore> {
        self.store.as_ref().ok()
    }

    /// The open store, or the error that says why there is none.
    pub fn store_mut(&mut self) -> Result<&mut KvStore, ExecError> {
        match &mut self.store {
            Ok(store) => Ok(store),
            Err(reason) => Err(ExecError::Closed(reason.clone())),
        }
    }

    /// The keys of the open store (none if there is no store), for completion.
    pub fn keys(&self) -> Vec<String> {
        self.store()
            .map(|store| store.keys().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The durability mode the store is (or was last) opened in.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// The database file as given on the command line.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether the store lives on a simulated disk.
    pub fn is_simulated(&self) -> bool {
        matches!(self.medium, Medium::Simulated(_))
    }

    /// Whether the next commit may abort the process (a point armed on the real disk): the
    /// shell then flushes what it printed first, so the reader sees every `OK` it earned.
    pub fn may_abort(&self) -> bool {
        self.armed.is_some_and(|armed| armed.cut.is_none())
    }

    /// Whether a crash point is armed (on any disk).
    pub fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// The crash points of the current mode's commit, in protocol order.
    pub fn crash_points(&self) -> Vec<CrashPoint> {
        CrashPoint::of(self.durability).collect()
    }

    /// Arms `point`: on the real disk the next commit aborts the process there; on a
    /// simulated disk it stops there and the disk reboots as `cut` says (a process kill
    /// by default).
    pub fn arm(&mut self, point: CrashPoint, cut: Option<PowerCut>) -> Result<Armed, ExecError> {
        // A read-only store commits nothing, so no point of any protocol is reached.
        if self.is_read_only() {
            return Err(ExecError::Refused(READ_ONLY_NO_CRASH.to_string()));
        }
        if matches!(self.medium, Medium::Memory) || self.durability == Durability::Memory {
            return Err(ExecError::NothingToCrash);
        }
        let cut = match (&self.medium, cut) {
            (Medium::Simulated(_), cut) => Some(self.decide(cut.unwrap_or(PowerCut {
                mode: CrashMode::ProcessKill,
                seed: None,
            }))),
            (_, None) => None,
            (_, Some(_)) => {
                return Err(ExecError::NeedsSimulate {
                    what: "a power cut",
                });
            }
        };
        let points = self.crash_points();
        let store = self.store_mut()?;
        if !points.contains(&point) {
            return Err(ExecError::NotAPointOfThisMode {
                point,
                mode: store.durability(),
                points,
            });
        }
        store.arm_crash(point)?;
        let armed = Armed { point, cut };
        self.armed = Some(armed);
        Ok(armed)
    }

    /// Gives a random cut without a seed the next seed of the counter.
    fn decide(&mut self, cut: PowerCut) -> Cut {
        let seed = match cut.seed {
            Some(seed) => seed,
            None if cut.mode.is_random() => {
                let seed = self.next_seed;
                self.next_seed = self.next_seed.wrapping_add(1);
                seed
            }
            None => 0,
        };
        let explain = !self.explained.contains(&cut.mode);
        if explain {
            self.explained.push(cut.mode);
        }
        Cut {
            mode: cut.mode,
            seed,
            explain,
        }
    }

    /// After a command returned `error`: if it is an armed point firing on the simulated
    /// disk, reboots as armed and reopens, and returns what survived. Any other error is
    /// returned as it was.
    pub fn after_error(&mut self, error: Error, verb: &'static str) -> Result<Reboot, ExecError> {
        let (Error::Crashed { point, .. }, Some(armed)) = (&error, self.armed) else {
            return Err(error.into());
        };
        let (Medium::Simulated(_), Some(cut)) = (&self.medium, armed.cut) else {
            return Err(error.into());
        };
        let point = *point;
        // Arming it said what the mode keeps.
        let cut = Cut {
            explain: false,
            ..cut
        };
        self.reboot(RebootCause::Crash { point, cut, verb })
    }

    /// `powercut`: drops what the simulated disk had not made durable, reboots, reopens.
    pub fn power_cut(&mut self, cut: PowerCut) -> Result<Reboot, ExecError> {
        if !self.is_simulated() {
            return Err(ExecError::NeedsSimulate { what: "powercut" });
        }
        let cut = self.decide(cut);
        self.reboot(RebootCause::PowerCut(cut))
    }

    fn reboot(&mut self, cause: RebootCause) -> Result<Reboot, ExecError> {
        let (Medium::Simulated(sim), Some(path), Some(tracer)) =
            (self.medium.clone(), self.path.clone(), self.tracer.clone())
        else {
            return Err(ExecError::NeedsSimulate { what: "a reboot" });
        };
        let cut = match cause {
            RebootCause::Crash { cut, .. } | RebootCause::PowerCut(cut) => cut,
        };
        // What the user was told had been committed: the store rolls an interrupted
        // commit back, so its map is exactly the acknowledged state.
        let acknowledged: Option<BTreeMap<String, String>> = self.store().map(|store| {
            store
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect()
        });
        self.sync.before_reboot(self.store.as_ref().ok());
        // The process dies: its store (lock, open files) goes first, then the disk. It is
        // abandoned, not dropped: a drop syncs what was acknowledged, as a clean close
        // does, and a dying process syncs nothing.
        if let Ok(store) = std::mem::replace(&mut self.store, Err(NoStore::Rebooting)) {
            store.abandon();
        }
        self.armed = None;
        if tracer.is_enabled() {
            self.pending_trace
                .extend(tracer.drain().into_iter().map(TraceEntry::Op));
            self.pending_trace.push(TraceEntry::Reboot(cut.mode));
        }
        sim.reboot(cut.mode, cut.seed);
        self.reboots += 1;
        let found = sim_files(&sim);
        let store = match open_store(&path, self.durability, &self.medium, &tracer, &self.sync) {
            Ok(store) => store,
            Err(error) => {
                let reason = NoStore::ReopenFailed {
                    path: path.clone(),
                    error: Arc::new(error),
                };
                self.store = Err(reason.clone());
                return Ok(Reboot {
                    cause,
                    path,
                    files: found,
                    reopened: Err(reason),
                });
            }
        };
        // The removed temp files are counted on the "reopened" line, not listed again.
        let mut removed_temps = 0;
        let warnings = store
            .open_warnings()
            .iter()
            .filter_map(|warning| match warning {
                Warning::RemovedTempFiles { files, .. } => {
                    removed_temps += files.len();
                    None
                }
                other => Some(other.clone()),
            })
            .collect();
        let mut diff = acknowledged.map(|before| diff(&before, &store));
        if let Some(diff) = &mut diff {
            judge(diff, &self.sync);
        }
        self.sync.after_reboot(&store);
        let reopened = Reopened {
            keys: store.len(),
            removed_temps,
            diff,
            warnings,
        };
        self.store = Ok(store);
        Ok(Reboot {
            cause,
            path,
            files: found,
            reopened: Ok(reopened),
        })
    }

    /// The `--sync` policy the store commits with.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.sync.policy
    }

    /// `sync`: makes every acknowledged write durable now; returns how many it covered.
    pub fn sync_now(&mut self) -> Result<u64, ExecError> {
        Ok(self.store_mut()?.sync()?)
    }

    /// `sleep DURATION`: moves the simulated clock, running each delayed sync that falls
    /// due on the way; returns how many ran.
    pub fn sleep(&mut self, duration: std::time::Duration) -> Result<u64, ExecError> {
        match self.sync.sleep(self.store.as_mut().ok(), duration) {
            Some(slept) => Ok(slept?),
            None => Err(ExecError::NeedsSimulatedClock),
        }
    }

    /// A handle that makes the store's acknowledged writes durable from a signal
    /// handler's thread (`None` without a store on the real disk: a simulated disk dies
    /// with the process).
    pub fn sync_handle(&self) -> Option<SyncHandle> {
        match self.medium {
            Medium::Real => self.store().map(KvStore::sync_handle),
            _ => None,
        }
    }

    /// Closes the store at a clean exit, making every acknowledged write durable; the
    /// error says what may be lost if that (or an earlier delayed sync) failed.
    pub fn close(&mut self) -> kv_engine::Result<u64> {
        match std::mem::replace(&mut self.store, Err(NoStore::Closed)) {
            Ok(store) => store.close(),
            Err(_) => Ok(0),
        }
    }

    /// `writeback`: the simulated kernel writes its whole cache to the disk, as Linux does
    /// on its own within about 30 seconds, so everything written becomes durable.
    pub fn writeback(&self) -> Result<(), ExecError> {
        match &self.medium {
            Medium::Simulated(sim) => {
                sim.writeback();
                Ok(())
            }
            _ => Err(ExecError::NeedsSimulate { what: "writeback" }),
        }
    }

    /// `save`: writes the simulated database over the real one, crash-safely, holding the
    /// real file's lock meanwhile. Refuses a simulated database that does not open, so a
    /// demo's corruption never reaches the real file.
    ///
    /// The simulated snapshot and log are written by the engine's [`Installer`], in a
    /// checkpoint's order (a real log the simulation folded away is folded on the real
    /// disk too), so a crash at any step reopens as the old database or the new one.
    ///
    /// Refuses, writing nothing, if any real file (`PATH`, `PATH.wal`, `PATH.wal.next`)
    /// changed since it was loaded (or last saved): another process committed to the
    /// database meanwhile, and overwriting would lose its commits. Checked under the lock,
    /// so no writer can commit between the check and the save.
    pub fn save(&mut self) -> Result<Saved, ExecError> {
        // The one command that writes the real disk is traced like every other, its
        // operations marked as real (their time is real I/O time).
        let real = TraceFs::new(Arc::new(RealFs));
        real.set_enabled(self.tracing());
        let saved = self.save_to(Arc::new(real.clone()));
        self.pending_trace
            .extend(real.drain().into_iter().map(TraceEntry::Real));
        saved
    }

    /// [`Database::save`] through `real`, the real filesystem.
    fn save_to(&mut self, real: Arc<dyn Fs>) -> Result<Saved, ExecError> {
        let (Medium::Simulated(sim), Some(path)) = (&self.medium, &self.path) else {
            return Err(ExecError::NeedsSimulate { what: "save" });
        };
        let refuse = |why: String| ExecError::NothingSaved {
            path: path.clone(),
            why,
        };
        let store = match &self.store {
            Ok(store) => store,
            Err(reason) => {
                return Err(refuse(format!(
                    "the simulated file does not open ({reason})"
                )));
            }
        };
        if self.durability == Durability::Memory {
            return Err(refuse(
                "memory mode never writes the simulated file, so it holds nothing new".into(),
            ));
        }
        let snapshot = sim.contents(path);
        let log = sim.contents(files::wal_path(path));
        if snapshot.is_none() && log.is_none() {
            return Err(refuse(
                "no commit has created the file on the simulated disk yet".into(),
            ));
        }
        // The store read these files, but check the bytes themselves: what replaces the
        // real database must open, with exactly what the store holds.
        let options = Options::new().fs(Arc::new(sim.clone()));
        match kv_engine::check(path, &options) {
            Ok(report) if report.keys == Some(store.len()) => {}
            Ok(report) => {
                return Err(refuse(format!(
                    "the simulated database does not open as the store holds it ({})",
                    report.to_string().replace('\n', "; ")
                )));
            }
            Err(error) => {
                return Err(refuse(format!(
                    "the simulated database does not open ({error})"
                )));
            }
        }
        // Under the installer's lock: a writer of the real database has finished its
        // commits, and none can start until the save is done.
        let mut installer = Installer::lock(path, Arc::clone(&real))?;
        let mut changes = Vec::new();
        for loaded in &self.loaded {
            let now = seen_now(real.as_ref(), &loaded.path)?;
            if now != loaded.seen {
                changes.push(describe_change(&loaded.path, loaded.seen, now));
            }
        }
        if !changes.is_empty() && self.started_empty {
            return Err(refuse(format!(
                "{}: the simulated disk started empty (--empty), so saving would overwrite \
                 files it never loaded",
                changes.join("; ").replace(" was created", " exists")
            )));
        }
        if !changes.is_empty() {
            return Err(refuse(format!(
                "{} since --simulate loaded it: another process changed the database, and \
                 saving would overwrite its commits (run kv --simulate again to start from \
                 what is there now)",
                changes.join("; ")
            )));
        }
        installer.install(Image {
            snapshot: snapshot.as_deref(),
            log: log.as_deref(),
        })?;
        // What a later `save` must find unchanged is what this one left.
        let mut now = Vec::with_capacity(self.loaded.len());
        for loaded in &self.loaded {
            now.push(Loaded {
                path: loaded.path.clone(),
                seen: seen_now(real.as_ref(), &loaded.path)?,
            });
        }
        let saved = Saved {
            path: path.clone(),
            bytes: snapshot.map_or(0, |bytes| bytes.len() as u64),
            log_bytes: log.map(|bytes| bytes.len() as u64),
            keys: store.len(),
        };
        self.loaded = now;
        Ok(saved)
    }

    /// `trace on|off`.
    pub fn set_tracing(&mut self, on: bool) -> Result<(), ExecError> {
        match &self.tracer {
            Some(tracer) => {
                tracer.set_enabled(on);
                // Nothing from before the switch belongs to the next command.
                tracer.drain();
                Ok(())
            }
            None if !on => Ok(()),
            None => Err(ExecError::NothingToTrace),
        }
    }

    /// Whether `trace` is on.
    pub fn tracing(&self) -> bool {
        self.tracer.as_ref().is_some_and(TraceFs::is_enabled)
    }

    /// The trace of the command that just ran, oldest first (empty while `trace` is off).
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        let mut entries = std::mem::take(&mut self.pending_trace);
        if let Some(tracer) = &self.tracer {
            entries.extend(tracer.drain().into_iter().map(TraceEntry::Op));
        }
        entries
    }
}

/// Opens the store at `path` through `tracer`, with crashes handled as `medium` needs:
/// the real disk aborts the process, a simulated one stops the commit.
fn open_store(
    path: &Path,
    durability: Durability,
    medium: &Medium,
    tracer: &TraceFs,
    sync: &SyncWindow,
) -> kv_engine::Result<KvStore> {
    let action = match medium {
        // On the simulated disk memory mode is stage 0 itself: a map in the process and no
        // file at all, so its trace shows no operation, a reboot finds nothing to read,
        // and a db.json lying about does not change the story. (On the real disk it seeds
        // the map from the file, to look at a database without changing it.)
        Medium::Simulated(_) if durability == Durability::Memory => {
            // `--sync` is refused here as on the real disk.
            if sync.policy.is_delayed() {
                return Err(Error::SyncPolicyNeedsSyncs {
                    policy: sync.policy,
                    durability,
                });
            }
            return Ok(KvStore::in_memory());
        }
        Medium::Simulated(_) => CrashAction::Halt,
        Medium::Memory | Medium::Real => CrashAction::Abort,
    };
    let mut options = Options::new()
        .durability(durability)
        .crash_action(action)
        .fs(Arc::new(tracer.clone()))
        .sync_policy(sync.policy);
    if let Some(clock) = sync.clock() {
        options = options.clock(clock);
    }
    KvStore::open(path, options)
}

/// The files on the simulated disk (file name, size), in path order.
fn sim_files(sim: &SimFs) -> Vec<(String, u64)> {
    sim.files()
        .into_iter()
        .map(|path| {
            let size = sim.contents(&path).map_or(0, |bytes| bytes.len() as u64);
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            );
            (name, size)
        })
        .collect()
}

/// How `store` differs from the acknowledged map `before` (key → stored JSON text).
fn diff(before: &BTreeMap<String, String>, store: &KvStore) -> Diff {
    let mut result = Diff::default();
    for (key, value) in before {
        match store.get_raw(key) {
            None => result.lost.push(key.clone()),
            // Stored texts are canonical: different text, different value.
            Some(found) if found != value => {
                result
                    .changed
                    .push((key.clone(), parsed(value), parsed(found)));
            }
            Some(_) => {}
        }
    }
    for (key, value) in store.iter() {
        if !before.contains_key(key) {
            result.appeared.push((key.to_string(), parsed(value)));
        }
    }
    result
}

/// With a delayed `--sync`, moves the keys of `diff` whose last change was acknowledged
/// within the window to `diff.within_window` (the loss the policy allows), leaving the rest
/// as losses it does not.
fn judge(diff: &mut Diff, sync: &SyncWindow) {
    if sync.within_window("").is_none() {
        return;
    }
    let mut within = Vec::new();
    let mut keep = |key: &str| match sync.within_window(key) {
        Some(true) => {
            within.push(key.to_string());
            false
        }
        _ => true,
    };
    diff.lost.retain(|key| keep(key));
    diff.changed.retain(|(key, ..)| keep(key));
    diff.appeared.retain(|(key, _)| keep(key));
    within.sort();
    diff.within_window = within;
    diff.window = Some(sync.policy);
}

/// The value of a store's JSON text (always valid; shown as a string if it were not).
fn parsed(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::render::{Layout, Renderer, Theme};
    use crate::shell::session::Session;
    use crate::shell::session::run_text as script;
    use serde_json::json;

    /// A session on an empty simulated disk, at `db.json` (no real file is read).
    fn simulated(durability: Durability) -> Session {
        let db =
            Database::on_simulated_disk(SimFs::new(), Path::new("db.json"), durability).unwrap();
        let renderer = Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        };
        Session::new(db, renderer, renderer)
    }

    fn values(session: &Session) -> Vec<(String, Value)> {
        let store = session.db.store().unwrap();
        store
            .iter()
            .map(|(key, value)| (key.to_string(), serde_json::from_str(value).unwrap()))
            .collect()
    }

    #[test]
    fn a_snapshot_store_keeps_every_acknowledged_write_through_every_power_cut() {
        for cut in [
            "clean",
            "random",
            "torn",
            "reorder",
            "garbage",
            "kill",
            "random 5",
            "torn 99",
            "reorder 1",
            "garbage 0",
        ] {
            let mut s = simulated(Durability::Snapshot);
            let (out, err) = script(
                &mut s,
                &format!("put a 1\nput b 2\ndelete a\nput c 3\npowercut {cut}\n"),
            );
            assert_eq!(err, "", "{cut}");
            assert!(
                out.ends_with("reopened db.json: 2 keys\nevery acknowledged write survived, and nothing else\n"),
                "{cut}: {out}"
            );
            assert_eq!(
                values(&s),
                [("b".to_string(), json!(2)), ("c".to_string(), json!(3))],
                "{cut}"
            );
        }
    }

    #[test]
    fn a_naive_store_loses_acknowledged_writes_to_a_clean_power_cut() {
        let mut s = simulated(Durability::Naive);
        let (out, err) = script(&mut s, "put a 1\nput b 2\npowercut\n");
        assert_eq!(err, "");
        assert!(
            out.ends_with(
                "disk after the reboot: db.json.lock (0 B)\nreopened db.json: 0 keys\n\
                 LOST (acknowledged with OK, gone now): a, b\n"
            ),
            "{out}"
        );
        assert!(values(&s).is_empty());
    }

    #[test]
    fn random_cuts_take_counted_seeds_unless_given_one() {
        let mut s = simulated(Durability::Snapshot);
        let (out, _) = script(
            &mut s,
            "powercut random\npowercut torn 40\npowercut torn\npowercut clean\n\
             powercut reorder\npowercut garbage 8\n",
        );
        let causes: Vec<&str> = out
            .lines()
            .filter(|line| line.starts_with("power cut"))
            .collect();
        assert_eq!(causes.len(), 6, "{out}");
        assert!(
            causes[0].contains("random, seed 1:")
                && causes[0].ends_with("(replay: powercut random 1)")
        );
        assert!(
            causes[1].contains("torn, seed 40:")
                && causes[1].ends_with("(replay: powercut torn 40)")
        );
        // Torn was explained the first time: now only its name and seed.
        assert_eq!(
            causes[2],
            "power cut, torn, seed 2 (replay: powercut torn 2)"
        );
        assert!(!causes[3].contains("seed"), "{}", causes[3]);
        assert!(
            causes[4].contains("reorder, seed 3: each page (or sector) of an unsynced write")
                && causes[4].ends_with("(replay: powercut reorder 3)"),
            "{}",
            causes[4]
        );
        assert!(
            causes[5].contains("garbage, seed 8: as reorder, and a sector mid-write")
                && causes[5].ends_with("(replay: powercut garbage 8)"),
            "{}",
            causes[5]
        );
    }

    #[test]
    fn an_armed_point_fires_once_then_the_store_writes_again() {
        let mut s = simulated(Durability::Snapshot);
        let (out, err) = script(
            &mut s,
            "put a 1\ncrash after-temp-sync\nput a 2\nput a 3\nget a\n",
        );
        assert_eq!(err, "");
        assert_eq!(s.failures(), 0, "a crash the user asked for is no failure");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "OK");
        assert!(lines[1].starts_with("armed after-temp-sync ("), "{out}");
        assert_eq!(
            lines[2],
            "crash at after-temp-sync: the process died there; the put was not acknowledged"
        );
        assert!(
            lines[3].starts_with("disk after the reboot: db.json (8 B), db.json.kv-tmp."),
            "{out}"
        );
        assert_eq!(
            lines[4],
            "reopened db.json: 1 key (removed 1 leftover temp file)"
        );
        assert_eq!(
            lines[5],
            "every acknowledged write survived, and nothing else"
        );
        assert_eq!(&lines[6..], ["OK", "3"]);
    }

    #[test]
    fn a_store_that_does_not_reopen_leaves_a_usable_shell() {
        let mut s = simulated(Durability::Naive);
        let (out, err) = script(
            &mut s,
            "put a 1\ncrash mid-write\nput b 2\nget a\nsave\ncrash\ncrash mid-write\nhelp save\n",
        );
        assert!(s.db.store().is_none());
        let errors: Vec<&str> = err.lines().collect();
        assert_eq!(errors.len(), 4, "{err}");
        assert!(errors[0].starts_with(
            "error: line 3: after the reboot, db.json cannot be opened: db.json is not valid JSON"
        ), "{err}");
        assert!(
            errors[1].starts_with("error: line 4: no database is open: after the reboot"),
            "{err}"
        );
        assert!(
            errors[2].starts_with("error: line 5: nothing saved to"),
            "{err}"
        );
        assert!(
            errors[3].starts_with("error: line 7: no database is open"),
            "{err}"
        );
        // The listing and help still answer.
        assert!(out.contains("crash points of naive mode"), "{out}");
        assert!(
            out.ends_with(
                "save\n  (--simulate) write the simulated file over the real PATH, crash-safely\n"
            ),
            "{out}"
        );
        // Another power cut reboots and tries again: the half-written file was never
        // durable (naive never fsyncs), so a clean cut takes it away and the store opens
        // empty.
        let (out, err) = script(&mut s, "powercut\ncount\n");
        assert_eq!(err, "");
        assert!(out.ends_with("reopened db.json: 0 keys\n0\n"), "{out}");
    }

    #[test]
    fn the_trace_marks_the_reboot_between_the_commit_and_the_reopen() {
        let mut s = simulated(Durability::Snapshot);
        let (out, _) = script(&mut s, "trace on\ncrash after-rename clean\nput a 1\n");
        let trace: Vec<&str> = out
            .lines()
            .filter_map(|line| line.strip_prefix("  trace: "))
            .map(|line| line.split(" (").next().unwrap_or(line))
            .collect();
        let mut expected: Vec<String> = vec![
            "stat db.json".into(),
            "create db.json.kv-tmp.".into(),
            "write 8 B db.json.kv-tmp.".into(),
            "fsync db.json.kv-tmp.".into(),
            "rename db.json.kv-tmp.".into(),
            "--- the power went; reboot and reopen ---".into(),
            "resolve db.json".into(),
            "stat .".into(),
            "stat db.json".into(),
            "stat db.json.wal".into(),
            "stat db.json.wal.next".into(),
            "lock db.json.lock".into(),
            "read 0 B db.json".into(),
            "read 0 B db.json.wal.next".into(),
            "read 0 B db.json.wal".into(),
            "list .".into(),
            "directory fsync .".into(),
            "16 operations, 8 B written, 2 syncs, simulated disk, no real I/O time".into(),
        ];
        assert_eq!(trace.len(), expected.len(), "{out}");
        for (line, prefix) in trace.iter().zip(expected.drain(..)) {
            assert!(
                line.starts_with(&prefix),
                "{line:?} should start with {prefix:?}\n{out}"
            );
        }
    }

    #[test]
    fn trace_without_a_disk_says_there_is_nothing_to_trace() {
        let mut db = Database::in_memory();
        assert!(matches!(
            db.set_tracing(true),
            Err(ExecError::NothingToTrace)
        ));
        assert!(db.set_tracing(false).is_ok());
        assert!(!db.tracing());
        assert!(db.take_trace().is_empty());
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the stray files are put on the real disk
    fn memory_mode_on_a_simulated_disk_reads_nothing_even_with_a_file_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        std::fs::write(&path, r#"{"stray": 1}"#).unwrap();
        std::fs::write(files::wal_path(&path), b"not a log").unwrap();
        let mut db = Database::simulate(&path, Durability::Memory).unwrap();
        assert_eq!(
            db.keys(),
            Vec::<String>::new(),
            "the stray file is not loaded"
        );
        db.set_tracing(true).unwrap();
        db.store_mut().unwrap().put("a", json!(1)).unwrap();
        let reboot = db
            .power_cut(PowerCut {
                mode: CrashMode::CleanPowerLoss,
                seed: None,
            })
            .unwrap();
        assert_eq!(reboot.files, Vec::<(String, u64)>::new());
        let ops: Vec<_> = db
            .take_trace()
            .into_iter()
            .filter(|entry| matches!(entry, TraceEntry::Op(_)))
            .collect();
        assert_eq!(
            ops,
            Vec::new(),
            "no operation: not even a failed read of a log"
        );
        assert_eq!(db.keys(), Vec::<String>::new());
    }

    #[test]
    fn crash_points_follow_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        for mode in Durability::ALL {
            let db = Database::simulate(&path, mode).unwrap();
            assert_eq!(db.crash_points(), CrashPoint::of(mode).collect::<Vec<_>>());
        }
        let mut db = Database::simulate(&path, Durability::Memory).unwrap();
        assert!(db.crash_points().is_empty());
        assert!(matches!(
            db.arm(CrashPoint::MidWrite, None),
            Err(ExecError::NothingToCrash)
        ));
        let mut db = Database::simulate(&path, Durability::Snapshot).unwrap();
        assert!(matches!(
            db.arm(CrashPoint::MidWrite, None),
            Err(ExecError::NotAPointOfThisMode { .. })
        ));
        assert!(
            !db.may_abort(),
            "a simulated crash never aborts the process"
        );
        let mut real = Database::open(&path, Durability::Snapshot).unwrap();
        assert!(!real.may_abort());
        real.arm(CrashPoint::AfterRename, None).unwrap();
        assert!(real.may_abort(), "the session flushes before such a commit");
    }
}

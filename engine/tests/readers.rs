#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Readers that take no lock (`check`, `plan_repair`, a [`Durability::Memory`] store) while
//! a writer checkpoints and appends: they must see one consistent set of files, never call
//! a healthy database damaged, and still report real damage, quickly.
//!
//! The first test races real threads on the real disk. The others are deterministic: an
//! [`Fs`] wrapper runs a writer's step (a whole checkpoint, half a checkpoint, the other
//! half of a commit) in between two of the reader's reads, as `engine/tests/crash.rs` wraps the
//! simulated disk.
//!
//! Environment: `KV_READERS_OPENS=N` sets the number of reads of the racing test (default
//! 150; each is a memory open and a `check`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kv_engine::fs::{Fs, FsFile, FsLock, Metadata, OpenMode, SimFs};
use kv_engine::{
    CrashAction, CrashPoint, Durability, Error, KvStore, Options, RepairAction, Warning, check,
    plan_repair,
};
use serde_json::json;

const DIR: &str = "/data";
const PATH: &str = "/data/db.json";
const WAL: &str = "/data/db.json.wal";

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

/// What a lock-free reader got wrong about a healthy database.
const REFUSED: &str = "memory open refused";
const WARNED: &str = "memory open warned";
const DAMAGED: &str = "check said it does not open";
const UNCLEAN: &str = "check said it needs attention";

/// Runs the lock-free readers the issue names, once each: what they got wrong, if
/// anything, as (kind, details).
fn read_once(path: &Path, options: &Options) -> Vec<(&'static str, String)> {
    let mut wrong = Vec::new();
    match KvStore::open(path, options.clone().durability(Durability::Memory)) {
        Err(error) => wrong.push((REFUSED, error.to_string())),
        Ok(store) => {
            for warning in store.open_warnings() {
                wrong.push((WARNED, warning.to_string()));
            }
        }
    }
    match check(path, options) {
        Err(error) => wrong.push((DAMAGED, error.to_string())),
        Ok(report) if !report.opens() => wrong.push((DAMAGED, report.to_string())),
        Ok(report) if !report.is_clean() => wrong.push((UNCLEAN, report.to_string())),
        Ok(_) => {}
    }
    wrong
}

#[test]
fn lock_free_readers_never_call_a_database_damaged_while_a_writer_checkpoints() {
    let opens = env_number("KV_READERS_OPENS").unwrap_or(150);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let writer_options = Options::new()
        .durability(Durability::Wal)
        .checkpoint_bytes(1)
        .wal_chunk_bytes(4096);
    // The first checkpoint has happened before the reader starts, so every state it can
    // see is a healthy one.
    let mut store = KvStore::open(&path, writer_options).unwrap();
    store.put("seed", json!(0)).unwrap();
    store.checkpoint().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let checkpoints = Arc::new(AtomicU64::new(0));
    let writer = {
        let stop = Arc::clone(&stop);
        let checkpoints = Arc::clone(&checkpoints);
        std::thread::spawn(move || {
            let mut commits = 0u64;
            while !stop.load(Ordering::SeqCst) {
                store
                    .put(format!("k{}", commits % 16), json!(commits))
                    .unwrap();
                commits += 1;
                checkpoints.store(store.stats().checkpoints, Ordering::SeqCst);
            }
            commits
        })
    };
    // Read until the writer has checkpointed a few times as well, whichever comes last.
    let mut failures = Vec::new();
    let mut reads = 0;
    let started = Instant::now();
    while reads < opens
        || (checkpoints.load(Ordering::SeqCst) < 20 && started.elapsed() < Duration::from_secs(10))
    {
        failures.extend(read_once(&path, &Options::new()));
        reads += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let commits = writer.join().unwrap();
    let checkpoints = checkpoints.load(Ordering::SeqCst);
    assert!(checkpoints > 0, "the writer never checkpointed");
    eprintln!("{reads} reads during {commits} commits and {checkpoints} checkpoints");
    let tally: Vec<String> = [REFUSED, WARNED, DAMAGED, UNCLEAN]
        .iter()
        .map(|kind| {
            let count = failures.iter().filter(|(found, _)| found == kind).count();
            format!("{kind}: {count}")
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} false failures in {reads} memory opens and {reads} checks, during {commits} \
         commits and {checkpoints} checkpoints ({}); the first of each kind:\n{}",
        failures.len(),
        tally.join(", "),
        [REFUSED, WARNED, DAMAGED, UNCLEAN]
            .iter()
            .filter_map(|kind| failures.iter().find(|(found, _)| found == kind))
            .map(|(kind, details)| format!("{kind}: {details}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// What the wrapper does when the reader reads a file.
type Hook = Box<dyn FnMut(&Path, &mut Vec<u8>) + Send>;

/// The simulated disk, with a hook that runs on every read: it can run a writer's step
/// before the bytes are read, or change what this one read returns (a page the kernel has
/// not copied yet).
struct Racing {
    inner: SimFs,
    hook: Mutex<Hook>,
    reads: AtomicUsize,
}

impl std::fmt::Debug for Racing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Racing")
    }
}

impl Racing {
    fn new(inner: &SimFs, hook: Hook) -> Arc<Self> {
        Arc::new(Racing {
            inner: inner.clone(),
            hook: Mutex::new(hook),
            reads: AtomicUsize::new(0),
        })
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Fs for Racing {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let mut hook = self.hook.lock().unwrap();
        // The hook may run a writer step first, so read afterwards.
        let mut probe = Vec::new();
        hook(path, &mut probe);
        let mut bytes = self.inner.read(path)?;
        if !probe.is_empty() {
            // A non-empty probe is a mask: zero the bytes it marks.
            for (byte, zero) in bytes.iter_mut().zip(&probe) {
                if *zero != 0 {
                    *byte = 0;
                }
            }
        }
        Ok(bytes)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Box<dyn FsFile>> {
        self.inner.open(path, mode)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        self.inner.list_dir(dir)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<Option<Metadata>> {
        self.inner.metadata(path)
    }
    fn resolve(&self, path: &Path) -> std::io::Result<PathBuf> {
        self.inner.resolve(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn FsLock>> {
        self.inner.lock(path)
    }
}

fn sim() -> SimFs {
    let sim = SimFs::new();
    sim.create_dir_all(DIR);
    sim
}

fn writer_options(sim: &SimFs) -> Options {
    Options::new()
        .durability(Durability::Wal)
        .fs(Arc::new(sim.clone()))
        .wal_chunk_bytes(4096)
        .crash_action(CrashAction::Halt)
}

/// A wal database on `sim` with a snapshot and a log holding records: `{a:1, b:2, c:3}`.
fn writer(sim: &SimFs) -> KvStore {
    let mut store = KvStore::open(PATH, writer_options(sim)).unwrap();
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    store.put("b", json!(2)).unwrap();
    store.put("c", json!(3)).unwrap();
    store
}

fn reader_options(racing: &Arc<Racing>) -> Options {
    Options::new().fs(Arc::clone(racing) as Arc<dyn Fs>)
}

fn keys_of(store: &KvStore) -> Vec<String> {
    store.keys().map(str::to_string).collect()
}

/// A hook that runs `step` on the writer once, when the reader first reads a file named
/// `when` (after it has read the snapshot).
fn once_on(when: &'static str, writer: KvStore, step: fn(&mut KvStore)) -> Hook {
    let mut writer = Some(writer);
    Box::new(move |path, _| {
        if path == Path::new(when)
            && let Some(mut store) = writer.take()
        {
            step(&mut store);
            drop(store);
        }
    })
}

fn put_and_checkpoint(store: &mut KvStore) {
    store.put("d", json!(4)).unwrap();
    store.checkpoint().unwrap();
}

#[test]
fn a_checkpoint_between_the_snapshot_and_the_log_is_not_corruption() {
    // The reader has read the old snapshot; a whole checkpoint happens; the new log it
    // then reads names the new snapshot. Before: "corrupt at offset 0".
    let sim = sim();
    let racing = Racing::new(
        &sim,
        once_on("/data/db.json.wal.next", writer(&sim), put_and_checkpoint),
    );
    let store = KvStore::open(PATH, reader_options(&racing).durability(Durability::Memory))
        .unwrap_or_else(|error| panic!("a lock-free open during a checkpoint failed: {error}"));
    assert!(
        store.open_warnings().is_empty(),
        "{:?}",
        store.open_warnings()
    );
    assert_eq!(keys_of(&store), ["a", "b", "c", "d"]);

    let sim = self::sim();
    let racing = Racing::new(
        &sim,
        once_on("/data/db.json.wal.next", writer(&sim), put_and_checkpoint),
    );
    let report = check(PATH, &reader_options(&racing)).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.keys, Some(4), "{report}");

    // A repair planned during a checkpoint would set a healthy log aside.
    let sim = self::sim();
    let racing = Racing::new(
        &sim,
        once_on("/data/db.json.wal.next", writer(&sim), put_and_checkpoint),
    );
    let plan = plan_repair(PATH, &reader_options(&racing)).unwrap();
    assert_eq!(plan.action, RepairAction::Nothing);
}

#[test]
fn a_read_only_open_during_a_checkpoint_sees_one_moment_of_the_writer() {
    // `--read-only` is the lock-free reader: a whole checkpoint between its read of the
    // snapshot and its read of the log is neither corruption nor a mix of two moments.
    let sim = sim();
    let racing = Racing::new(
        &sim,
        once_on("/data/db.json.wal.next", writer(&sim), put_and_checkpoint),
    );
    let before = disk_image(&sim);
    let store = KvStore::open(PATH, reader_options(&racing).read_only(true))
        .unwrap_or_else(|error| panic!("a read-only open during a checkpoint failed: {error}"));
    assert!(store.is_read_only());
    assert!(
        store.open_warnings().is_empty(),
        "{:?}",
        store.open_warnings()
    );
    assert_eq!(keys_of(&store), ["a", "b", "c", "d"]);
    // Only the writer changed the disk: the reader's image of it is the writer's.
    assert_ne!(disk_image(&sim), before);
    let after_writer = disk_image(&sim);
    drop(store);
    assert_eq!(disk_image(&sim), after_writer);
}

/// Puts `d` and starts a checkpoint that stops after installing its snapshot, before it
/// switches logs: what a reader sees while a live writer is between those steps.
fn stop_mid_checkpoint(store: &mut KvStore) {
    store.put("d", json!(4)).unwrap();
    store.arm_crash(CrashPoint::MidCheckpoint).unwrap();
    assert!(
        matches!(store.checkpoint(), Err(Error::Crashed { .. })),
        "the checkpoint did not stop half-way"
    );
}

fn identical_checkpoint(store: &mut KvStore) {
    // Records that net to nothing: the new snapshot is byte-identical to the old one.
    store.put("tmp", json!(1)).unwrap();
    store.delete("tmp").unwrap();
    store.checkpoint().unwrap();
}

#[test]
fn a_checkpoint_that_rewrote_the_same_snapshot_between_the_reads_is_read_at_once() {
    // Old snapshot read, then a checkpoint whose snapshot has the same bytes: the new log
    // names it, so the pass is clean and right, and is believed without a second look.
    let sim = sim();
    let mut store = writer(&sim);
    store.checkpoint().unwrap();
    let old_snapshot = sim.contents(PATH);
    let old_log = sim.contents(WAL);
    let racing = Racing::new(
        &sim,
        once_on("/data/db.json.wal.next", store, identical_checkpoint),
    );
    let started = Instant::now();
    let store =
        KvStore::open(PATH, reader_options(&racing).durability(Durability::Memory)).unwrap();
    assert!(
        store.open_warnings().is_empty(),
        "{:?}",
        store.open_warnings()
    );
    assert_eq!(keys_of(&store), ["a", "b", "c"]);
    assert_eq!(racing.reads(), 3);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        sim.contents(PATH),
        old_snapshot,
        "the checkpoint was not identical"
    );
    assert_ne!(sim.contents(WAL), old_log, "no checkpoint happened");
}

#[test]
fn check_waits_out_a_checkpoint_a_live_writer_is_in_the_middle_of() {
    // The writer has installed its new snapshot and not yet switched logs when the reader
    // looks; it finishes a few reads later. Before: "an interrupted checkpoint", exit 1.
    let sim = sim();
    let mut store = writer(&sim);
    stop_mid_checkpoint(&mut store);
    drop(store);
    let mut left = 4;
    let finisher = sim.clone();
    let racing = Racing::new(
        &sim,
        Box::new(move |_, _| {
            left -= 1;
            if left == 0 {
                // The writer carries on: what reopening does is what it would have done.
                drop(KvStore::open(PATH, writer_options(&finisher)).unwrap());
            }
        }),
    );
    let report = check(PATH, &reader_options(&racing)).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.keys, Some(4), "{report}");
}

/// A hook that hides `range` of the log from the reader's first read of it, as a read
/// racing the writer's `pwrite` of those bytes would.
fn hide_once(range: std::ops::Range<usize>) -> Hook {
    let mut done = false;
    Box::new(move |path, mask| {
        if path == Path::new(WAL) && !done {
            done = true;
            mask.resize(range.end, 0);
            mask[range.clone()].fill(1);
        }
    })
}

#[test]
fn a_commit_read_half_copied_is_not_corruption_nor_a_torn_tail() {
    let sim = sim();
    let mut store = writer(&sim);
    let start = store.stats().log_size.unwrap() as usize;
    // One commit of several pages: the kernel copies a `pwrite` page by page, so a reader
    // can see a later page of it before an earlier one.
    let big = |c: &str| json!(c.repeat(3000));
    store
        .apply(vec![
            kv_engine::Mutation::Put {
                key: "x".into(),
                value: big("x"),
            },
            kv_engine::Mutation::Put {
                key: "y".into(),
                value: big("y"),
            },
            kv_engine::Mutation::Put {
                key: "z".into(),
                value: big("z"),
            },
        ])
        .unwrap();
    let end = store.stats().log_size.unwrap() as usize;
    drop(store);

    // Its first page not copied yet, its last one already: a hole, then a valid record.
    let racing = Racing::new(&sim, hide_once(start..start + 4000));
    let store = KvStore::open(PATH, reader_options(&racing).durability(Durability::Memory))
        .unwrap_or_else(|error| panic!("a half-copied commit read as corruption: {error}"));
    assert!(
        store.open_warnings().is_empty(),
        "{:?}",
        store.open_warnings()
    );
    assert_eq!(keys_of(&store), ["a", "b", "c", "x", "y", "z"]);

    let racing = Racing::new(&sim, hide_once(start..start + 4000));
    let report = check(PATH, &reader_options(&racing)).unwrap();
    assert!(report.is_clean(), "{report}");

    // Its end not copied yet: a torn tail, to a reader that does not look again.
    let racing = Racing::new(&sim, hide_once(end - 100..end));
    let store =
        KvStore::open(PATH, reader_options(&racing).durability(Durability::Memory)).unwrap();
    assert!(
        store.open_warnings().is_empty(),
        "{:?}",
        store.open_warnings()
    );
    assert_eq!(store.len(), 6);
    let racing = Racing::new(&sim, hide_once(end - 100..end));
    let report = check(PATH, &reader_options(&racing)).unwrap();
    assert!(report.is_clean(), "{report}");
}

/// The log of `sim` with a hole at its first record and valid records after it: damage
/// that stays.
fn damage_for_good(sim: &SimFs) {
    let mut log = sim.contents(WAL).unwrap();
    log[48..52].fill(0xff);
    sim.insert_file(WAL, &log, 0o644);
}

#[test]
fn real_damage_is_reported_after_one_analysis_and_one_re_read() {
    let sim = sim();
    drop(writer(&sim));
    damage_for_good(&sim);
    let racing = Racing::new(&sim, Box::new(|_, _| {}));
    let started = Instant::now();
    let error = KvStore::open(PATH, reader_options(&racing).durability(Durability::Memory))
        .err()
        .unwrap();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
    // One analysis (the snapshot, `.next`, the log) and one re-read of the same files.
    assert_eq!(racing.reads(), 6);
    assert!(started.elapsed() < Duration::from_secs(1));

    let racing = Racing::new(&sim, Box::new(|_, _| {}));
    let report = check(PATH, &reader_options(&racing)).unwrap();
    assert_eq!(report.keys, None, "{report}");
    assert!(racing.reads() <= 8, "{} reads", racing.reads());
}

#[test]
fn a_reader_whose_files_never_settle_gives_up_and_reports() {
    // Every read of the log shows a different hole: the reader can never confirm what it
    // sees, and must stop trying after a bounded number of reads.
    let sim = sim();
    drop(writer(&sim));
    let mut shift = 0;
    let racing = Racing::new(
        &sim,
        Box::new(move |path, mask| {
            if path == Path::new(WAL) {
                shift += 1;
                // From the first record on (offset 512, after the header's sector).
                mask.resize(512 + shift, 0);
                mask[512..512 + shift].fill(1);
            }
        }),
    );
    let started = Instant::now();
    let error = KvStore::open(PATH, reader_options(&racing).durability(Durability::Memory))
        .err()
        .unwrap();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
    assert!(racing.reads() <= 3 * 64, "{} reads", racing.reads());
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Every file on `sim` and its bytes.
fn disk_image(sim: &SimFs) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    sim.files()
        .into_iter()
        .map(|path| {
            let bytes = sim.contents(&path);
            (path, bytes)
        })
        .collect()
}

fn memory_open(sim: &SimFs) -> KvStore {
    KvStore::open(
        PATH,
        Options::new()
            .fs(Arc::new(sim.clone()))
            .durability(Durability::Memory),
    )
    .unwrap()
}

#[test]
fn a_memory_open_of_an_interrupted_checkpoint_says_what_a_writer_would_do() {
    // Installed, not switched: a writer would finish it; the reader changes nothing.
    // Before: "finished a checkpoint that was interrupted after writing its snapshot".
    let sim = sim();
    let mut store = writer(&sim);
    stop_mid_checkpoint(&mut store);
    drop(store);
    let before = disk_image(&sim);
    let store = memory_open(&sim);
    assert_eq!(disk_image(&sim), before);
    assert_eq!(keys_of(&store), ["a", "b", "c", "d"]);
    let [warning] = store.open_warnings() else {
        panic!("{:?}", store.open_warnings());
    };
    assert!(
        matches!(warning, Warning::CheckpointLeft { .. }),
        "{warning:?}"
    );
    assert_eq!(
        warning.to_string(),
        "/data/db.json: found a checkpoint interrupted after installing its snapshot; \
         left as it is (opened read-only): a writer opening it will finish it"
    );

    // Killed before its snapshot was installed: a writer would remove the new log.
    // Before: "removed the new log of a checkpoint interrupted before ...".
    let sim = self::sim();
    drop(writer(&sim));
    sim.insert_file("/data/db.json.wal.next", b"", 0o644);
    let before = disk_image(&sim);
    let store = memory_open(&sim);
    assert_eq!(disk_image(&sim), before);
    assert_eq!(keys_of(&store), ["a", "b", "c"]);
    let [warning] = store.open_warnings() else {
        panic!("{:?}", store.open_warnings());
    };
    assert!(
        matches!(warning, Warning::UnusedCheckpointLogLeft { .. }),
        "{warning:?}"
    );
    assert_eq!(
        warning.to_string(),
        "/data/db.json: found the unused new log of a checkpoint interrupted before its \
         snapshot was installed; ignored and left on disk (opened read-only): a writer \
         opening it will remove it"
    );
}

//! Stage 5, asynchronous commit ([`SyncPolicy`]): a write is acknowledged before it is
//! durable, and made durable within the window (by the flusher thread on the real clock, by
//! `flush_due` on a clock moved by hand); a process kill loses nothing; a power loss loses
//! only writes younger than the window; a failed delayed sync poisons the store and says
//! what may be lost. The crash sweep of the same promise is in `crash.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod simdisk;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_engine::fs::sim::{FaultError, OpKind, Repeat};
use kv_engine::fs::{CrashMode, Fs, SimFs};
use kv_engine::{Clock, Durability, Error, KvStore, ManualClock, Options, SyncPolicy};
use serde_json::json;

use simdisk::{Model, PATH, contents, disk, options};

const WINDOW: Duration = Duration::from_secs(1);
const DELAYED_MODES: [Durability; 2] = [Durability::Snapshot, Durability::Wal];

/// Options for a store of `durability` on `sim` syncing as `policy` says, whose log (in
/// wal mode) is neither checkpointed nor grown by the few writes of a test (each makes
/// everything written durable, which would hide what the policy does).
fn delayed_options(sim: &SimFs, durability: Durability, policy: SyncPolicy) -> Options {
    options(sim, durability)
        .checkpoint_bytes(1 << 20)
        .wal_chunk_bytes(1 << 16)
        .sync_policy(policy)
}

/// A store of `durability` syncing within [`WINDOW`] on `clock`.
fn open_delayed(sim: &SimFs, durability: Durability, clock: &Arc<ManualClock>) -> KvStore {
    let options = delayed_options(sim, durability, SyncPolicy::Within(WINDOW)).clock(clock.clone());
    KvStore::open(PATH, options).expect("open")
}

/// What a store opened after a crash of `mode` (seed 0) holds.
fn after_crash(sim: &SimFs, mode: CrashMode) -> Model {
    let rebooted = sim.crash(mode, 0);
    contents(&simdisk::open(&rebooted, Durability::Snapshot).expect("reopen"))
}

fn model(pairs: &[(&str, i64)]) -> Model {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect()
}

#[test]
fn a_write_is_acknowledged_before_it_is_durable_and_durable_once_its_window_has_passed() {
    for durability in DELAYED_MODES {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let mut store = open_delayed(&sim, durability, &clock);
        let start = clock.now();
        store.put("a", json!(1)).unwrap();
        clock.advance(Duration::from_millis(400));
        store.put("b", json!(2)).unwrap();

        let stats = store.stats();
        assert_eq!(stats.sync_policy, SyncPolicy::Within(WINDOW));
        assert_eq!(stats.unsynced_writes, 2, "{durability}");
        assert_eq!(stats.oldest_unsynced_age, Some(Duration::from_millis(400)));
        assert_eq!(store.sync_deadline(), Some(start + WINDOW), "{durability}");
        // A power loss now may lose both (they are younger than the window), and here
        // does. A process kill loses neither, in either mode: each write reached the
        // kernel's cache (the log, or snapshot mode's journal) before its `OK`.
        assert_eq!(after_crash(&sim, CrashMode::CleanPowerLoss), model(&[]));
        assert_eq!(
            after_crash(&sim, CrashMode::ProcessKill),
            model(&[("a", 1), ("b", 2)]),
            "{durability}"
        );

        // Not yet due: nothing happens.
        clock.advance(Duration::from_millis(599));
        store.flush_due().unwrap();
        assert_eq!(store.stats().background_syncs, 0, "{durability}");
        assert_eq!(after_crash(&sim, CrashMode::CleanPowerLoss), model(&[]));

        // Due: one sync covers both.
        clock.advance(Duration::from_millis(1));
        store.flush_due().unwrap();
        let stats = store.stats();
        assert_eq!(
            (
                stats.background_syncs,
                stats.unsynced_writes,
                stats.oldest_unsynced_age
            ),
            (1, 0, None),
            "{durability}"
        );
        assert_eq!(store.sync_deadline(), None);
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("a", 1), ("b", 2)]),
            "{durability}"
        );
    }
}

#[test]
fn a_write_finds_an_overdue_sync_and_runs_it_before_writing() {
    for durability in DELAYED_MODES {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let mut store = open_delayed(&sim, durability, &clock);
        store.put("a", json!(1)).unwrap();
        clock.advance(Duration::from_secs(5));
        store.put("b", json!(2)).unwrap();
        let stats = store.stats();
        assert_eq!((stats.background_syncs, stats.unsynced_writes), (1, 1));
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("a", 1)])
        );
    }
}

#[test]
fn a_snapshot_store_coalesces_every_change_of_a_window_into_one_snapshot() {
    let sim = disk();
    let clock = Arc::new(ManualClock::default());
    let mut store = open_delayed(&sim, Durability::Snapshot, &clock);
    // The first write starts the journal (created and renamed into place); the others
    // only append to it.
    store.put("k0", json!(-1)).unwrap();
    let (renames, syncs) = (sim.count(OpKind::Rename), sim.count(OpKind::SyncFile));
    for n in 0..50 {
        store.put(format!("k{}", n % 7), json!(n)).unwrap();
    }
    store.delete("k0").unwrap();
    assert_eq!(
        (sim.count(OpKind::Rename), sim.count(OpKind::SyncFile)),
        (renames, syncs),
        "nothing renamed or synced yet"
    );
    assert_eq!(simdisk::file_text(&sim), None, "no snapshot yet");
    clock.advance(WINDOW);
    store.flush_due().unwrap();
    // One snapshot for 52 writes, and the fresh journal that continues it.
    assert_eq!(sim.count(OpKind::Rename), renames + 2);
    assert!(simdisk::file_text(&sim).is_some());
    let expected = contents(&store);
    assert_eq!(after_crash(&sim, CrashMode::CleanPowerLoss), expected);
}

#[test]
fn sync_makes_everything_durable_now_and_says_how_many_writes_it_covered() {
    for (durability, policy) in [
        (Durability::Wal, SyncPolicy::Within(WINDOW)),
        (Durability::Snapshot, SyncPolicy::Never),
        (Durability::Wal, SyncPolicy::Never),
    ] {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let options = delayed_options(&sim, durability, policy).clock(clock.clone());
        let mut store = KvStore::open(PATH, options).unwrap();
        store.put("a", json!(1)).unwrap();
        store.put("b", json!(2)).unwrap();
        store.delete("a").unwrap();
        if policy == SyncPolicy::Never {
            // Never: no deadline, however long it waits.
            assert_eq!(store.sync_deadline(), None);
            clock.advance(Duration::from_secs(3600));
            store.flush_due().unwrap();
            assert_eq!(store.stats().unsynced_writes, 3);
        }
        assert_eq!(store.sync().unwrap(), 3, "{durability} {policy}");
        assert_eq!(store.sync().unwrap(), 0, "nothing left");
        assert_eq!(store.stats().unsynced_writes, 0);
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("b", 2)])
        );
    }
    // With `always` every write is durable before its `Ok`: sync covers none.
    let sim = disk();
    let mut store = simdisk::open(&sim, Durability::Wal).unwrap();
    store.put("a", json!(1)).unwrap();
    assert_eq!(store.sync().unwrap(), 0);
    assert_eq!(store.stats().sync_policy, SyncPolicy::Always);
}

#[test]
fn closing_or_dropping_the_store_makes_every_acknowledged_write_durable() {
    for durability in DELAYED_MODES {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let mut store = open_delayed(&sim, durability, &clock);
        store.put("a", json!(1)).unwrap();
        store.put("b", json!(2)).unwrap();
        assert_eq!(store.close().unwrap(), 2);
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("a", 1), ("b", 2)])
        );

        let sim = disk();
        let mut store = open_delayed(&sim, durability, &clock);
        store.put("c", json!(3)).unwrap();
        drop(store);
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("c", 3)])
        );
    }
}

#[test]
fn a_wal_checkpoint_makes_every_acknowledged_write_durable() {
    let sim = disk();
    let clock = Arc::new(ManualClock::default());
    let mut store = open_delayed(&sim, Durability::Wal, &clock);
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    assert_eq!(store.stats().unsynced_writes, 0);
    assert_eq!(store.sync_deadline(), None);
    assert_eq!(
        after_crash(&sim, CrashMode::CleanPowerLoss),
        model(&[("a", 1)])
    );
}

#[test]
fn a_delayed_sync_is_refused_in_memory_and_naive_modes_with_a_typed_error() {
    for durability in [Durability::Memory, Durability::Naive] {
        for policy in [SyncPolicy::Within(WINDOW), SyncPolicy::Never] {
            let sim = disk();
            let refused = KvStore::open(PATH, options(&sim, durability).sync_policy(policy));
            let Err(error) = &refused else {
                panic!("{durability} {policy} opened");
            };
            assert!(
                matches!(error, Error::SyncPolicyNeedsSyncs { policy: p, durability: d }
                    if *p == policy && *d == durability),
                "{error:?}"
            );
            assert!(sim.files().is_empty() || durability == Durability::Memory);
            let message = error.to_string();
            assert!(
                message.starts_with(&format!(
                    "sync policy {policy} applies only to the snapshot and wal modes: the \
                     {durability} mode "
                )) && message.ends_with("so there is no sync to delay"),
                "{message}"
            );
        }
    }
    // `always` is every mode's default, so it is accepted everywhere.
    let sim = disk();
    let options = options(&sim, Durability::Naive).sync_policy(SyncPolicy::Always);
    assert!(KvStore::open(PATH, options).is_ok());
}

/// A wal store with `a` and `b` acknowledged, whose next file sync fails with EIO.
fn failing_sync(durability: Durability) -> (SimFs, Arc<ManualClock>, KvStore) {
    let sim = disk();
    let clock = Arc::new(ManualClock::default());
    let mut store = open_delayed(&sim, durability, &clock);
    store.put("a", json!(1)).unwrap();
    clock.advance(Duration::from_millis(10));
    store.put("b", json!(2)).unwrap();
    sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
    (sim, clock, store)
}

#[test]
fn a_failed_delayed_sync_poisons_the_store_and_reports_what_may_be_lost_once() {
    let (sim, clock, mut store) = failing_sync(Durability::Wal);
    clock.advance(WINDOW);
    let report = store.flush_due().unwrap_err();
    let Error::BackgroundSync {
        op,
        path,
        writes,
        since,
        ..
    } = &report
    else {
        panic!("{report:?}");
    };
    assert_eq!(
        (op.as_str(), path.to_str(), *writes),
        ("fdatasync", Some("/data/db.json.wal"), 2)
    );
    assert_eq!(since.len(), "HH:MM:SS.mmm".len(), "{since}");
    let message = report.to_string();
    assert!(
        message.starts_with("background fdatasync of /data/db.json.wal failed: ")
            && message.ends_with(&format!(
                "; up to 2 acknowledged writes since {since} may not be durable; the store \
                 accepts no more writes"
            )),
        "{message}"
    );
    // From now on every write is refused, naming the cause; nothing more is written.
    let writes = sim.count(OpKind::Write);
    let refused = store.put("c", json!(3)).unwrap_err();
    assert!(
        matches!(&refused, Error::Poisoned { cause, .. } if cause == &message),
        "{refused:?}"
    );
    assert!(store.sync().is_err());
    assert_eq!(sim.count(OpKind::Write), writes);
    assert_eq!(store.stats().poisoned.as_deref(), Some(message.as_str()));
    // Memory still has every acknowledged write, for the user to read out.
    assert_eq!(contents(&store), model(&[("a", 1), ("b", 2)]));
}

#[test]
fn a_failed_delayed_snapshot_reports_the_step_that_failed() {
    let (_sim, clock, mut store) = failing_sync(Durability::Snapshot);
    clock.advance(WINDOW);
    // The next write finds the sync due, runs it, and reports its failure instead of
    // writing.
    let report = store.put("c", json!(3)).unwrap_err();
    let message = report.to_string();
    // The checkpoint's first fsync is of the journal that will continue the snapshot.
    assert!(
        message.starts_with("background fsync of /data/db.json.wal.next failed")
            && message.contains("; up to 2 acknowledged writes since "),
        "{message}"
    );
    assert_eq!(
        store.get("c"),
        None,
        "the write that found the failure is not applied"
    );
}

#[test]
fn a_failure_not_yet_reported_is_reported_by_close() {
    let (_sim, clock, store) = failing_sync(Durability::Wal);
    clock.advance(WINDOW);
    // Nobody called since the deadline: close runs the sync, which fails, and says so.
    let report = store.close().unwrap_err();
    assert!(
        report
            .to_string()
            .starts_with("background fdatasync of /data/db.json.wal failed")
            && report.to_string().contains("up to 2 acknowledged writes"),
        "{report}"
    );
}

/// Polls `done` for up to five seconds.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn on_the_real_clock_a_background_thread_syncs_each_write_within_the_window() {
    for durability in DELAYED_MODES {
        let sim = disk();
        let options = delayed_options(
            &sim,
            durability,
            SyncPolicy::Within(Duration::from_millis(20)),
        );
        let mut store = KvStore::open(PATH, options).unwrap();
        store.put("a", json!(1)).unwrap();
        // Nobody calls the store: the thread does it.
        assert!(
            eventually(|| store.stats().background_syncs == 1),
            "{durability}: {:?}",
            store.stats()
        );
        assert_eq!(store.stats().unsynced_writes, 0);
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("a", 1)])
        );
        store.put("b", json!(2)).unwrap();
        assert!(
            eventually(|| store.stats().background_syncs == 2),
            "{durability}"
        );
    }
}

#[test]
fn on_the_real_clock_a_failed_background_sync_is_reported_at_the_next_call() {
    let sim = disk();
    let options = delayed_options(
        &sim,
        Durability::Wal,
        SyncPolicy::Within(Duration::from_millis(20)),
    );
    let mut store = KvStore::open(PATH, options).unwrap();
    // The first write creates the log (synced at once); the thread syncs the write.
    store.put("a", json!(1)).unwrap();
    assert!(eventually(|| store.stats().background_syncs == 1));
    sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
    store.put("b", json!(2)).unwrap();
    assert!(eventually(|| store.stats().poisoned.is_some()));
    let report = store.background_failure().expect("the report");
    assert!(
        report
            .to_string()
            .starts_with("background fdatasync of /data/db.json.wal failed: ")
            && report
                .to_string()
                .contains("up to 1 acknowledged write since "),
        "{report}"
    );
    // Reported once; the store refuses writes from then on.
    assert!(store.background_failure().is_none());
    assert!(matches!(
        store.put("c", json!(3)),
        Err(Error::Poisoned { .. })
    ));
}

#[test]
fn a_sealed_store_has_synced_everything_and_acknowledges_nothing_more() {
    for durability in DELAYED_MODES {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let mut store = open_delayed(&sim, durability, &clock);
        store.put("a", json!(1)).unwrap();
        store.put("b", json!(2)).unwrap();
        // From another thread, as a signal handler would.
        let handle = store.sync_handle();
        let sealed = std::thread::spawn(move || handle.seal()).join().unwrap();
        assert_eq!(sealed.unwrap(), 2, "{durability}");
        let refused = store.put("c", json!(3)).unwrap_err();
        assert!(
            matches!(&refused, Error::Sealed { path } if path.to_str() == Some(PATH)),
            "{refused:?}"
        );
        assert_eq!(
            refused.to_string(),
            "/data/db.json is closing (the process is ending): the write was refused and \
             nothing was written"
        );
        assert_eq!(store.get("c"), None);
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("a", 1), ("b", 2)])
        );
    }
}

#[test]
fn an_abandoned_store_syncs_nothing_as_a_dying_process() {
    for durability in DELAYED_MODES {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let mut store = open_delayed(&sim, durability, &clock);
        store.put("a", json!(1)).unwrap();
        store.abandon();
        assert_eq!(after_crash(&sim, CrashMode::CleanPowerLoss), model(&[]));
        // The lock went with it.
        assert!(simdisk::open(&sim, durability).is_ok());
    }
}

#[test]
fn unsynced_commits_landing_in_any_order_recover_a_prefix() {
    // Several acknowledged commits wait for one sync, each in sectors of its own; a power
    // loss may land any subset of them, in any order, torn or as garbage. Recovery must
    // find a prefix, never call the log corrupt.
    let sim = disk();
    let clock = Arc::new(ManualClock::default());
    let mut store = open_delayed(&sim, Durability::Wal, &clock);
    store.put("a", json!(1)).unwrap();
    store.sync().unwrap();
    for (key, value) in [("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        store.put(key, json!(value)).unwrap();
    }
    let states = [
        model(&[("a", 1)]),
        model(&[("a", 1), ("b", 2)]),
        model(&[("a", 1), ("b", 2), ("c", 3)]),
        model(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)]),
        model(&[("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]),
    ];
    for mode in CrashMode::ALL {
        for seed in 0..64 {
            let rebooted = sim.crash(mode, seed);
            let found = simdisk::open(&rebooted, Durability::Wal)
                .map(|store| contents(&store))
                .unwrap_or_else(|err| panic!("{mode} seed {seed}: {err}"));
            assert!(states.contains(&found), "{mode} seed {seed}: {found:?}");
        }
    }
}

/// Snapshot mode keeps its unsaved window in a journal that is never synced: the kernel
/// has each write before its `OK` (so a kill loses nothing, above), and a clean close,
/// or the seal of a process told to end, installs the last snapshot and removes the
/// journal, leaving the plain JSON file a snapshot database is.
#[test]
fn a_clean_close_or_seal_leaves_a_snapshot_database_without_its_journal() {
    let journal = format!("{PATH}.wal");
    for seal in [false, true] {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let mut store = open_delayed(&sim, Durability::Snapshot, &clock);
        store.put("a", json!(1)).unwrap();
        store.put("b", json!(2)).unwrap();
        assert!(
            sim.metadata(journal.as_ref()).unwrap().is_some(),
            "the journal holds the window"
        );
        let covered = match seal {
            true => store.sync_handle().seal().unwrap(),
            false => store.close().unwrap(),
        };
        assert_eq!(covered, 2, "seal: {seal}");
        assert_eq!(
            sim.metadata(journal.as_ref()).unwrap(),
            None,
            "seal: {seal}"
        );
        assert_eq!(
            simdisk::file_text(&sim).as_deref(),
            Some("{\"a\":1,\"b\":2}\n"),
            "seal: {seal}"
        );
        // And that survives a power loss: the snapshot and the removal were synced.
        assert_eq!(
            after_crash(&sim, CrashMode::CleanPowerLoss),
            model(&[("a", 1), ("b", 2)])
        );
    }
}

/// A full disk at each write of snapshot mode's journal (its creation, its growth by a
/// chunk, an append), then room again: the write that met it is refused and not applied,
/// nothing acknowledged before it is lost, and the store either goes on or, where the
/// journal's tail is unknown, refuses every later write; never an `OK` for a write the
/// kernel did not get.
#[test]
fn a_full_disk_under_the_journal_refuses_the_write_and_keeps_every_acknowledged_one() {
    let mut cases_refused = 0;
    for nth in 1..=12 {
        let sim = disk();
        let clock = Arc::new(ManualClock::default());
        let options = delayed_options(&sim, Durability::Snapshot, SyncPolicy::Within(WINDOW))
            .wal_chunk_bytes(1024)
            .clock(clock.clone());
        let mut store = KvStore::open(PATH, options).unwrap();
        sim.fail(Some(OpKind::Write), nth, FaultError::Enospc, Repeat::Once);
        let mut acknowledged = Model::new();
        let mut refused = 0;
        for n in 0..8 {
            let key = format!("k{n}");
            match store.put(&key, json!(n)) {
                Ok(()) => {
                    acknowledged.insert(key, json!(n));
                }
                Err(_) => {
                    refused += 1;
                    assert_eq!(
                        store.get(&key),
                        None,
                        "nth {nth}: a refused write is not applied"
                    );
                }
            }
        }
        assert_eq!(contents(&store), acknowledged, "nth {nth}");
        // A kill now keeps every acknowledged write: they are all in the journal.
        assert_eq!(
            after_crash(&sim, CrashMode::ProcessKill),
            acknowledged,
            "nth {nth}: {refused} refused"
        );
        cases_refused += u32::from(refused > 0);
    }
    // Every case met the full disk: the run makes more than twelve writes.
    assert_eq!(cases_refused, 12, "cases that met the full disk");
}

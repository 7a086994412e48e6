//! Transactions through the library: a committed transaction is one commit in every mode
//! (all of it visible, and after a reopen all of it there), a dropped one writes nothing,
//! and a commit that fails leaves none of it visible, in memory or on disk. What a crash
//! during the commit leaves is swept by `crash.rs` (the `transfer-in-a-transaction` and
//! `transaction-across-pages-and-chunks` workloads); naive mode's failure is shown here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod simdisk;

use kv_engine::fs::CrashMode;
use kv_engine::fs::sim::{FaultError, OpKind, Repeat};
use kv_engine::{CrashAction, CrashPoint, Durability, Error, KvStore};
use serde_json::json;

use simdisk::{Model, PATH, contents, disk, open, options};

const FILE_MODES: [Durability; 3] = [Durability::Naive, Durability::Snapshot, Durability::Wal];

fn balances(pairs: &[(&str, i64)]) -> Model {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect()
}

/// Moves `amount` from `from` to `to` in one transaction.
fn transfer(store: &mut KvStore, from: &str, to: &str, amount: i64) -> kv_engine::Result<usize> {
    let mut tx = store.transaction();
    let have = |tx: &kv_engine::Transaction<'_>, key| tx.get(key).unwrap().as_i64().unwrap();
    let (a, b) = (have(&tx, from), have(&tx, to));
    tx.put(from, json!(a - amount))?;
    tx.put(to, json!(b + amount))?;
    tx.commit()
}

#[test]
fn a_committed_transaction_is_one_commit_and_survives_a_reopen_in_every_file_mode() {
    for durability in FILE_MODES {
        let sim = disk();
        let mut store = open(&sim, durability).unwrap();
        store.put("alice", json!(100)).unwrap();
        store.put("bob", json!(0)).unwrap();
        let before = store.stats();
        assert_eq!(transfer(&mut store, "alice", "bob", 30).unwrap(), 2);
        let after = store.stats();
        assert_eq!(after.commits - before.commits, 1, "{durability}");
        assert_eq!(after.mutations - before.mutations, 2, "{durability}");
        let expected = balances(&[("alice", 70), ("bob", 30)]);
        assert_eq!(contents(&store), expected, "{durability}");
        drop(store);
        assert_eq!(
            contents(&open(&sim, durability).unwrap()),
            expected,
            "{durability}"
        );
    }
}

#[test]
fn a_transaction_commits_in_one_fsync_in_wal_mode_and_one_snapshot_in_snapshot_mode() {
    for (durability, fsyncs) in [(Durability::Wal, 1), (Durability::Snapshot, 2)] {
        let sim = disk();
        // The default chunk and checkpoint sizes (the sweep's small ones grow the log and
        // checkpoint within 100 puts).
        let options = kv_engine::Options::new()
            .durability(durability)
            .fs(std::sync::Arc::new(sim.clone()));
        let mut store = KvStore::open(PATH, options).unwrap();
        // The first commit creates the files (the log's own syncs): count from the second.
        store.put("first", json!(0)).unwrap();
        let before = store.stats().fsyncs;
        let mut tx = store.transaction();
        for i in 0..100 {
            tx.put(format!("k{i:03}"), json!(i)).unwrap();
        }
        assert_eq!(tx.commit().unwrap(), 100);
        assert_eq!(store.stats().fsyncs - before, fsyncs, "{durability}");
    }
}

#[test]
fn a_dropped_transaction_writes_nothing() {
    for durability in FILE_MODES {
        let sim = disk();
        let mut store = open(&sim, durability).unwrap();
        store.put("alice", json!(100)).unwrap();
        let before = store.stats();
        let files = sim.files();
        {
            let mut tx = store.transaction();
            tx.put("alice", json!(0)).unwrap();
            tx.put("bob", json!(100)).unwrap();
            assert_eq!(tx.get("bob"), Some(json!(100)));
        }
        let after = store.stats();
        assert_eq!(after.commits, before.commits);
        assert_eq!(after.bytes_written, before.bytes_written);
        assert_eq!(sim.files(), files);
        assert_eq!(contents(&store), balances(&[("alice", 100)]));
    }
}

#[test]
fn a_failed_commit_leaves_none_of_the_transaction_visible_in_memory_or_on_disk() {
    for durability in [Durability::Snapshot, Durability::Wal] {
        let sim = disk();
        let mut store = open(&sim, durability).unwrap();
        store.put("alice", json!(100)).unwrap();
        store.put("bob", json!(0)).unwrap();
        // The commit's data sync fails: what is on disk is unknown, so the store is also
        // poisoned; the transaction is in neither memory nor the reopened store.
        sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
        let failed = transfer(&mut store, "alice", "bob", 30);
        assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
        let before = balances(&[("alice", 100), ("bob", 0)]);
        assert_eq!(contents(&store), before, "{durability}");
        let again = transfer(&mut store, "alice", "bob", 30);
        assert!(matches!(again, Err(Error::Poisoned { .. })), "{again:?}");
        assert_eq!(contents(&store), before, "{durability}");
        // On disk, snapshot mode never renamed the new file in; the log's record was
        // written, and whether it is durable is unknown (the documented limit of a failed
        // fsync), so only a power loss says: it must find none of the transaction.
        drop(store);
        let rebooted = sim.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(contents(&open(&rebooted, durability).unwrap()), before);
        if durability == Durability::Snapshot {
            assert_eq!(contents(&open(&sim, durability).unwrap()), before);
        }
    }
}

#[test]
fn a_transaction_on_a_read_only_store_is_refused_when_committed() {
    let sim = disk();
    open(&sim, Durability::Snapshot)
        .unwrap()
        .put("alice", json!(100))
        .unwrap();
    let mut store =
        KvStore::open(PATH, options(&sim, Durability::Snapshot).read_only(true)).unwrap();
    let refused = transfer(&mut store, "alice", "alice", 1);
    assert!(
        matches!(refused, Err(Error::ReadOnly { .. })),
        "{refused:?}"
    );
    assert_eq!(contents(&store), balances(&[("alice", 100)]));
}

/// Naive mode commits a transaction to memory as one step, but rewrites its only file in
/// place: a crash in the middle of that rewrite leaves half of the file, and the
/// transfer (with every balance before it) is gone.
#[test]
fn naive_mode_can_lose_a_transaction_and_everything_before_it_to_a_crash_mid_write() {
    let sim = disk();
    let mut store = KvStore::open(
        PATH,
        options(&sim, Durability::Naive).crash_action(CrashAction::Halt),
    )
    .unwrap();
    store.put("alice", json!(100)).unwrap();
    store.put("bob", json!(0)).unwrap();
    sim.writeback();
    store.arm_crash(CrashPoint::MidWrite).unwrap();
    let crashed = transfer(&mut store, "alice", "bob", 30);
    assert!(matches!(crashed, Err(Error::Crashed { .. })), "{crashed:?}");
    drop(store);
    let rebooted = sim.crash(CrashMode::ProcessKill, 0);
    let reopened = open(&rebooted, Durability::Naive);
    assert!(
        matches!(
            reopened,
            Err(Error::Syntax { .. }) | Err(Error::Corrupt { .. })
        ),
        "half a file must not open as data: {:?}",
        reopened.map(|store| contents(&store))
    );
}

//! Regression tests for the ways an acknowledged write could be lost in `wal` mode that the
//! crash sweep did not walk (issue 11): a checkpoint that failed cleanly and the store went
//! on, a checkpoint whose snapshot equals the old one, a snapshot nobody fsynced, a commit
//! whose pages reached the disk out of order, a log cut short, and the clean-up of each.
//! Each test failed on the engine before its fix.
#![allow(clippy::disallowed_methods)] // tests inspect the real disk directly
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic here is a failing test

mod simdisk;

use std::fs;
use std::path::Path;

use kv_engine::fs::sim::{FaultError, OpKind, Repeat};
use kv_engine::fs::{CrashMode, SimFs};
use kv_engine::{
    CheckReport, Durability, Error, KvStore, LogState, Mutation, Options, Warning, check,
};
use serde_json::json;
use simdisk::{PATH, contents, disk, every_crash, open};

const NEXT: &str = "/data/db.json.wal.next";

/// Options for a wal store on `sim` that checkpoints only when told to.
fn wal_options(sim: &SimFs) -> Options {
    simdisk::options(sim, Durability::Wal).checkpoint_bytes(1 << 30)
}

/// A wal store on `sim` holding the snapshot `{"a":1}` and an empty log, as a checkpoint
/// leaves it.
fn snapshot_a(sim: &SimFs) -> KvStore {
    let mut store = KvStore::open(PATH, wal_options(sim)).unwrap();
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    store
}

/// Hole 1, as reproduced with the binary on a nearly full disk: a checkpoint fails with
/// ENOSPC after writing `.wal.next`'s header; its snapshot would equal the one on disk
/// (the records netted to no change); `put b 2` is acknowledged. A plain reopen took the
/// stale `.next` for a finished checkpoint and lost `b`.
#[test]
fn a_checkpoint_that_failed_on_a_full_disk_loses_no_later_commit() {
    for failing_write in 1..=2 {
        let sim = disk();
        let mut store = snapshot_a(&sim);
        store.put("tmp", json!(1)).unwrap();
        assert!(store.delete("tmp").unwrap());
        // The checkpoint's writes: the header of `.next` (1), its zeros (2).
        sim.fail(
            Some(OpKind::Write),
            failing_write,
            FaultError::Enospc,
            Repeat::Once,
        );
        let failed = store.checkpoint();
        assert!(
            matches!(&failed, Err(Error::Io { .. })),
            "write {failing_write}: {failed:?}"
        );
        assert_eq!(store.poisoned(), None, "a clean failure must not poison");
        // The failed step's file is gone, durably, before anything else is committed.
        assert_eq!(sim.contents(NEXT), None);
        assert_eq!(sim.crash(CrashMode::CleanPowerLoss, 0).contents(NEXT), None);
        store.put("b", json!(2)).unwrap();
        drop(store);

        let expected = simdisk::Model::from([("a".into(), json!(1)), ("b".into(), json!(2))]);
        let reopened = open(&sim, Durability::Wal).unwrap();
        assert_eq!(contents(&reopened), expected, "write {failing_write}");
        drop(reopened);
        for (mode, seed) in every_crash() {
            let rebooted = sim.crash(mode, seed);
            let store = open(&rebooted, Durability::Wal)
                .unwrap_or_else(|err| panic!("{mode} {seed}: {err}"));
            assert_eq!(contents(&store), expected, "{mode} {seed}");
        }
    }
}

/// The same hole with `.next` left behind by hand (as a power loss brings back a removal
/// that was never made durable): recovery must not finish a checkpoint whose new log does
/// not cover the old log's records, even though it names the snapshot on disk.
#[test]
fn recovery_finishes_a_checkpoint_only_if_its_log_covers_the_old_one() {
    let sim = disk();
    let mut store = snapshot_a(&sim);
    store.put("tmp", json!(1)).unwrap();
    assert!(store.delete("tmp").unwrap());
    store.checkpoint().unwrap();
    // A checkpoint of the same state: `.next` would name the same snapshot bytes.
    let stale = sim.contents("/data/db.json.wal").unwrap();
    store.put("b", json!(2)).unwrap();
    drop(store);
    sim.insert_file(NEXT, &stale, 0o600);

    let store = open(&sim, Durability::Wal).unwrap();
    assert_eq!(store.get("b"), Some(json!(2)));
    assert!(
        store
            .open_warnings()
            .iter()
            .any(|warning| matches!(warning, Warning::AbandonedCheckpoint { .. })),
        "{:?}",
        store.open_warnings()
    );
    drop(store);
    assert_eq!(sim.contents(NEXT), None);
}

/// A failure while installing the checkpoint's snapshot removes `.next` durably; if even
/// the removal fails, the store is poisoned rather than going on with a stale `.next`.
#[test]
fn a_failed_snapshot_install_removes_the_new_log_durably_or_poisons() {
    let sim = disk();
    let mut store = snapshot_a(&sim);
    store.put("b", json!(2)).unwrap();
    // The checkpoint's writes: `.next`'s header and zeros, then the temp snapshot.
    sim.fail(Some(OpKind::Write), 3, FaultError::Enospc, Repeat::Once);
    assert!(store.checkpoint().is_err());
    assert_eq!(store.poisoned(), None);
    assert_eq!(sim.crash(CrashMode::CleanPowerLoss, 0).contents(NEXT), None);
    store.put("c", json!(3)).unwrap();

    sim.fail(Some(OpKind::Write), 3, FaultError::Enospc, Repeat::Once);
    // Removals: a leftover `.next` (none), the failed temp file, then `.next`.
    sim.fail(Some(OpKind::Remove), 3, FaultError::Eio, Repeat::Once);
    let failed = store.checkpoint().unwrap_err().to_string();
    assert!(store.poisoned().is_some(), "{failed}");
    assert!(
        matches!(store.put("d", json!(4)), Err(Error::Poisoned { .. })),
        "a store that could not remove its half-made log must refuse writes"
    );
    drop(store);
    sim.clear_faults();
    for (mode, seed) in every_crash() {
        let store = open(&sim.crash(mode, seed), Durability::Wal).unwrap();
        assert_eq!(store.get("c"), Some(json!(3)), "{mode} {seed}");
        assert_eq!(store.get("d"), None, "{mode} {seed}");
    }
}

/// Item 10: opening a `wal` database in snapshot mode on a full disk fails, and leaves no
/// `.wal.next` behind (it used to leave a 0-byte one).
#[test]
fn a_fold_that_fails_on_a_full_disk_leaves_no_new_log() {
    let sim = disk();
    let mut store = snapshot_a(&sim);
    store.put("b", json!(2)).unwrap();
    drop(store);
    sim.fail(Some(OpKind::Write), 1, FaultError::Enospc, Repeat::Once);
    let failed = open(&sim, Durability::Snapshot);
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    assert_eq!(sim.contents(NEXT), None);
    assert_eq!(sim.crash(CrashMode::CleanPowerLoss, 0).contents(NEXT), None);
    let store = open(&sim, Durability::Snapshot).unwrap();
    assert_eq!(store.get("b"), Some(json!(2)));
}

/// Hole 2: a database file written without fsync (naive mode here; `cp` or an editor
/// alike) opened in `wal` mode. The log named the snapshot's page-cache bytes; after a power
/// loss the snapshot was empty and the acknowledged puts in the log could not be opened.
#[test]
fn a_log_is_never_built_on_a_snapshot_that_was_not_fsynced() {
    let sim = disk();
    let mut naive = open(&sim, Durability::Naive).unwrap();
    naive.put("a", json!(1)).unwrap();
    drop(naive);
    let mut store = open(&sim, Durability::Wal).unwrap();
    store.put("b", json!(2)).unwrap();
    drop(store);
    for (mode, seed) in every_crash() {
        let rebooted = sim.crash(mode, seed);
        let store =
            open(&rebooted, Durability::Wal).unwrap_or_else(|err| panic!("{mode} {seed}: {err}"));
        assert_eq!(store.get("b"), Some(json!(2)), "{mode} {seed}");
        assert_eq!(store.get("a"), Some(json!(1)), "{mode} {seed}");
    }
}

/// A wal database on the real disk with one small commit and then one group commit of
/// `records` puts spanning several 4 KiB pages; returns where that commit starts and ends.
fn two_commits(path: &Path, records: usize) -> (usize, usize) {
    let options = Options::new().durability(Durability::Wal);
    let mut store = KvStore::open(path, options).unwrap();
    store.put("first", json!("acknowledged")).unwrap();
    let start = store.stats().log_size.unwrap().div_ceil(512) * 512;
    let batch = (0..records)
        .map(|i| Mutation::Put {
            key: format!("k{i:03}"),
            value: json!("x".repeat(200)),
        })
        .collect();
    store.apply(batch).unwrap();
    let end = store.stats().log_size.unwrap();
    (start as usize, end as usize)
}

/// Hole 3: a power cut during a large commit's fdatasync may persist page 3 of the commit
/// and not page 1. No acknowledged data is damaged (the pages after the hole belong to the
/// unacknowledged commit), so the store must open, cutting that commit as a torn tail with
/// a warning; it used to refuse as corruption and send the user to `kv repair`.
#[test]
fn a_commit_whose_first_page_was_lost_is_cut_as_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (start, end) = two_commits(&path, 60);
    assert!(end - start > 3 * 4096, "the commit spans several pages");
    let wal = kv_engine::files::wal_path(&path);
    let mut bytes = fs::read(&wal).unwrap();
    // Every page but the last lost, in turn: pages that survive are of the torn commit.
    for lost in (start..end).step_by(4096).take(3) {
        let mut damaged = bytes.clone();
        let page_end = (lost / 4096 + 1) * 4096;
        damaged[lost..page_end.min(end)].fill(0);
        fs::write(&wal, &damaged).unwrap();
        let report = check(&path, &Options::new()).unwrap();
        assert!(report.opens(), "page at {lost}: {report}");
        let store = KvStore::open(&path, Options::new().durability(Durability::Wal)).unwrap();
        assert_eq!(store.len(), 1, "page at {lost}");
        assert_eq!(store.get("first"), Some(json!("acknowledged")));
        assert!(
            matches!(
                store.open_warnings(),
                [Warning::TornTail { offset, .. }] if *offset == start as u64
            ),
            "page at {lost}: {:?}",
            store.open_warnings()
        );
        drop(store);
        fs::write(&wal, &bytes).unwrap();
    }
    // Damage followed by a record of a *later* commit is still refused: that commit was
    // written after the damaged one was acknowledged.
    let mut store = KvStore::open(&path, Options::new().durability(Durability::Wal)).unwrap();
    store.put("later", json!(1)).unwrap();
    drop(store);
    bytes = fs::read(&wal).unwrap();
    bytes[start..start + 4096].fill(0);
    fs::write(&wal, &bytes).unwrap();
    let refused = KvStore::open(&path, Options::new().durability(Durability::Wal));
    match refused {
        Err(Error::Corrupt { offset, reason, .. }) => {
            assert_eq!(offset, start as u64);
            assert!(reason.contains("of a later commit"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// Hole 7: a log cut short at a commit boundary passed as healthy, and the acknowledged
/// commits after the cut vanished without a word. The log grows by whole chunks, so a file
/// that ends before its chunk does is detectably short.
#[test]
fn a_log_cut_short_at_any_commit_boundary_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let options = || {
        Options::new()
            .durability(Durability::Wal)
            .wal_chunk_bytes(64 << 10)
    };
    let mut store = KvStore::open(&path, options()).unwrap();
    let mut boundaries = Vec::new();
    for i in 0..50 {
        store.put(format!("k{i:02}"), json!(i)).unwrap();
        boundaries.push(store.stats().log_size.unwrap());
    }
    drop(store);
    let wal = kv_engine::files::wal_path(&path);
    let full = fs::read(&wal).unwrap();
    for (kept, &cut) in boundaries.iter().enumerate() {
        // Cut right at the end of commit `kept`, and at the sector boundary after it.
        for cut in [cut, cut.div_ceil(512) * 512] {
            fs::write(&wal, &full[..cut as usize]).unwrap();
            let report: CheckReport = check(&path, &options()).unwrap();
            assert!(!report.is_clean(), "cut at {cut}: {report}");
            assert!(
                matches!(
                    &report.log,
                    LogState::Valid {
                        short_of: Some(_),
                        ..
                    }
                ),
                "cut at {cut}: {report}"
            );
            assert!(
                report.to_string().contains("missing from its end"),
                "{report}"
            );
            let store = KvStore::open(&path, options()).unwrap();
            assert_eq!(store.len(), kept + 1, "cut at {cut}");
            let short = store
                .open_warnings()
                .iter()
                .find_map(|warning| match warning {
                    Warning::ShortLog { len, expected, .. } => Some((*len, *expected)),
                    _ => None,
                });
            assert_eq!(short, Some((cut, 64 << 10)), "cut at {cut}");
            drop(store);
            // The open grew the file back to whole chunks, having said what was lost.
            let store = KvStore::open(&path, options()).unwrap();
            assert!(store.open_warnings().is_empty(), "cut at {cut}");
            assert!(check(&path, &options()).unwrap().is_clean());
            drop(store);
        }
    }
    // The untouched log is healthy.
    fs::write(&wal, &full).unwrap();
    assert!(check(&path, &options()).unwrap().is_clean());
}

/// Item 10: cutting a torn tail of a whole chunk took one fdatasync per 512 bytes (2,048
/// for 1 MiB). A torn commit's records all belong to that commit, so one sync does.
#[test]
fn cutting_a_torn_megabyte_takes_a_bounded_number_of_syncs() {
    let sim = disk();
    let options = simdisk::options(&sim, Durability::Wal)
        .wal_chunk_bytes(2 << 20)
        .checkpoint_bytes(64 << 20);
    let mut store = KvStore::open(PATH, options.clone()).unwrap();
    store.put("a", json!(1)).unwrap();
    let start = store.stats().log_size.unwrap().div_ceil(512);
    drop(store);
    let wal = "/data/db.json.wal";
    let mut bytes = sim.contents(wal).unwrap();
    let start = start as usize * 512;
    bytes[start..start + (1 << 20)].fill(0x5a);
    sim.insert_file(wal, &bytes, 0o600);
    let syncs = sim.count(OpKind::SyncFile);
    let store = KvStore::open(PATH, options).unwrap();
    assert_eq!(store.get("a"), Some(json!(1)));
    assert!(matches!(
        store.open_warnings(),
        [Warning::TornTail { bytes, .. }] if *bytes == 1 << 20
    ));
    let used = sim.count(OpKind::SyncFile) - syncs;
    assert!(used <= 4, "{used} file syncs to cut a torn megabyte");
}

/// Growing the log writes zeros from its current end; if a chunk were not whole sectors,
/// that write would start inside a sector holding the last commit, and on media without
/// power-safe overwrite a crash during it could destroy that acknowledged commit. So the
/// chunk size is rounded up to whole sectors, and every length the log takes is one.
#[test]
fn the_log_grows_by_whole_sectors_whatever_chunk_size_is_asked_for() {
    for asked in [1, 300, 700, 1000, 4097] {
        let sim = disk();
        let options = simdisk::options(&sim, Durability::Wal)
            .wal_chunk_bytes(asked)
            .checkpoint_bytes(1 << 30);
        let mut store = KvStore::open(PATH, options).unwrap();
        let mut lengths = Vec::new();
        for i in 0..12 {
            store.put(format!("k{i}"), json!("v".repeat(90))).unwrap();
            lengths.push(sim.contents("/data/db.json.wal").unwrap().len());
        }
        assert!(
            lengths.iter().all(|len| len % 512 == 0),
            "chunk {asked}: lengths {lengths:?}"
        );
        assert!(
            lengths.first() < lengths.last(),
            "chunk {asked}: never grew"
        );
        // And a crash while growing it, however the sectors land, loses nothing.
        drop(store);
        for (mode, seed) in every_crash() {
            let store = open(&sim.crash(mode, seed), Durability::Wal).unwrap();
            assert_eq!(store.len(), 12, "chunk {asked}, {mode} {seed}");
        }
    }
}

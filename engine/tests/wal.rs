//! Stage 3: the write-ahead log on the real filesystem: replay, torn tails, corruption,
//! checkpoints, `check` and `repair`.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of tests: a panic is a failing test

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use kv_engine::{
    CheckReport, Durability, Error, KvStore, LogState, LogTail, Mutation, Options, RepairAction,
    SnapshotState, Warning, check, plan_repair, repair,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Small chunks so that tests exercise growing the log and stay quick.
const CHUNK: u64 = 4096;

fn options() -> Options {
    Options::new()
        .durability(Durability::Wal)
        .wal_chunk_bytes(CHUNK)
}

fn open(path: &Path) -> KvStore {
    KvStore::open(path, options()).unwrap()
}

fn contents(store: &KvStore) -> BTreeMap<String, Value> {
    store
        .iter()
        .map(|(key, value)| (key.to_string(), serde_json::from_str(value).unwrap()))
        .collect()
}

fn wal_of(path: &Path) -> PathBuf {
    kv_engine::files::wal_path(path)
}

/// Where the commit after one ending at `end` starts: every commit starts on a fresh
/// 512-byte sector, so that writing it cannot disturb the sector holding the one before.
fn start(end: u64) -> u64 {
    end.div_ceil(512) * 512
}

/// Every file in `dir` with its bytes, to prove something changed nothing.
fn dir_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

/// A database with `commits` commits; returns the state and the log's used size after
/// each commit (index 0: before any).
fn build(path: &Path, commits: usize) -> (Vec<BTreeMap<String, Value>>, Vec<u64>) {
    let mut store = open(path);
    let mut states = vec![contents(&store)];
    let mut ends = vec![0];
    for i in 0..commits {
        match i % 3 {
            0 => store
                .put(format!("k{i}"), json!({"n": i, "z": "last"}))
                .unwrap(),
            1 => store
                .apply(vec![
                    Mutation::Put {
                        key: format!("k{i}"),
                        value: json!(1.50),
                    },
                    Mutation::Put {
                        key: "shared".into(),
                        value: json!([i]),
                    },
                ])
                .unwrap(),
            _ => {
                store.delete(&format!("k{}", i - 2)).unwrap();
            }
        }
        states.push(contents(&store));
        ends.push(store.stats().log_size.unwrap());
    }
    (states, ends)
}

#[test]
fn puts_and_deletes_replay_after_reopen_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path);
    store
        .put(
            "big",
            serde_json::from_str("12345678901234567890123").unwrap(),
        )
        .unwrap();
    store
        .put("obj", serde_json::from_str(r#"{"z":1,"a":1.0}"#).unwrap())
        .unwrap();
    store.put("gone", json!(null)).unwrap();
    assert!(store.delete("gone").unwrap());
    store.put("obj", json!("replaced")).unwrap();
    let before = contents(&store);
    // The log, not the snapshot, holds the commits.
    assert!(!path.exists());
    assert!(wal_of(&path).exists());
    drop(store);

    let store = open(&path);
    assert_eq!(contents(&store), before);
    assert_eq!(
        serde_json::to_string(&store.get("big").unwrap()).unwrap(),
        "12345678901234567890123"
    );
    assert!(store.open_warnings().is_empty());
    assert_eq!(store.stats().log_records, Some(5));
}

#[test]
fn a_checkpoint_writes_a_plain_json_snapshot_and_empties_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path);
    store.put("a", json!({"z": 1, "a": 2})).unwrap();
    store.put("b", json!(2)).unwrap();
    store.checkpoint().unwrap();
    let stats = store.stats();
    assert_eq!(stats.log_records, Some(0));
    assert_eq!(stats.checkpoints, 1);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"a\":{\"z\":1,\"a\":2},\"b\":2}\n"
    );
    assert!(!kv_engine::files::wal_next_path(&path).exists());
    store.put("c", json!(3)).unwrap();
    drop(store);
    let store = open(&path);
    assert_eq!(store.len(), 3);
    assert_eq!(store.stats().log_records, Some(1));
}

#[test]
fn the_log_checkpoints_itself_past_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = KvStore::open(&path, options().checkpoint_bytes(2000)).unwrap();
    for i in 0..200 {
        store.put(format!("key{i:03}"), json!(i)).unwrap();
    }
    let stats = store.stats();
    assert!(stats.checkpoints >= 2, "{stats:?}");
    assert!(stats.log_size.unwrap() < 2000 + 100, "{stats:?}");
    let model = contents(&store);
    drop(store);
    assert_eq!(contents(&open(&path)), model);
}

#[test]
fn bytes_written_per_put_do_not_grow_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    // One big chunk, so no preallocation happens during the measurement.
    let options = options().wal_chunk_bytes(8 << 20);
    let mut store = KvStore::open(&path, options).unwrap();
    let mut cost_at = Vec::new();
    for i in 0..3000u32 {
        let before = store.stats().bytes_written;
        store
            .put(format!("k{i:06}"), json!({"n": 123, "s": "abc"}))
            .unwrap();
        if i == 10 || i == 2999 {
            cost_at.push(store.stats().bytes_written - before);
        }
    }
    assert_eq!(cost_at[0], cost_at[1]);
    // One record: 25 bytes of framing, the key and the JSON value. The padding to the next
    // sector is not written: it is preallocated zeros.
    let record = 25 + 7 + r#"{"n":123,"s":"abc"}"#.len() as u64;
    assert_eq!(cost_at[0], record);
    // Write amplification counts the records (and the 56-byte header), not the zeros that
    // preallocated space.
    let stats = store.stats();
    assert_eq!(stats.mutations, 3000);
    assert_eq!(stats.zero_filled_bytes, (8 << 20) - 56);
    assert_eq!(
        stats.bytes_written,
        stats.zero_filled_bytes + 56 + 3000 * record
    );
    assert_eq!(
        stats.bytes_per_mutation,
        Some((56 + 3000 * record) as f64 / 3000.0)
    );
    // Each commit starts on its own sector.
    assert_eq!(stats.log_size, Some(512 * 3000 + record));
}

#[test]
fn cutting_the_last_record_at_every_byte_recovers_the_exact_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, ends) = build(&path, 5);
    let wal = wal_of(&path);
    let full = fs::read(&wal).unwrap();
    let (last_start, last_end) = (start(ends[4]) as usize, ends[5] as usize);
    for cut in last_start..last_end {
        for truncate in [false, true] {
            // A crash mid-append leaves a prefix of the record in preallocated space (the
            // rest zeros), or, had the log been growing, a shorter file.
            let mut damaged = full.clone();
            damaged[cut..last_end].fill(0);
            if truncate {
                damaged.truncate(cut);
            }
            fs::write(&wal, &damaged).unwrap();
            let mut store = open(&path);
            assert_eq!(contents(&store), states[4], "cut at {cut}");
            let torn: Vec<_> = store
                .open_warnings()
                .iter()
                .filter_map(|warning| match warning {
                    Warning::TornTail { offset, bytes, .. } => Some((*offset, *bytes)),
                    _ => None,
                })
                .collect();
            // The dropped bytes run to the last non-zero byte the crash left.
            match damaged[last_start..cut].iter().rposition(|&byte| byte != 0) {
                None => assert!(torn.is_empty(), "cut at {cut}: {torn:?}"),
                Some(last) => {
                    assert_eq!(
                        torn,
                        vec![(last_start as u64, last as u64 + 1)],
                        "cut at {cut}"
                    )
                }
            }
            // The torn tail is gone before anything new is appended: a new commit after
            // it, and another reopen, finds everything.
            store.put("after", json!(cut)).unwrap();
            drop(store);
            let store = open(&path);
            let mut expected = states[4].clone();
            expected.insert("after".into(), json!(cut));
            assert_eq!(contents(&store), expected, "cut at {cut}");
            assert!(store.open_warnings().is_empty());
        }
    }
}

#[test]
fn flipping_any_byte_of_the_log_recovers_a_prefix_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, ends) = build(&path, 6);
    let wal = wal_of(&path);
    let full = fs::read(&wal).unwrap();
    let used = *ends.last().unwrap() as usize;
    let masks: &[u8] = if std::env::var_os("KV_LONG_TESTS").is_some() {
        &[0x01, 0x80, 0xff]
    } else {
        &[0x01, 0xff]
    };
    let (mut recovered, mut refused) = (0, 0);
    for offset in 0..(used + 64).min(full.len()) {
        for &mask in masks {
            let mut damaged = full.clone();
            damaged[offset] ^= mask;
            fs::write(&wal, &damaged).unwrap();
            let before = dir_bytes(dir.path());
            // The commits wholly before the damaged byte; damage outside every commit's
            // bytes (the rest of the header's sector, the zeros between commits) loses
            // nothing, and damage to the 56-byte header refuses the log.
            let in_commit = (1..ends.len()).find(|&k| {
                (start(ends[k - 1]).max(512) as usize..ends[k] as usize).contains(&offset)
            });
            let intact = match in_commit {
                Some(k) => k - 1,
                None if offset < 56 => 0,
                None => ends.len() - 1,
            };
            match KvStore::open(&path, options()) {
                Ok(store) => {
                    recovered += 1;
                    assert_eq!(
                        contents(&store),
                        states[intact],
                        "byte {offset} ^ {mask:#x} recovered something else"
                    );
                }
                Err(Error::Corrupt { path: named, .. }) => {
                    refused += 1;
                    assert_eq!(named, wal);
                    assert_eq!(dir_bytes(dir.path()), before, "refusal changed files");
                }
                Err(other) => panic!("byte {offset} ^ {mask:#x}: unexpected {other}"),
            }
        }
    }
    // Damage in the last commit or after it recovers a prefix; anywhere else refuses.
    assert!(recovered > 0 && refused > 0, "{recovered} {refused}");
}

#[test]
fn a_gap_in_sequence_numbers_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path);
    let mut ends = vec![store.stats().log_size.unwrap_or(48)];
    for i in 0..3 {
        store.put(format!("k{i}"), json!(i)).unwrap();
        ends.push(store.stats().log_size.unwrap());
    }
    drop(store);
    // Remove the middle record: the third one's checksum is still valid, but its sequence
    // number skips one.
    let wal = wal_of(&path);
    let mut bytes = fs::read(&wal).unwrap();
    // Move the third commit to where the second starts.
    let second = start(ends[1]) as usize;
    let third = bytes[start(ends[2]) as usize..ends[3] as usize].to_vec();
    bytes[second..ends[3] as usize].fill(0);
    bytes[second..second + third.len()].copy_from_slice(&third);
    fs::write(&wal, &bytes).unwrap();
    let before = dir_bytes(dir.path());
    match KvStore::open(&path, options()) {
        Err(Error::Corrupt {
            path: named,
            offset,
            reason,
        }) => {
            assert_eq!(named, wal);
            assert_eq!(offset, second as u64);
            assert!(reason.contains("sequence number 3 where 2"), "{reason}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert_eq!(dir_bytes(dir.path()), before);
}

#[test]
fn a_bad_record_followed_by_a_good_one_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (_, ends) = build(&path, 4);
    let wal = wal_of(&path);
    let mut bytes = fs::read(&wal).unwrap();
    let damaged_at = start(ends[1]) as usize + 10;
    bytes[damaged_at] ^= 0x40;
    fs::write(&wal, &bytes).unwrap();
    let err = KvStore::open(&path, options()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::Corrupt { offset, .. } if offset == start(ends[1])),
        "{message}"
    );
    assert!(message.contains("db.json.wal"), "{message}");
    assert!(message.contains("yet a valid record"), "{message}");
}

#[test]
fn check_reports_damage_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, ends) = build(&path, 4);

    let report = check(&path, &options()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.keys, Some(states[4].len()));
    assert_eq!(report.snapshot, SnapshotState::Absent);
    assert!(matches!(
        report.log,
        LogState::Valid {
            records: 5,
            last_seq: 5,
            tail: LogTail::Clean,
            ..
        }
    ));

    // A torn tail: still opens, reported with its offset.
    let wal = wal_of(&path);
    let mut bytes = fs::read(&wal).unwrap();
    bytes[ends[4] as usize + 3] = 0x55;
    fs::write(&wal, &bytes).unwrap();
    let before = dir_bytes(dir.path());
    let report = check(&path, &options()).unwrap();
    assert!(report.opens() && !report.is_clean());
    assert!(
        matches!(&report.log, LogState::Valid { tail: LogTail::Torn { offset, bytes: 4, .. }, .. } if *offset == ends[4]),
        "{report:?}"
    );
    assert_eq!(dir_bytes(dir.path()), before);

    // Corruption in the middle: would not open.
    bytes[start(ends[1]) as usize + 9] ^= 1;
    fs::write(&wal, &bytes).unwrap();
    let before = dir_bytes(dir.path());
    let report: CheckReport = check(&path, &options()).unwrap();
    assert!(!report.opens());
    assert!(
        matches!(&report.log, LogState::Valid { tail: LogTail::Corrupt { cut, .. }, .. } if *cut == start(ends[1])),
        "{report:?}"
    );
    assert_eq!(dir_bytes(dir.path()), before);
}

#[test]
fn check_reports_an_unreadable_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    fs::write(&path, "{\"a\": ").unwrap();
    let report = check(&path, &options()).unwrap();
    assert!(!report.opens());
    assert!(
        matches!(&report.snapshot, SnapshotState::Unreadable { reason } if reason.contains("line 1")),
        "{report:?}"
    );
}

#[test]
fn repair_cuts_at_the_first_bad_record_and_keeps_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, ends) = build(&path, 6);
    let wal = wal_of(&path);
    let mut bytes = fs::read(&wal).unwrap();
    let third = start(ends[2]);
    bytes[third as usize + 12] ^= 0x08;
    fs::write(&wal, &bytes).unwrap();

    let before = dir_bytes(dir.path());
    let plan = plan_repair(&path, &options()).unwrap();
    assert_eq!(dir_bytes(dir.path()), before, "planning changed files");
    let RepairAction::CutLog {
        offset,
        bytes: cut_len,
        records_lost,
        ..
    } = plan.action.clone()
    else {
        panic!("expected a cut, got {plan:?}");
    };
    assert_eq!(offset, third);
    assert_eq!(cut_len, ends[6] - third);
    // Commits 4..6 hold 1 + 1 + 2 records and survive the damage; commit 3 is damaged.
    assert_eq!(records_lost, 4);

    let shown = plan.action.to_string();
    assert!(shown.contains(&format!("at offset {third}")), "{shown}");
    assert!(shown.contains("4 valid records"), "{shown}");
    let report = check(&path, &options()).unwrap().to_string();
    assert!(report.contains("does not open"), "{report}");

    let outcome = repair(&plan, &options()).unwrap();
    let backup = outcome.backup.unwrap();
    assert_eq!(backup, kv_engine::files::wal_cut_path(&path, 1));
    assert_eq!(
        fs::read(&backup).unwrap(),
        bytes[third as usize..ends[6] as usize]
    );
    let store = open(&path);
    assert_eq!(contents(&store), states[2]);
    assert!(store.open_warnings().is_empty());
    drop(store);
    assert!(check(&path, &options()).unwrap().is_clean());
    assert_eq!(
        plan_repair(&path, &options()).unwrap().action,
        RepairAction::Nothing
    );
}

#[test]
fn a_repair_planned_on_other_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (_, ends) = build(&path, 4);
    let wal = wal_of(&path);
    let mut bytes = fs::read(&wal).unwrap();
    bytes[start(ends[1]) as usize + 12] ^= 0x08;
    fs::write(&wal, &bytes).unwrap();
    let plan = plan_repair(&path, &options()).unwrap();
    bytes[start(ends[3]) as usize + 12] ^= 0x08;
    fs::write(&wal, &bytes).unwrap();
    let before = dir_bytes(dir.path());
    let refused = repair(&plan, &options());
    assert!(
        matches!(&refused, Err(Error::StalePlan { path: stale }) if *stale == path),
        "{refused:?}"
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        format!(
            "cannot repair {}: the files changed since the repair was planned; check again",
            path.display()
        )
    );
    assert_eq!(dir_bytes(dir.path()), before);
}

#[test]
fn a_hand_edited_snapshot_is_refused_and_repair_sets_the_log_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path);
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    store.put("b", json!(2)).unwrap();
    drop(store);
    fs::write(&path, "{\"edited\":true}\n").unwrap();

    let before = dir_bytes(dir.path());
    let err = KvStore::open(&path, options()).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { offset: 0, reason, .. } if reason.contains("snapshot")),
        "{err}"
    );
    assert_eq!(dir_bytes(dir.path()), before);

    let plan = plan_repair(&path, &options()).unwrap();
    assert!(
        matches!(plan.action, RepairAction::SetAsideLog { .. }),
        "{plan:?}"
    );
    let backup = repair(&plan, &options()).unwrap().backup.unwrap();
    assert_eq!(fs::read(&backup).unwrap(), before["db.json.wal"]);
    let store = open(&path);
    assert_eq!(
        contents(&store),
        BTreeMap::from([("edited".into(), json!(true))])
    );
}

#[test]
fn an_abandoned_checkpoint_is_removed_and_nothing_is_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, _) = build(&path, 3);
    // A checkpoint that died before installing its snapshot leaves a new log naming a
    // snapshot that is not on disk (or a partial file).
    let next = kv_engine::files::wal_next_path(&path);
    fs::write(&next, b"KVWAL\0\r\npartial").unwrap();
    let store = open(&path);
    assert_eq!(contents(&store), states[3]);
    assert!(!next.exists());
    assert!(matches!(
        store.open_warnings(),
        [Warning::AbandonedCheckpoint { .. }]
    ));
}

#[test]
fn opening_in_snapshot_mode_folds_the_log_into_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, _) = build(&path, 4);
    let store = KvStore::open(&path, Options::new()).unwrap();
    assert_eq!(contents(&store), states[4]);
    assert!(matches!(
        store.open_warnings(),
        [Warning::FoldedLog { records: 5, .. }]
    ));
    drop(store);
    assert!(!wal_of(&path).exists());
    let on_disk: BTreeMap<String, Value> =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(on_disk, states[4]);
}

#[test]
fn a_memory_store_reads_the_log_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let (states, ends) = build(&path, 4);
    let wal = wal_of(&path);
    let mut bytes = fs::read(&wal).unwrap();
    bytes[ends[4] as usize + 1] = 7; // a torn tail
    fs::write(&wal, &bytes).unwrap();
    let before = dir_bytes(dir.path());
    let store = KvStore::open(&path, Options::new().durability(Durability::Memory)).unwrap();
    assert_eq!(contents(&store), states[4]);
    assert!(matches!(
        store.open_warnings(),
        [Warning::TornTailLeft { .. }]
    ));
    drop(store);
    assert_eq!(dir_bytes(dir.path()), before);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, i64),
    Delete(u8),
    Batch(Vec<(u8, Option<i64>)>),
    Reopen,
    Checkpoint,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..12, any::<i64>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0u8..12).prop_map(Op::Delete),
        2 => prop::collection::vec((0u8..12, prop::option::of(any::<i64>())), 1..5)
            .prop_map(Op::Batch),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any mix of puts, deletes, batches, reopens and checkpoints (manual, and automatic
    /// with a tiny threshold) leaves the store equal to a `BTreeMap` model.
    #[test]
    fn the_log_matches_a_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let options = || options().checkpoint_bytes(400).wal_chunk_bytes(256);
        let mut store = KvStore::open(&path, options()).unwrap();
        let mut model = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    store.put(format!("k{k}"), json!(v)).unwrap();
                    model.insert(format!("k{k}"), json!(v));
                }
                Op::Delete(k) => {
                    let key = format!("k{k}");
                    prop_assert_eq!(store.delete(&key).unwrap(), model.remove(&key).is_some());
                }
                Op::Batch(items) => {
                    let mut batch = Vec::new();
                    for (k, v) in items {
                        let key = format!("k{k}");
                        match v {
                            Some(v) => {
                                model.insert(key.clone(), json!(v));
                                batch.push(Mutation::Put { key, value: json!(v) });
                            }
                            None => {
                                model.remove(&key);
                                batch.push(Mutation::Delete { key });
                            }
                        }
                    }
                    store.apply(batch).unwrap();
                }
                Op::Reopen => {
                    drop(store);
                    store = KvStore::open(&path, options()).unwrap();
                    prop_assert!(store.open_warnings().is_empty());
                }
                Op::Checkpoint => store.checkpoint().unwrap(),
            }
            prop_assert_eq!(&contents(&store), &model);
        }
        drop(store);
        let store = KvStore::open(&path, options()).unwrap();
        prop_assert_eq!(&contents(&store), &model);
    }
}

/// The real filesystem, except that `fdatasync` fails while `fail` is set.
#[derive(Debug, Default)]
struct FailingSyncFs {
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
struct FailingSyncFile {
    inner: Box<dyn kv_engine::fs::FsFile>,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl kv_engine::fs::FsFile for FailingSyncFile {
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all_at(offset, buf)
    }
    fn sync_data(&mut self) -> std::io::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("injected EIO"));
        }
        self.inner.sync_data()
    }
    fn sync_all(&mut self) -> std::io::Result<()> {
        self.inner.sync_all()
    }
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.inner.size()
    }
}

impl kv_engine::fs::Fs for FailingSyncFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        kv_engine::fs::RealFs.read(path)
    }
    fn open(
        &self,
        path: &Path,
        mode: kv_engine::fs::OpenMode,
    ) -> std::io::Result<Box<dyn kv_engine::fs::FsFile>> {
        Ok(Box::new(FailingSyncFile {
            inner: kv_engine::fs::RealFs.open(path, mode)?,
            fail: self.fail.clone(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        kv_engine::fs::RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        kv_engine::fs::RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        kv_engine::fs::RealFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        kv_engine::fs::RealFs.list_dir(dir)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<Option<kv_engine::fs::Metadata>> {
        kv_engine::fs::RealFs.metadata(path)
    }
    fn resolve(&self, path: &Path) -> std::io::Result<PathBuf> {
        kv_engine::fs::RealFs.resolve(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn kv_engine::fs::FsLock>> {
        kv_engine::fs::RealFs.lock(path)
    }
}

#[test]
fn a_failed_log_sync_poisons_the_store() {
    use kv_engine::fs::Fs;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let fs = std::sync::Arc::new(FailingSyncFs::default());
    let fail = fs.fail.clone();
    let fs_dyn: std::sync::Arc<dyn Fs> = fs;
    let mut store = KvStore::open(&path, options().fs(fs_dyn)).unwrap();
    store.put("a", json!(1)).unwrap();
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = store.put("a", json!(2)).unwrap_err();
    assert!(err.to_string().contains("injected EIO"), "{err}");
    // Memory still shows only the committed value, and no write is accepted any more,
    // even once syncing works again.
    assert_eq!(store.get("a"), Some(json!(1)));
    assert!(store.poisoned().is_some());
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(
        store.put("b", json!(3)),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(store.checkpoint(), Err(Error::Poisoned { .. })));
}

#[test]
fn a_second_writer_is_refused_by_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut first = open(&path);
    first.put("a", json!(1)).unwrap();
    assert!(matches!(
        KvStore::open(&path, options()),
        Err(Error::Locked { .. })
    ));
    // `check` takes no lock, so it works beside a writer and changes nothing.
    let before = dir_bytes(dir.path());
    assert_eq!(check(&path, &options()).unwrap().keys, Some(1));
    assert_eq!(dir_bytes(dir.path()), before);
}

#[test]
fn a_checkpoint_with_nothing_logged_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path);
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    let written = store.stats().bytes_written;
    let before = dir_bytes(dir.path());
    store.checkpoint().unwrap();
    assert_eq!(store.stats().bytes_written, written);
    assert_eq!(store.stats().checkpoints, 1);
    assert_eq!(dir_bytes(dir.path()), before);
}

#[test]
fn the_log_gets_the_snapshots_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    fs::write(&path, "{}").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let mut store = open(&path);
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&wal_of(&path)), 0o640);
    assert_eq!(mode(&path), 0o640);
}

/// A snapshot `{a:1}` and a log of 3 records after it, changing `b` and `c`.
fn snapshot_and_three_records(path: &Path) {
    let mut store = open(path);
    store.put("a", json!(1)).unwrap();
    store.checkpoint().unwrap();
    store.put("b", json!(2)).unwrap();
    store.put("c", json!(3)).unwrap();
    store.put("b", json!(4)).unwrap();
}

/// The plan's set-aside loss: (records, keys, checked), or a panic.
fn set_aside_loss(path: &Path) -> (u64, Vec<String>, bool, String) {
    let plan = plan_repair(path, &options()).unwrap();
    let shown = plan.action.to_string();
    let RepairAction::SetAsideLog {
        records_lost,
        keys_lost,
        checked,
        ..
    } = plan.action
    else {
        panic!("expected the log set aside: {plan:?}");
    };
    (records_lost, keys_lost, checked, shown)
}

const DROPS_THREE: &str = "it holds 3 valid records, which change 2 keys: \"b\", \"c\"; no cut \
                           can keep any of them, since the log cannot be used at all: the \
                           database becomes the snapshot alone and loses all 3; a backup is kept";

#[test]
fn setting_aside_a_log_with_one_flipped_header_bit_states_the_records_and_keys_it_drops() {
    // Generation, base sequence number, snapshot length, header checksum.
    for (byte, bit) in [(16, 0x01), (23, 0x80), (26, 0x04), (33, 0x10), (46, 0x02)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        snapshot_and_three_records(&path);
        let mut log = fs::read(wal_of(&path)).unwrap();
        log[byte] ^= bit;
        fs::write(wal_of(&path), &log).unwrap();
        let before = dir_bytes(dir.path());
        let (records, keys, checked, shown) = set_aside_loss(&path);
        assert_eq!(dir_bytes(dir.path()), before, "planning changed files");
        assert_eq!((records, checked), (3, true), "byte {byte}: {shown}");
        assert_eq!(keys, ["b", "c"], "byte {byte}");
        assert!(
            shown.contains("the log header's checksum does not match")
                && shown.ends_with(DROPS_THREE),
            "byte {byte}: {shown}"
        );
    }
}

#[test]
fn a_header_too_damaged_to_verify_records_still_counts_them_by_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    snapshot_and_three_records(&path);
    let mut log = fs::read(wal_of(&path)).unwrap();
    // Two bits of the generation: no single-bit guess gives the checksums' salt back.
    log[16] ^= 0x03;
    fs::write(wal_of(&path), &log).unwrap();
    let (records, keys, checked, shown) = set_aside_loss(&path);
    assert_eq!((records, checked), (3, false), "{shown}");
    assert_eq!(keys, ["b", "c"]);
    assert!(
        shown.contains(
            "it holds what look like 3 records (their checksums cannot be verified without \
             the damaged header), which change 2 keys: \"b\", \"c\"; no cut can keep any of them"
        ),
        "{shown}"
    );
}

#[test]
fn setting_aside_the_log_of_a_snapshot_that_lost_its_newline_states_what_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    snapshot_and_three_records(&path);
    let snapshot = fs::read(&path).unwrap();
    assert_eq!(snapshot.last(), Some(&b'\n'));
    fs::write(&path, &snapshot[..snapshot.len() - 1]).unwrap();
    let (records, keys, checked, shown) = set_aside_loss(&path);
    assert_eq!((records, checked), (3, true), "{shown}");
    assert_eq!(keys, ["b", "c"]);
    assert!(shown.ends_with(DROPS_THREE), "{shown}");
    assert!(
        shown.contains("was the snapshot replaced or edited?"),
        "{shown}"
    );
}

#[test]
fn a_cut_states_the_keys_of_the_records_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path);
    store.put("a", json!(1)).unwrap();
    let first_end = start(store.stats().log_size.unwrap()) as usize;
    store.put("b", json!(2)).unwrap();
    store.put("c", json!(3)).unwrap();
    store.put("d", json!(4)).unwrap();
    drop(store);
    let mut log = fs::read(wal_of(&path)).unwrap();
    log[first_end + 9] ^= 0xff;
    fs::write(wal_of(&path), &log).unwrap();
    let plan = plan_repair(&path, &options()).unwrap();
    let RepairAction::CutLog {
        records_lost,
        ref keys_lost,
        ..
    } = plan.action
    else {
        panic!("expected a cut: {plan:?}");
    };
    assert_eq!(records_lost, 2);
    assert_eq!(keys_lost, &["c", "d"]);
    let shown = plan.action.to_string();
    assert!(
        shown.ends_with(", which change 2 keys: \"c\", \"d\"; a backup is kept"),
        "{shown}"
    );
}

/// A log written by the previous release (format version 1: a 48-byte header, records
/// packed from offset 48 with no index field) still opens: replayed exactly, then replaced
/// by a version-2 log at the first writer's open, which says so. A reader changes nothing.
#[test]
fn a_version_1_log_is_replayed_and_replaced_by_the_current_format() {
    fn v1_record(
        seq: u64,
        put: Option<(&str, &str)>,
        delete: Option<&str>,
        commit: bool,
    ) -> Vec<u8> {
        let (kind, key, value) = match (put, delete) {
            (Some((key, value)), _) => (1u8, key, value),
            (None, Some(key)) => (2u8, key, ""),
            (None, None) => unreachable!("a record puts or deletes"),
        };
        let mut record = vec![0u8; 8];
        record.extend_from_slice(&seq.to_le_bytes());
        record.push(kind | if commit { 0x80 } else { 0 });
        record.extend_from_slice(&(key.len() as u32).to_le_bytes());
        record.extend_from_slice(key.as_bytes());
        record.extend_from_slice(value.as_bytes());
        let body = (record.len() - 8) as u32;
        record[4..8].copy_from_slice(&body.to_le_bytes());
        // Generation 1 salts the checksum.
        let crc = crc32c::crc32c_append(crc32c::crc32c(&1u64.to_le_bytes()), &record[4..]);
        record[0..4].copy_from_slice(&crc.to_le_bytes());
        record
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let snapshot = b"{\"a\":1}\n";
    fs::write(&path, snapshot).unwrap();
    let mut log = vec![0u8; 48];
    log[0..8].copy_from_slice(b"KVWAL\0\r\n");
    log[8..12].copy_from_slice(&1u32.to_le_bytes());
    log[12..16].copy_from_slice(&1u32.to_le_bytes()); // a snapshot existed
    log[16..24].copy_from_slice(&1u64.to_le_bytes()); // generation
    log[24..32].copy_from_slice(&0u64.to_le_bytes()); // base sequence number
    log[32..40].copy_from_slice(&(snapshot.len() as u64).to_le_bytes());
    log[40..44].copy_from_slice(&crc32c::crc32c(snapshot).to_le_bytes());
    let crc = crc32c::crc32c(&log[0..44]);
    log[44..48].copy_from_slice(&crc.to_le_bytes());
    // One commit of two records, then a delete.
    log.extend(v1_record(1, Some(("b", "[1,2]")), None, false));
    log.extend(v1_record(2, Some(("c", "\"x\"")), None, true));
    log.extend(v1_record(3, None, Some("a"), true));
    log.resize(4096, 0);
    fs::write(wal_of(&path), &log).unwrap();
    let expected = BTreeMap::from([
        ("b".to_string(), json!([1, 2])),
        ("c".to_string(), json!("x")),
    ]);

    let before = dir_bytes(dir.path());
    let reader = KvStore::open(&path, options().durability(Durability::Memory)).unwrap();
    assert_eq!(contents(&reader), expected);
    drop(reader);
    assert!(check(&path, &options()).unwrap().is_clean());
    assert_eq!(dir_bytes(dir.path()), before, "a reader changed a file");

    let mut store = open(&path);
    assert_eq!(contents(&store), expected);
    assert!(
        matches!(
            store.open_warnings(),
            [Warning::UpgradedLog {
                from_version: 1,
                ..
            }]
        ),
        "{:?}",
        store.open_warnings()
    );
    store.put("d", json!(4)).unwrap();
    drop(store);
    let upgraded = fs::read(wal_of(&path)).unwrap();
    assert_eq!(
        &upgraded[8..12],
        &2u32.to_le_bytes(),
        "the log is version 2 now"
    );
    let store = open(&path);
    assert!(
        store.open_warnings().is_empty(),
        "{:?}",
        store.open_warnings()
    );
    assert_eq!(store.get("d"), Some(json!(4)));
    assert_eq!(store.len(), 3);
}

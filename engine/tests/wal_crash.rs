//! Real process kills at the write-ahead log's crash points: a child process (this test
//! binary, re-run) arms a crash point and dies there with `abort`, exactly as a `kill -9`
//! would leave the files; the parent reopens and checks what was recovered. Power loss
//! (unsynced data lost) needs the simulated disk and is tested there.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers of tests: a panic is a failing test

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use kv_engine::{CrashPoint, Durability, KvStore, LogState, LogTail, Options, Warning, check};
use serde_json::{Value, json};

const CHILD_POINT: &str = "KV_WAL_CRASH_CHILD_POINT";
const CHILD_PATH: &str = "KV_WAL_CRASH_CHILD_PATH";

fn options() -> Options {
    Options::new()
        .durability(Durability::Wal)
        .wal_chunk_bytes(4096)
}

fn contents(store: &KvStore) -> BTreeMap<String, Value> {
    store
        .iter()
        .map(|(key, value)| (key.to_string(), serde_json::from_str(value).unwrap()))
        .collect()
}

/// Not a test of its own: the child half of [`crash_at`]. Run by the parent with the two
/// environment variables set, it commits one more mutation with the crash point armed and
/// dies inside it; run without them (as part of the suite), it has nothing to do.
#[test]
fn child_process_for_crash_tests() {
    let (Some(point), Some(path)) = (std::env::var_os(CHILD_POINT), std::env::var_os(CHILD_PATH))
    else {
        return;
    };
    let point: CrashPoint = point.to_str().unwrap().parse().unwrap();
    let mut store = KvStore::open(Path::new(&path), options()).unwrap();
    if point == CrashPoint::MidCheckpoint {
        store
            .put("acknowledged", json!("before the checkpoint"))
            .unwrap();
        store.arm_crash(point).unwrap();
        store.checkpoint().unwrap();
    } else {
        store.arm_crash(point).unwrap();
        store
            .put("unacknowledged", json!({"a long value": "x".repeat(200)}))
            .unwrap();
    }
    unreachable!("the armed crash point {point} was not reached");
}

/// Builds a database with a few commits, lets a child die at `point`, and returns the
/// state before the child ran and the store reopened afterwards.
fn crash_at(point: CrashPoint, dir: &Path) -> (BTreeMap<String, Value>, KvStore) {
    // One at a time: a child forked by one test briefly holds copies of every descriptor
    // open in this process (until its exec closes them), including another test's lock
    // file, whose `flock` its own child would then find taken.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = dir.join("db.json");
    let mut store = KvStore::open(&path, options()).unwrap();
    for i in 0..5 {
        store.put(format!("k{i}"), json!(i)).unwrap();
    }
    store.checkpoint().unwrap();
    store.put("after-checkpoint", json!(true)).unwrap();
    assert!(store.delete("k0").unwrap());
    let before = contents(&store);
    drop(store);

    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_for_crash_tests",
            "--test-threads=1",
        ])
        .env(CHILD_POINT, point.name())
        .env(CHILD_PATH, &path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // SIGABRT: the child died at the crash point, not of a failed assertion.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&output.status),
        Some(6),
        "the child did not abort at {point}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (before, KvStore::open(&path, options()).unwrap())
}

#[test]
fn a_kill_mid_append_loses_only_the_unacknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (before, store) = crash_at(CrashPoint::MidAppend, dir.path());
    assert_eq!(contents(&store), before);
    assert!(
        matches!(store.open_warnings(), [Warning::TornTail { bytes, .. }] if *bytes > 0),
        "{:?}",
        store.open_warnings()
    );
}

#[test]
fn a_kill_after_append_keeps_the_written_commit_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (mut before, store) = crash_at(CrashPoint::AfterAppend, dir.path());
    // A kill keeps the page cache, so the written (unsynced, unacknowledged) record is
    // there, whole: recovering it is allowed, half of it never is.
    before.insert(
        "unacknowledged".into(),
        json!({"a long value": "x".repeat(200)}),
    );
    assert_eq!(contents(&store), before);
    assert!(store.open_warnings().is_empty());
}

#[test]
fn a_kill_mid_checkpoint_finishes_it_and_replays_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (mut before, store) = crash_at(CrashPoint::MidCheckpoint, dir.path());
    before.insert("acknowledged".into(), json!("before the checkpoint"));
    assert_eq!(contents(&store), before);
    assert!(
        matches!(store.open_warnings(), [Warning::FinishedCheckpoint { .. }]),
        "{:?}",
        store.open_warnings()
    );
    // 8 mutations: 5 puts, a put and a delete, then the acknowledged put. The new snapshot
    // holds them all, and the live log continues it from its last
    // sequence number with no records: the old log's records were not replayed on top.
    assert_eq!(store.stats().log_records, Some(0));
    drop(store);
    let snapshot: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("db.json")).unwrap()).unwrap();
    assert_eq!(snapshot, before);
    let report = check(dir.path().join("db.json"), &options()).unwrap();
    assert!(
        matches!(
            report.log,
            LogState::Valid {
                base_seq: 8,
                records: 0,
                last_seq: 8,
                tail: LogTail::Clean,
                ..
            }
        ),
        "{report:?}"
    );
}

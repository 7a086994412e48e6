//! `kv bench --peers` with the real programs, through the library and the binary. A file of
//! its own: these tests spawn many processes, and a process forked from a test binary holds
//! copies of its open files (and their locks) until it execs, which would make another
//! test's reopen of a store in the same binary find it locked now and then.
#![allow(clippy::disallowed_methods)] // tests inspect the disk and /proc directly
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns too: a panic is a failing test

use std::path::Path;

mod common;
use common::assert_fits_100_columns;

use kv::bench::{self, BenchConfig, SkippedPeer};
use kv_engine::Durability;
use serde_json::Value;

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The peers' programs on this PATH, or `None` (the test says it skipped) with
/// `KV_SKIP_PEERS=1`; otherwise a missing one fails the test, which would prove nothing.
fn peers_installed(test: &str) -> bool {
    let on_path = |program: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .any(|dir| dir.join(program).is_file())
    };
    let missing: Vec<&str> = ["sqlite3", "redis-server", "redis-cli"]
        .into_iter()
        .filter(|program| !on_path(program))
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("KV_SKIP_PEERS").is_ok_and(|value| value == "1") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{test}: SKIPPED because KV_SKIP_PEERS=1: {missing:?} not installed"
        );
        return false;
    }
    panic!("{missing:?} not installed (apt install sqlite3 redis-server); or set KV_SKIP_PEERS=1");
}

/// The redis-server processes whose parent is this process, alive or not yet reaped, from
/// `/proc/*/stat` (`PID (COMM) STATE PPID ...`).
fn redis_children() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (comm, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (comm.starts_with("redis-server") && ppid == me).then_some(pid)
        })
        .collect()
}

/// `--peers` with the real programs: every peer at every size, each script beside kv's
/// run of it in the mode making the same promise, in rows that fit 100 columns; the
/// servers it started are gone afterwards, and nothing is left in the directory.
#[test]
fn peers_run_the_same_scripts_beside_kv_and_leave_no_server_behind() {
    if !peers_installed("peers_run_the_same_scripts_beside_kv_and_leave_no_server_behind") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = BenchConfig {
        sizes: vec![20, 60],
        record_ops: 20,
        modes: vec![Durability::Memory],
        reps: 1,
        peers: true,
        // As `kv bench` runs: kv's side of each comparison through the binary.
        memory_probe: Some(env!("CARGO_BIN_EXE_kv").into()),
        dir: Some(dir.path().to_path_buf()),
        ..BenchConfig::quick()
    };
    let mut labels = Vec::new();
    let report = bench::run(&config, &mut |p| labels.push(p.label.to_string())).unwrap();
    assert_eq!(
        redis_children(),
        Vec::<u32>::new(),
        "redis-server left running"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());

    let peers = report.peers.as_ref().unwrap();
    assert_eq!(peers.skipped, Vec::<SkippedPeer>::new());
    assert!(peers.kv_runs_as.starts_with("the kv binary"), "{peers:?}");
    let cases: Vec<(&str, &str, usize)> = peers
        .cases
        .iter()
        .map(|case| (case.peer.as_str(), case.kv_mode.as_str(), case.n))
        .collect();
    let expected: Vec<(&str, &str, usize)> = [
        ("sqlite3 WAL", "wal"),
        ("sqlite3 rollback", "wal"),
        ("redis always", "wal"),
        ("redis always --pipe", "wal --group-commit"),
        ("redis everysec", "wal --sync 1s"),
        ("redis everysec --pipe", "wal --sync 1s"),
    ]
    .into_iter()
    .flat_map(|(peer, kv)| [20, 60].map(|n| (peer, kv, n)))
    .collect();
    assert_eq!(cases, expected);
    for case in &peers.cases {
        let statements: Vec<usize> = case.phases.iter().map(|r| r.statements).collect();
        assert_eq!(statements, [case.n, case.n, (case.n / 100).max(1)]);
        for result in &case.phases {
            assert_eq!(result.reps, 1);
            assert!(
                result.ops_per_sec > 0.0 && result.kv_ops_per_sec > 0.0,
                "{case:?}"
            );
            let ratio = result.kv_ops_per_sec / result.ops_per_sec;
            assert!((result.kv_ratio - ratio).abs() < 1e-9 * ratio, "{case:?}");
        }
    }
    // Each peer run was a progress step of its own, after kv's three.
    assert!(labels.contains(&"rep 1/1: peer redis everysec --pipe, 60 keys".to_string()));
    assert!(
        labels.contains(&"rep 1/1: kv wal --sync 1s piped, for the peers, 20 keys".to_string())
    );

    let mut table = Vec::new();
    report.render_table(&mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert_fits_100_columns(&table);
    for (peer, kv, n) in &expected {
        let row = format!("  {peer} ");
        let line = table
            .lines()
            .find(|line| line.starts_with(&row) && line.contains(&format!(" {n}  put ")))
            .unwrap_or_else(|| panic!("no {peer} put row at {n}:\n{table}"));
        assert!(
            line.contains(&format!("  {kv}  ")) && line.ends_with('×'),
            "{line}"
        );
    }
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["peers"]["cases"].as_array().unwrap().len(), 12);
    assert_eq!(json["peers"]["cases"][0]["phases"][0]["phase"], "put");
}

/// With none of the peers' programs on the PATH, `kv bench --peers` still runs, and lists
/// each peer as skipped with the command that installs it.
#[test]
fn peers_that_are_not_installed_are_listed_as_skipped_with_the_install_hint() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kv"))
        .args([
            "bench", "--quick", "--n", "20", "--reps", "1", "--modes", "memory", "--peers",
        ])
        .arg("--dir")
        .arg(dir.path())
        .env("PATH", empty.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let sqlite = "skipped: sqlite3 not installed (apt install sqlite3)";
    let redis = "skipped: redis-server not installed (apt install redis-server)";
    for (peer, reason) in [
        ("sqlite3 WAL", sqlite),
        ("sqlite3 rollback", sqlite),
        ("redis always", redis),
        ("redis always --pipe", redis),
        ("redis everysec", redis),
        ("redis everysec --pipe", redis),
    ] {
        let line = format!("  {peer}: {reason}\n");
        assert!(stdout.contains(&line), "no {line:?} in\n{stdout}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

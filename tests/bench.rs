//! `kv bench` as a library: a tiny run's structure and the invariants no timing can fake,
//! and the table and JSON renderers on a synthetic report. No timing is asserted.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns too: a panic is a failing test

use std::path::Path;

mod common;
use common::assert_fits_100_columns;

use kv::bench::{
    self, AsyncPuts, BenchArgs, BenchConfig, BenchError, Bound, Case, LimitKind, Limits, Machine,
    Memory, ModeKind, Op, OpResult, PeerCase, PeerResult, Peers, PipedBound, PipedCase, PipedPhase,
    PipedResult, Report, SizeLimits, SkippedPeer, TargetCheck, Timing,
};
use kv_engine::Durability;
use serde_json::Value;

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn tiny_config(dir: &Path) -> BenchConfig {
    BenchConfig {
        sizes: vec![50, 120],
        dir: Some(dir.to_path_buf()),
        reps: 2,
        ..BenchConfig::quick()
    }
}

/// Bytes of the snapshot file of `m` keys, given the file of `n` keys: every entry
/// (`"k000000":{"n":123,"s":"abc"}` and a comma) has the same length below a million keys.
fn snapshot_size(file_of_n: u64, n: usize, m: usize) -> f64 {
    // `{` + n entries + (n − 1) commas + `}\n`
    let per_entry = (file_of_n - 3 + 1) as f64 / n as f64;
    3.0 + m as f64 * per_entry - 1.0
}

#[test]
fn tiny_run_reports_every_case_with_counts_and_io_that_match_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(dir.path());
    let mut progress = Vec::new();
    let report = bench::run(&config, &mut |p| {
        progress.push((p.done, p.total, p.label.to_string()))
    })
    .unwrap();

    // It removed everything it wrote.
    assert_eq!(entries(dir.path()), Vec::<String>::new());

    // Progress rises one step at a time to its total and ends with "done".
    let total = progress[0].1;
    for (i, (done, step_total, _)) in progress.iter().enumerate() {
        assert_eq!((*done, *step_total), (i, total), "{progress:?}");
    }
    assert_eq!(progress.last().unwrap().2, "done");
    assert_eq!(progress.len(), total + 1);

    assert_eq!(report.reps, 2);
    assert_eq!(report.machine.dir, dir.path().display().to_string());
    assert_eq!(report.limits.append_fdatasync.ops, config.record_ops);
    assert_eq!(report.limits.overwrite_fdatasync.ops, config.record_ops);
    assert_eq!(report.cases.len(), config.modes.len() * config.sizes.len());

    for &n in &config.sizes {
        let limits = report.size_limits(n).unwrap();
        assert_eq!(
            limits.snapshot_recipe.ops,
            config.timed_ops(Durability::Snapshot, n)
        );
        assert_eq!(
            limits.rewrite_unsynced.ops,
            config.timed_ops(Durability::Naive, n)
        );
        assert_eq!(limits.snapshot_recipe.reps, 2);

        for &mode in &config.modes {
            let case = report.case(mode.name(), n).unwrap();
            let ops: Vec<Op> = case.ops.iter().map(|result| result.op).collect();
            assert_eq!(ops, Op::ALL);
            let timed = config.timed_ops(mode, n);
            for result in &case.ops {
                let expected = match result.op {
                    Op::Get => config.timed_gets(n),
                    Op::Transaction => config.timed_transactions(mode, n),
                    _ => timed,
                };
                assert_eq!(result.timing.ops, expected, "{mode} {n} {:?}", result.op);
                assert_eq!(result.timing.reps, 2);
                assert!(result.timing.p50_ns <= result.timing.p99_ns);
                // Every get and delete found its key.
                match result.op {
                    Op::Get | Op::Delete => assert_eq!(result.found, Some(expected)),
                    Op::Put | Op::Overwrite | Op::Transaction => {
                        assert_eq!(result.found, None)
                    }
                }
                // The limit was timed op by op beside the engine: as many times.
                if let Some(bound) = result.bound {
                    assert_eq!(bound.limit_timing.ops, expected);
                    assert_eq!(bound.limit_timing.reps, 2);
                    assert!(bound.ratio.is_finite() && bound.ratio > 0.0, "{bound:?}");
                }
            }
            let put = case.op(Op::Put).unwrap();
            let overwrite = case.op(Op::Overwrite).unwrap();
            let get = case.op(Op::Get).unwrap();
            let delete = case.op(Op::Delete).unwrap();
            let transaction = case.op(Op::Transaction).unwrap();
            assert_eq!(get.fsyncs_per_op, 0.0);
            assert_eq!(get.bytes_per_op, 0.0);
            assert_eq!(get.bound, None);

            match ModeKind::of(mode) {
                ModeKind::InMemory => {
                    for result in &case.ops {
                        assert_eq!(result.fsyncs_per_op, 0.0);
                        assert_eq!(result.bytes_per_op, 0.0);
                        assert_eq!(result.bound, None);
                    }
                    assert_eq!(case.open_ns, None);
                    assert_eq!(case.file_bytes, None);
                }
                ModeKind::FullRewrite { synced } => {
                    // The file at n keys is exactly the snapshot the limits were sized by,
                    // and every commit rewrites all of it.
                    let file = case.file_bytes.unwrap();
                    assert_eq!(file, limits.bytes);
                    assert_eq!(overwrite.bytes_per_op, file as f64);
                    let first_timed = n - timed; // store size before the first timed put
                    let expected_put_bytes = (first_timed + 1..=n)
                        .map(|m| snapshot_size(file, n, m))
                        .sum::<f64>()
                        / timed as f64;
                    assert!(
                        (put.bytes_per_op - expected_put_bytes).abs() < 1e-6,
                        "{mode} {n}: {} vs {expected_put_bytes}",
                        put.bytes_per_op
                    );
                    let warmup = config.warmup_for(n);
                    let after_warmup = n - warmup; // deletes start from here
                    let expected_delete_bytes = (after_warmup - timed..after_warmup)
                        .map(|m| snapshot_size(file, n, m))
                        .sum::<f64>()
                        / timed as f64;
                    assert!((delete.bytes_per_op - expected_delete_bytes).abs() < 1e-6);
                    let (fsyncs, limit) = if synced {
                        (2.0, LimitKind::SnapshotRecipe)
                    } else {
                        (0.0, LimitKind::RewriteUnsynced)
                    };
                    // A transaction of 100 overwrites is one commit: one rewrite of the file.
                    assert_eq!(transaction.bytes_per_op, file as f64);
                    for result in [put, overwrite, delete, transaction] {
                        assert_eq!(result.fsyncs_per_op, fsyncs, "{mode} {:?}", result.op);
                        assert_eq!(result.bound.unwrap().limit, limit);
                    }
                    assert!(case.open_ns.is_some());
                    assert_eq!(case.keys_after_open, n);
                }
                ModeKind::RecordLog => {
                    // A durable log makes each separate put durable: at least one fsync.
                    for result in [put, overwrite, delete, transaction] {
                        assert!(result.fsyncs_per_op >= 1.0, "{mode} {:?}", result.op);
                        assert!(result.bytes_per_op > 0.0);
                        assert_eq!(result.bound.unwrap().limit, LimitKind::OverwriteFdatasync);
                    }
                    // One log commit of 100 records: one fdatasync, a hundred records' bytes.
                    assert_eq!(transaction.fsyncs_per_op, 1.0);
                    assert!(
                        transaction.bytes_per_op >= 100.0 * overwrite.bytes_per_op * 0.9,
                        "{} vs {}",
                        transaction.bytes_per_op,
                        overwrite.bytes_per_op
                    );
                    assert_eq!(case.keys_after_open, n);
                }
            }
            if let Some(memory) = case.memory {
                assert_eq!(memory.snapshot_bytes, limits.bytes);
                assert_eq!(
                    memory.bytes_per_key,
                    memory.resident_bytes as f64 / n as f64
                );
            }
        }
    }

    // The piped scripts: every mode and size, each phase with its statement count. The
    // scripts check every result line themselves (a wrong one fails the run), so what is
    // left to check is what the counters say group commit did.
    assert_eq!(report.piped.len(), config.modes.len() * config.sizes.len());
    for &n in &config.sizes {
        for &mode in &config.modes {
            let case = report.piped_case(mode.name(), n).unwrap();
            let phases: Vec<PipedPhase> = case.phases.iter().map(|result| result.phase).collect();
            assert_eq!(phases, PipedPhase::ALL);
            let statements: Vec<usize> = case.phases.iter().map(|r| r.statements).collect();
            assert_eq!(statements, vec![n, n, (n / 100).max(1)], "{mode} {n}");
            for result in &case.phases {
                assert_eq!(result.reps, 2);
                assert!(result.ops_per_sec.is_finite() && result.ops_per_sec > 0.0);
                assert!(result.min_ops_per_sec <= result.ops_per_sec);
                assert!(result.ops_per_sec <= result.max_ops_per_sec);
                match (mode, result.bound) {
                    (Durability::Memory, bound) => assert_eq!(bound, None),
                    (_, Some(bound)) => {
                        assert!(bound.ratio.is_finite() && bound.ratio > 0.0, "{bound:?}")
                    }
                    (_, None) => panic!("{mode} {n}: no memory-mode bound"),
                }
            }
            let get = case.phase(PipedPhase::Get).unwrap();
            assert_eq!((get.fsyncs_per_op, get.bytes_per_op), (0.0, 0.0));
            assert_eq!(get.statements_per_commit, 0.0, "gets commit nothing");
            let put = case.phase(PipedPhase::Put).unwrap();
            match ModeKind::of(mode) {
                ModeKind::InMemory | ModeKind::FullRewrite { synced: false } => {
                    assert_eq!(put.fsyncs_per_op, 0.0, "{mode}")
                }
                // One commit per batch, not per statement: fewer fsyncs than puts.
                ModeKind::FullRewrite { synced: true } | ModeKind::RecordLog => {
                    assert!(put.statements_per_commit >= 2.0, "{mode} {n}: {put:?}");
                    assert!(put.fsyncs_per_op < 1.0, "{mode} {n}: {put:?}");
                }
            }
            if mode != Durability::Memory {
                assert!(put.bytes_per_op > 0.0, "{mode} {n}: {put:?}");
            }
        }
    }

    // The rendered table names every mode, and the JSON parses back to the same cases.
    let mut table = Vec::new();
    report.render_table(&mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert_fits_100_columns(&table);
    for mode in &config.modes {
        assert!(table.contains(&format!("  {} ", mode.name())), "{table}");
    }
    assert!(
        table.contains("Piped scripts with --group-commit"),
        "{table}"
    );
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["cases"].as_array().unwrap().len(), report.cases.len());
    assert_eq!(json["piped"].as_array().unwrap().len(), report.piped.len());

    // Stage 5's rows: wal and snapshot under --sync 1s at every size, each put its own
    // commit (every result line checked by the script), with almost no fsync.
    let async_cases: Vec<(&str, usize)> = report
        .async_puts
        .iter()
        .map(|case| (case.mode.as_str(), case.n))
        .collect();
    let expected: Vec<(&str, usize)> = ["wal", "snapshot"]
        .into_iter()
        .flat_map(|mode| config.sizes.iter().map(move |&n| (mode, n)))
        .collect();
    assert_eq!(async_cases, expected);
    for case in &report.async_puts {
        assert_eq!(case.sync, "1s");
        assert!(case.ops_per_sec > 0.0 && case.vs_memory > 0.0, "{case:?}");
        assert!(case.fsyncs_per_put < 0.5, "{case:?}");
    }
    assert!(
        table.contains("Asynchronous commit: piped puts without --group-commit"),
        "{table}"
    );
    assert_eq!(
        json["async_puts"].as_array().unwrap().len(),
        report.async_puts.len()
    );
}

#[test]
fn run_cli_writes_json_and_draws_progress_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let args = BenchArgs {
        quick: true,
        sizes: vec![30],
        modes: vec![Durability::Memory, Durability::Snapshot],
        dir: Some(dir.path().to_path_buf()),
        reps: Some(1),
        json: true,
        memory_probe: None,
        peers: false,
    };
    let (mut out, mut bar) = (Vec::new(), Vec::new());
    let report = bench::run_cli(&args, &mut out, &mut bar, true, 60).unwrap();
    let json: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["cases"][1]["mode"], "snapshot");
    assert_eq!(json["cases"][1]["n"], 30);
    assert_eq!(report.cases.len(), 2);
    let bar = String::from_utf8(bar).unwrap();
    assert!(bar.contains("100% done"), "{bar:?}");
    assert!(bar.ends_with("\r\x1b[K"), "{bar:?}");

    let (mut out, mut bar) = (Vec::new(), Vec::new());
    let args = BenchArgs {
        json: false,
        ..args
    };
    bench::run_cli(&args, &mut out, &mut bar, false, 60).unwrap();
    assert!(bar.is_empty());
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("The disk's own limits")
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn bad_settings_and_a_missing_directory_are_errors_that_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = BenchConfig {
        sizes: vec![],
        ..tiny_config(dir.path())
    };
    let err = bench::run(&config, &mut |_| {}).unwrap_err();
    assert!(matches!(err, BenchError::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid benchmark settings: no store sizes given"
    );

    let missing = dir.path().join("no-such-dir");
    let config = BenchConfig {
        dir: Some(missing.clone()),
        ..tiny_config(dir.path())
    };
    let err = bench::run(&config, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("create a temporary directory"), "{err}");
}

fn timing(ops_per_sec: f64, p50_ns: u64, p99_ns: u64) -> Timing {
    Timing {
        ops: 200,
        reps: 3,
        ops_per_sec,
        min_ops_per_sec: ops_per_sec * 0.9,
        max_ops_per_sec: ops_per_sec * 1.1,
        p50_ns,
        p99_ns,
    }
}

fn op(op: Op, rate: f64, fsyncs: f64, bytes: f64, bound: Option<Bound>) -> OpResult {
    OpResult {
        op,
        timing: timing(
            rate,
            1_000_000_000 / rate as u64,
            2_000_000_000 / rate as u64,
        ),
        found: matches!(op, Op::Get | Op::Delete).then_some(200),
        fsyncs_per_op: fsyncs,
        bytes_per_op: bytes,
        bound,
    }
}

/// A report with round numbers: snapshot at 10,000 keys commits at 1,300/s against a
/// recipe of 1,625/s (0.80×), memory gets at 2.5 M/s.
fn piped(
    phase: PipedPhase,
    statements: usize,
    rate: f64,
    per_commit: f64,
    fsyncs: f64,
    bytes: f64,
    bound: Option<PipedBound>,
) -> PipedResult {
    PipedResult {
        phase,
        statements,
        reps: 3,
        ops_per_sec: rate,
        min_ops_per_sec: rate * 0.9,
        max_ops_per_sec: rate * 1.1,
        statements_per_commit: per_commit,
        fsyncs_per_op: fsyncs,
        bytes_per_op: bytes,
        bound,
    }
}

fn synthetic() -> Report {
    let recipe = timing(1_625.0, 615_000, 900_000);
    let bound = Bound {
        limit: LimitKind::SnapshotRecipe,
        limit_timing: recipe,
        ratio: 0.8,
    };
    let memory = Memory {
        resident_bytes: 1_000_000,
        snapshot_bytes: 400_000,
        bytes_per_key: 100.0,
        ratio_to_snapshot: 2.5,
    };
    Report {
        machine: Machine {
            cpus: 2,
            cpu_model: Some("Test CPU".into()),
            kernel: Some("6.1.0".into()),
            memory_bytes: Some(4 << 30),
            filesystem: Some("tmpfs".into()),
            dir: "/tmp".into(),
        },
        reps: 3,
        warning: Some("the directory is on tmpfs, where fsync does nothing".into()),
        limits: Limits {
            record_bytes: 64,
            append_fdatasync: timing(7_900.0, 130_000, 250_000),
            overwrite_fdatasync: timing(11_500.0, 89_000, 150_000),
            by_size: vec![SizeLimits {
                n: 10_000,
                bytes: 400_000,
                snapshot_recipe: recipe,
                rewrite_unsynced: timing(5_000.0, 200_000, 300_000),
            }],
        },
        cases: vec![
            Case {
                mode: "memory".into(),
                n: 10_000,
                file_bytes: None,
                open_ns: None,
                keys_after_open: 10_000,
                memory: Some(memory),
                ops: vec![
                    op(Op::Put, 2_000_000.0, 0.0, 0.0, None),
                    op(Op::Get, 2_500_000.0, 0.0, 0.0, None),
                ],
            },
            Case {
                mode: "snapshot".into(),
                n: 10_000,
                file_bytes: Some(400_000),
                open_ns: Some(12_500_000),
                keys_after_open: 10_000,
                memory: Some(memory),
                ops: vec![
                    op(Op::Put, 1_300.0, 2.0, 399_990.0, Some(bound)),
                    op(Op::Overwrite, 1_300.0, 2.0, 400_000.0, Some(bound)),
                ],
            },
        ],
        piped: vec![
            PipedCase {
                mode: "memory".into(),
                n: 100_000,
                phases: vec![piped(
                    PipedPhase::Put,
                    100_000,
                    800_000.0,
                    0.0,
                    0.0,
                    0.0,
                    None,
                )],
            },
            PipedCase {
                mode: "wal".into(),
                n: 100_000,
                phases: vec![
                    piped(
                        PipedPhase::Put,
                        100_000,
                        650_000.0,
                        2_000.0,
                        0.0005,
                        47.0,
                        Some(PipedBound {
                            memory_ops_per_sec: 800_000.0,
                            ratio: 0.8125,
                        }),
                    ),
                    piped(
                        PipedPhase::Get,
                        100_000,
                        1_200_000.0,
                        0.0,
                        0.0,
                        0.0,
                        Some(PipedBound {
                            memory_ops_per_sec: 1_300_000.0,
                            ratio: 0.92,
                        }),
                    ),
                ],
            },
        ],
        async_puts: vec![AsyncPuts {
            mode: "wal".into(),
            sync: "1s".into(),
            n: 100_000,
            ops_per_sec: 420_000.0,
            memory_ops_per_sec: 800_000.0,
            vs_memory: 0.525,
            fsyncs_per_put: 0.0004,
        }],
        peers: None,
        targets: vec![
            TargetCheck {
                target: "snapshot commit at 10,000 keys ≥ 0.8 × the snapshot recipe".into(),
                measured: "0.80×".into(),
                met: true,
            },
            TargetCheck {
                target: "gets in memory ≥ 1,000,000/s".into(),
                measured: "slowest 900,000/s".into(),
                met: false,
            },
        ],
    }
}

#[test]
fn table_shows_limits_engine_figures_with_ratios_targets_and_the_warning() {
    let mut out = Vec::new();
    synthetic().render_table(&mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    // Each row's cells, whatever the column widths: every row starting so, and the first.
    let rows = |start: &str| -> Vec<String> {
        table
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|line| line.starts_with(start))
            .collect()
    };
    let row = |start: &str| {
        rows(start)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{table}"))
    };
    assert!(
        table.starts_with(
            "kv bench on 2 CPUs (Test CPU), 4.0 GiB RAM, Linux 6.1.0\n\
             Directory /tmp (tmpfs); 3 repetitions of everything, medians shown.\n\n\
             WARNING: the directory is on tmpfs, where fsync does nothing\n"
        ),
        "{table}"
    );
    assert_eq!(
        row("append + fdatasync"),
        "append + fdatasync 64 B 200 7,900 130 µs 250 µs"
    );
    assert_eq!(
        row("snapshot recipe"),
        "snapshot recipe 10,000 390.6 KiB 200 1,625 615 µs 900 µs"
    );
    // The engine's figures, then (in a table of its own) the limit that bounds them.
    assert_eq!(
        rows("snapshot 10,000 overwrite"),
        [
            "snapshot 10,000 overwrite 200 1,300 769 µs 1.54 ms 2 390.6 KiB",
            "snapshot 10,000 overwrite 1,300 snapshot recipe 1,625 0.80×"
        ]
    );
    // Memory mode touches no disk: no limit bounds it.
    assert_eq!(
        rows("memory 10,000 get"),
        ["memory 10,000 get 200 2,500,000 400 ns 800 ns 0 0 B"]
    );
    assert_eq!(
        rows("memory 10,000 put"),
        ["memory 10,000 put 200 2,000,000 500 ns 1.00 µs 0 0 B"]
    );
    assert_eq!(
        row("snapshot 10,000 390.6"),
        "snapshot 10,000 390.6 KiB 12.5 ms 100 B 40 B 2.50×"
    );
    assert_eq!(row("memory 10,000 -"), "memory 10,000 - - 100 B 40 B 2.50×");
    assert!(
        table.contains("  ✅ snapshot commit at 10,000 keys ≥ 0.8 × the snapshot recipe: 0.80×\n")
    );
    assert!(table.contains("  ❌ gets in memory ≥ 1,000,000/s: slowest 900,000/s\n"));
    assert_eq!(
        row("wal 100,000 put"),
        "wal 100,000 put 100,000 650,000 2,000 0.0005 47 B 0.81× (800,000/s)"
    );
    assert_eq!(
        row("wal 100,000 get"),
        "wal 100,000 get 100,000 1,200,000 - 0 0 B 0.92× (1,300,000/s)"
    );
    assert_eq!(
        row("memory 100,000 put"),
        "memory 100,000 put 100,000 800,000 - 0 0 B -"
    );
}

#[test]
fn every_line_of_the_report_fits_100_columns() {
    let mut out = Vec::new();
    synthetic().render_table(&mut out).unwrap();
    assert_fits_100_columns(&String::from_utf8(out).unwrap());
    // The widest figures a run gives: a long CPU name, a million keys, rates in the
    // millions, every bound, megabytes per operation.
    let mut wide = synthetic();
    wide.machine.cpu_model =
        Some("AMD EPYC 7B13 64-Core Processor with an unusually long model name".into());
    wide.machine.kernel = Some("6.18.44-fc-v1252-a-long-distribution-suffix".into());
    let slowest = timing(9_999_999.0, 999_000_000, 999_000_000);
    let bound = |limit| Bound {
        limit,
        limit_timing: slowest,
        ratio: 0.123,
    };
    for case in &mut wide.cases {
        case.n = 1_000_000;
        case.file_bytes = Some(999 << 30);
        case.ops = [Op::Put, Op::Overwrite, Op::Get, Op::Delete]
            .into_iter()
            .zip([
                LimitKind::AppendFdatasync,
                LimitKind::OverwriteFdatasync,
                LimitKind::SnapshotRecipe,
                LimitKind::RewriteUnsynced,
            ])
            .map(|(kind, limit)| {
                let mut result = op(kind, 9_999_999.0, 0.0005, 1023.5 * 1024.0 * 1024.0, None);
                result.timing = Timing {
                    ops: 1_000_000,
                    ..slowest
                };
                result.bound = Some(bound(limit));
                result
            })
            .collect();
    }
    for case in &mut wide.piped {
        case.n = 1_000_000;
        for phase in &mut case.phases {
            phase.statements = 1_000_000;
            phase.ops_per_sec = 9_999_999.0;
            phase.statements_per_commit = 99_999.0;
            phase.bytes_per_op = 1023.5 * 1024.0;
            phase.bound = Some(PipedBound {
                memory_ops_per_sec: 9_999_999.0,
                ratio: 0.123,
            });
        }
    }
    let mut out = Vec::new();
    wide.render_table(&mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert_fits_100_columns(&table);
    assert!(table.contains("9,999,999"), "{table}");
}

#[test]
fn json_parses_back_with_every_figure() {
    let report = synthetic();
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["reps"], 3);
    assert_eq!(json["machine"]["filesystem"], "tmpfs");
    assert_eq!(json["limits"]["record_bytes"], 64);
    assert_eq!(json["limits"]["overwrite_fdatasync"]["p50_ns"], 89_000);
    assert_eq!(json["limits"]["by_size"][0]["bytes"], 400_000);
    let snapshot = &json["cases"][1];
    assert_eq!(snapshot["mode"], "snapshot");
    assert_eq!(snapshot["open_ns"], 12_500_000);
    assert_eq!(snapshot["ops"][1]["op"], "overwrite");
    assert_eq!(snapshot["ops"][1]["fsyncs_per_op"].as_f64(), Some(2.0));
    assert_eq!(snapshot["ops"][1]["bound"]["limit"], "snapshot_recipe");
    assert_eq!(snapshot["ops"][1]["bound"]["ratio"].as_f64(), Some(0.8));
    assert_eq!(
        snapshot["ops"][1]["bound"]["limit_timing"]["ops_per_sec"].as_f64(),
        Some(1625.0)
    );
    assert_eq!(
        snapshot["ops"][1]["timing"]["ops_per_sec"].as_f64(),
        Some(1300.0)
    );
    assert_eq!(json["cases"][0]["open_ns"], Value::Null);
    assert_eq!(json["cases"][0]["ops"][1]["found"], 200);
    assert_eq!(
        json["cases"][0]["memory"]["ratio_to_snapshot"].as_f64(),
        Some(2.5)
    );
    assert_eq!(json["targets"][1]["met"], false);
    let wal_put = &json["piped"][1]["phases"][0];
    assert_eq!(wal_put["phase"], "put");
    assert_eq!(wal_put["statements"], 100_000);
    assert_eq!(wal_put["statements_per_commit"].as_f64(), Some(2000.0));
    assert_eq!(wal_put["bound"]["ratio"].as_f64(), Some(0.8125));
    assert_eq!(json["piped"][0]["phases"][0]["bound"], Value::Null);
    assert_eq!(
        json["warning"],
        "the directory is on tmpfs, where fsync does nothing"
    );
}

#[test]
fn targets_are_judged_on_the_reported_figures() {
    let mut report = synthetic();
    let checks = bench::evaluate_targets(&report);
    let verdicts: Vec<(&str, bool)> = checks
        .iter()
        .map(|check| (check.target.split(' ').next().unwrap(), check.met))
        .collect();
    // Snapshot at exactly 0.8× its recipe, gets at 2.5 M/s, memory at 2.5× the file,
    // piped wal puts at 650,000/s, piped gets at 1.2 M/s (memory's case has no get
    // phase: only the measured phases count).
    assert_eq!(
        verdicts,
        vec![
            ("snapshot", true),
            ("gets", true),
            ("resident", true),
            ("wal", true),
            ("piped", true)
        ],
        "{checks:#?}"
    );
    assert_eq!(checks[0].measured, "0.80× (1,300/s vs 1,625/s)");
    assert_eq!(checks[3].measured, "650,000/s, 2,000 statements per commit");
    assert_eq!(
        checks[4].measured,
        "slowest 1,200,000/s (wal mode, 100,000 keys)"
    );

    let snapshot = &mut report.cases[1];
    snapshot.ops[1].bound.as_mut().unwrap().ratio = 0.79;
    snapshot.memory.as_mut().unwrap().ratio_to_snapshot = 3.5;
    report.cases[0].ops[1].timing.ops_per_sec = 999_999.0;
    report.piped[1].phases[0].ops_per_sec = 599_999.0;
    report.piped[1].phases[1].ops_per_sec = 999_999.0;
    let checks = bench::evaluate_targets(&report);
    assert!(checks.iter().all(|check| !check.met), "{checks:#?}");
    assert!(
        checks[2].measured.starts_with("worst 3.50× (snapshot mode"),
        "{checks:#?}"
    );
}

/// `kv bench` is wired into the binary: a tiny run prints JSON that parses back, in a
/// directory it leaves empty, and a bad mode is a usage error with status 2.
#[test]
fn the_binary_runs_bench_as_a_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kv"))
        .args([
            "bench",
            "--quick",
            "--n",
            "20",
            "--reps",
            "1",
            "--modes",
            "memory,snapshot",
            "--json",
            "--dir",
        ])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report.is_object(), "{report}");
    // Memory is measured by the binary's hidden probe, one fresh process per store: a
    // figure for every case, and a store of 20 keys far less than a MiB (the binary's own
    // code pages, which a fresh process faults in on its first open, are not counted).
    for case in report["cases"].as_array().unwrap() {
        let resident = case["memory"]["resident_bytes"].as_u64();
        assert!(resident.is_some_and(|bytes| bytes < 1 << 20), "{case}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(["bench", "--modes", "fast"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
}

/// A wal transaction of 100 puts is judged against two single put commits plus the extra
/// time the disk took to write its bytes, all from the same case.
#[test]
fn a_log_transaction_is_judged_against_two_put_commits_and_its_bytes() {
    let limit = |rate: f64, p50_ns: u64| Bound {
        limit: LimitKind::OverwriteFdatasync,
        limit_timing: timing(rate, p50_ns, p50_ns * 2),
        ratio: 1.0,
    };
    let wal = |tx_rate: f64| Case {
        mode: "wal".into(),
        n: 10_000,
        file_bytes: None,
        open_ns: Some(1_000_000),
        keys_after_open: 10_000,
        memory: None,
        ops: vec![
            // A put commit of 100 µs beside a 90 µs record limit; the transaction's
            // bytes take the disk 30 µs more: 230 µs allowed.
            op(Op::Put, 10_000.0, 1.0, 51.0, Some(limit(11_000.0, 90_000))),
            op(
                Op::Transaction,
                tx_rate,
                1.0,
                5_100.0,
                Some(limit(8_300.0, 120_000)),
            ),
        ],
    };
    let judged = |tx_rate: f64| {
        let report = Report {
            cases: vec![wal(tx_rate)],
            piped: Vec::new(),
            ..synthetic()
        };
        let checks = bench::evaluate_targets(&report);
        let check = checks
            .into_iter()
            .find(|check| check.target.starts_with("wal tx of 100 puts"))
            .unwrap();
        (check.met, check.measured)
    };
    // 1/5,000 s = 200 µs: met. 1/4,000 s = 250 µs: not.
    assert_eq!(
        judged(5_000.0),
        (
            true,
            "0.87× (p50 200 µs vs put 100 µs + bytes 30.0 µs)".to_string()
        )
    );
    assert!(!judged(4_000.0).0);
}

/// The peers' table and targets from round figures.
#[test]
fn peer_rows_show_both_rates_and_kvs_ratio_and_the_targets_judge_them() {
    let result = |phase, statements, rate: f64, kv: f64| PeerResult {
        phase,
        statements,
        reps: 3,
        ops_per_sec: rate,
        min_ops_per_sec: rate * 0.9,
        max_ops_per_sec: rate * 1.1,
        kv_ops_per_sec: kv,
        kv_ratio: kv / rate,
    };
    let case = |peer: &str, kv_mode: &str, n: usize, put: f64, kv: f64| PeerCase {
        peer: peer.into(),
        description: format!("{peer}, described"),
        kv_mode: kv_mode.into(),
        n,
        phases: vec![
            result(PipedPhase::Put, n, put, kv),
            result(PipedPhase::Get, n, 140_000.0, 2_000_000.0),
            result(PipedPhase::Delete, n / 100, put, kv),
        ],
    };
    let mut report = synthetic();
    report.peers = Some(Peers {
        kv_runs_as: "the kv binary".into(),
        cases: vec![
            case("sqlite3 WAL", "wal", 10_000, 8_000.0, 8_800.0),
            case(
                "redis always --pipe",
                "wal --group-commit",
                1_000_000,
                9_999_999.0,
                4_999_999.5,
            ),
            case(
                "redis everysec",
                "wal --sync 1s",
                10_000,
                30_000.0,
                900_000.0,
            ),
        ],
        skipped: vec![SkippedPeer {
            peer: "sqlite3 rollback".into(),
            reason: "sqlite3 not installed (apt install sqlite3)".into(),
        }],
    });
    report.targets = bench::evaluate_targets(&report);
    let mut out = Vec::new();
    report.render_table(&mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    assert_fits_100_columns(&table);
    let rows: Vec<String> = table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "sqlite3 WAL 10,000 put 8,000 wal 8,800 1.10×",
        "sqlite3 WAL 10,000 get 140,000 wal 2,000,000 14×",
        "redis always --pipe 1,000,000 put 9,999,999 wal --group-commit 5,000,000 0.50×",
        "redis everysec 10,000 put 30,000 wal --sync 1s 900,000 30×",
        "sqlite3 rollback: skipped: sqlite3 not installed (apt install sqlite3)",
        "- redis everysec: redis everysec, described",
        "✅ wal puts ahead of sqlite3 WAL at 10,000 keys (same scripts, same run): 1.10× (8,800/s vs \
         8,000/s)",
    ] {
        assert!(
            rows.iter().any(|row| row == expected) || rows.join(" ").contains(expected),
            "no {expected:?} in\n{table}"
        );
    }
    // The --pipe peer is ahead: the target says so; everysec is no target.
    let verdicts: Vec<(String, bool)> = report
        .targets
        .iter()
        .filter(|check| check.target.contains(" puts ahead of "))
        .map(|check| (check.target.clone(), check.met))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "wal puts ahead of sqlite3 WAL at 10,000 keys (same scripts, same run)".to_string(),
                true
            ),
            (
                "wal --group-commit puts ahead of redis always --pipe at 1,000,000 keys (same \
                 scripts, same run)"
                    .to_string(),
                false
            ),
        ]
    );
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(
        json["peers"]["skipped"][0]["reason"],
        "sqlite3 not installed (apt install sqlite3)"
    );
    assert_eq!(
        json["peers"]["cases"][0]["phases"][0]["kv_ratio"].as_f64(),
        Some(1.1)
    );
}

//! `--sync` through the real binary (stage 5, asynchronous commit): the refusal in memory
//! and naive modes, `sync`, `stats`, `sleep` and the power cut's verdict on a simulated
//! disk, and the exits that make every acknowledged write durable first: the end of the
//! input (checked under `strace`: the log's last write is followed by its `fdatasync`)
//! and SIGTERM (the process syncs, then exits with 128 + 15).
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Sandbox;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_status(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn a_delayed_sync_is_refused_in_memory_and_naive_modes_with_exit_2() {
    for (mode, why) in [
        ("memory", "the memory mode has no file"),
        ("naive", "the naive mode never syncs its file"),
    ] {
        for sync in ["100ms", "never"] {
            let sandbox = Sandbox::new();
            let output = sandbox.run(
                &["--durability", mode, "--sync", sync, "db.json"],
                "put a 1\n",
            );
            assert_status(&output, 2);
            assert_eq!(text(&output.stdout), "");
            assert_eq!(
                text(&output.stderr),
                format!(
                    "error: sync policy {sync} applies only to the snapshot and wal modes: \
                     {why}, so there is no sync to delay\n"
                )
            );
            assert!(
                !sandbox.path("db.json").exists(),
                "{mode}: nothing is created"
            );
        }
    }
    // A malformed window is a usage error.
    let output = Sandbox::new().run(&["--sync", "0ms", "db.json"], "");
    assert_status(&output, 2);
    assert!(text(&output.stderr).contains("would sync at every commit: say always"));
}

#[test]
fn sync_says_how_many_acknowledged_writes_it_made_durable_and_stats_show_the_wait() {
    for mode in ["wal", "snapshot"] {
        let sandbox = Sandbox::new();
        let output = sandbox.run(
            &["--durability", mode, "--sync", "1h", "db.json"],
            "put a 1\nput b 2\ndelete a\nstats\nsync\nsync\nstats\n",
        );
        assert_status(&output, 0);
        let out = text(&output.stdout);
        assert!(
            out.contains("sync:             within 3600s (--sync): a write is acknowledged first")
                && out
                    .contains("not durable:      3 acknowledged writes, the oldest acknowledged ")
                && out.contains(
                    "synced: 3 acknowledged writes made durable\n\
                     synced: nothing was waiting (every acknowledged write was already durable)\n"
                )
                && out.contains("not durable:      none: every acknowledged write is durable\n"),
            "{mode}: {out}"
        );
        let reopened = sandbox.run(&["db.json", "dump"], "");
        assert_eq!(text(&reopened.stdout), "{\"b\":2}\n", "{mode}");
    }
}

#[test]
fn a_power_cut_under_a_sync_window_loses_only_writes_younger_than_the_window() {
    for mode in ["wal", "snapshot"] {
        let output = Sandbox::new().run(
            &[
                "--simulate",
                "--empty",
                "--durability",
                mode,
                "--sync",
                "1s",
                "db.json",
            ],
            "put a 1\nsleep 400ms\nput b 2\nsleep 700ms\nput c 3\ndelete a\npowercut\ndump\n",
        );
        assert_status(&output, 0);
        let out = text(&output.stdout);
        assert!(
            out.contains("slept 700 ms on the simulated clock: 1 delayed sync ran\n")
                && out.contains("lost (within the --sync window, as promised): a, c\n")
                && out.contains("every write acknowledged more than 1s before survived\n")
                && out.ends_with("{\"a\":1,\"b\":2}\n")
                && !out.contains("LOST"),
            "{mode}: {out}"
        );
    }
}

#[test]
fn sleep_needs_the_simulated_clock_of_a_delayed_sync() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["--durability", "wal", "--sync", "1s", "db.json"],
        "sleep 1s\n",
    );
    assert_status(&output, 1);
    assert_eq!(
        text(&output.stderr),
        "error: line 1: sleep moves the simulated clock of a delayed sync: run kv --simulate \
         --sync DURATION PATH\n"
    );
}

/// Whether strace can run here (some sandboxes forbid ptrace).
fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The lines of an `strace -y` trace that write to or sync `file` (`db.json.wal`), in
/// order, each as `write` or `sync`.
fn writes_and_syncs(trace: &str, file: &str) -> Vec<&'static str> {
    let target = format!("/{file}>");
    trace
        .lines()
        .filter(|line| line.contains(&target))
        .filter_map(|line| {
            let call = line.split_whitespace().nth(1)?;
            if call.starts_with("pwrite") || call.starts_with("write") {
                Some("write")
            } else if call.starts_with("fdatasync") || call.starts_with("fsync") {
                Some("sync")
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn the_end_of_the_input_syncs_the_log_before_the_process_ends() {
    if !strace_works() {
        // Said on stderr, where a skip shows; the SIGTERM test below needs no strace.
        let _ = writeln!(std::io::stderr(), "strace cannot run here: skipped");
        return;
    }
    let sandbox = Sandbox::new();
    let trace_file = sandbox.path("trace.txt");
    let mut child = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-e",
            "trace=pwrite64,write,fdatasync,fsync",
            "-o",
        ])
        .arg(&trace_file)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_kv"))
        .args(["--durability", "wal", "--sync", "1h", "db.json"])
        .current_dir(sandbox.dir.path())
        .env("HOME", sandbox.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"put a 1\nput b 2\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_status(&output, 0);
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let log = writes_and_syncs(&trace, "db.json.wal");
    // The log is created and synced, the two records (waiting on the pipe together, so
    // appended in one write) are written unsynced (an hour's window), and the exit syncs
    // them.
    assert_eq!(
        log.iter().rev().take(2).collect::<Vec<_>>(),
        [&"sync", &"write"],
        "{log:?}\n{trace}"
    );
}

/// Starts `kv ARGS`, pipes it `put a 1` and `put b 2`, and waits for both `OK`s; returns
/// the running process and its stdin (open: the input has not ended).
fn put_a_and_b(
    sandbox: &Sandbox,
    args: &[&str],
) -> (std::process::Child, std::process::ChildStdin) {
    let mut child = sandbox.spawn(args);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"put a 1\nput b 2\n").unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "OK\n", "{args:?}");
    }
    (child, stdin)
}

#[test]
fn sigterm_makes_every_acknowledged_write_durable_then_exits_with_143() {
    for mode in ["wal", "snapshot"] {
        let sandbox = Sandbox::new();
        let (mut child, stdin) =
            put_a_and_b(&sandbox, &["--durability", mode, "--sync", "1h", "db.json"]);
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let until = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < until, "{mode}: kv did not end on SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        };
        // Our handler's status, not a death by the signal (which has no code).
        assert_eq!(status.code(), Some(143), "{mode}");
        drop(stdin);
        // Snapshot mode's journal was folded into the snapshot and removed by the seal.
        assert_eq!(
            sandbox.path("db.json.wal").exists(),
            mode == "wal",
            "{mode}"
        );
        let reopened = sandbox.run(&["db.json", "dump"], "");
        assert_eq!(text(&reopened.stdout), "{\"a\":1,\"b\":2}\n", "{mode}");
    }
}

/// A `snapshot --sync` session killed with SIGKILL leaves its journal (`db.json.wal`),
/// holding the acknowledged writes the last snapshot lacks. The next `kv db.json`, given no
/// mode, opens it in snapshot mode, the mode the journal says it was written in (not wal,
/// as for any other log), folds the journal into the snapshot and removes it; nothing
/// acknowledged is lost.
#[test]
fn a_killed_snapshot_session_leaves_a_journal_that_the_next_open_folds_in_snapshot_mode() {
    let sandbox = Sandbox::new();
    let (mut child, stdin) = put_a_and_b(&sandbox, &["--sync", "1h", "db.json"]);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(sandbox.path("db.json.wal").exists(), "the journal is left");

    let output = sandbox.run(&["db.json"], "stats\ndump\n");
    assert_status(&output, 0);
    let stdout = text(&output.stdout);
    assert_eq!(
        common::row(&stdout, "mode"),
        "snapshot (the database has a snapshot journal)",
        "{stdout}"
    );
    assert!(stdout.ends_with("{\"a\":1,\"b\":2}\n"), "{stdout}");
    assert!(
        text(&output.stderr).contains("folded"),
        "the fold is reported: {}",
        text(&output.stderr)
    );
    assert!(!sandbox.path("db.json.wal").exists(), "the journal is gone");
    assert_eq!(
        std::fs::read_to_string(sandbox.path("db.json")).unwrap(),
        "{\"a\":1,\"b\":2}\n"
    );
}

/// With a delayed sync, the writes waiting on a pipe are appended together (one write for
/// the run, as Redis appends pipelined commands): the output is exactly what a run that
/// commits each statement alone prints, errors and transactions included.
#[test]
fn a_delayed_sync_prints_what_a_synchronous_run_prints() {
    let script = "put a 1\nput b {\"x\": [1, 2]}\ndelete a\ndelete nope\nget b\nput c\n\
                  put d 4\nput e 5\ncount\nbegin\nput f 6\ndelete d\ncommit\ndump\nkeys\n";
    for mode in ["wal", "snapshot"] {
        let [always, delayed] = ["always", "1h"].map(|sync| {
            Sandbox::new().run(&["--durability", mode, "--sync", sync, "db.json"], script)
        });
        assert_eq!(
            String::from_utf8_lossy(&delayed.stdout),
            String::from_utf8_lossy(&always.stdout),
            "{mode}"
        );
        assert_eq!(
            String::from_utf8_lossy(&delayed.stderr),
            String::from_utf8_lossy(&always.stderr),
            "{mode}"
        );
        assert_eq!(delayed.status.code(), always.status.code(), "{mode}");
        assert!(
            String::from_utf8_lossy(&always.stdout).contains("OK (2 mutations)"),
            "{always:?}"
        );
    }
}

#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! `--durability wal` through the real `kv` binary: the warning when open cuts a torn
//! tail, `checkpoint`, the log's rows in `stats`, and the `kv check` / `kv repair`
//! subcommands on damaged logs.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Sandbox;
use kv::shell::cli::Status;
use kv::shell::maintenance::{RepairArgs, run_repair};

impl Sandbox {
    fn wal(&self, stdin: &str) -> Output {
        self.run(&["--durability", "wal", "db.json"], stdin)
    }

    /// Every file in the sandbox and its bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).unwrap(),
                )
            })
            .collect()
    }

    fn patch_log(&self, offset: usize, bytes: &[u8]) {
        let path = self.path("db.json.wal");
        let mut log = std::fs::read(&path).unwrap();
        log[offset..offset + bytes.len()].copy_from_slice(bytes);
        std::fs::write(&path, log).unwrap();
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status, stdout and stderr exactly, showing all three on failure.
#[track_caller]
fn check(output: &Output, status: i32, out: &str, err: &str) {
    let context = format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    assert_eq!(output.status.code(), Some(status), "{context}");
    assert_eq!(stdout(output), out, "{context}");
    assert_eq!(stderr(output), err, "{context}");
}

/// The `log size:` rows of a `stats` output, in order.
fn log_sizes(output: &Output) -> Vec<usize> {
    stdout(output)
        .lines()
        .filter_map(|line| line.strip_prefix("log size:"))
        .map(|rest| {
            let bytes = rest.split_whitespace().next().unwrap();
            bytes.parse().unwrap()
        })
        .collect()
}

/// Where the commit after a log of `size` bytes starts: every commit starts on a fresh
/// 512-byte sector.
fn next_commit(size: usize) -> usize {
    size.div_ceil(512) * 512
}

/// The offset of the log's last non-zero byte: a torn tail runs to there.
fn last_non_zero(sandbox: &Sandbox) -> usize {
    let log = std::fs::read(sandbox.path("db.json.wal")).unwrap();
    log.iter().rposition(|&byte| byte != 0).unwrap()
}

/// A wal database holding `a` then `b`: where `b`'s commit starts, and where it ends.
fn two_records(sandbox: &Sandbox) -> (usize, usize) {
    let output = sandbox.wal("put a 1\nstats\nput b 2\nstats\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let sizes = log_sizes(&output);
    assert_eq!(sizes.len(), 2, "{}", stdout(&output));
    (next_commit(sizes[0]), sizes[1])
}

#[test]
fn open_cuts_a_torn_last_record_with_a_warning_and_keeps_the_prefix() {
    let sandbox = Sandbox::new();
    let (first_end, second_end) = two_records(&sandbox);
    // A crash mid-append: the last record's final bytes never reached the disk.
    sandbox.patch_log(second_end - 2, &[0, 0]);
    let torn = last_non_zero(&sandbox) + 1 - first_end;
    let output = sandbox.wal("dump\n");
    check(
        &output,
        0,
        "{\"a\":1}\n",
        &format!(
            "warning: db.json.wal: cut off a torn tail of {torn} bytes at offset {first_end} \
             (record checksum does not match); it held only unacknowledged writes\n"
        ),
    );
    // The cut is made once: the next open finds a clean log.
    check(&sandbox.wal("dump\n"), 0, "{\"a\":1}\n", "");
}

#[test]
fn open_cuts_garbage_appended_after_the_last_record_with_a_warning() {
    let sandbox = Sandbox::new();
    let (_, end) = two_records(&sandbox);
    sandbox.patch_log(end, &[0xab; 10]);
    let output = sandbox.run(&["--durability", "wal", "db.json", "-c", "dump"], "");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "{\"a\":1,\"b\":2}\n");
    let err = stderr(&output);
    assert!(
        err.starts_with(&format!(
            "warning: db.json.wal: cut off a torn tail of 10 bytes at offset {end} ("
        )) && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn checkpoint_folds_the_log_and_says_so_and_is_a_no_op_without_a_log() {
    let sandbox = Sandbox::new();
    let output = sandbox.wal("put a 1\nput b 2\ncheckpoint\nstats\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[2],
        "checkpoint: folded 2 logged records into a new snapshot (14 bytes); the log went \
         from 1051 bytes (1.0 KiB) to 512 bytes"
    );
    for row in [
        "mode:          wal (--durability)\n",
        "size on disk:  1048590 bytes (1.0 MiB): snapshot 14 bytes + log 1.0 MiB\n",
        "mutations:     2 (puts and deletes committed)\n",
        "log size:      512 bytes in use of a 1.0 MiB file; the rest is preallocated zeros\n",
        "log records:   0 since the last checkpoint\n",
        "checkpoints:   1\n",
    ] {
        assert!(out.contains(row), "{row:?} missing:\n{out}");
    }
    assert!(
        out.contains("per mutation:  ")
            && out.contains(" bytes of data written (write amplification: "),
        "{out}"
    );
    assert_eq!(
        std::fs::read(sandbox.path("db.json")).unwrap(),
        b"{\"a\":1,\"b\":2}\n"
    );
    for (mode, args) in [
        // Explicitly: without --durability a database with a log stays in wal mode.
        ("snapshot", &["--durability", "snapshot", "db.json"][..]),
        ("naive", &["--durability", "naive", "db.json"][..]),
        ("memory", &[][..]),
    ] {
        let output = sandbox.run(args, "checkpoint\n");
        check(
            &output,
            0,
            &format!("nothing to checkpoint: {mode} mode keeps no log (only wal mode has one)\n"),
            // Opening a wal database in another mode folds its log first.
            if mode == "snapshot" {
                "warning: db.json: folded 0 logged mutations into the snapshot and removed the log\n"
            } else {
                ""
            },
        );
    }
}

#[test]
fn stats_shows_the_log_rows_only_in_wal_mode() {
    let sandbox = Sandbox::new();
    let output = sandbox.wal("put a 1\nstats\n");
    let out = stdout(&output);
    assert!(
        out.contains("log records:   1 since the last checkpoint\n"),
        "{out}"
    );
    assert!(out.contains("checkpoints:   0\n"), "{out}");
    let output = sandbox.run(&["snapshot.json"], "put a 1\nstats\n");
    let out = stdout(&output);
    assert!(!out.contains("log size:"), "{out}");
    assert!(
        out.contains("per mutation:  ") && out.contains(" bytes written (write amplification)"),
        "{out}"
    );
}

#[test]
fn check_reports_a_healthy_database_and_exits_0() {
    let sandbox = Sandbox::new();
    let (_, end) = two_records(&sandbox);
    let before = sandbox.files();
    let output = sandbox.run(&["check", "db.json"], "");
    check(
        &output,
        0,
        &format!(
            "snapshot db.json: absent\n\
             log db.json.wal: generation 1, 2 records after sequence number 0 (last 2), \
             {end} of 1048576 bytes used\n\
             log tail: clean\n\
             opens with 2 keys\n\
             verdict: healthy\n"
        ),
        "",
    );
    assert_eq!(sandbox.files(), before, "check changed a file");
}

#[test]
fn check_reports_a_torn_tail_exits_1_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let (first_end, second_end) = two_records(&sandbox);
    sandbox.patch_log(second_end - 1, &[0]);
    let torn = last_non_zero(&sandbox) + 1 - first_end;
    let before = sandbox.files();
    let output = sandbox.run(&["check", "db.json"], "");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(
        out.contains(&format!(
            "log tail: torn at offset {first_end}, {torn} bytes (record checksum does not \
             match); open cuts it off\n"
        )),
        "{out}"
    );
    assert!(out.contains("opens with 1 key\n"), "{out}");
    assert!(
        out.ends_with(
            "verdict: opens, after the repair that opening makes by itself (shown above)\n"
        ),
        "{out}"
    );
    assert_eq!(sandbox.files(), before, "check changed a file");
}

#[test]
fn a_flipped_byte_mid_log_is_corruption_that_repair_cuts_keeping_a_backup() {
    let sandbox = Sandbox::new();
    let output = sandbox.wal("put a 1\nstats\nput b 2\nput c 3\nstats\n");
    let sizes = log_sizes(&output);
    let (first_end, end) = (next_commit(sizes[0]), sizes[1]);
    // Damage inside the second record; the third is intact after it.
    sandbox.patch_log(first_end + 9, &[0xff]);
    let before = sandbox.files();

    let output = sandbox.run(&["check", "db.json"], "");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(
        out.contains(&format!("log: corrupt at offset {first_end}: ")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "repair would cut {} bytes from offset {first_end}, losing 1 valid record",
            end - first_end
        )),
        "{out}"
    );
    assert!(out.contains("does not open\nverdict: DAMAGED"), "{out}");
    assert_eq!(sandbox.files(), before, "check changed a file");

    // The store refuses to open it, naming the file and the offset.
    let output = sandbox.wal("dump\n");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("{first_end}")),
        "{}",
        stderr(&output)
    );
    assert_eq!(sandbox.files(), before, "a refused open changed a file");

    // Without a terminal to ask on, and without --yes, repair refuses.
    let output = sandbox.run(&["repair", "db.json"], "y\n");
    assert_eq!(output.status.code(), Some(2));
    // Each offset once, and no parentheses inside parentheses.
    let plan = stdout(&output);
    let later = next_commit(first_end + 1);
    assert_eq!(
        plan,
        format!(
            "repair would cut db.json.wal at offset {first_end}, where the damage starts: \
             record checksum does not match, yet a valid record of a later commit, sequence \
             number 3, follows at offset {later}. The cut drops {} bytes holding 1 valid \
             record written after the damage, which changes 1 key: \"c\"; a backup is kept\n",
            end - first_end
        ),
    );
    assert!(!plan.contains('('), "{plan}");
    assert!(
        stderr(&output).contains("pass --yes"),
        "{}",
        stderr(&output)
    );
    assert_eq!(sandbox.files(), before, "a refused repair changed a file");

    let output = sandbox.run(&["repair", "db.json", "--yes"], "");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let backup = sandbox.path("db.json.wal.cut-1");
    assert!(
        stdout(&output).ends_with(
            "repaired; what was cut is kept in db.json.wal.cut-1\ndb.json now opens with 1 key\n"
        ),
        "{}",
        stdout(&output)
    );
    // The backup holds exactly the bytes cut from the log.
    let old_log = &before["db.json.wal"];
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        old_log[first_end..end].to_vec()
    );
    check(&sandbox.wal("dump\n"), 0, "{\"a\":1}\n", "");
    assert_eq!(
        sandbox.run(&["check", "db.json"], "").status.code(),
        Some(0)
    );
    // Nothing left to repair.
    let output = sandbox.run(&["repair", "db.json"], "");
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).starts_with("nothing to repair"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_exits_2_when_there_is_no_database_or_the_snapshot_is_unreadable() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["check", "missing.json"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).ends_with(
            "verdict: no database at missing.json (neither the file nor its log exists)\n"
        ),
        "{}",
        stdout(&output)
    );
    std::fs::write(sandbox.path("db.json"), "{\"a\": ").unwrap();
    let before = sandbox.files();
    let output = sandbox.run(&["check", "db.json"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("verdict: UNREADABLE"),
        "{}",
        stdout(&output)
    );
    assert_eq!(sandbox.files(), before);
}

/// A database whose log is damaged mid-way, for the repair dialogue.
fn damaged(sandbox: &Sandbox) -> PathBuf {
    let output = sandbox.wal("put a 1\nstats\nput b 2\nput c 3\n");
    let first_end = next_commit(log_sizes(&output)[0]);
    sandbox.patch_log(first_end + 9, &[0xff]);
    sandbox.path("db.json")
}

fn dialogue(path: &Path, answer: &str) -> (Status, String, String) {
    let args = RepairArgs {
        path: path.to_path_buf(),
        yes: false,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = run_repair(&args, true, &mut answer.as_bytes(), &mut out, &mut err);
    (
        status,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn repair_asks_on_a_terminal_and_only_yes_cuts() {
    for answer in ["n\n", "\n", "", "maybe\n"] {
        let sandbox = Sandbox::new();
        let path = damaged(&sandbox);
        let before = sandbox.files();
        let (status, out, err) = dialogue(&path, answer);
        assert_eq!(status, Status::CommandFailed, "{answer:?}");
        assert_eq!(err, "Cut the log? [y/N] ");
        assert!(
            out.ends_with("repair cancelled: nothing was changed\n"),
            "{out}"
        );
        assert_eq!(sandbox.files(), before, "{answer:?}");
    }
    for answer in ["y\n", "YES\n"] {
        let sandbox = Sandbox::new();
        let path = damaged(&sandbox);
        let (status, out, _) = dialogue(&path, answer);
        assert_eq!(status, Status::Success, "{answer:?}: {out}");
        assert!(out.contains("repaired; what was cut is kept in "), "{out}");
        assert!(sandbox.path("db.json.wal.cut-1").exists());
    }
}

#[test]
fn save_under_simulate_writes_the_log_too_and_the_real_database_opens_with_it() {
    let sandbox = Sandbox::new();
    let simulate = ["--simulate", "--durability", "wal", "db.json"];
    // Only a log: no checkpoint has written a snapshot yet.
    let output = sandbox.run(&simulate, "put a 1\nput b 2\nsave\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let log = std::fs::metadata(sandbox.path("db.json.wal"))
        .unwrap()
        .len();
    assert!(
        stdout(&output).ends_with(&format!(
            "saved db.json: 0 B snapshot and {log} B log, 2 keys (in a checkpoint's order: \
             the log as .wal.next, the snapshot, then the log renamed into place)\n"
        )),
        "{}",
        stdout(&output)
    );
    check(&sandbox.wal("dump\n"), 0, "{\"a\":1,\"b\":2}\n", "");
    // A snapshot and a log: the next simulation loads both, and saves both back.
    let output = sandbox.run(&simulate, "dump\ncheckpoint\nput c 3\nsave\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("{\"a\":1,\"b\":2}\n"),
        "the log was loaded: {}",
        stdout(&output)
    );
    check(&sandbox.wal("dump\n"), 0, "{\"a\":1,\"b\":2,\"c\":3}\n", "");
    assert_eq!(
        sandbox.run(&["check", "db.json"], "").status.code(),
        Some(0)
    );
    // Saved from snapshot mode (asked for: without it a database with a log stays in wal
    // mode), the folded log must not stay beside the new snapshot.
    let output = sandbox.run(
        &["--simulate", "--durability", "snapshot", "db.json"],
        "put d 4\nsave\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!sandbox.path("db.json.wal").exists());
    check(
        &sandbox.run(&["db.json"], "dump\n"),
        0,
        "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}\n",
        "",
    );
    // Nothing but the database and its lock is left behind.
    let names: Vec<String> = sandbox.files().into_keys().collect();
    assert_eq!(names, ["db.json", "db.json.lock"]);
}

#[test]
fn a_memory_open_of_an_interrupted_checkpoint_says_what_a_writer_would_do_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let output = sandbox.wal("put alice 1\ncrash mid-checkpoint\nput alice 2\ncheckpoint\n");
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    let before = sandbox.files();
    assert!(before.contains_key("db.json.wal.next"), "{before:?}");
    let output = sandbox.run(
        &["--durability", "memory", "db.json", "-c", "get alice"],
        "",
    );
    check(
        &output,
        0,
        "2\n",
        "warning: db.json: found a checkpoint interrupted after installing its snapshot; \
         left as it is (opened read-only): a writer opening it will finish it\n",
    );
    assert_eq!(sandbox.files(), before);

    // A checkpoint killed before its snapshot: the new log is ignored, and left.
    let output = sandbox.wal("get alice\n");
    check(
        &output,
        0,
        "2\n",
        "warning: db.json: finished a checkpoint that was interrupted after writing its \
         snapshot\n",
    );
    std::fs::write(sandbox.path("db.json.wal.next"), b"").unwrap();
    let before = sandbox.files();
    let output = sandbox.run(
        &["--durability", "memory", "db.json", "-c", "get alice"],
        "",
    );
    check(
        &output,
        0,
        "2\n",
        "warning: db.json: found the unused new log of a checkpoint interrupted before its \
         snapshot was installed; ignored and left on disk (opened read-only): a writer \
         opening it will remove it\n",
    );
    assert_eq!(sandbox.files(), before);
}

/// A snapshot `{a:1}` and a log of 3 records after it, changing `b` and `c`.
fn snapshot_and_three_records(sandbox: &Sandbox) {
    let output = sandbox.wal("put a 1\ncheckpoint\nput b 2\nput c 3\nput b 4\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

const DROPS_THREE: &str = "it holds 3 valid records, which change 2 keys: \"b\", \"c\"; no cut \
                           can keep any of them, since the log cannot be used at all: the \
                           database becomes the snapshot alone and loses all 3; a backup is \
                           kept\n";

/// `kv repair` without a terminal: it shows its plan, then refuses to act unasked.
fn shown_plan(sandbox: &Sandbox) -> String {
    let before = sandbox.files();
    let output = sandbox.run(&["repair", "db.json"], "");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("pass --yes"),
        "{}",
        stderr(&output)
    );
    assert_eq!(sandbox.files(), before, "a refused repair changed a file");
    stdout(&output)
}

#[test]
fn repair_of_a_log_with_a_flipped_header_bit_says_how_many_records_and_keys_it_drops() {
    let sandbox = Sandbox::new();
    snapshot_and_three_records(&sandbox);
    let log_len = std::fs::metadata(sandbox.path("db.json.wal"))
        .unwrap()
        .len();
    let byte = std::fs::read(sandbox.path("db.json.wal")).unwrap()[20];
    sandbox.patch_log(20, &[byte ^ 0x08]);
    assert_eq!(
        shown_plan(&sandbox),
        format!(
            "repair would set the whole log db.json.wal aside ({log_len} bytes: bad log header: \
             the log header's checksum does not match); {DROPS_THREE}"
        )
    );

    // On a terminal, the question names the loss too.
    let (status, out, err) = dialogue(&sandbox.path("db.json"), "n\n");
    assert_eq!(status, Status::CommandFailed);
    assert!(out.contains(DROPS_THREE), "{out}");
    assert_eq!(err, "Set the whole log aside, losing its 3 records? [y/N] ");
}

#[test]
fn repair_of_a_snapshot_that_lost_its_trailing_newline_says_how_many_records_it_drops() {
    let sandbox = Sandbox::new();
    snapshot_and_three_records(&sandbox);
    let snapshot = std::fs::read(sandbox.path("db.json")).unwrap();
    std::fs::write(sandbox.path("db.json"), &snapshot[..snapshot.len() - 1]).unwrap();
    let shown = shown_plan(&sandbox);
    assert!(
        shown.starts_with("repair would set the whole log db.json.wal aside ("),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "the log continues a snapshot of {} bytes with CRC32C ",
            snapshot.len()
        )) && shown.contains(&format!(
            "but db.json is a snapshot of {} bytes",
            snapshot.len() - 1
        )),
        "{shown}"
    );
    assert!(shown.ends_with(DROPS_THREE), "{shown}");
}

#[test]
fn check_and_a_memory_open_call_a_database_healthy_while_a_kv_writer_checkpoints_it() {
    let sandbox = Sandbox::new();
    assert_eq!(
        sandbox.wal("put seed 0\ncheckpoint\n").status.code(),
        Some(0)
    );
    // A writer holding the lock, checkpointing after every put while the readers run.
    let mut writer = Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(["--durability", "wal", "db.json"])
        .current_dir(sandbox.dir.path())
        .env("HOME", sandbox.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = writer.stdin.take().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let checkpoint = if n % 4 == 0 { "checkpoint\n" } else { "" };
                if write!(pipe, "put k{} {n}\n{checkpoint}", n % 8).is_err() {
                    break;
                }
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let mut wrong = Vec::new();
    for _ in 0..10 {
        let output = sandbox.run(&["check", "db.json"], "");
        if output.status.code() != Some(0) || !stdout(&output).ends_with("verdict: healthy\n") {
            wrong.push(format!("check: {}{}", stdout(&output), stderr(&output)));
        }
        let output = sandbox.run(&["--durability", "memory", "db.json", "-c", "get seed"], "");
        if output.status.code() != Some(0) || stdout(&output) != "0\n" || !output.stderr.is_empty()
        {
            wrong.push(format!(
                "memory open: {}{}",
                stdout(&output),
                stderr(&output)
            ));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    feeder.join().unwrap();
    let output = writer.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        wrong.is_empty(),
        "{} wrong of 20:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn counts_of_one_are_singular() {
    let sandbox = Sandbox::new();
    let output = sandbox.wal("put a 1\n");
    check(&output, 0, "OK\n", "");
    let output = sandbox.run(&["check", "db.json"], "");
    let out = stdout(&output);
    assert!(
        out.contains("log db.json.wal: generation 1, 1 record after sequence number 0"),
        "{out}"
    );
    assert!(out.contains("opens with 1 key\n"), "{out}");
    let output = sandbox.run(&["--durability", "snapshot", "db.json"], "count\n");
    check(
        &output,
        0,
        "1\n",
        "warning: db.json: folded 1 logged mutation into the snapshot and removed the log\n",
    );
    let output = sandbox.run(&["check", "db.json"], "");
    assert!(
        stdout(&output).starts_with("snapshot db.json: 1 key, 8 bytes\n"),
        "{}",
        stdout(&output)
    );
}

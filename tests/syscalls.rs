#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failing test
//! The real binary, not only the model: `kv` runs under `strace -f -y`, and the recorded
//! system calls are checked against the durability protocol (see `tests/strace/mod.rs` for
//! the rules) in snapshot and wal mode, each with and without `--group-commit`: the temp
//! file is fsynced before its rename and the directory after it, a checkpoint's new log and
//! its name are durable before the snapshot that relies on it is installed, and no `OK`
//! reaches stdout before the sync that makes its put durable.
//!
//! Each test also alters its real trace (an fsync or fdatasync deleted, an `OK` moved before
//! the sync) and asserts that the checker refuses it: a test that cannot fail proves nothing.
//!
//! These tests need `strace` (and permission to ptrace, which some sandboxes refuse).
//! Without it they fail, saying how to install it (`.ci/run` installs it when missing);
//! `KV_SKIP_STRACE=1` turns that failure into a skip that prints that it skipped.
//!
//! `CARGO_BIN_EXE_kv` is the debug binary under `cargo test` and the release one under
//! `cargo test --release`: the profile changes no system call (nothing in the I/O path
//! depends on `debug_assertions`), so either is checked the same way.

mod strace;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use strace::{Call, Event, TRACED_CALLS, check, parse};

/// Whether strace can trace here. `None`: go on. `Some(message)`: it cannot.
fn strace_problem() -> Option<String> {
    match Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
    {
        Err(err) => Some(format!(
            "strace could not be run ({err}); install it (apt-get install strace)"
        )),
        Ok(output) if !output.status.success() => Some(format!(
            "`strace -f true` fails here (is ptrace forbidden?): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// True when the test should go on; panics (or, with `KV_SKIP_STRACE=1`, says it skipped)
/// when strace cannot be used.
fn strace_usable(test: &str) -> bool {
    let Some(problem) = strace_problem() else {
        return true;
    };
    if std::env::var("KV_SKIP_STRACE").is_ok_and(|value| value == "1") {
        // Straight to stderr: the test harness captures `eprintln!`, and a skip must show.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: SKIPPED because KV_SKIP_STRACE=1: {problem}"
        );
        return false;
    }
    panic!("{problem}; or set KV_SKIP_STRACE=1 to skip the system-call tests");
}

/// One traced run: what kv printed, and the trace text.
struct Traced {
    stdout: String,
    trace: String,
}

/// Runs `kv ARGS` under strace in `db_dir`, with stdin read from a file holding `script`
/// (every line already waiting, so group commit's batches do not depend on a pipe's timing).
fn traced_run(db_dir: &Path, args: &[&str], script: &str) -> Traced {
    let work = db_dir.parent().unwrap();
    let input = work.join("script.kv");
    let trace_file = work.join("trace.txt");
    std::fs::write(&input, script).unwrap();
    let output = Command::new("strace")
        // -y: descriptors print as `4</dir/file>`; -s: enough of each write to see the
        // keys and the OKs (the log's 1 MiB of preallocated zeros gets cut, harmlessly).
        .args(["-f", "-y", "-s", "4096", "-e"])
        .arg(format!("trace={}", TRACED_CALLS.replace(' ', "")))
        .arg("-o")
        .arg(&trace_file)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_kv"))
        .args(args)
        .current_dir(db_dir)
        .env("HOME", work)
        .stdin(Stdio::from(std::fs::File::open(&input).unwrap()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kv {args:?} under strace: {:?}\n{stderr}",
        output.status
    );
    Traced {
        stdout: String::from_utf8(output.stdout).unwrap(),
        trace: std::fs::read_to_string(&trace_file).unwrap(),
    }
}

/// A database directory inside a work directory (the script and trace live beside it, so
/// nothing of the test's own sits among the database's files).
fn database() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    // Canonical, as strace's -y paths are (a /tmp behind a symlink would differ).
    let db_dir = work.path().canonicalize().unwrap().join("db");
    std::fs::create_dir(&db_dir).unwrap();
    let path = db_dir.join("db.json");
    (work, db_dir, path)
}

/// The keys put by `script`, in order: each put prints one `OK`.
fn put_keys(script: &str) -> Vec<&str> {
    script
        .lines()
        .filter_map(|line| line.strip_prefix("put "))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect()
}

fn events(trace: &str, db_dir: &Path) -> Vec<Event> {
    parse(trace, db_dir).unwrap_or_else(|err| panic!("{err}\n--- trace ---\n{trace}"))
}

/// Checks a trace that must pass, and returns its events.
fn assert_passes(traced: &Traced, db_dir: &Path, path: &Path, keys: &[&str], what: &str) {
    let events = events(&traced.trace, db_dir);
    let summary = check(&events, path, keys)
        .unwrap_or_else(|err| panic!("{what}: {err}\n{}", excerpt(&traced.trace, db_dir)));
    // A trace in which the checker saw nothing would pass vacuously.
    assert_eq!(summary.oks, keys.len(), "{what}");
    assert!(summary.file_syncs >= 1, "{what}: {summary:?}");
    assert!(summary.dir_syncs >= 1, "{what}: {summary:?}");
    assert_eq!(
        traced.stdout.lines().filter(|line| *line == "OK").count(),
        keys.len(),
        "{what}: {}",
        traced.stdout
    );
}

/// Asserts that the checker refuses `altered` (a real trace with a line removed or moved),
/// with a message containing `expected`.
fn assert_refused(altered: &str, db_dir: &Path, path: &Path, keys: &[&str], expected: &str) {
    let events = events(altered, db_dir);
    match check(&events, path, keys) {
        Ok(summary) => panic!(
            "the checker accepted a trace altered to break the protocol ({expected}): \
             {summary:?}\n{}",
            excerpt(altered, db_dir)
        ),
        Err(message) => assert!(
            message.contains(expected),
            "expected a refusal mentioning {expected:?}, got: {message}"
        ),
    }
}

/// The lines of `trace` about the database's directory (renames and unlinks name it relative
/// to the working directory) or stdout, numbered as the
/// checker's messages number them (the dynamic loader's lines are left out).
fn excerpt(trace: &str, db_dir: &Path) -> String {
    let dir = format!("<{}", db_dir.display());
    let mut text = String::from("--- trace (lines on the database and stdout) ---\n");
    for (index, line) in trace.lines().enumerate() {
        let about_dir = line.contains(&dir) && !line.contains(&format!("{dir}>, \"/"));
        let relative = ["rename(", "unlink("]
            .iter()
            .any(|call| line.contains(call));
        if about_dir || relative || line.contains("write(1<") {
            // A preallocation's megabyte of zeros is cut (it is at most `-s` long anyway).
            let shown: String = line.chars().take(300).collect();
            text.push_str(&format!("{:>4} {shown}\n", index + 1));
        }
    }
    text
}

/// `trace` without the lines `drop` selects (by index and text).
fn without_lines(trace: &str, drop: impl Fn(usize, &str) -> bool) -> String {
    let kept: Vec<&str> = trace
        .lines()
        .enumerate()
        .filter(|(index, line)| !drop(*index, line))
        .map(|(_, line)| line)
        .collect();
    assert!(
        kept.len() < trace.lines().count(),
        "the alteration removed nothing"
    );
    kept.join("\n") + "\n"
}

/// `trace` with line `from` moved to just before line `to` (`to` < `from`).
fn moved_line(trace: &str, from: usize, to: usize) -> String {
    let mut lines: Vec<&str> = trace.lines().collect();
    let line = lines.remove(from);
    lines.insert(to, line);
    lines.join("\n") + "\n"
}

/// Whether `line` is an fsync or fdatasync of the file `-y` names `path`.
fn is_sync_of(line: &str, path: &Path) -> bool {
    (line.contains(" fsync(") || line.contains(" fdatasync(") || line.starts_with("fsync("))
        && line.contains(&format!("<{}>)", path.display()))
}

/// The trace line index of each stdout write, in order.
fn stdout_lines(events: &[Event]) -> Vec<usize> {
    events
        .iter()
        .filter(|event| matches!(&event.call, Call::Write { fd: 1, .. }))
        .map(|event| event.line)
        .collect()
}

/// The first rename over `path`, as (its trace line, the name renamed from).
fn first_rename_over(events: &[Event], path: &Path) -> (usize, PathBuf) {
    events
        .iter()
        .find_map(|event| match &event.call {
            Call::Rename { from, to } if to == path => Some((event.line, from.clone())),
            _ => None,
        })
        .expect("a rename over the database")
}

/// The alterations every mode must refuse: the first `OK` moved to before the sync just
/// preceding it, and every fsync of the file renamed over `PATH` (the temp file, found by
/// what it becomes, not by its name) deleted, and the directory fsyncs that follow that
/// rename deleted.
fn assert_alterations_refused(trace: &str, db_dir: &Path, path: &Path, keys: &[&str]) {
    let events = events(trace, db_dir);

    let first_ok = stdout_lines(&events)[0];
    let last_sync = events
        .iter()
        .filter(|event| event.line < first_ok && matches!(event.call, Call::Sync { .. }))
        .map(|event| event.line)
        .next_back()
        .unwrap();
    let early_ok = moved_line(trace, first_ok, last_sync);
    // In snapshot mode the last sync before the OK is the directory's; in wal mode, the log's.
    let expected = match trace
        .lines()
        .nth(last_sync)
        .unwrap()
        .contains(&format!("<{}>)", db_dir.display()))
    {
        true => "not yet followed by an fsync of the directory",
        false => "before the put is durable",
    };
    assert_refused(&early_ok, db_dir, path, keys, expected);

    let (rename, temp) = first_rename_over(&events, path);
    let unsynced_temp = without_lines(trace, |_, line| is_sync_of(line, &temp));
    assert_refused(&unsynced_temp, db_dir, path, keys, "was not fsynced first");

    let next_output = stdout_lines(&events)
        .into_iter()
        .find(|&line| line > rename)
        .unwrap();
    let no_dir_sync = without_lines(trace, |index, line| {
        index > rename && index < next_output && is_sync_of(line, db_dir)
    });
    assert_refused(
        &no_dir_sync,
        db_dir,
        path,
        keys,
        "not yet followed by an fsync of the directory",
    );
}

fn snapshot_mode(args: &[&str], test: &str) {
    if !strace_usable(test) {
        return;
    }
    let (_work, db_dir, path) = database();
    // Two runs: the first creates the database, the second opens an existing one (and a
    // checkpoint in snapshot mode only says there is nothing to do).
    let first = "put alpha1 1\nput bravo2 {\"x\": 2}\nput charlie3 3\n";
    let second = "put delta4 4\ncheckpoint\nput echo5 5\n";
    for script in [first, second] {
        let traced = traced_run(&db_dir, args, script);
        let keys = put_keys(script);
        assert_passes(&traced, &db_dir, &path, &keys, &format!("{args:?}"));
        assert_alterations_refused(&traced.trace, &db_dir, &path, &keys);
    }
}

fn wal_mode(args: &[&str], test: &str) {
    if !strace_usable(test) {
        return;
    }
    let (_work, db_dir, path) = database();
    // The first run creates the log and checkpoints (a new log, then the snapshot that
    // relies on it, then the new log renamed over the old); the second reopens both.
    let first = "put alpha1 1\nput bravo2 2\ncheckpoint\nput charlie3 3\n";
    let second = "put delta4 4\ncheckpoint\nput echo5 5\nput foxtrot6 6\n";
    let log = kv_engine::files::wal_path(&path);
    let next = kv_engine::files::wal_next_path(&path);
    for script in [first, second] {
        let traced = traced_run(&db_dir, args, script);
        let trace = &traced.trace;
        let keys = put_keys(script);
        assert_passes(&traced, &db_dir, &path, &keys, &format!("{args:?}"));
        assert_alterations_refused(trace, &db_dir, &path, &keys);
        let events = events(trace, &db_dir);

        // No fdatasync of the log at all: every OK comes too early.
        let unsynced_log = without_lines(trace, |_, line| is_sync_of(line, &log));
        assert_refused(
            &unsynced_log,
            &db_dir,
            &path,
            &keys,
            "before the put is durable",
        );

        // The checkpoint: the new log must be fsynced, and its name made durable, before
        // the snapshot rename relies on it.
        let (snapshot_rename, _) = first_rename_over(&events, &path);
        let created_next = events
            .iter()
            .filter(|event| {
                event.line < snapshot_rename
                    && matches!(&event.call, Call::Open { path: opened, .. } if *opened == next)
            })
            .map(|event| event.line)
            .next_back()
            .expect("the checkpoint creates .wal.next before installing the snapshot");
        let unsynced_next = without_lines(trace, |index, line| {
            index > created_next && index < snapshot_rename && is_sync_of(line, &next)
        });
        assert_refused(
            &unsynced_next,
            &db_dir,
            &path,
            &keys,
            "which was not fsynced first",
        );
        let next_name_not_durable = without_lines(trace, |index, line| {
            index > created_next && index < snapshot_rename && is_sync_of(line, &db_dir)
        });
        assert_refused(
            &next_name_not_durable,
            &db_dir,
            &path,
            &keys,
            "whose name no directory fsync made durable first",
        );

        // The rename .wal.next -> .wal that finishes the checkpoint is followed by a
        // directory fsync.
        let finish = events
            .iter()
            .find(|event| {
                event.line > snapshot_rename
                    && matches!(&event.call, Call::Rename { from, to } if *from == next && *to == log)
            })
            .map(|event| event.line)
            .expect("the checkpoint renames .wal.next over .wal");
        let next_output = stdout_lines(&events)
            .into_iter()
            .find(|&line| line > finish)
            .unwrap();
        let finish_not_durable = without_lines(trace, |index, line| {
            index > finish && index < next_output && is_sync_of(line, &db_dir)
        });
        assert_refused(
            &finish_not_durable,
            &db_dir,
            &path,
            &keys,
            "rename db.json.wal.next -> db.json.wal of line",
        );
    }
}

#[test]
fn snapshot_mode_syncs_the_temp_file_before_its_rename_and_the_directory_before_ok() {
    snapshot_mode(
        &["db.json"],
        "snapshot_mode_syncs_the_temp_file_before_its_rename_and_the_directory_before_ok",
    );
}

#[test]
fn snapshot_group_commit_syncs_before_the_batch_is_acknowledged() {
    snapshot_mode(
        &["--group-commit", "db.json"],
        "snapshot_group_commit_syncs_before_the_batch_is_acknowledged",
    );
}

#[test]
fn wal_mode_syncs_the_log_before_ok_and_orders_the_checkpoint() {
    wal_mode(
        &["--durability", "wal", "db.json"],
        "wal_mode_syncs_the_log_before_ok_and_orders_the_checkpoint",
    );
}

#[test]
fn wal_group_commit_syncs_the_log_before_the_batch_is_acknowledged() {
    wal_mode(
        &["--durability", "wal", "--group-commit", "db.json"],
        "wal_group_commit_syncs_the_log_before_the_batch_is_acknowledged",
    );
}

/// The parser on what strace prints but the runs above may not show: `writev`, a call
/// interrupted by another thread's, a removed file's `(deleted)`, `renameat2`, octal
/// escapes, relative and absolute paths, a failed call, lines without a pid.
#[test]
fn the_parser_reads_every_form_of_the_traced_calls() {
    let trace = r#"100 writev(1<pipe:[5]>, [{iov_base="O", iov_len=1}, {iov_base="K\n", iov_len=2}], 2) = 3
100 pwrite64(4</d/x.tmp>, "{\"k\":1}\n\0\303\251", 11, 0 <unfinished ...>
101 close(5</d/y>(deleted)) = 0
100 <... pwrite64 resumed>) = 11
100 renameat2(AT_FDCWD</d>, "x.tmp", AT_FDCWD</d>, "db.json", RENAME_NOREPLACE) = 0
rename("a, b", "/abs/c") = 0
unlink("gone") = -1 ENOENT (No such file or directory)
openat(AT_FDCWD</d>, ".", O_RDONLY|O_CLOEXEC) = 6</d>
openat(AT_FDCWD</d>, "n", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 7</d/n>
fdatasync(7</d/n>) = 0
write(1<pipe:[5]>, "partial", 7) = 3
+++ exited with 0 +++
"#;
    let events = parse(trace, Path::new("/cwd")).unwrap();
    let calls: Vec<(usize, Call)> = events.into_iter().map(|e| (e.line, e.call)).collect();
    assert_eq!(
        calls,
        vec![
            (
                0,
                Call::Write {
                    fd: 1,
                    data: b"OK\n".to_vec()
                }
            ),
            (2, Call::Close { fd: 5 }),
            (
                3,
                Call::Write {
                    fd: 4,
                    data: b"{\"k\":1}\n\0\xc3\xa9".to_vec()
                }
            ),
            (
                4,
                Call::Rename {
                    from: "/d/x.tmp".into(),
                    to: "/d/db.json".into()
                }
            ),
            (
                5,
                Call::Rename {
                    from: "/cwd/a, b".into(),
                    to: "/abs/c".into()
                }
            ),
            (
                7,
                Call::Open {
                    fd: 6,
                    path: "/d".into(),
                    create: false,
                    exclusive: false
                }
            ),
            (
                8,
                Call::Open {
                    fd: 7,
                    path: "/d/n".into(),
                    create: true,
                    exclusive: true
                }
            ),
            (9, Call::Sync { fd: 7 }),
            (
                10,
                Call::Write {
                    fd: 1,
                    data: b"par".to_vec()
                }
            ),
        ]
    );
    // A recorded call the parser cannot read is an error, not a skipped line.
    assert!(parse("fsync(4</d/x>\n", Path::new("/")).is_err());
}

/// A correct snapshot commit, by hand, for the checker's own tests.
const HAND_TRACE: &str = r#"openat(AT_FDCWD</d>, "db.json.new", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 3</d/db.json.new>
pwrite64(3</d/db.json.new>, "{\"k\":1}\n", 8, 0) = 8
fsync(3</d/db.json.new>) = 0
close(3</d/db.json.new>) = 0
rename("db.json.new", "db.json") = 0
openat(AT_FDCWD</d>, ".", O_RDONLY|O_CLOEXEC) = 4</d>
fsync(4</d>) = 0
write(1<pipe:[9]>, "OK\n", 3) = 3
"#;

/// The checker on hand-made traces: an `OK` counts from its first byte; an `OK` whose key
/// no durable write holds is refused even when every rename was synced; the OK count must
/// match.
#[test]
fn the_checker_counts_an_ok_from_its_first_byte_and_wants_its_key_durable() {
    let dir = Path::new("/d");
    let path = Path::new("/d/db.json");
    let check_text = |trace: &str, acks: &[&str]| check(&parse(trace, dir).unwrap(), path, acks);
    let summary = check_text(HAND_TRACE, &["k"]).unwrap();
    assert_eq!(summary.oks, 1);
    assert_eq!(
        (summary.renames, summary.file_syncs, summary.dir_syncs),
        (1, 1, 1)
    );

    // "O" before the directory fsync, "K\n" after it: seen too early.
    let split = HAND_TRACE.replace(
        "fsync(4</d>) = 0\nwrite(1<pipe:[9]>, \"OK\\n\", 3) = 3\n",
        "write(1<pipe:[9]>, \"O\", 1) = 1\nfsync(4</d>) = 0\nwrite(1<pipe:[9]>, \"K\\n\", 2) = 2\n",
    );
    assert_ne!(split, HAND_TRACE);
    let err = check_text(&split, &["k"]).unwrap_err();
    assert!(
        err.starts_with("line 7: writes \"O\" to stdout while the rename"),
        "{err}"
    );

    // Nothing on disk holds the acknowledged key.
    let err = check_text(HAND_TRACE, &["other"]).unwrap_err();
    assert_eq!(
        err,
        "line 8: OK number 1 (put other) written to stdout before the put is durable: no \
         write to db.json or db.json.wal holds it"
    );

    // More or fewer OKs than puts.
    assert_eq!(
        check_text(HAND_TRACE, &[]).unwrap_err(),
        "line 8: OK number 1 on stdout, but only 0 expected"
    );
    assert_eq!(
        check_text(HAND_TRACE, &["k", "k2"]).unwrap_err(),
        "stdout has 1 OK lines, 2 expected"
    );
}

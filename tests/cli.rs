#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Transcript tests: command files piped through the real `kv` binary, checking stdout,
//! stderr and the exit status exactly.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output};

use common::Sandbox;

/// Asserts the exit status, stdout and stderr exactly, showing all three on failure.
#[track_caller]
fn check(output: &Output, status: i32, stdout: &str, stderr: &str) {
    let actual_out = String::from_utf8_lossy(&output.stdout);
    let actual_err = String::from_utf8_lossy(&output.stderr);
    let context = format!(
        "status {:?}\n--- stdout\n{actual_out}--- stderr\n{actual_err}",
        output.status.code()
    );
    assert_eq!(output.status.code(), Some(status), "{context}");
    assert_eq!(actual_out, stdout, "{context}");
    assert_eq!(actual_err, stderr, "{context}");
}

#[test]
fn a_script_prints_one_result_per_command_and_numbers_its_errors() {
    let sandbox = Sandbox::new();
    let script = r#"# a comment, then a blank line

put name alice
SET n 42
put t true
put z null
put s "hello world"
put o {"list": [1, 2.50, 12345678901234567890]}
get name
get n
get z
get s
get o
get missing
put k hello world
put x {"a":]
gte name
get
get a b
exists name
exists missing
delete n
delete n
del t
keys
put "key with spaces" ""
keys
count
dump
help get
"#;
    let output = sandbox.run(&["db.json"], script);
    check(
        &output,
        1,
        r#"OK
OK
OK
OK
OK
OK
"alice"
42
null
"hello world"
{"list":[1,2.50,12345678901234567890]}
(nil)
true
false
OK
(nil)
OK
name
o
s
z
OK
"key with spaces"
name
o
s
z
5
{"key with spaces":"","name":"alice","o":{"list":[1,2.50,12345678901234567890]},"s":"hello world","z":null}
get KEY
  print the value stored under KEY as JSON, or (nil) if there is none
  examples:
    get user:1
    get "key with spaces"
"#,
        r#"error: line 15: column 7: VALUE is not JSON; to store the text as a string, quote it: put k "hello world"
error: line 16: column 12: VALUE is not valid JSON: expected value
error: line 17: unknown command "gte"; did you mean "get"? (type help for the list)
error: line 18: missing KEY; usage: get KEY
error: line 19: too many arguments; usage: get KEY
"#,
    );
}

#[test]
fn a_clean_script_exits_0_and_its_writes_are_there_on_reopen() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["db.json"], "put a {\"b\": [1,\n  2]}\nput c 1\n");
    check(&output, 0, "OK\nOK\n", "");
    let output = sandbox.run(&["db.json"], "get a\nkeys\n");
    check(&output, 0, "{\"b\":[1,2]}\na\nc\n", "");
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sandbox.path("db.json")).unwrap()).unwrap();
    assert_eq!(on_disk, serde_json::json!({"a": {"b": [1, 2]}, "c": 1}));
}

#[test]
fn bail_stops_at_the_first_failing_command() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--bail", "db.json"], "put a 1\nget\nput b 2\n");
    check(
        &output,
        1,
        "OK\n",
        "error: line 2: missing KEY; usage: get KEY\n",
    );
    let output = sandbox.run(&["db.json"], "keys\n");
    check(&output, 0, "a\n", "");
}

#[test]
fn exit_stops_reading_and_keeps_the_status() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&[], "put a 1\nquit\nput b 2\n");
    check(&output, 0, "OK\n", "");
}

#[test]
fn command_options_run_in_order_and_ignore_stdin() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &[
            "db.json",
            "-c",
            "put a 1",
            "--command",
            "get a",
            "-c",
            "get b",
        ],
        "put never 1\n",
    );
    check(&output, 0, "OK\n1\n(nil)\n", "");
    let output = sandbox.run(&["db.json", "-c", "bogus", "-c", "keys"], "");
    check(
        &output,
        1,
        "a\n",
        "error: unknown command \"bogus\" (type help for the list)\n",
    );
    let output = sandbox.run(&["db.json", "--bail", "-c", "bogus", "-c", "keys"], "");
    check(
        &output,
        1,
        "",
        "error: unknown command \"bogus\" (type help for the list)\n",
    );
}

#[test]
fn echo_prints_each_command_before_its_result() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--echo"], "# demo\nput a 1\n\nget a\n");
    // A comment is narration, shown as it is; commands are shown as `> CMD`.
    check(&output, 0, "# demo\n> put a 1\nOK\n> get a\n1\n", "");
}

#[test]
fn a_corrupt_database_is_refused_with_status_2_and_left_untouched() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("db.json");
    let garbage = b"{\"a\": 1,\n \"b\": oops}\n";
    std::fs::write(&path, garbage).unwrap();
    let output = sandbox.run(&["db.json"], "put c 3\n");
    check(
        &output,
        2,
        "",
        "error: db.json is not valid JSON: expected value at line 2 column 7 \
         (the file was left untouched)\n",
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_locked_database_is_refused_with_status_2_and_left_untouched() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("db.json");
    let mut holder = kv_engine::KvStore::open(&path, kv_engine::Options::new()).unwrap();
    holder.put("a", serde_json::json!(1)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let output = sandbox.run(&["db.json"], "put a 2\n");
    check(
        &output,
        2,
        "",
        "error: db.json is locked by another process (lock file db.json.lock)\n",
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_database_a_live_kv_holds_is_refused_to_a_second_kv_until_the_first_exits() {
    let sandbox = Sandbox::new();
    let mut first = sandbox.spawn(&["db.json"]);
    let mut first_in = first.stdin.take().unwrap();
    let mut first_out = BufReader::new(first.stdout.take().unwrap());
    first_in.write_all(b"put a 1\n").unwrap();
    let mut line = String::new();
    first_out.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\n", "the first kv has the database open");

    let output = sandbox.run(&["db.json", "-c", "put a 2"], "");
    check(
        &output,
        2,
        "",
        "error: db.json is locked by another process (lock file db.json.lock)\n",
    );

    drop(first_in); // end of its input: the first kv exits and lets go
    let status = first.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let output = sandbox.run(&["db.json", "-c", "get a", "-c", "put a 3"], "");
    check(&output, 0, "1\nOK\n", "");
}

#[test]
fn a_directory_is_not_a_database() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path("dir")).unwrap();
    let output = sandbox.run(&["dir"], "keys\n");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with("is a directory, not a database file\n"),
        "{stderr}"
    );
}

#[test]
fn a_path_through_a_regular_file_is_refused_with_status_2() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("afile"), b"x").unwrap();
    let output = sandbox.run(&["afile/db.json"], "keys\n");
    check(
        &output,
        2,
        "",
        "error: cannot open afile/db.json: Not a directory (os error 20)\n",
    );
    assert_eq!(std::fs::read(sandbox.path("afile")).unwrap(), b"x");
}

#[test]
fn bad_arguments_print_usage_and_exit_2() {
    let sandbox = Sandbox::new();
    for args in [
        &["--bogus"][..],
        &["--durability", "fast"],
        &["--color", "sometimes"],
        &["--history", "h", "--no-history"],
        &["a.json", "b.json"],
    ] {
        let output = sandbox.run(args, "");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Usage: kv"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--version"], "");
    check(
        &output,
        0,
        &format!("kv {}\n", env!("CARGO_PKG_VERSION")),
        "",
    );
    let output = sandbox.run(&["--help"], "");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--durability",
        "--command",
        "--bail",
        "--echo",
        "--color",
        "--history",
        "--no-history",
    ] {
        assert!(stdout.contains(option), "{option} missing from --help");
    }
}

#[test]
fn a_database_named_like_a_word_is_a_path() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["./bench", "-c", "put a 1"], "");
    check(&output, 0, "OK\n", "");
    assert!(sandbox.path("bench").exists());
}

#[test]
fn no_path_is_a_transient_store_without_a_banner_in_a_pipe() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&[], "put a 1\nget a\nstats\n");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with(
            "OK\n1\nmode:          memory (no file)\nfile:          (none: in memory)\n"
        ),
        "{stdout}"
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        std::fs::read_dir(sandbox.dir.path()).unwrap().count(),
        0,
        "no file written"
    );
}

#[test]
fn memory_durability_never_writes_the_file() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--durability", "memory", "db.json"], "put a 1\nget a\n");
    check(&output, 0, "OK\n1\n", "");
    assert!(!sandbox.path("db.json").exists());
}

#[test]
fn read_only_reads_a_database_a_live_kv_holds_and_refuses_every_change_with_status_1() {
    let sandbox = Sandbox::new();
    // A writer in wal mode holds the database (and its lock) open.
    let mut writer = sandbox.spawn(&["--durability", "wal", "db.json"]);
    let mut writer_in = writer.stdin.take().unwrap();
    let mut writer_out = BufReader::new(writer.stdout.take().unwrap());
    let mut line = String::new();
    writer_in
        .write_all(
            b"put a 1
",
        )
        .unwrap();
    writer_out.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\n", "the writer has the database open");
    let names = |sandbox: &Sandbox| {
        let mut names: Vec<String> = std::fs::read_dir(sandbox.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "history")
            .collect();
        names.sort();
        names
    };
    let before = names(&sandbox);
    let log = std::fs::read(sandbox.path("db.json.wal")).unwrap();

    let output = sandbox.run(
        &["--read-only", "db.json"],
        "get a\nput b 2\ndelete a\ncheckpoint\ncount\n",
    );
    let refused = "db.json is open read-only: writes are refused, and nothing was written \
                   (open it without read-only to change it)";
    check(
        &output,
        1,
        "1\n1\n",
        &format!("error: line 2: {refused}\nerror: line 3: {refused}\nerror: line 4: {refused}\n"),
    );
    assert_eq!(
        names(&sandbox),
        before,
        "the reader created or removed a file"
    );
    assert_eq!(std::fs::read(sandbox.path("db.json.wal")).unwrap(), log);

    // The writer goes on; a new reader sees its next commit.
    line.clear();
    writer_in.write_all(b"put b 2\n").unwrap();
    writer_out.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\n");
    let output = sandbox.run(&["--read-only", "db.json", "-c", "keys"], "");
    check(&output, 0, "a\nb\n", "");
    drop(writer_in);
    assert_eq!(writer.wait().unwrap().code(), Some(0));
}

#[test]
fn read_only_on_a_missing_database_says_so_with_status_2_and_creates_nothing() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--read-only", "missing.json", "-c", "count"], "");
    check(
        &output,
        2,
        "",
        "error: there is no database at missing.json (no such file, and no log beside it): \
         a read-only open creates nothing\n",
    );
    assert!(!sandbox.path("missing.json").exists());
    assert!(!sandbox.path("missing.json.lock").exists());
    // A writer's open is what creates the lock file, even to count.
    let output = sandbox.run(&["missing.json", "-c", "count"], "");
    check(&output, 0, "0\n", "");
    assert!(sandbox.path("missing.json.lock").exists());
}

#[test]
fn read_only_takes_no_durability_and_no_simulated_disk() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("db.json"), "{}").unwrap();
    for args in [
        &["--read-only", "--durability", "wal", "db.json"][..],
        &["--read-only", "--simulate", "db.json"],
        &["--read-only"],
    ] {
        let output = sandbox.run(args, "count\n");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--read-only"), "{args:?}: {stderr}");
    }
    let output = sandbox.run(
        &[
            "--read-only",
            "db.json",
            "-c",
            "crash",
            "-c",
            "crash after-rename",
        ],
        "",
    );
    let refused = "error: opened read-only, this store commits nothing, so no crash point is \
                   ever reached (the writer's crash points are armed in the writer)\n";
    check(&output, 1, "", &format!("{refused}{refused}"));
    let output = sandbox.run(&["--read-only", "db.json", "-c", "stats"], "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with(
            "mode:          read-only (--read-only: no lock is taken, writes are refused)\n\
             file:          db.json\nsize on disk:  2 bytes\n"
        ),
        "{stdout}"
    );
}

#[test]
fn a_database_with_a_log_stays_in_wal_mode_until_durability_says_otherwise() {
    let sandbox = Sandbox::new();
    let log = sandbox.path("db.json.wal");
    let output = sandbox.run(&["--durability", "wal", "db.json", "-c", "put a 1"], "");
    check(&output, 0, "OK\n", "");
    assert!(log.exists());

    // No --durability: the log is kept and appended to, as sqlite3 keeps journal_mode=WAL.
    let output = sandbox.run(&["db.json", "-c", "put b 2", "-c", "stats"], "");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "nothing folded"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("mode:          wal (the database has a log)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("log records:   2 since the last checkpoint"),
        "{stdout}"
    );
    assert!(log.exists());

    // Only an explicit mode without a log folds it, and says so.
    let output = sandbox.run(&["--durability", "snapshot", "db.json", "-c", "stats"], "");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("warning: ") && stderr.contains("removed the log"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("mode:          snapshot (--durability)\n")
    );
    assert!(!log.exists());
    let output = sandbox.run(&["db.json", "-c", "stats"], "");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("mode:          snapshot (default)\n")
    );
}

#[test]
fn stats_names_every_counter() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--durability", "naive", "db.json"], "put a 1\nstats\n");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|line| line.split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "mode",
            "file",
            "size on disk",
            "keys",
            "commits",
            "fsyncs",
            "bytes written",
            "last commit",
            "mutations",
            "per mutation"
        ]
    );
    assert!(
        stdout.contains("mode:          naive (--durability)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("commits:       1\n"), "{stdout}");
    assert!(stdout.contains("last commit:   took "), "{stdout}");
    let size = std::fs::metadata(sandbox.path("db.json")).unwrap().len();
    assert!(
        stdout.contains(&format!("size on disk:  {size} bytes\n")),
        "{stdout}"
    );
}

#[test]
fn wal_stats_count_the_log_on_disk_and_keep_zeros_apart_from_data() {
    let sandbox = Sandbox::new();
    let mut script = String::new();
    for n in 0..20 {
        script.push_str(&format!("put k{n} {n}\n"));
    }
    script.push_str("stats\n");
    let output = sandbox.run(&["--durability", "wal", "db.json"], &script);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} row in {stdout}"))
            .trim_start()
            .to_string()
    };
    // No snapshot yet: the database is all log, 1 MiB of it preallocated.
    assert!(!sandbox.path("db.json").exists());
    let log = std::fs::metadata(sandbox.path("db.json.wal"))
        .unwrap()
        .len();
    assert_eq!(log, 1 << 20);
    assert_eq!(
        row("size on disk"),
        "1048576 bytes (1.0 MiB): snapshot (none yet) + log 1.0 MiB"
    );
    let written = row("bytes written");
    let (total, parts) = written.split_once(": ").unwrap();
    let data: u64 = parts.split(' ').next().unwrap().parse().unwrap();
    let total: u64 = total.split(' ').next().unwrap().parse().unwrap();
    // Nearly all of the mebibyte written is the log's zeros, and shown as such.
    assert!(total - data > 1_000_000 && data < 1000, "{written}");
    assert!(parts.ends_with(" KiB of preallocated zeros"), "{written}");
    // About one record per put: a header, then 20 records of a few dozen bytes.
    let per: f64 = row("per mutation")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((20.0..60.0).contains(&per), "{per}");
    assert!(
        row("per mutation").contains("bytes of data written (write amplification"),
        "{stdout}"
    );
    assert!(
        row("log size").ends_with("in use of a 1.0 MiB file; the rest is preallocated zeros"),
        "{stdout}"
    );
    assert_eq!(data as f64 / 20.0, per);
}

#[test]
fn stats_after_a_simulated_reboot_say_the_counters_restarted() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["--simulate", "--durability", "wal", "db.json"],
        "put a 1\nstats\npowercut\nstats\n",
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let restarted = "counters:      restarted at the reopen after the last reboot \
                     (a new process counts from 0)\n";
    let (before, after) = stdout.split_once("power cut").unwrap();
    assert!(!before.contains("counters:"), "{stdout}");
    assert!(after.contains(restarted), "{stdout}");
    assert!(after.contains("commits:       0\n"), "{stdout}");
}

#[test]
fn every_file_kv_creates_is_0600_even_under_a_permissive_umask() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let kv = env!("CARGO_BIN_EXE_kv");
    for mode in ["naive", "snapshot", "wal"] {
        // The umask is the process's: set in the shell that runs kv.
        let script = format!(
            "umask 000 && exec '{kv}' --durability {mode} {mode}.json \
             -c 'put a 1' -c checkpoint -c 'put b 2'"
        );
        let output = Command::new("sh")
            .args(["-c", &script])
            .current_dir(sandbox.dir.path())
            .env("HOME", sandbox.dir.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{mode}: {output:?}");
    }
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(sandbox.dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let bits = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(bits, 0o600, "{name} has mode {bits:o}");
        seen.push(name);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "naive.json",
            "naive.json.lock",
            "snapshot.json",
            "snapshot.json.lock",
            "wal.json",
            "wal.json.lock",
            "wal.json.wal"
        ]
    );
}

#[test]
fn invalid_utf8_is_reported_and_the_rest_runs() {
    let sandbox = Sandbox::new();
    let output = sandbox.run_env(&["db.json"], b"put a \"\xff\"\nput b 2\nkeys\n", &[]);
    check(
        &output,
        1,
        "OK\nb\n",
        "error: line 1: invalid UTF-8 at byte 8 of the line; line skipped\n",
    );
}

#[test]
fn a_byte_order_mark_before_the_first_line_is_skipped_and_nowhere_else() {
    let sandbox = Sandbox::new();
    let input = b"\xef\xbb\xbfput a 1\n\xef\xbb\xbfput b 2\nkeys\n";
    let output = sandbox.run_env(&["db.json"], input, &[]);
    check(
        &output,
        1,
        "OK\na\n",
        "error: line 2: unknown command \"\\u{feff}put\"; did you mean \"put\"? (type help for the list)\n",
    );
}

#[test]
fn a_10_mb_line_is_reported_and_skipped() {
    let sandbox = Sandbox::new();
    let mut input = b"put big \"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 10_000_000));
    input.extend_from_slice(b"\"\nput small 1\nkeys\n");
    let output = sandbox.run_env(&["db.json"], &input, &[]);
    check(
        &output,
        1,
        "OK\nsmall\n",
        "error: line 1: line is longer than 8 MiB; skipped\n",
    );
}

/// The line limit holds for a whole statement too: a value continued over many short
/// lines once took 30 MB in through 1 MB lines. The statement is reported where it passes
/// the limit, the rest of its value is skipped, and what follows runs as usual.
#[test]
fn a_multi_line_value_over_8_mib_in_all_is_reported_and_skipped() {
    let sandbox = Sandbox::new();
    let chunk = format!("  \"{}\",\n", "x".repeat(1 << 20));
    let mut input = String::from("put a 1\nput big [\n");
    for _ in 0..12 {
        input.push_str(&chunk);
    }
    input.push_str("  \"end\"]\nget big\nput small 2\nkeys\n");
    let output = sandbox.run(&["db.json"], &input);
    check(
        &output,
        1,
        "OK\n(nil)\nOK\na\nsmall\n",
        "error: line 10: the statement begun on line 2 is longer than 8 MiB over its lines \
         (the limit of one statement, as of one line); skipped, nothing of it was stored; \
         the rest of its value is skipped too\n",
    );
}

#[test]
fn input_ending_inside_a_multi_line_value_is_an_error_and_stores_nothing() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["db.json"], "put a 1\nput b {\"x\": [1,\n  2,\n");
    check(
        &output,
        1,
        "OK\n",
        "error: line 2: input ended inside a multi-line value (an unclosed bracket) \
         started on line 2; nothing was stored\n",
    );
    let output = sandbox.run(&["db.json"], "keys\n");
    check(&output, 0, "a\n", "");
}

#[test]
fn a_malformed_multi_line_value_loses_only_its_own_statement() {
    let sandbox = Sandbox::new();
    let script = "put a 1\nput x {\"a\":\nput k v\nget k\nput y [1,\n  2]\nkeys\n";
    let output = sandbox.run(&["db.json"], script);
    check(
        &output,
        1,
        "OK\nOK\n\"v\"\nOK\na\nk\ny\n",
        "error: line 3: column 1: VALUE is not valid JSON: expected value \
         (the statement begun on line 2 stored nothing; line 3 is read as a new statement)\n",
    );
}

#[test]
fn an_unclosed_string_is_an_error_at_once_and_does_not_swallow_the_next_line() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["db.json"], "put s \"abc\nput b 1\nkeys\n");
    check(
        &output,
        1,
        "OK\nb\n",
        "error: line 1: column 10: VALUE is not valid JSON: the string has no closing quote\n",
    );
}

#[test]
fn values_are_never_silently_changed_a_repeated_key_or_a_lone_surrogate_is_refused() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["db.json"],
        "put d {\"x\":1,\"x\":2}\nput s \"\\ud800\"\nput ok {\"x\":1,\"y\":{\"x\":2}}\ndump\n",
    );
    check(
        &output,
        1,
        "OK\n{\"ok\":{\"x\":1,\"y\":{\"x\":2}}}\n",
        "error: line 1: column 14: VALUE repeats the key \"x\" in one object: refused, because \
         storing it would keep only one of its values\n\
         error: line 2: column 8: VALUE holds a lone surrogate, \\ud800: one half of a UTF-16 \
         pair (\\ud83e\\udd80 is 🦀), which is no character on its own and cannot be stored\n",
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let sandbox = Sandbox::new();
    // Far more output than a pipe buffer holds, so kv is still writing when we hang up.
    let script = "put a 1\n".to_string() + &"get a\n".repeat(200_000);
    let mut child = sandbox.spawn(&["db.json"]);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(script.as_bytes());
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "OK\n");
    drop(stdout); // like `| head -1`
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr, "", "a broken pipe is a normal end");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn colour_follows_the_color_option_and_no_color() {
    let sandbox = Sandbox::new();
    let script = b"put a \"x\"\nget a\nbogus\n";
    let output = sandbox.run_env(&["--color", "always"], script, &[]);
    check(
        &output,
        1,
        "\x1b[1;32mOK\x1b[0m\n\x1b[32m\"x\"\x1b[0m\n",
        "\x1b[1;31merror:\x1b[0m line 3: unknown command \"bogus\" (type help for the list)\n",
    );
    // auto: a pipe is not a terminal, so no colour, NO_COLOR or not.
    for env in [&[][..], &[("NO_COLOR", "1")]] {
        let output = sandbox.run_env(&["--color", "auto"], script, env);
        assert!(!output.stdout.contains(&0x1b) && !output.stderr.contains(&0x1b));
    }
    let output = sandbox.run_env(&["--color", "never"], script, &[]);
    check(
        &output,
        1,
        "OK\n\"x\"\n",
        "error: line 3: unknown command \"bogus\" (type help for the list)\n",
    );
}

#[test]
fn a_database_in_a_missing_directory_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kv"))
        .current_dir(dir.path())
        .args(["-c", "count", "nodir/db.json"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: cannot open nodir/db.json: directory nodir does not exist\n"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn a_one_shot_command_runs_and_exits_with_its_status() {
    let sandbox = Sandbox::new();
    // Each shell word keeps its meaning: a key with a space, a JSON value with spaces, a
    // text value with a space (a string), a negative number.
    let output = sandbox.run(&["db.json", "put", "my key", "{\"a\": 1}"], "");
    check(&output, 0, "OK\n", "");
    let output = sandbox.run(&["db.json", "put", "name", "Ada Lovelace"], "");
    check(&output, 0, "OK\n", "");
    let output = sandbox.run(&["db.json", "set", "n", "-1"], "");
    check(&output, 0, "OK\n", "");
    let output = sandbox.run(&["db.json", "get", "my key"], "");
    check(&output, 0, "{\"a\":1}\n", "");
    // Piped stdin is not read when a command is given.
    let output = sandbox.run(&["db.json", "dump"], "put never 1\n");
    check(
        &output,
        0,
        "{\"my key\":{\"a\":1},\"n\":-1,\"name\":\"Ada Lovelace\"}\n",
        "",
    );
    // The status is the command's: a failing command exits 1, as with -c.
    let output = sandbox.run(&["db.json", "put", "k", "{\"a\": "], "");
    check(
        &output,
        1,
        "",
        "error: column 11: VALUE is not valid JSON: expected a value, found the end of the \
         statement\n",
    );
    // Options go before the command; --bail and --echo apply to it.
    let output = sandbox.run(&["--echo", "db.json", "exists", "n"], "");
    check(&output, 0, "> exists n\ntrue\n", "");
}

#[test]
fn a_one_shot_command_that_is_no_command_is_a_usage_error_and_opens_nothing() {
    let sandbox = Sandbox::new();
    let cases: [(&[&str], &str); 4] = [
        (
            &["db.json", "gte", "a"],
            "error: unknown command \"gte\"; did you mean \"get\"? (after PATH comes a shell \
             command: kv PATH help lists them)\n",
        ),
        (
            &["db.json", "check"],
            "error: \"check\" is a subcommand, not a shell command: write it before the path \
             (kv check PATH)\n",
        ),
        // A forgotten PATH: `put` would otherwise be opened as a database file.
        (
            &["put", "k", "v"],
            "error: \"put\" is a command, not a database file: kv PATH put ... (a database \
             file named put is opened as ./put)\n",
        ),
        (
            &["db.json", "-c", "count", "get", "a"],
            "error: the argument '--command <CMD>' cannot be used with '[COMMAND]...'\n",
        ),
    ];
    for (args, first_line) in cases {
        let output = sandbox.run(args, "");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(first_line), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage: kv"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        std::fs::read_dir(sandbox.dir.path()).unwrap().count(),
        0,
        "no file created"
    );
    // A glob's brackets and backslashes pass through the shell word as they are.
    let output = sandbox.run(&["db.json", "put", "a*", "1"], "");
    check(&output, 0, "OK\n", "");
    let output = sandbox.run(&["db.json", "put", "a1", "1"], "");
    check(&output, 0, "OK\n", "");
    let output = sandbox.run(&["db.json", "keys", "a[0-9]"], "");
    check(&output, 0, "a1\n", "");
    let output = sandbox.run(&["db.json", "keys", "a\\*"], "");
    check(&output, 0, "a*\n", "");
    // A subcommand's name as a database file still needs ./, and works with a command.
    let output = sandbox.run(&["./check", "put", "a", "1"], "");
    check(&output, 0, "OK\n", "");
    assert!(sandbox.path("check").exists());
}

#[test]
fn raw_prints_a_string_as_its_text_for_command_substitution() {
    let sandbox = Sandbox::new();
    let script = "put name \"Ada \\\"the first\\\"\\tLovelace\"\nput n 1.50\nput o {\"a\": \"b\"}\n\
                  put \"my key\" 1\n";
    check(
        &sandbox.run(&["db.json"], script),
        0,
        "OK\nOK\nOK\nOK\n",
        "",
    );
    let output = sandbox.run(&["db.json", "--raw", "get", "name"], "");
    check(&output, 0, "Ada \"the first\"\tLovelace\n", "");
    // Other values are unchanged JSON; keys are printed as they are; dump stays JSON.
    let output = sandbox.run(
        &[
            "db.json", "--raw", "-c", "get n", "-c", "get o", "-c", "get none", "-c", "keys", "-c",
            "dump",
        ],
        "",
    );
    check(
        &output,
        0,
        "1.50\n{\"a\":\"b\"}\n(nil)\nmy key\nn\nname\no\n\
         {\"my key\":1,\"n\":1.50,\"name\":\"Ada \\\"the first\\\"\\tLovelace\",\"o\":{\"a\":\"b\"}}\n",
        "",
    );
    // Without --raw the string is JSON, as before.
    let output = sandbox.run(&["db.json", "get", "name"], "");
    check(&output, 0, "\"Ada \\\"the first\\\"\\tLovelace\"\n", "");
}

#[test]
fn keys_takes_a_glob_pattern_and_a_plain_word_as_a_prefix() {
    let sandbox = Sandbox::new();
    let script = "put user:1 1\nput user:2:name 2\nput user:10 3\nput users 4\nput a*b 5\n\
                  put \"a b\" 6\n\
                  keys *\nkeys user:*\nkeys user:?\nkeys user:[0-9]\nkeys user:[^1]*\n\
                  keys *:name\nkeys a\\*b\nkeys \"a *\"\nkeys user\nkeys nothing*\n";
    let output = sandbox.run(&[], script);
    check(
        &output,
        0,
        "OK\nOK\nOK\nOK\nOK\nOK\n\
         \"a b\"\na*b\nuser:1\nuser:10\nuser:2:name\nusers\n\
         user:1\nuser:10\nuser:2:name\n\
         user:1\n\
         user:1\n\
         user:2:name\n\
         user:2:name\n\
         a*b\n\
         \"a b\"\n\
         user:1\nuser:10\nuser:2:name\nusers\n",
        "",
    );
}

#[test]
fn group_commit_without_piped_input_says_it_does_not_apply() {
    let sandbox = Sandbox::new();
    let warning = "warning: --group-commit applies to piped input only (kv PATH < FILE): each \
                   command here commits on its own\n";
    let output = sandbox.run(&["--group-commit", "-c", "put a 1"], "");
    check(&output, 0, "OK\n", warning);
    let output = sandbox.run(&["--group-commit", "db.json", "put", "a", "1"], "");
    check(&output, 0, "OK\n", warning);
    // Piped input is what it is for: no warning.
    let output = sandbox.run(&["--group-commit"], "put a 1\n");
    check(&output, 0, "OK\n", "");
}

#[test]
fn source_runs_a_file_as_echo_shows_it_and_carries_on_with_what_it_left() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path("demo.kv"),
        "# the demo\nput a 1\npause\nbogus\nput b [1,\n 2]\nsource inner.kv\n",
    )
    .unwrap();
    // The inner file arms a button: it stays armed after the files end.
    std::fs::write(
        sandbox.path("inner.kv"),
        "get a\ncrash after-temp-write\nget zz z\n",
    )
    .unwrap();
    let output = sandbox.run(
        &["--simulate", "db.json"],
        "source demo.kv\nget b\nput c 3\nget c\n",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("{stdout}--- stderr\n{stderr}");
    assert_eq!(output.status.code(), Some(1), "{context}");
    assert!(
        stdout.starts_with(
            "# the demo\n> put a 1\nOK\n> bogus\n> put b [1,\n 2]\nOK\n> source inner.kv\n\
             > get a\n1\n> crash after-temp-write\n\
             armed after-temp-write (the temp file written but not fsynced; the database file \
             untouched): the\n  next write stops there as if the process died; then the \
             simulated disk reboots and the store\n  reopens\n\
             > get zz z\n[1,2]\n\
             crash at after-temp-write: the process died there; the put was not acknowledged\n"
        ),
        "{context}"
    );
    assert!(
        stdout.ends_with(
            "reopened db.json: 2 keys (removed 1 leftover temp file)\n\
             every acknowledged write survived, and nothing else\n(nil)\n"
        ),
        "{context}"
    );
    assert_eq!(
        stderr,
        "error: demo.kv:4: unknown command \"bogus\" (type help for the list)\n\
         error: inner.kv:3: too many arguments; usage: get KEY\n",
        "{context}"
    );
}

#[test]
fn source_refuses_a_missing_file_a_loop_and_a_fifo_and_bail_stops_inside_it() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("self.kv"), "put s 1\nsource ./self.kv\n").unwrap();
    std::fs::write(sandbox.path("loop.kv"), "source loop.kv\n").unwrap();
    let fifo = sandbox.path("fifo.kv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let output = sandbox.run(
        &[],
        "source missing.kv\nsource loop.kv\nsource fifo.kv\nsource self.kv\ncount\n",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("{stderr}\n{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "{context}");
    // A sourced file's transcript folds lines wider than 100 columns: one error a line
    // again, continuations joined.
    let unfolded = stderr.replace("\n  ", " ");
    let mut lines = unfolded.lines();
    assert_eq!(
        lines.next(),
        Some("error: line 1: cannot source missing.kv: no such file"),
        "{context}"
    );
    assert_eq!(
        lines.next(),
        Some(
            "error: loop.kv:1: loop.kv is already being run (loop.kv -> loop.kv): a file \
             that sources itself would never end; not run again"
        ),
        "{context}"
    );
    assert_eq!(
        lines.next(),
        Some("error: line 3: cannot source fifo.kv: it is a named pipe (FIFO), not a command file"),
        "{context}"
    );
    assert_eq!(
        lines.next(),
        Some(
            "error: ./self.kv:2: ./self.kv is already being run (self.kv -> ./self.kv -> \
             ./self.kv): a file that sources itself would never end; not run again"
        ),
        "{context}"
    );
    assert_eq!(lines.next(), None, "{context}");
    assert!(output.stdout.ends_with(b"1\n"), "{context}");

    // A chain of distinct files is cut at the depth limit.
    for i in 0..10 {
        let next = format!("source f{}.kv\n", i + 1);
        std::fs::write(sandbox.path(&format!("f{i}.kv")), next).unwrap();
    }
    let output = sandbox.run(&[], "source f0.kv\n");
    check(
        &output,
        1,
        "> source f1.kv\n> source f2.kv\n> source f3.kv\n> source f4.kv\n> source f5.kv\n\
         > source f6.kv\n> source f7.kv\n> source f8.kv\n",
        "error: f7.kv:1: source files nest more than 8 deep (f0.kv -> f1.kv -> f2.kv -> f3.kv -> \
         f4.kv ->\n  f5.kv -> f6.kv -> f7.kv -> f8.kv); f8.kv not run\n",
    );

    // --bail: a failure inside a sourced file stops everything, as in the file's place.
    std::fs::write(sandbox.path("bad.kv"), "put x 1\nbogus\nput y 2\n").unwrap();
    let output = sandbox.run(&["--bail"], "source bad.kv\nput z 3\n");
    check(
        &output,
        1,
        "> put x 1\nOK\n> bogus\n",
        "error: bad.kv:2: unknown command \"bogus\" (type help for the list)\n",
    );
}

#[test]
fn pause_does_nothing_and_shows_nothing_in_piped_input() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("p.kv"), "put a 1\npause\nget a\n").unwrap();
    let output = sandbox.run(&["--echo"], "pause\nsource --step p.kv\n");
    check(
        &output,
        0,
        "> source --step p.kv\n> put a 1\nOK\n> get a\n1\n",
        "",
    );
}

#[test]
fn the_simulated_trace_shows_no_times_and_save_is_traced_on_the_real_disk() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["--simulate", "db.json"],
        "put a 1\ntrace on\nput b 2\nsave\n",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let (simulated, saved) = stdout.split_once("saved db.json").unwrap();
    // A simulated operation takes no I/O time: no line shows one.
    assert!(
        simulated.contains("  trace: fsync db.json.kv-tmp.")
            && !simulated.contains("µs")
            && !simulated.contains(" ms"),
        "{stdout}"
    );
    assert!(
        simulated.ends_with("simulated disk, no real I/O time\n"),
        "{stdout}"
    );
    // save writes the real disk, and the trace shows it there, timed.
    for step in [
        "lock db.json.lock (",
        "fsync db.json.kv-tmp.",
        "directory fsync . (",
    ] {
        assert!(
            saved.contains(&format!("  trace: real disk: {step}")),
            "{step}: {stdout}"
        );
    }
    assert!(saved.trim_end().ends_with("on the real disk"), "{stdout}");
}

#[test]
fn help_crash_lists_the_points_of_this_mode_and_every_crash_mode() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["--simulate", "--durability", "wal", "db.json"],
        "help crash\ncrash mid-checkpoint\n",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("crash points of wal mode, in commit order")
            && stdout.contains("  mid-append  ")
            && stdout.contains("  mid-checkpoint  ")
            && !stdout.contains("after-rename"),
        "{stdout}"
    );
    for mode in kv_engine::fs::CrashMode::ALL {
        assert!(
            stdout.contains(&format!("\n  {:<7}  ", mode.name())),
            "{mode:?}: {stdout}"
        );
    }
    // Only a checkpoint reaches this point, and the button says so.
    assert!(
        stdout.contains(
            "): the next checkpoint (`checkpoint`, or the one a write starts when the log is \
             full) stops there"
        ),
        "{stdout}"
    );
    let output = sandbox.run(&["db.json"], "help crash\n");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("crash points of snapshot mode")
            && stdout.contains("crash modes (on a simulated disk: kv --simulate PATH)"),
        "{stdout}"
    );
}

#[test]
fn an_empty_simulated_disk_ignores_the_real_file_and_save_will_not_overwrite_it() {
    let sandbox = Sandbox::new();
    let db = sandbox.path("db.json");
    std::fs::write(&db, r#"{"stray": 1}"#).unwrap();
    let output = sandbox.run(
        &["--simulate", "--empty", "db.json"],
        "count\nput a 1\nsave\n",
    );
    check(
        &output,
        1,
        "0\nOK\n",
        "error: line 3: nothing saved to db.json: db.json exists (12 bytes): the simulated disk \
         started empty (--empty), so saving would overwrite files it never loaded; the real \
         file was not touched\n",
    );
    assert_eq!(std::fs::read(&db).unwrap(), br#"{"stray": 1}"#);
    // Without a real file there is nothing to lose: save writes it.
    std::fs::remove_file(&db).unwrap();
    let output = sandbox.run(&["--simulate", "--empty", "db.json"], "put a 1\nsave\n");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(std::fs::read(&db).unwrap(), b"{\"a\":1}\n");
    // --empty is about the simulated disk only.
    let output = sandbox.run(&["--empty", "db.json"], "");
    assert_eq!(output.status.code(), Some(2));
}

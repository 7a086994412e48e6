#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! The demo buttons through the real `kv` binary: `crash POINT` really aborts the process
//! on the real disk in every mode (and reopening shows what the point promises), `--simulate` never
//! touches the real file unless told to `save`, and `trace` shows the real operations.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::process::Output;

use common::Sandbox;

/// SIGABRT: what `std::process::abort` dies of.
const SIGABRT: i32 = 6;

impl Sandbox {
    fn entries(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn temps(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter(|name| name.starts_with("db.json.kv-tmp."))
            .collect()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn check(output: &Output, status: i32, stdout: &str, stderr: &str) {
    let context = describe(output);
    assert_eq!(output.status.code(), Some(status), "{context}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), stdout, "{context}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), stderr, "{context}");
}

#[test]
fn crash_points_abort_the_real_process_and_reopen_shows_what_each_promises() {
    // (point, the value a reopen finds, whether the crash leaves a temp file behind)
    let cases = [
        ("after-temp-write", "1", true),
        ("after-temp-sync", "1", true),
        ("after-rename", "2", false),
    ];
    for (point, survivor, leaves_temp) in cases {
        let sandbox = Sandbox::new();
        let script = format!("put alice 1\ncrash {point}\nput alice 2\nput never 3\n");
        let output = sandbox.run(&["db.json"], &script);
        let context = format!("{point}: {}", describe(&output));
        assert_eq!(output.status.signal(), Some(SIGABRT), "{context}");
        // Everything printed before the fatal commit reached the pipe; no OK for it.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{context}");
        assert_eq!(lines[0], "OK", "{context}");
        assert!(
            lines[1].starts_with(&format!("armed {point} (")),
            "{context}"
        );
        assert!(
            lines[1].contains("the next write aborts the process there, as kill -9 would"),
            "{context}"
        );
        assert_eq!(sandbox.temps().is_empty(), !leaves_temp, "{context}");
        let temps = sandbox.temps();

        let reopened = sandbox.run(&["db.json", "-c", "get alice", "-c", "get never"], "");
        // The removal is reported, naming the file: it is never silent.
        let warning = match temps.as_slice() {
            [] => String::new(),
            [temp] => format!(
                "warning: db.json: removed 1 leftover temp file of an interrupted commit, \
                 unread (never acknowledged): {temp}\n"
            ),
            more => panic!("{point}: one crash left {more:?}"),
        };
        check(&reopened, 0, &format!("{survivor}\n(nil)\n"), &warning);
        assert_eq!(
            sandbox.temps(),
            Vec::<String>::new(),
            "{point}: reopen removes temps"
        );
    }
}

#[test]
fn wal_crash_points_abort_the_real_process_and_reopen_recovers_the_acknowledged_state() {
    // (point, the statement the abort hits, the value a reopen finds, what it warns of)
    let cases = [
        // Half a record written: a torn tail, cut with a warning; the put was never OK.
        ("mid-append", "put alice 2", "1", "cut off a torn tail of"),
        // The whole record written, not synced: a kill keeps the page cache, so it
        // replays (unacknowledged, but whole: a prefix of the issued writes).
        ("after-append", "put alice 2", "2", ""),
        // The snapshot installed, the log not switched: the reopen finishes the switch.
        (
            "mid-checkpoint",
            "checkpoint",
            "2",
            "finished a checkpoint that was interrupted after writing its snapshot",
        ),
    ];
    for (point, fatal, survivor, warning) in cases {
        let sandbox = Sandbox::new();
        let script = match fatal {
            "checkpoint" => {
                format!("put alice 1\ncrash {point}\nput alice 2\ncheckpoint\nput never 3\n")
            }
            _ => format!("put alice 1\ncrash {point}\n{fatal}\nput never 3\n"),
        };
        let output = sandbox.run(&["--durability", "wal", "db.json"], &script);
        let context = format!("{point}: {}", describe(&output));
        assert_eq!(output.status.signal(), Some(SIGABRT), "{context}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let oks = stdout.lines().filter(|line| *line == "OK").count();
        // Only the statements before the fatal one got their OK.
        let expected_oks = if fatal == "checkpoint" { 2 } else { 1 };
        assert_eq!(oks, expected_oks, "{context}");
        assert!(stdout.contains(&format!("armed {point} (")), "{context}");

        let reopened = sandbox.run(
            &[
                "--durability",
                "wal",
                "db.json",
                "-c",
                "get alice",
                "-c",
                "get never",
            ],
            "",
        );
        let context = format!("{point}, reopened: {}", describe(&reopened));
        assert_eq!(reopened.status.code(), Some(0), "{context}");
        assert_eq!(
            String::from_utf8_lossy(&reopened.stdout),
            format!("{survivor}\n(nil)\n"),
            "{context}"
        );
        let stderr = String::from_utf8_lossy(&reopened.stderr);
        match warning {
            "" => assert_eq!(stderr, "", "{context}"),
            warning => assert!(
                stderr.starts_with("warning: ") && stderr.contains(warning),
                "{context}"
            ),
        }
        assert!(!sandbox.entries().contains("db.json.wal.next"), "{context}");
    }
}

#[test]
fn a_naive_mid_write_abort_leaves_half_a_file_that_refuses_to_open() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["db.json", "--durability", "naive"],
        "put alice 100\nput bob 200\ncrash mid-write\nput carol 300\n",
    );
    assert_eq!(
        output.status.signal(),
        Some(SIGABRT),
        "{}",
        describe(&output)
    );
    let full = "{\"alice\":100,\"bob\":200,\"carol\":300}\n";
    assert_eq!(sandbox.read("db.json"), full[..full.len() / 2]);
    let reopened = sandbox.run(&["db.json", "--durability", "naive", "-c", "count"], "");
    assert_eq!(reopened.status.code(), Some(2), "{}", describe(&reopened));
    let stderr = String::from_utf8_lossy(&reopened.stderr);
    assert!(
        stderr.contains("db.json is not valid JSON: EOF while parsing"),
        "{stderr}"
    );
    assert_eq!(
        sandbox.read("db.json"),
        full[..full.len() / 2],
        "left untouched"
    );
}

#[test]
fn crash_lists_the_points_of_the_mode_and_refuses_what_cannot_crash() {
    let sandbox = Sandbox::new();
    check(
        &sandbox.run(&["db.json", "--durability", "naive", "-c", "crash"], ""),
        0,
        "crash points of naive mode, in commit order (crash POINT arms one):\n  \
         mid-write  half of the new file written over the truncated old one: the only copy \
         is torn\n",
        "",
    );
    check(
        &sandbox.run(&["db.json", "-c", "crash mid-write", "-c", "put a 1"], ""),
        1,
        "OK\n",
        "error: crash point mid-write is not part of the snapshot mode's commit (its points: \
         after-temp-write, after-temp-sync, after-rename)\n",
    );
    check(
        &sandbox.run(&["-c", "crash"], ""),
        0,
        "memory mode has no disk: nothing to crash (every key is lost when the process ends)\n",
        "",
    );
    check(
        &sandbox.run(&["-c", "crash after-rename"], ""),
        1,
        "",
        "error: memory mode has no disk: nothing to crash (every key is lost when the process \
         ends)\n",
    );
    check(
        &sandbox.run(&["db.json", "-c", "crash after-rename clean"], ""),
        1,
        "",
        "error: a power cut needs a simulated disk: run kv --simulate PATH (on the real disk, \
         `crash POINT` arms a real process abort)\n",
    );
}

#[test]
fn simulated_only_buttons_say_they_need_simulate() {
    let sandbox = Sandbox::new();
    for (command, what) in [
        ("powercut", "powercut"),
        ("powercut torn 3", "powercut"),
        ("save", "save"),
        ("writeback", "writeback"),
    ] {
        check(
            &sandbox.run(&["db.json", "-c", command], ""),
            1,
            "",
            &format!(
                "error: {what} needs a simulated disk: run kv --simulate PATH (on the real \
                 disk, `crash POINT` arms a real process abort)\n"
            ),
        );
    }
    assert!(!sandbox.path("db.json").exists());
}

#[test]
fn simulate_never_touches_the_real_file_until_save() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("db.json"), "{\"a\":1}\n").unwrap();
    let before = sandbox.entries();
    let output = sandbox.run(
        &["--simulate", "db.json"],
        "get a\nput b 2\ndelete a\ncrash after-rename\nput c 3\npowercut torn\ndump\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("{\"b\":2,\"c\":3}"), "{stdout}");
    assert!(
        stdout.contains("power cut, torn, seed 1: ")
            && stdout.contains("(replay: powercut torn 1)"),
        "the first unseeded random cut takes seed 1 and says how to replay it: {stdout}"
    );
    assert_eq!(sandbox.read("db.json"), "{\"a\":1}\n");
    assert_eq!(sandbox.entries(), before, "no lock, no temp, nothing");

    let saved = sandbox.run(
        &["--simulate", "db.json", "-c", "put b 2", "-c", "save"],
        "",
    );
    check(
        &saved,
        0,
        "OK\nsaved db.json: 14 B, 2 keys (temp file, fsync, rename, directory fsync)\n",
        "",
    );
    assert_eq!(sandbox.read("db.json"), "{\"a\":1,\"b\":2}\n");
    assert_eq!(sandbox.temps(), Vec::<String>::new());
}

#[test]
fn save_refuses_a_simulated_file_that_does_not_open_and_a_locked_real_file() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("db.json"), "{\"a\":1}\n").unwrap();
    let output = sandbox.run(
        &["--simulate", "db.json", "--durability", "naive"],
        "crash mid-write\nput b 2\nsave\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: line 3: nothing saved to db.json: the simulated file does not open (after the \
             reboot, db.json cannot be opened: db.json is not valid JSON"
        ) && stderr.contains("the real file was not touched"),
        "{stderr}"
    );
    assert_eq!(sandbox.read("db.json"), "{\"a\":1}\n");

    // Another process holds the real database (its flock on db.json.lock, which is what
    // every kv takes): save must not write behind its back.
    let lock_file = std::fs::File::create(sandbox.path("db.json.lock")).unwrap();
    lock_file.try_lock().unwrap();
    let locked = sandbox.run(
        &["--simulate", "db.json", "-c", "put b 2", "-c", "save"],
        "",
    );
    drop(lock_file);
    assert_eq!(locked.status.code(), Some(1), "{}", describe(&locked));
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.contains("is locked by another process"), "{stderr}");
    assert_eq!(sandbox.read("db.json"), "{\"a\":1}\n");
}

#[test]
fn trace_shows_the_real_operations_of_a_snapshot_commit() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["db.json", "--color", "never"],
        "trace on\nput a 1\nget a\ntrace off\nput b 2\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    // The paths as the store was given them: relative to the working directory.
    let db = "db.json";
    assert_eq!(
        lines[0],
        "trace on: each command is followed by the filesystem operations it performed"
    );
    assert_eq!(lines[1], "OK");
    let ops: Vec<&str> = lines[2..8].to_vec();
    assert!(
        ops[0].starts_with(&format!("  trace: stat {db} (")),
        "{stdout}"
    );
    assert!(
        ops[1].starts_with(&format!("  trace: create {db}.kv-tmp.")),
        "{stdout}"
    );
    assert!(
        ops[2].starts_with(&format!("  trace: write 8 B {db}.kv-tmp.")),
        "{stdout}"
    );
    assert!(
        ops[3].starts_with(&format!("  trace: fsync {db}.kv-tmp.")),
        "{stdout}"
    );
    assert!(
        ops[4].starts_with(&format!("  trace: rename {db}.kv-tmp.")),
        "{stdout}"
    );
    assert!(ops[4].contains(&format!(" -> {db} (")), "{stdout}");
    assert!(
        ops[5].starts_with("  trace: directory fsync . ("),
        "{stdout}"
    );
    assert!(
        lines[8].starts_with("  trace: 6 operations, 8 B written, 2 syncs, "),
        "{stdout}"
    );
    assert!(!lines[8].contains("simulated"), "{stdout}");
    // A read touches no disk and prints no trace; after `trace off` nothing more.
    assert_eq!(&lines[9..], ["1", "trace off", "OK"], "{stdout}");

    let memory = sandbox.run(&["-c", "trace on"], "");
    check(
        &memory,
        1,
        "",
        "error: an in-memory store performs no filesystem operations: nothing to trace (open a \
         file: kv PATH)\n",
    );
}

#[test]
fn simulate_needs_a_path_and_a_database_that_opens() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["--simulate"], "");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    std::fs::write(sandbox.path("db.json"), "{\"a\":").unwrap();
    let output = sandbox.run(&["--simulate", "db.json"], "count\n");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("db.json is not valid JSON"), "{stderr}");
}

#[test]
fn the_interactive_banner_and_prompt_say_the_disk_is_simulated() {
    let sandbox = Sandbox::new();
    let mut command =
        sandbox.command(&["--color", "never", "--no-history", "--simulate", "db.json"]);
    command.env("TERM", "xterm");
    let mut kv = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
    kv.exp_string("db.json (snapshot mode, default) on a SIMULATED disk loaded from it")
        .unwrap();
    kv.exp_string("nothing reaches the real file until `save`")
        .unwrap();
    let prompt = "kv db.json (simulated)> ";
    kv.exp_string(prompt).unwrap();
    kv.send_line("put a 1").unwrap();
    kv.exp_string("OK").unwrap();
    kv.exp_string(prompt).unwrap();
    kv.send_line("powercut").unwrap();
    kv.exp_string("every acknowledged write survived, and nothing else")
        .unwrap();
    kv.exp_string(prompt).unwrap();
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(
        sandbox.entries(),
        BTreeSet::new(),
        "nothing on the real disk"
    );
}

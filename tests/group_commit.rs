#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! `--group-commit`: the same transcript as one commit per statement, fewer commits, and
//! no `OK` for a batch whose commit failed.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use kv::shell::Session;
use kv::shell::session::GroupCommit;
use kv_engine::Durability;
use kv_engine::fs::SimFs;
use kv_engine::fs::sim::{FaultError, OpKind, Repeat};

/// Runs `kv ARGS` in `dir` with stdin read from the file `script` (so every line is
/// already waiting, and the batches do not depend on how a pipe is scheduled).
fn run(dir: &Path, args: &[&str], script: &str) -> Output {
    let input = dir.join("script.kv");
    std::fs::write(&input, script).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::from(std::fs::File::open(&input).unwrap()))
        .output()
        .unwrap()
}

const MIXED: &str = r#"# a mixed script
put a 1
put b {"x": [1,
  2]}
delete a
delete a
delete never
put a 2
get a
put c 3
put c 4
delete c
exists c
keys
put k hello world
put d 4
bogus
put e 5

put "key with spaces" true
count
delete d
dump
"#;

#[test]
fn group_commit_prints_exactly_what_one_commit_per_statement_prints() {
    for mode in ["memory", "naive", "snapshot", "wal"] {
        for echo in [false, true] {
            let mut transcripts = Vec::new();
            for group in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let mut args = vec!["--durability", mode, "db.json"];
                if echo {
                    args.push("--echo");
                }
                if group {
                    args.push("--group-commit");
                }
                let output = run(dir.path(), &args, MIXED);
                let reopened = run(dir.path(), &["--durability", mode, "db.json"], "dump\n");
                transcripts.push((output, reopened.stdout));
            }
            let (one, grouped) = (&transcripts[0], &transcripts[1]);
            let what = format!("{mode}, echo {echo}");
            assert_eq!(one.0.status.code(), Some(1), "{what}");
            assert_eq!(grouped.0.status.code(), one.0.status.code(), "{what}");
            assert_eq!(
                String::from_utf8_lossy(&grouped.0.stdout),
                String::from_utf8_lossy(&one.0.stdout),
                "{what}"
            );
            assert_eq!(
                String::from_utf8_lossy(&grouped.0.stderr),
                String::from_utf8_lossy(&one.0.stderr),
                "{what}"
            );
            // And the same state on disk.
            assert_eq!(grouped.1, one.1, "{what}");
        }
    }
}

#[test]
fn the_transcript_itself_is_what_a_reader_expects() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["--durability", "wal", "--group-commit", "db.json"],
        MIXED,
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "OK\nOK\nOK\n(nil)\n(nil)\nOK\n2\nOK\nOK\nOK\nfalse\na\nb\nOK\nOK\nOK\n5\nOK\n\
         {\"a\":2,\"b\":{\"x\":[1,2]},\"e\":5,\"key with spaces\":true}\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: line 15: column 7: VALUE is not JSON; to store the text as a string, quote \
         it: put k \"hello world\"\n\
         error: line 17: unknown command \"bogus\" (type help for the list)\n"
    );
}

#[test]
fn group_commit_makes_one_commit_of_statements_already_waiting() {
    let mut script: String = (0..50).map(|i| format!("put k{i:02} {i}\n")).collect();
    script.push_str("stats\n");
    for mode in ["snapshot", "wal"] {
        let mut fsyncs = Vec::new();
        for (group, commits) in [(false, "50"), (true, "1")] {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec!["--durability", mode, "db.json"];
            if group {
                args.push("--group-commit");
            }
            let output = run(dir.path(), &args, &script);
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            assert_eq!(stdout.matches("OK\n").count(), 50, "{stdout}");
            assert_eq!(
                common::row(&stdout, "commits"),
                commits,
                "{mode}, group {group}"
            );
            assert!(
                common::row(&stdout, "mutations").starts_with("50 "),
                "{mode}: {stdout}"
            );
            fsyncs.push(common::row(&stdout, "fsyncs").parse::<u64>().unwrap());
        }
        assert!(
            fsyncs[1] * 10 < fsyncs[0],
            "{mode}: fsyncs without and with group commit: {fsyncs:?}"
        );
    }
}

fn script(session: &mut Session, input: &str) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    session
        .run_script(&mut input.as_bytes(), &mut out, &mut err)
        .unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn a_failed_group_commit_prints_no_ok_and_every_statement_reports_it() {
    for (durability, kind) in [
        (Durability::Wal, OpKind::SyncFile),
        (Durability::Wal, OpKind::Write),
        (Durability::Snapshot, OpKind::SyncFile),
        (Durability::Snapshot, OpKind::Rename),
    ] {
        let what = format!("{durability}, failing {kind:?}");
        let sim = SimFs::new();
        let mut s = common::sim_session(&sim, durability, GroupCommit::On);
        let (out, err) = script(&mut s, "put a 1\n");
        assert_eq!((out.as_str(), err.as_str()), ("OK\n", ""), "{what}");
        sim.fail(Some(kind), 1, FaultError::Eio, Repeat::Once);
        let (out, err) = script(&mut s, "put a 2\nput b 2\ndelete a\nget a\nget b\n");
        // The reads after the batch see the state before it: nothing was stored.
        assert_eq!(out, "1\n(nil)\n", "{what}");
        let errors: Vec<&str> = err.lines().collect();
        assert_eq!(errors.len(), 3, "{what}: {err}");
        for (line, error) in (1..=3).zip(&errors) {
            assert!(
                error.starts_with(&format!("error: line {line}: "))
                    && error.ends_with("(the whole group commit failed: nothing of it was stored)"),
                "{what}: {error}"
            );
        }
        assert_eq!(s.failures(), 3, "{what}");
    }
}

/// A writer that notes, at each `OK` written, how many file syncs the disk had seen.
struct SyncsAtOk {
    sim: SimFs,
    seen: Vec<u64>,
}

impl std::io::Write for SyncsAtOk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for _ in text.matches("OK") {
            self.seen.push(self.sim.count(OpKind::SyncFile));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_ok_of_a_batch_is_written_before_its_fsync() {
    for durability in [Durability::Wal, Durability::Snapshot] {
        let sim = SimFs::new();
        let mut s = common::sim_session(&sim, durability, GroupCommit::On);
        script(&mut s, "put warm 1\n");
        let before = sim.count(OpKind::SyncFile);
        let mut out = SyncsAtOk {
            sim: sim.clone(),
            seen: Vec::new(),
        };
        let mut err = Vec::new();
        s.run_script(
            &mut &b"put a 1\nput b 2\ndelete a\n"[..],
            &mut out,
            &mut err,
        )
        .unwrap();
        let after = sim.count(OpKind::SyncFile);
        assert!(after > before, "{durability}: the batch synced");
        assert_eq!(
            out.seen, [after; 3],
            "{durability}: every OK after the sync"
        );
        assert!(err.is_empty());
    }
}

/// Runs `script` on a fresh simulated disk with and without `--group-commit` (and, if
/// `echo_too`, with and without `--echo`), and checks the two transcripts are the same byte
/// for byte.
fn same_with_and_without_group_commit(mode: &str, script: &str, echo_too: bool) {
    let echoes = match echo_too {
        true => &[false, true][..],
        false => &[false],
    };
    for &echo in echoes {
        let mut transcripts = Vec::new();
        for group in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec!["--simulate", "--empty", "--durability", mode, "db.json"];
            if echo {
                args.push("--echo");
            }
            if group {
                args.push("--group-commit");
            }
            transcripts.push(run(dir.path(), &args, script));
        }
        let (one, grouped) = (&transcripts[0], &transcripts[1]);
        let what = format!("{mode}, echo {echo}, script:\n{script}");
        assert_eq!(
            common::same_temp_names(&grouped.stdout),
            common::same_temp_names(&one.stdout),
            "{what}"
        );
        assert_eq!(
            String::from_utf8_lossy(&grouped.stderr),
            String::from_utf8_lossy(&one.stderr),
            "{what}"
        );
        assert_eq!(grouped.status.code(), one.status.code(), "{what}");
    }
}

#[test]
fn crash_buttons_print_the_same_with_and_without_group_commit() {
    let points = [
        ("naive", &["mid-write"][..]),
        (
            "snapshot",
            &["after-temp-write", "after-temp-sync", "after-rename"],
        ),
        ("wal", &["mid-append", "after-append", "mid-checkpoint"]),
    ];
    for (mode, points) in points {
        // A random cut keeps some of the unsynced operations: naive syncs nothing, so
        // there what survives depends on how many commits there were, which is what
        // group commit changes. Elsewhere every acknowledged commit was synced.
        let cuts = match mode {
            "naive" => &["", " clean"][..],
            _ => &["", " clean", " torn 3"],
        };
        for point in points {
            for cut in cuts {
                // Two writes after the button, where the first one fires (and the second
                // commits after the reboot) or, for mid-checkpoint, both commit and the
                // checkpoint fires. Then runs of writes that group, and a power cut with
                // writes on both sides. The writes before the button are kept apart by
                // reads: what the reboot report shows of the log (where a torn tail was
                // cut) depends on how many commits wrote it, which is what group commit
                // changes; so does what `checkpoint` reports of the log's size.
                let script = format!(
                    "put a 1\nget a\nput b {{\"x\": [1,\n  2]}}\nexists b\ndelete a\n\
                     crash {point}{cut}\nput c 3\nput c2 3\ncheckpoint\nput d 4\ndelete b\n\
                     delete never\nput e 5\nget c\nput g 7\npowercut{cut}\nput h 8\n\
                     delete g\ndump\n"
                );
                // Echo changes only how the results are shown: once per point is enough.
                same_with_and_without_group_commit(mode, &script, cut.is_empty());
            }
        }
    }
}

#[test]
fn refused_values_a_closed_store_and_bail_print_the_same_with_and_without_group_commit() {
    let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    // A value the store refuses in the middle of a run of writes.
    same_with_and_without_group_commit(
        "wal",
        &format!("put a 1\nput b 2\nput deep {deep}\nput c 3\ndump\n"),
        true,
    );
    // A naive crash leaves a file that does not reopen: every write after it, grouped or
    // not, reports that no database is open.
    same_with_and_without_group_commit(
        "naive",
        "put a 1\ncrash mid-write\nput b 2\nput c 3\ndelete a\nget a\n",
        true,
    );
    // Under --bail, the first failure stops the run at the same place.
    for mode in ["snapshot", "wal"] {
        let dir = tempfile::tempdir().unwrap();
        let script = format!("put a 1\nput deep {deep}\nput b 2\n");
        let mut transcripts = Vec::new();
        for group in [&[][..], &["--group-commit"]] {
            let mut args = vec!["--simulate", "--empty", "--bail", "--durability", mode];
            args.extend_from_slice(group);
            args.push("db.json");
            let output = run(dir.path(), &args, &script);
            transcripts.push((output.stdout, output.stderr, output.status.code()));
        }
        assert_eq!(transcripts[0], transcripts[1], "{mode}");
        assert_eq!(String::from_utf8_lossy(&transcripts[0].0), "OK\n", "{mode}");
    }
}

#[test]
fn a_real_abort_prints_the_same_with_and_without_group_commit() {
    use std::os::unix::process::ExitStatusExt;
    for (mode, point) in [
        ("snapshot", "after-temp-sync"),
        ("wal", "after-append"),
        ("wal", "mid-checkpoint"),
    ] {
        let mut seen = Vec::new();
        for group in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut args = vec!["--durability", mode, "--echo", "db.json"];
            if group {
                args.push("--group-commit");
            }
            let script =
                format!("put a 1\ncrash {point}\nput b 2\nput c 3\ncheckpoint\nput never 4\n");
            let output = run(dir.path(), &args, &script);
            let reopened = run(dir.path(), &["--durability", mode, "db.json"], "dump\n");
            seen.push((
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
                output.status.signal(),
                String::from_utf8_lossy(&reopened.stdout).into_owned(),
            ));
        }
        assert_eq!(seen[0], seen[1], "{mode} {point}");
        // SIGABRT: the process really died at the point, with what it had printed out.
        assert_eq!(seen[0].2, Some(6), "{mode} {point}: {:?}", seen[0]);
    }
}

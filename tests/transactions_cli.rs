#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Transactions in the shell (`begin` … `commit`), through the real `kv` binary with
//! piped input: queued writes, reading your own writes, the error rules, what happens to
//! a transaction left open, `--group-commit`, and crash buttons during the commit.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Output;

use common::Sandbox;
use kv::shell::session::GroupCommit;
use kv_engine::Durability;
use kv_engine::fs::SimFs;
use kv_engine::fs::sim::{FaultError, OpKind, Repeat};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn check(output: &Output, status: i32, stdout: &str, stderr: &str) {
    let context = format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout), stdout, "{context}");
    assert_eq!(text(&output.stderr), stderr, "{context}");
    assert_eq!(output.status.code(), Some(status), "{context}");
}

#[test]
fn a_transaction_queues_its_writes_reads_them_and_commits_them_as_one() {
    for mode in ["snapshot", "wal"] {
        let sandbox = Sandbox::new();
        let setup = sandbox.run(
            &["--durability", mode, "db.json"],
            "put alice 100\nput bob 0\n",
        );
        check(&setup, 0, "OK\nOK\n", "");
        let script = "stats\nbegin\nput alice 70\nput bob 30\nput carol {\"new\": true}\n\
                      delete bob\nput bob 30\nget alice\nexists carol\nkeys\nkeys c*\ncount\n\
                      dump\nstats\ncommit\nstats\ndump\n";
        let output = sandbox.run(&["--durability", mode, "db.json"], script);
        let stdout = text(&output.stdout);
        assert_eq!(text(&output.stderr), "", "{mode}");
        assert_eq!(output.status.code(), Some(0), "{mode}");
        let stats: Vec<&str> = stdout.split("mode:").skip(1).collect();
        assert_eq!(stats.len(), 3, "{mode}: {stdout}");
        let (before, inside, after) = (stats[0], stats[1], stats[2]);
        // Everything between the first stats and the second: what the transaction printed.
        let middle = &before[before.find("OK\n").unwrap_or(before.len())..];
        assert!(
            middle.starts_with(
                "OK\nQUEUED\nQUEUED\nQUEUED\nQUEUED\nQUEUED\n70\ntrue\nalice\nbob\ncarol\n\
                 carol\n3\n{\"alice\":70,\"bob\":30,\"carol\":{\"new\":true}}\n"
            ),
            "{mode}: {middle}"
        );
        assert!(!before.contains("transaction:"), "{mode}: {before}");
        assert_eq!(
            common::row(inside, "transaction"),
            "open: 5 mutations queued, not committed (the keys above do not count them)",
            "{mode}"
        );
        // The queued writes are not in the store yet, nor on its counters.
        assert_eq!(common::row(inside, "keys"), "2", "{mode}");
        assert_eq!(
            common::row(inside, "commits"),
            common::row(before, "commits"),
            "{mode}"
        );
        assert!(inside.contains("\nOK (5 mutations)\n"), "{mode}: {inside}");
        // One commit for the whole transaction, and in wal mode one fsync.
        let commits = |stats: &str| common::row(stats, "commits").parse::<u64>().unwrap();
        let fsyncs = |stats: &str| common::row(stats, "fsyncs").parse::<u64>().unwrap();
        assert_eq!(commits(after), commits(inside) + 1, "{mode}");
        if mode == "wal" {
            assert_eq!(fsyncs(after), fsyncs(inside) + 1, "{mode}");
        }
        assert!(!after.contains("transaction:"), "{mode}: {after}");
        assert!(
            after.ends_with("{\"alice\":70,\"bob\":30,\"carol\":{\"new\":true}}\n"),
            "{mode}: {after}"
        );
        // Durable: a new process reads it.
        let reopened = sandbox.run(&["--durability", mode, "db.json"], "dump\n");
        check(
            &reopened,
            0,
            "{\"alice\":70,\"bob\":30,\"carol\":{\"new\":true}}\n",
            "",
        );
    }
}

#[test]
fn the_error_rules_of_transactions() {
    let sandbox = Sandbox::new();
    let script = "commit\nrollback\nput a 1\nbegin\nput a 2\nbegin\nput b {oops\n\
                  bogus\nget a\nget b\nrollback\nget a\nmulti\nput c 3\ndiscard\nbegin\nabort\n\
                  exec\nbegin\nexec\ncount\n";
    let output = sandbox.run(&["db.json"], script);
    check(
        &output,
        1,
        "OK\nOK\nQUEUED\n2\n(nil)\nOK (rolled back 1 mutation: nothing of them was stored)\n1\n\
         OK\nQUEUED\nOK (rolled back 1 mutation: nothing of them was stored)\nOK\n\
         OK (rolled back 0 mutations: nothing of them was stored)\nOK\nOK (0 mutations)\n1\n",
        "error: line 1: no transaction is open: nothing to commit (begin opens one)\n\
         error: line 2: no transaction is open: nothing to roll back (begin opens one)\n\
         error: line 6: a transaction is already open (1 mutation queued): commit or \
         rollback it first (transactions do not nest)\n\
         error: line 7: column 8: VALUE is not valid JSON: key must be a string\n\
         error: line 8: unknown command \"bogus\" (type help for the list)\n\
         error: line 18: no transaction is open: nothing to commit (begin opens one)\n",
    );
}

#[test]
fn a_transaction_left_open_at_the_end_of_input_is_rolled_back_and_fails() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["db.json"],
        "put a 1\nbegin\nput a 2\ndelete a\nput b 3\n\nget a\n",
    );
    check(
        &output,
        1,
        "OK\nOK\nQUEUED\nQUEUED\nQUEUED\n(nil)\n",
        "error: line 7: transaction begun on line 2 was not committed; rolled back 3 \
         mutations\n",
    );
    check(&sandbox.run(&["db.json"], "dump\n"), 0, "{\"a\":1}\n", "");
    // `exit` ends the input too.
    let output = sandbox.run(&["db.json"], "begin\nput a 9\nexit\nput never 1\n");
    check(
        &output,
        1,
        "OK\nQUEUED\n",
        "error: line 3: transaction begun on line 1 was not committed; rolled back 1 \
         mutation\n",
    );
    // So does the last of the -c commands.
    let output = sandbox.run(&["db.json", "-c", "begin", "-c", "put a 9"], "");
    check(
        &output,
        1,
        "OK\nQUEUED\n",
        "error: transaction was not committed; rolled back 1 mutation\n",
    );
    check(&sandbox.run(&["db.json"], "dump\n"), 0, "{\"a\":1}\n", "");
}

#[test]
fn bail_rolls_back_an_open_transaction_at_the_first_error_and_stops() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["--bail", "db.json"],
        "begin\nput a 1\nput b 2\nget\ncommit\n",
    );
    check(
        &output,
        1,
        "OK\nQUEUED\nQUEUED\n",
        "error: line 4: missing KEY; usage: get KEY\n\
         error: line 4: transaction begun on line 1 was not committed; rolled back 2 \
         mutations\n",
    );
    check(&sandbox.run(&["db.json"], "count\n"), 0, "0\n", "");
}

/// Runs `script` with and without `--group-commit` on a fresh simulated disk and returns
/// both outputs.
fn with_and_without_group_commit(mode: &str, script: &str) -> [Output; 2] {
    [false, true].map(|group| {
        let sandbox = Sandbox::new();
        let mut args = vec!["--simulate", "--empty", "--durability", mode, "db.json"];
        if group {
            args.push("--group-commit");
        }
        sandbox.run(&args, script)
    })
}

#[test]
fn group_commit_prints_the_same_for_transactions_inside_and_between_batches() {
    let script = "put a 1\nput b 2\nbegin\nput a 10\ndelete b\nput c 3\ncommit\nput d 4\n\
                  put e 5\nbegin\nput d 40\nrollback\ndelete e\nbegin\nput f 6\nbogus\n\
                  put g 7\nexec\ndump\nbegin\nput h 8\n";
    for mode in ["snapshot", "wal"] {
        let [one, grouped] = with_and_without_group_commit(mode, script);
        assert_eq!(text(&grouped.stdout), text(&one.stdout), "{mode}");
        assert_eq!(text(&grouped.stderr), text(&one.stderr), "{mode}");
        assert_eq!(grouped.status.code(), one.status.code(), "{mode}");
        assert!(
            text(&one.stdout).contains("{\"a\":10,\"c\":3,\"d\":4,\"f\":6,\"g\":7}\n"),
            "{mode}: {}",
            text(&one.stdout)
        );
        assert!(
            text(&one.stderr).ends_with(
                "error: line 21: transaction begun on line 20 was not committed; rolled \
                 back 1 mutation\n"
            ),
            "{mode}: {}",
            text(&one.stderr)
        );
    }
}

/// The crash points of each crash-safe mode's commit.
const POINTS: [(&str, &[&str]); 2] = [
    (
        "snapshot",
        &["after-temp-write", "after-temp-sync", "after-rename"],
    ),
    ("wal", &["mid-append", "after-append"]),
];

#[test]
fn a_crash_point_in_the_commit_keeps_all_of_the_transaction_or_none_of_it() {
    for (mode, points) in POINTS {
        for point in points {
            for cut in ["", " clean", " torn 5"] {
                // A transfer: whatever survives, the balances add up to 100. (The two
                // puts before it are kept apart by a read, so that the log is laid out the
                // same with group commit: the reboot report says where its tail was cut.)
                let script = format!(
                    "put alice 100\ncount\nput bob 0\ncrash {point}{cut}\nbegin\n\
                     put alice 70\nput bob 30\ncommit\nget alice\nget bob\n"
                );
                let [one, grouped] = with_and_without_group_commit(mode, &script);
                let what = format!("{mode} {point}{cut}");
                assert_eq!(
                    common::same_temp_names(&grouped.stdout),
                    common::same_temp_names(&one.stdout),
                    "{what}"
                );
                assert_eq!(text(&grouped.stderr), text(&one.stderr), "{what}");
                let stdout = text(&one.stdout);
                let died = match cut {
                    "" => "the process died there",
                    _ => "the power went there",
                };
                assert!(
                    stdout.contains(&format!("crash at {point}: {died}"))
                        && stdout.contains("; the commit was not acknowledged"),
                    "{what}: {stdout}"
                );
                assert!(!stdout.contains("OK (2 mutations)"), "{what}: {stdout}");
                let balances: Vec<&str> = stdout.lines().rev().take(2).collect();
                assert!(
                    balances == ["0", "100"] || balances == ["30", "70"],
                    "{what}: {stdout}"
                );
            }
        }
    }
}

#[test]
fn a_real_abort_in_the_commit_leaves_all_of_the_transaction_or_none_of_it() {
    for (mode, points) in POINTS {
        for point in points {
            let sandbox = Sandbox::new();
            let script = format!(
                "put alice 100\nput bob 0\ncrash {point}\nbegin\nput alice 70\nput bob 30\n\
                 commit\nput never 1\n"
            );
            let output = sandbox.run(&["--durability", mode, "db.json"], &script);
            let what = format!("{mode} {point}");
            assert_eq!(output.status.signal(), Some(6), "{what}: {output:?}");
            assert!(
                text(&output.stdout).ends_with("QUEUED\nQUEUED\n"),
                "{what}: no OK for the commit: {}",
                text(&output.stdout)
            );
            let reopened = sandbox.run(&["--durability", mode, "db.json"], "dump\n");
            let dump = text(&reopened.stdout);
            assert!(
                dump == "{\"alice\":100,\"bob\":0}\n" || dump == "{\"alice\":70,\"bob\":30}\n",
                "{what}: {dump}"
            );
        }
    }
}

#[test]
fn a_power_cut_inside_a_transaction_loses_it_and_says_so() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["--simulate", "--empty", "db.json"],
        "put a 1\nbegin\nput a 2\nput b 3\npowercut\nget a\ncommit\n",
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(
            "\nthe open transaction was lost with the process: none of its 2 queued \
             mutations was committed\n1\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        text(&output.stderr),
        "error: line 7: no transaction is open: nothing to commit (begin opens one)\n"
    );
}

#[test]
fn a_failed_commit_stores_nothing_shows_nothing_and_says_so() {
    for (durability, kind) in [
        (Durability::Wal, OpKind::SyncFile),
        (Durability::Wal, OpKind::Write),
        (Durability::Snapshot, OpKind::SyncFile),
        (Durability::Snapshot, OpKind::Rename),
    ] {
        for group in [GroupCommit::Off, GroupCommit::On] {
            let what = format!("{durability}, failing {kind:?}, {group:?}");
            let sim = SimFs::new();
            let mut s = common::sim_session(&sim, durability, group);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            s.run_script(
                &mut &b"put a 1\nbegin\nput a 2\nput b 2\n"[..],
                &mut out,
                &mut err,
            )
            .unwrap();
            assert_eq!(text(&out), "OK\nOK\nQUEUED\nQUEUED\n", "{what}");
            sim.fail(Some(kind), 1, FaultError::Eio, Repeat::Once);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            s.run_script(&mut &b"commit\nget a\nget b\n"[..], &mut out, &mut err)
                .unwrap();
            // Nothing of it is visible: the reads see the store as it was.
            assert_eq!(text(&out), "1\n(nil)\n", "{what}");
            let err = text(&err);
            assert!(
                err.starts_with("error: line 1: ")
                    && err.ends_with(
                        " (the transaction was not committed: none of its 2 mutations was \
                         stored)\n"
                    ),
                "{what}: {err}"
            );
            assert_eq!(
                s.transaction_size(),
                None,
                "{what}: the transaction is over"
            );
        }
    }
}

#[test]
fn a_value_the_store_would_refuse_is_refused_when_queued_and_the_transaction_stays_open() {
    let sandbox = Sandbox::new();
    let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    let script = format!("begin\nput a 1\nput deep {deep}\nput b 2\ncommit\nkeys\n");
    let output = sandbox.run(&["db.json"], &script);
    check(
        &output,
        1,
        "OK\nQUEUED\nQUEUED\nOK (2 mutations)\na\nb\n",
        "error: line 3: the value for key \"deep\" nests deeper than 100 levels of arrays and \
         objects; nothing was written\n",
    );
}

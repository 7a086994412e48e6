#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! `kv import`: what `kv export` writes comes back exactly (through the binary, and over
//! random keys and values in-process), an import is one commit (a bad line, however late,
//! leaves every file of the database byte for byte as it was), it is in the file once the
//! process has said so, and the progress bar is drawn on a terminal only.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::{Sandbox, nasty, write_db};
use kv::shell::export::{self, Format};
use kv::shell::import::{self, InputFormat};
use kv_engine::{JsonText, KvStore, Options};
use proptest::prelude::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the status and streams of a run.
fn check(output: &Output, status: i32, stdout: &str, stderr: &str) {
    let context = format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(status), "{context}");
    assert_eq!(text(&output.stdout), stdout, "{context}");
    assert_eq!(text(&output.stderr), stderr, "{context}");
}

/// Every file in the sandbox (but the shell's history) with its bytes.
fn files(sandbox: &Sandbox) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(sandbox.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name() != "history")
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

/// The pairs of the database `name` in the sandbox, read by a fresh read-only open.
fn stored(sandbox: &Sandbox, name: &str) -> Vec<(String, String)> {
    let store = KvStore::open(sandbox.path(name), Options::new().read_only(true)).unwrap();
    store
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn what_export_writes_import_reads_back_exactly_through_the_binary() {
    let sandbox = Sandbox::new();
    let mut pairs = nasty();
    pairs.sort();
    write_db(&sandbox.path("db.json"), &pairs);
    for (format, fresh) in [("json", "from-json.json"), ("jsonl", "from-jsonl.json")] {
        let exported = sandbox.run(&["export", "db.json", "--format", format], "");
        check(&exported, 0, &text(&exported.stdout), "");
        let output = sandbox.run_env(
            &["import", fresh, "-", "--format", format],
            &exported.stdout,
            &[],
        );
        let n = pairs.len();
        check(
            &output,
            0,
            &format!("imported {n} keys into {fresh} ({n} new, 0 overwritten)\n"),
            "",
        );
        assert_eq!(stored(&sandbox, fresh), pairs, "{format}");
        // The imported database exports the same bytes, and is the same file.
        let again = sandbox.run(&["export", fresh, "--format", format], "");
        assert_eq!(again.stdout, exported.stdout, "{format}");
    }
    assert_eq!(
        std::fs::read(sandbox.path("from-json.json")).unwrap(),
        std::fs::read(sandbox.path("db.json")).unwrap()
    );
}

/// Random JSON text: scalars of every kind (numbers past any float, strings with any
/// character), nested in lists and objects.
fn json_text() -> impl Strategy<Value = String> {
    let string = proptest::collection::vec(any::<char>(), 0..6)
        .prop_map(|chars| serde_json::to_string(&String::from_iter(chars)).unwrap());
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[1-9][0-9]{18,30}(\\.[0-9]{1,5}0)?",
        string.clone(),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::btree_map(string.clone(), inner, 0..4).prop_map(|members| {
                let members: Vec<String> =
                    members.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", members.join(", "))
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Export then import, in-process: the same pairs, byte for byte, in both formats.
    #[test]
    fn export_then_import_gives_back_every_pair(
        pairs in proptest::collection::btree_map(key(), json_text(), 0..12)
    ) {
        let mut store = KvStore::in_memory();
        for (key, value) in &pairs {
            store.put_text(key.clone(), JsonText::parse(value).unwrap()).unwrap();
        }
        let original: Vec<(String, String)> =
            store.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (out, input) in [(Format::Json, InputFormat::Json), (Format::Jsonl, InputFormat::Jsonl)] {
            let mut written = Vec::new();
            export::write(&store, out, &mut written).unwrap();
            let written = String::from_utf8(written).unwrap();
            let entries = import::parse(&written, input, &mut |_| {}).unwrap();
            let mut fresh = KvStore::in_memory();
            let imported = import::apply(&mut fresh, entries, true).unwrap();
            prop_assert_eq!(imported.new, pairs.len());
            let back: Vec<(String, String)> =
                fresh.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            prop_assert_eq!(&back, &original);
        }
    }
}

/// A JSON-lines file of `n` pairs, `key00000`…, whose value is the line number.
fn lines(n: usize) -> String {
    (1..=n)
        .map(|i| format!("{{\"key\": \"key{i:05}\", \"value\": {{\"line\": {i}}}}}\n"))
        .collect()
}

#[test]
fn a_bad_line_late_in_a_big_file_imports_nothing_and_changes_no_byte() {
    let sandbox = Sandbox::new();
    // A wal database with a snapshot and a log, so both must stay as they were.
    let setup = sandbox.run(
        &["--durability", "wal", "db.json"],
        "put key00001 0\ncheckpoint\nput kept 1\n",
    );
    assert_eq!(setup.status.code(), Some(0), "{setup:?}");
    let before = files(&sandbox);
    assert!(before.contains_key("db.json.wal"), "{:?}", before.keys());

    let n = 20_000;
    let good = lines(n);
    let cases = [
        (
            format!("{good}{{\"key\": \"late\", \"value\": [1, }}\n"),
            format!("big.jsonl:{}:30: not valid JSON: expected value", n + 1),
        ),
        (
            format!("{good}{{\"key\": \"late\", \"value\": 1, \"extra\": 2}}\n"),
            format!(
                "big.jsonl:{}:29: unexpected field \"extra\": each line is {{\"key\": KEY, \
                 \"value\": VALUE}} and nothing else",
                n + 1
            ),
        ),
        (
            format!("{good}{{\"key\": \"key00007\", \"value\": 1}}\n"),
            format!(
                "big.jsonl:{}:2: the key \"key00007\" is given twice (first at 7:2): refused, \
                 because importing it would keep only one of its values",
                n + 1
            ),
        ),
        (
            format!("{good}{{\"key\": 7, \"value\": 1}}\n"),
            format!(
                "big.jsonl:{}:9: \"key\" must be a JSON string, not a number",
                n + 1
            ),
        ),
        (
            format!("{good}{{\"value\": 1}}\n"),
            format!(
                "big.jsonl:{}:1: the line has no \"key\": each line is {{\"key\": KEY, \
                 \"value\": VALUE}}",
                n + 1
            ),
        ),
    ];
    for (input, error) in cases {
        std::fs::write(sandbox.path("big.jsonl"), &input).unwrap();
        let output = sandbox.run(&["import", "db.json", "big.jsonl", "--format", "jsonl"], "");
        check(
            &output,
            1,
            "",
            &format!("error: {error}; nothing was imported\n"),
        );
        std::fs::remove_file(sandbox.path("big.jsonl")).unwrap();
        assert!(
            files(&sandbox) == before,
            "{error}: the database's files changed"
        );
    }

    // A json file: a value late in it that the store refuses, named by its key.
    let mut object: Vec<String> = (1..=n).map(|i| format!("\"k{i}\": {i}")).collect();
    object.push("\"bad\": {\"x\": 1, \"x\": 2}".to_string());
    let input = format!("{{\n{}\n}}\n", object.join(",\n"));
    let output = sandbox.run_env(&["import", "db.json", "-"], input.as_bytes(), &[]);
    check(
        &output,
        1,
        "",
        &format!(
            "error: stdin:{}:17: the value of \"bad\" repeats the key \"x\" in one object: \
             refused, because storing it would keep only one of its values; nothing was \
             imported\n",
            n + 2
        ),
    );
    assert!(files(&sandbox) == before, "the database's files changed");
}

#[test]
fn no_overwrite_refuses_naming_the_first_existing_key_and_imports_nothing() {
    let sandbox = Sandbox::new();
    check(
        &sandbox.run(&["db.json", "put", "b", "0"], ""),
        0,
        "OK\n",
        "",
    );
    let before = files(&sandbox);
    let output = sandbox.run_env(
        &["import", "db.json", "-", "--no-overwrite"],
        b"{\"a\": 1,\n \"b\": 2,\n \"c\": 3}",
        &[],
    );
    check(
        &output,
        1,
        "",
        "error: stdin:2:2: the key \"b\" is already in db.json (--no-overwrite); nothing was \
         imported\n",
    );
    assert!(files(&sandbox) == before);
    // Without it the key is overwritten, and counted as such.
    let output = sandbox.run_env(&["import", "db.json", "-"], b"{\"a\": 1, \"b\": 2}", &[]);
    check(
        &output,
        0,
        "imported 2 keys into db.json (1 new, 1 overwritten)\n",
        "",
    );
    assert_eq!(
        stored(&sandbox, "db.json"),
        [("a".into(), "1".into()), ("b".into(), "2".into())]
    );
}

#[test]
fn the_imported_pairs_are_in_the_file_once_the_process_has_said_so() {
    for mode in ["snapshot", "wal"] {
        let sandbox = Sandbox::new();
        std::fs::write(sandbox.path("in.jsonl"), lines(3)).unwrap();
        let output = sandbox.run(
            &[
                "import",
                "db.json",
                "in.jsonl",
                "--format",
                "jsonl",
                "--durability",
                mode,
            ],
            "",
        );
        check(
            &output,
            0,
            "imported 3 keys into db.json (3 new, 0 overwritten)\n",
            "",
        );
        // A fresh open after the process is gone: what it acknowledged is there.
        let expected: Vec<(String, String)> = (1..=3)
            .map(|i| (format!("key{i:05}"), format!("{{\"line\":{i}}}")))
            .collect();
        assert_eq!(stored(&sandbox, "db.json"), expected, "{mode}");
        if mode == "snapshot" {
            // The snapshot is the plain object itself.
            assert_eq!(
                std::fs::read_to_string(sandbox.path("db.json")).unwrap(),
                "{\"key00001\":{\"line\":1},\"key00002\":{\"line\":2},\"key00003\":{\"line\":3}}\n"
            );
        } else {
            assert!(sandbox.path("db.json.wal").exists());
        }
    }
}

#[test]
fn import_refusals_before_reading_the_database() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["import", "db.json", "missing.json"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("error: cannot read missing.json: "),
        "{output:?}"
    );
    let output = sandbox.run(&["import", "db.json", "-", "--durability", "memory"], "{}");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("would keep nothing"),
        "{output:?}"
    );
    let output = sandbox.run_env(&["import", "db.json", "-"], b"{\"a\":\n \"\xff\"}", &[]);
    check(
        &output,
        1,
        "",
        "error: stdin:2:3: not UTF-8 (byte 0xff); nothing was imported\n",
    );
    let output = sandbox.run_env(&["import", "db.json", "-"], b"[{\"key\": \"a\"}]", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).starts_with(
            "error: stdin:1:1: the input is not a JSON object: a json import is one object"
        ),
        "{output:?}"
    );
    // A byte-order mark is skipped, and not counted in columns.
    let output = sandbox.run_env(
        &["import", "db.json", "-"],
        "\u{feff}{\"a\": }".as_bytes(),
        &[],
    );
    check(
        &output,
        1,
        "",
        "error: stdin:1:7: not valid JSON: expected value; nothing was imported\n",
    );
    // Nothing was opened, so not even a lock file was made.
    assert!(files(&sandbox).is_empty(), "{:?}", files(&sandbox).keys());
}

/// Big enough for the progress bar on a terminal.
fn big_input() -> String {
    let input = lines(40_000);
    assert!(input.len() > import::PROGRESS_FROM_BYTES, "{}", input.len());
    input
}

#[test]
fn a_piped_import_prints_the_summary_and_nothing_else() {
    let sandbox = Sandbox::new();
    let output = sandbox.run_env(
        &["import", "db.json", "-", "--format", "jsonl"],
        big_input().as_bytes(),
        &[],
    );
    check(
        &output,
        0,
        "imported 40000 keys into db.json (40000 new, 0 overwritten)\n",
        "",
    );
}

#[test]
fn a_terminal_gets_a_progress_bar_while_checking_and_committing() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path("big.jsonl"), big_input()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kv"));
    command
        .args(["import", "db.json", "big.jsonl", "--format", "jsonl"])
        .current_dir(sandbox.dir.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    let mut kv = rexpect::session::spawn_command(command, Some(20_000)).unwrap();
    // The bar draws over the input's bytes, then the commit's spinner.
    kv.exp_string("checking [").unwrap();
    kv.exp_string("committing 40000 keys in one commit")
        .unwrap();
    kv.exp_string("imported 40000 keys into db.json (40000 new, 0 overwritten)")
        .unwrap();
    match kv.process().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => assert_eq!(code, 0),
        other => panic!("{other:?}"),
    }
    assert_eq!(stored(&sandbox, "db.json").len(), 40_000);
}

#[test]
fn import_into_a_database_a_live_writer_holds_is_refused_with_status_2() {
    let sandbox = Sandbox::new();
    let mut writer = sandbox.spawn(&["db.json"]);
    let mut input = writer.stdin.take().unwrap();
    let mut output = std::io::BufReader::new(writer.stdout.take().unwrap());
    std::io::Write::write_all(&mut input, b"put a 1\n").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut output, &mut line).unwrap();
    assert_eq!(line, "OK\n");
    let before = files(&sandbox);
    let refused = sandbox.run_env(&["import", "db.json", "-"], b"{\"b\": 2}", &[]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(text(&refused.stderr).contains("locked"), "{refused:?}");
    assert_eq!(text(&refused.stdout), "");
    assert!(files(&sandbox) == before);
    drop(input);
    assert_eq!(writer.wait().unwrap().code(), Some(0));
    assert_eq!(stored(&sandbox, "db.json"), [("a".into(), "1".into())]);
}

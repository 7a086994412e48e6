#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Demos that never rot: every command file in `history/demos/` runs through the real
//! `kv` binary exactly as its `# Run:` line says, and the lines that show the stage's
//! failure or guarantee must appear, in order.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What one demo must show: fragments of stdout lines and of stderr lines, each in order.
struct Expected {
    file: &'static str,
    status: i32,
    stdout: &'static [&'static str],
    stderr: &'static [&'static str],
}

const DEMOS: &[Expected] = &[
    Expected {
        file: "stage-0-memory.kv",
        status: 0,
        stdout: &[
            "> put alice {\"balance\": 100}",
            "OK",
            "trace: no filesystem operations",
            "> count",
            "2",
            "power cut, clean",
            "disk after the reboot: no files",
            "reopened db.json: 0 keys",
            "LOST (acknowledged with OK, gone now): alice, bob",
            "> count",
            "0",
            "> get alice",
            "(nil)",
        ],
        stderr: &[],
    },
    Expected {
        file: "stage-1-naive.kv",
        status: 1,
        stdout: &[
            "> put alice 100",
            "OK",
            "trace: open+truncate db.json",
            "trace: write 14 B db.json at 0",
            "trace: 2 operations, 14 B written, 0 syncs",
            "> powercut",
            "reopened db.json: 0 keys",
            "LOST (acknowledged with OK, gone now): alice, bob",
            "> count",
            "0",
            "> writeback",
            "> powercut random 7",
            "power cut, random, seed 7",
            "disk after the reboot: db.json (0 B)",
        ],
        stderr: &[
            "after the reboot, db.json cannot be opened: db.json is not valid JSON: the file is \
             empty where a JSON object was expected (an interrupted naive-mode rewrite leaves \
             this) at line 1 column 0 (the file was left untouched)",
            "no database is open",
        ],
    },
    Expected {
        file: "stage-1-naive-mid-write.kv",
        status: 1,
        stdout: &[
            "> put bob 50",
            "OK",
            "  mid-write  half of the new file written over the truncated old one",
            "armed mid-write",
            "> put carol 1",
            "crash at mid-write: the process died there; the put was not acknowledged",
            "disk after the reboot: db.json (16 B)",
        ],
        stderr: &[
            "after the reboot, db.json cannot be opened: db.json is not valid JSON: EOF while \
             parsing a string at line 1 column 16",
            "no database is open",
        ],
    },
    Expected {
        file: "stage-2-snapshot.kv",
        status: 0,
        stdout: &[
            "> put alice 100",
            "OK",
            "trace: stat db.json",
            "trace: create db.json.kv-tmp.",
            "trace: write 14 B db.json.kv-tmp.",
            "trace: fsync db.json.kv-tmp.",
            "trace: rename db.json.kv-tmp.",
            "trace: directory fsync .",
            "trace: 6 operations, 14 B written, 2 syncs",
            "> powercut",
            "reopened db.json: 2 keys",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "> crash after-temp-write",
            "> put alice 200",
            "crash at after-temp-write: the process died there",
            "reopened db.json: 2 keys (removed 1 leftover temp file)",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "> crash after-temp-write torn 3",
            "> put alice 200",
            "(replay: crash after-temp-write torn 3)",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "> crash after-temp-sync clean",
            "> put alice 300",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "> crash after-rename",
            "> put alice 400",
            "not the acknowledged value: alice = 400 (acknowledged: 100)",
            "> get alice",
            "400",
            "> crash after-rename clean",
            "> put alice 500",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "400",
            "> powercut random 11",
            "every acknowledged write survived, and nothing else",
            "> dump",
            "{\"alice\":400,\"carol\":3}",
        ],
        stderr: &[],
    },
    Expected {
        file: "stage-3-wal.kv",
        status: 0,
        stdout: &[
            "> put bob 50",
            "OK",
            "trace: write 30 B db.json.wal at 1024",
            "trace: fdatasync db.json.wal",
            "trace: 2 operations, 30 B written, 1 sync",
            "> powercut",
            "reopened db.json: 2 keys",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "log records:   2 since the last checkpoint",
            "> crash mid-append",
            "> put carol 1",
            "crash at mid-append: the process died there; the put was not acknowledged",
            "reopened db.json: 2 keys",
            "warning: db.json.wal: cut off a torn tail of 9 bytes at offset 1536",
            "every acknowledged write survived, and nothing else",
            "> get carol",
            "(nil)",
            "> crash after-append clean",
            "> put carol 2",
            "every acknowledged write survived, and nothing else",
            "> get carol",
            "(nil)",
            "> put erin 5",
            "OK",
            "> powercut clean",
            "reopened db.json: 4 keys",
            "every acknowledged write survived, and nothing else",
            "> crash mid-checkpoint clean",
            "> checkpoint",
            "crash at mid-checkpoint: the power went there",
            "warning: db.json: finished a checkpoint that was interrupted after writing its snapshot",
            "every acknowledged write survived, and nothing else",
            "> dump",
            "{\"alice\":100,\"bob\":50,\"dave\":4,\"erin\":5}",
            "> checkpoint",
            "checkpoint: folded 1 logged record into a new snapshot (51 bytes); the log went \
             from 543 bytes to 512 bytes",
            "> checkpoint",
            "nothing to checkpoint: the log holds no record since the last checkpoint",
            "checkpoints:   1",
        ],
        stderr: &[],
    },
];

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("history/demos")
}

/// The arguments of the file's `# Run: kv ARGS < history/demos/FILE` line, checking that
/// it names the file itself.
fn run_line_args(file: &str, text: &str) -> Vec<String> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("# Run: kv "))
        .unwrap_or_else(|| panic!("{file} has no `# Run: kv ...` line"));
    let (args, input) = line
        .split_once(" < ")
        .unwrap_or_else(|| panic!("{file}: the Run line must read its input with <"));
    assert_eq!(
        input.trim(),
        format!("history/demos/{file}"),
        "{file}: the Run line must feed the file itself"
    );
    args.split_whitespace().map(str::to_string).collect()
}

fn run_demo(file: &str) -> Output {
    let path = demo_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let args = run_line_args(file, &text);
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(&args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("NO_COLOR")
        .stdin(Stdio::from(std::fs::File::open(&path).unwrap()))
        .output()
        .unwrap();
    // A demo runs on the simulated disk: the real directory stays empty.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "{file} left files on the real disk: {left:?}"
    );
    output
}

/// Asserts that each fragment occurs in a line of `text`, each in a later line than the
/// one before.
#[track_caller]
fn assert_in_order(what: &str, text: &str, fragments: &[&str], context: &str) {
    let mut lines = text.lines();
    for fragment in fragments {
        assert!(
            lines.any(|line| line.contains(fragment)),
            "{what}: {fragment:?} is missing (or out of order)\n{context}"
        );
    }
}

#[test]
fn every_demo_shows_its_failure_or_its_guarantee() {
    for expected in DEMOS {
        let output = run_demo(expected.file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!(
            "{}: status {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}",
            expected.file,
            output.status.code()
        );
        assert_eq!(output.status.code(), Some(expected.status), "{context}");
        assert_in_order("stdout", &stdout, expected.stdout, &context);
        assert_in_order("stderr", &stderr, expected.stderr, &context);
        if expected.stderr.is_empty() {
            assert_eq!(stderr, "", "{context}");
        }
        // The narration is echoed as narration, never as a command.
        assert!(!stdout.contains("> #"), "{context}");
    }
}

#[test]
fn every_demo_file_is_checked_and_documents_its_command() {
    let mut files: Vec<String> = std::fs::read_dir(demo_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".kv"))
        .collect();
    files.sort();
    let mut checked: Vec<String> = DEMOS.iter().map(|demo| demo.file.to_string()).collect();
    checked.sort();
    assert_eq!(files, checked, "each demo needs its entry in DEMOS");
    for file in &files {
        let text = std::fs::read_to_string(demo_dir().join(file)).unwrap();
        let args = run_line_args(file, &text);
        assert!(
            args.iter().any(|arg| arg == "--simulate"),
            "{file}: demos run on the simulated disk"
        );
    }
}

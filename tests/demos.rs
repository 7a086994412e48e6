#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Demos that never rot: every command file in `history/demos/` runs through the real
//! `kv` binary exactly as its `# Run:` line says, and the lines that show the stage's
//! failure or guarantee must appear, in order.

use std::io::Write;
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
    Expected {
        file: "stage-4-transactions.kv",
        status: 0,
        stdout: &[
            // Two puts: a crash between them loses the money.
            "> put alice 70",
            "OK",
            "> crash mid-append",
            "> put bob 30",
            "crash at mid-append: the process died there; the put was not acknowledged",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "70",
            "> get bob",
            "0",
            // A transaction: queued, read back, and all or nothing at every crash point.
            "> begin",
            "OK",
            "> put alice 70",
            "QUEUED",
            "> put bob 30",
            "QUEUED",
            "> get bob",
            "30",
            "> crash mid-append",
            "> commit",
            "crash at mid-append: the process died there; the commit was not acknowledged",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "> get bob",
            "0",
            "> crash after-append clean",
            "> commit",
            "crash at after-append: the power went there (clean); the commit was not \
             acknowledged",
            "every acknowledged write survived, and nothing else",
            "> get alice",
            "100",
            "> get bob",
            "0",
            "> crash after-append",
            "> commit",
            "crash at after-append: the process died there; the commit was not acknowledged",
            "not the acknowledged value: alice = 70 (acknowledged: 100), bob = 30 \
             (acknowledged: 0)",
            "> get alice",
            "70",
            "> get bob",
            "30",
            "> commit",
            "OK (2 mutations)",
            "> powercut clean",
            "every acknowledged write survived, and nothing else",
            "> dump",
            "{\"alice\":40,\"bob\":60}",
        ],
        stderr: &[],
    },
    Expected {
        file: "stage-5-async.kv",
        status: 0,
        stdout: &[
            "> put bob 50",
            "OK",
            "trace: write 30 B db.json.wal at 1024",
            "trace: 1 operation, 30 B written, 0 syncs",
            "not durable:      2 acknowledged writes",
            "> sleep 1200ms",
            "slept 1.20 s on the simulated clock: 1 delayed sync ran",
            "> powercut",
            "reopened db.json: 2 keys",
            "lost (within the --sync window, as promised): carol, dave",
            "every write acknowledged more than 1s before survived",
            "> dump",
            "{\"alice\":100,\"bob\":50}",
            "> sync",
            "synced: 2 acknowledged writes made durable",
            "> powercut",
            "every acknowledged write survived, and nothing else",
            "{\"alice\":100,\"bob\":50,\"carol\":3,\"erin\":5}",
            "> powercut torn 3",
            "reopened db.json: 5 keys",
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

/// Runs `input` as the demo `file`'s `# Run:` line says, in `dir`.
fn run_in(file: &str, input: &str, dir: &Path) -> Output {
    let text = std::fs::read_to_string(demo_dir().join(file)).unwrap();
    let args = run_line_args(file, &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kv"))
        .args(&args)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A demo is a few KiB: it fits the pipe, so writing it first cannot block.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the first `lines` lines of the demo `file` (all of them: `usize::MAX`) in an
/// empty directory, and checks that it stays empty.
fn run_lines(file: &str, lines: usize) -> Output {
    let text = std::fs::read_to_string(demo_dir().join(file)).unwrap();
    let input: String = text
        .lines()
        .take(lines)
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(file, &input, dir.path());
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

fn run_demo(file: &str) -> Output {
    run_lines(file, usize::MAX)
}

/// `text` with every run of whitespace (newlines included) made one space: a transcript
/// folds long lines to fit the screen, and a fragment may span the fold.
fn unfolded(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that each fragment occurs in `text`, each after the one before (whitespace and
/// folds aside).
#[track_caller]
fn assert_in_order(what: &str, text: &str, fragments: &[&str], context: &str) {
    let text = unfolded(text);
    let mut rest = text.as_str();
    for fragment in fragments {
        let fragment = unfolded(fragment);
        match rest.find(&fragment) {
            Some(at) => rest = &rest[at + fragment.len()..],
            None => panic!("{what}: {fragment:?} is missing (or out of order)\n{context}"),
        }
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
        assert!(
            args.iter().any(|arg| arg == "--empty"),
            "{file}: demos start from an empty disk, whatever is in the current directory"
        );
    }
}

/// The lines stdout and stderr hold between them (both are on the screen).
fn screen_lines(output: &Output) -> Vec<String> {
    [&output.stdout, &output.stderr]
        .iter()
        .flat_map(|bytes| {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The most lines a demo prints between two pauses: a 40-line terminal also shows the
/// pause's own line and the command that ran the demo.
const SCREEN_LINES: usize = 38;
const SCREEN_COLUMNS: usize = 100;

#[test]
fn every_demo_fits_a_100_by_40_screen_between_its_pauses() {
    for demo in DEMOS {
        let text = std::fs::read_to_string(demo_dir().join(demo.file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let pauses: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim() == "pause")
            .collect();
        assert!(!pauses.is_empty(), "{}: no pause at all", demo.file);
        // What part N printed: the run up to its end less the run up to its start.
        let mut shown = 0;
        for end in pauses.iter().copied().chain([lines.len()]) {
            let output = screen_lines(&run_lines(demo.file, end));
            let part = output.len() - shown;
            assert!(
                part <= SCREEN_LINES,
                "{}: {part} lines before line {} (at most {SCREEN_LINES}):\n{}",
                demo.file,
                end + 1,
                output[shown..].join("\n")
            );
            shown = output.len();
        }
        for line in screen_lines(&run_demo(demo.file)) {
            assert!(
                line.chars().count() <= SCREEN_COLUMNS,
                "{}: wider than {SCREEN_COLUMNS} columns: {line:?}",
                demo.file
            );
        }
    }
}

#[test]
fn each_demo_explains_each_crash_mode_once() {
    // A phrase of each mode's explanation (`describe_cut`).
    let explanations = [
        "everything written survives",
        "only what was fsynced",
        "each operation not yet synced is kept or dropped",
        "a kept write may land as a prefix",
        "is kept or lost on its own",
        "comes back as garbage",
    ];
    for demo in DEMOS {
        let output = run_demo(demo.file);
        let text = unfolded(&String::from_utf8_lossy(&output.stdout));
        for phrase in explanations {
            assert!(
                text.matches(phrase).count() <= 1,
                "{}: {phrase:?} explained more than once:\n{text}",
                demo.file
            );
        }
    }
    let stage_2 = run_demo("stage-2-snapshot.kv");
    let text = unfolded(&String::from_utf8_lossy(&stage_2.stdout));
    assert!(
        text.contains("power cut, clean: only what was fsynced"),
        "{text}"
    );
    assert!(text.contains("the power went there (clean);"), "{text}");
}

/// `text` without what changes from run to run: temp file names (pid and random
/// suffix) and measured times.
fn stable(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .lines()
        .map(|line| {
            if line.starts_with("last commit:") {
                return "last commit: (time)".to_string();
            }
            let mut out = line.to_string();
            let mut from = 0;
            while let Some(at) = out[from..].find("kv-tmp.").map(|at| from + at + 7) {
                let end = out[at..]
                    .find(|c: char| !(c.is_ascii_hexdigit() || c == '.'))
                    .map_or(out.len(), |len| at + len);
                out.replace_range(at..end, "N");
                from = at;
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn files_in_the_current_directory_do_not_change_any_demo() {
    for demo in DEMOS {
        let clean = run_demo(demo.file);
        let dir = tempfile::tempdir().unwrap();
        let stray = [
            ("db.json", &b"{\"stray\": 1}"[..]),
            ("db.json.wal", &b"not a log"[..]),
            ("db.json.wal.next", &b"nor this"[..]),
        ];
        for (name, bytes) in stray {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let text = std::fs::read_to_string(demo_dir().join(demo.file)).unwrap();
        let output = run_in(demo.file, &text, dir.path());
        assert_eq!(output.status.code(), clean.status.code(), "{}", demo.file);
        assert_eq!(
            stable(&output.stdout),
            stable(&clean.stdout),
            "{}",
            demo.file
        );
        assert_eq!(
            stable(&output.stderr),
            stable(&clean.stderr),
            "{}",
            demo.file
        );
        for (name, bytes) in stray {
            assert_eq!(
                std::fs::read(dir.path().join(name)).unwrap(),
                bytes,
                "{name}"
            );
        }
    }
}

/// Stage 5's promise, on every power cut of its demo: what is lost was acknowledged within
/// the window, never longer ago.
#[test]
fn the_async_demo_never_loses_a_write_older_than_its_window() {
    let output = run_demo("stage-5-async.kv");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("power cut"), "{stdout}");
    assert!(!stdout.contains("LOST"), "{stdout}");
}

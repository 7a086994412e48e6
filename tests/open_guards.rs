//! What every entry point refuses before it creates, locks or reads anything, through the
//! real `kv` binary (each run under a time limit, so a regression that hangs fails instead
//! of hanging the suite): so far, the names of the temp files open removes, which no
//! user's file may share.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long one `kv` run may take: they all finish in milliseconds unless they hang.
const LIMIT: Duration = Duration::from_secs(20);

struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kv"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("KV_HISTFILE", self.path("history"))
            .env("NO_COLOR", "1");
        command
    }

    /// Runs `kv ARGS` with `stdin`, killing it (and failing) if it takes over [`LIMIT`].
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child, stdin, &format!("kv {}", args.join(" ")))
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path(name)).ok()
    }

    fn exists(&self, name: &str) -> bool {
        self.path(name).symlink_metadata().is_ok()
    }
}

/// Feeds `stdin` to `child`, collects its output, and kills it if it outlives [`LIMIT`].
fn finish(mut child: Child, stdin: &str, what: &str) -> Output {
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.as_bytes().to_vec();
    // kv may exit before reading its input: a broken pipe is fine.
    let writer = thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {LIMIT:?} (it hangs)");
        }
        thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `cp db.json db.json.tmp-2024-06` used to be deleted by the next open: it matched the
/// old temp shape `NAME.tmp-<digits>-<digits>`.
#[test]
fn a_users_file_named_like_an_old_temp_file_survives_an_open() {
    let sandbox = Sandbox::new();
    sandbox.write("db.json", "{\"a\":1}\n");
    sandbox.write("db.json.tmp-2024-06", "{\"a\":1}\n");
    let output = sandbox.run(&["db.json", "-c", "count"], "");
    assert_eq!(text(&output.stdout), "1\n");
    assert_eq!(text(&output.stderr), "", "nothing to report");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        sandbox.read("db.json.tmp-2024-06").as_deref(),
        Some("{\"a\":1}\n")
    );
}

/// A temp file of the engine's own shape is removed unread, and the shell says so, naming
/// it, in every mode that writes (a `--simulate` reopen reports it too: see
/// `buttons.rs` and `shell::database`'s tests).
#[test]
fn a_leftover_temp_file_is_removed_and_reported_on_open() {
    for mode in ["naive", "snapshot", "wal"] {
        let sandbox = Sandbox::new();
        sandbox.write("db.json", "{\"a\":1}\n");
        let temp = "db.json.kv-tmp.4242.0123456789abcdef";
        sandbox.write(temp, "{\"ghost\":true}\n");
        let output = sandbox.run(&["db.json", "--durability", mode, "-c", "count"], "");
        assert_eq!(text(&output.stdout), "1\n", "{mode}");
        assert_eq!(
            text(&output.stderr),
            format!(
                "warning: db.json: removed 1 leftover temp file of an interrupted commit, \
                 unread (never acknowledged): {temp}\n"
            ),
            "{mode}"
        );
        assert!(!sandbox.exists(temp), "{mode}");
    }
}

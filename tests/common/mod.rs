//! [`Sandbox`]: a temp dir to run the `kv` binary in, with `HOME` and `KV_HISTFILE`
//! pointing inside it and `NO_COLOR` unset, so a run depends on nothing outside it. Test
//! files add the helpers only they need in `impl Sandbox` blocks of their own.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use tempfile::TempDir;

pub struct Sandbox {
    pub dir: TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kv ARGS`, run in the sandbox.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kv"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("KV_HISTFILE", self.path("history"))
            .env_remove("NO_COLOR");
        command
    }

    /// Starts `kv ARGS` with all three streams piped, for a test that talks to it as it
    /// runs (a live writer beside a reader, say).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `kv ARGS` with `stdin` piped in from a thread (so a large input can't
    /// deadlock against a full stdout pipe), and `env` added.
    pub fn run_env(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        let mut child = command
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdin.take().unwrap();
        let input = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            // kv may stop reading early (exit, --bail, a crash button): a broken pipe
            // here is fine.
            let _ = pipe.write_all(&input);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
    }

    /// Runs `kv ARGS` with `stdin` piped in.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_env(args, stdin.as_bytes(), &[])
    }
}

/// `stdout` with the process id and random part of each temp file's name (which differ
/// from one run to the next, grouped or not) taken out.
pub fn same_temp_names(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let mut parts = text.split(".kv-tmp.");
    let mut same = parts.next().unwrap_or_default().to_string();
    for part in parts {
        let name_end = part.find([' ', ',', ')']).unwrap_or(part.len());
        same.push_str(".kv-tmp.*");
        same.push_str(&part[name_end..]);
    }
    same
}

/// The value of a `stats` row.
pub fn row<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} row in\n{stdout}"))
        .trim()
}

/// A session with plain output on the simulated disk `sim`, at `db.json`.
pub fn sim_session(
    sim: &kv_engine::fs::SimFs,
    durability: kv_engine::Durability,
    group_commit: kv::shell::session::GroupCommit,
) -> kv::shell::Session {
    use kv::shell::{Database, Layout, Renderer, Session, Theme};
    let path = std::path::Path::new("db.json");
    let db = Database::on_simulated_disk(sim.clone(), path, durability).unwrap();
    let renderer = Renderer {
        theme: Theme::plain(),
        layout: Layout::Compact,
    };
    let mut session = Session::new(db, renderer, renderer);
    session.group_commit = group_commit;
    session
}

/// Keys and values (as JSON text) that a careless exporter would mangle.
pub fn nasty() -> Vec<(String, String)> {
    let pairs: &[(&str, &str)] = &[
        (
            "user:1",
            r#"{"name": "alice", "n": 12345678901234567890123, "f": 2.50}"#,
        ),
        ("", r#""the empty key""#),
        ("nul\u{0}key", r#""a U+0000 in the key""#),
        ("\u{0}", r#""\u0000 in the value too""#),
        ("new\nline", r#""two\nlines""#),
        ("cr\r\nlf", r#""\r\n""#),
        ("tab\tkey", "-0"),
        ("it's", r#""it's \"quoted\"""#),
        ("back\\slash", r#""\\""#),
        ("'; DROP TABLE kv; --", "null"),
        (".read /etc/passwd", "true"),
        ("*3\r\n$3\r\nSET", "[]"),
        ("SET", "{}"),
        ("🦀 crab", r#""é ü 🦀 \u2028 \u007f""#),
        ("\u{7f}del\u{85}nel", "1e400"),
        (
            "deep",
            r#"{"a": [1, {"b": [2, {"c": null}]}], "name": "deep"}"#,
        ),
        ("empty string", r#""""#),
    ];
    let mut all: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                kv_engine::JsonText::parse(v).unwrap().as_str().to_string(),
            )
        })
        .collect();
    all.push(("k".repeat(1000), r#""a long key""#.to_string()));
    all
}

/// A database file at `path` holding `pairs` (values as JSON text).
pub fn write_db(path: &std::path::Path, pairs: &[(String, String)]) {
    let mut store = kv_engine::KvStore::open(path, kv_engine::Options::new()).unwrap();
    for (key, value) in pairs {
        store
            .put_text(key.clone(), kv_engine::JsonText::parse(value).unwrap())
            .unwrap();
    }
    store.close().unwrap();
}

/// That every line of `table` fits a 100-column terminal (an emoji takes two columns).
pub fn assert_fits_100_columns(table: &str) {
    use unicode_width::UnicodeWidthStr;
    for line in table.lines() {
        assert!(
            line.width() <= 100,
            "{} columns: {line}\n{table}",
            line.width()
        );
    }
}

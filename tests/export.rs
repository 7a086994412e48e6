#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! `kv export`, checked by the real peers it is for: the `sql` script is run by SQLite
//! (rusqlite's bundled engine, so `cargo test` needs nothing but Rust) and queried, the
//! `resp` stream is parsed back by an independent RESP parser, and with `KV_TEST_REDIS=1`
//! loaded into a real `redis-server` by `redis-cli --pipe` and read back. Every check uses
//! keys and values chosen to break a careless exporter: quotes, newlines, a U+0000, an
//! empty key, SQL and RESP look-alikes, numbers too big for any float.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Sandbox, nasty, write_db};
use redis_protocol::resp2::types::OwnedFrame;

fn as_map(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

fn export(sandbox: &Sandbox, format: &str) -> Vec<u8> {
    let output = sandbox.run(&["export", "db.json", "--format", format], "");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    output.stdout
}

fn nasty_sandbox() -> (Sandbox, Vec<(String, String)>) {
    let sandbox = Sandbox::new();
    let pairs = nasty();
    write_db(&sandbox.path("db.json"), &pairs);
    (sandbox, pairs)
}

#[test]
fn the_sql_export_runs_in_sqlite_and_every_pair_comes_back_exactly() {
    let (sandbox, pairs) = nasty_sandbox();
    let script = String::from_utf8(export(&sandbox, "sql")).unwrap();
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.execute_batch(&script).unwrap();

    let mut rows = db.prepare("SELECT key, value FROM kv").unwrap();
    let got: BTreeMap<String, String> = rows
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, as_map(&pairs));
    // The values are JSON that SQLite's own functions read.
    let name: String = db
        .query_row(
            "SELECT json_extract(value, '$.name') FROM kv WHERE key = 'user:1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(name, "alice");
    let names: Vec<String> = db
        .prepare("SELECT key FROM kv WHERE json_extract(value, '$.name') IS NOT NULL ORDER BY key")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, ["deep", "user:1"]);
    // A key is found by the text it is, U+0000 and all.
    let value: String = db
        .query_row(
            "SELECT value FROM kv WHERE key = ?1",
            ["nul\u{0}key"],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(value, r#""a U+0000 in the key""#);
    // The key is the primary key: a second insert of it is refused.
    let again = db.execute("INSERT INTO kv VALUES('user:1', '1')", []);
    assert!(again.is_err(), "{again:?}");
}

#[test]
fn the_sql_export_is_one_transaction() {
    let (sandbox, _) = nasty_sandbox();
    let script = String::from_utf8(export(&sandbox, "sql")).unwrap();
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(lines.first(), Some(&"BEGIN TRANSACTION;"));
    assert_eq!(lines.last(), Some(&"COMMIT;"));
    // A database that already has a kv table refuses the CREATE; the sqlite3 shell
    // without -bail would go on inserting, but the rusqlite run stops, leaving the table as
    // it was once the open transaction is rolled back.
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.execute_batch(
        "CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT); INSERT INTO kv VALUES('x', '1');",
    )
    .unwrap();
    assert!(db.execute_batch(&script).is_err());
    let _ = db.execute_batch("ROLLBACK;");
    let count: i64 = db
        .query_row("SELECT count(*) FROM kv", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

/// The sqlite3 shell itself, when this machine has it: the script is for it, and it reads
/// input line by line, unlike rusqlite. (Not needed for `cargo test`: SQLite's engine is
/// the test above.)
#[test]
fn the_sql_export_loads_in_the_sqlite3_shell_when_there_is_one() {
    let (sandbox, pairs) = nasty_sandbox();
    let script = export(&sandbox, "sql");
    let Ok(mut shell) = Command::new("sqlite3")
        .arg(sandbox.path("out.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("no sqlite3 shell on the PATH: only SQLite's engine ran the script");
        return;
    };
    shell.stdin.take().unwrap().write_all(&script).unwrap();
    let output = shell.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let db = rusqlite::Connection::open(sandbox.path("out.db")).unwrap();
    let got: BTreeMap<String, String> = db
        .prepare("SELECT key, value FROM kv")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, as_map(&pairs));
}

/// Every frame of a RESP stream, as the words of its command.
fn resp_commands(mut stream: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut commands = Vec::new();
    while !stream.is_empty() {
        let (frame, used) = redis_protocol::resp2::decode::decode(stream)
            .unwrap()
            .unwrap_or_else(|| panic!("an incomplete frame at the end: {stream:?}"));
        let OwnedFrame::Array(words) = frame else {
            panic!("not a command: {frame:?}");
        };
        commands.push(
            words
                .into_iter()
                .map(|word| match word {
                    OwnedFrame::BulkString(bytes) => bytes,
                    other => panic!("not a bulk string: {other:?}"),
                })
                .collect(),
        );
        stream = &stream[used..];
    }
    commands
}

#[test]
fn the_resp_export_parses_back_to_one_set_per_pair() {
    let (sandbox, pairs) = nasty_sandbox();
    let stream = export(&sandbox, "resp");
    let commands = resp_commands(&stream);
    assert_eq!(commands.len(), pairs.len());
    let mut got = BTreeMap::new();
    for words in commands {
        assert_eq!(words.len(), 3, "{words:?}");
        assert_eq!(words[0], b"SET");
        let key = String::from_utf8(words[1].clone()).unwrap();
        let value = String::from_utf8(words[2].clone()).unwrap();
        assert!(got.insert(key, value).is_none(), "a key set twice");
    }
    assert_eq!(got, as_map(&pairs));
}

#[test]
fn json_and_jsonl_exports_read_back_as_the_store() {
    let (sandbox, pairs) = nasty_sandbox();
    let json = export(&sandbox, "json");
    // The default format is json, and it is the database file's own object.
    assert_eq!(export_default(&sandbox), json);
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json).unwrap();
    assert_eq!(object.len(), pairs.len());
    let jsonl = String::from_utf8(export(&sandbox, "jsonl")).unwrap();
    let mut got = BTreeMap::new();
    for line in jsonl.lines() {
        let entry: BTreeMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(line).unwrap();
        assert_eq!(entry.keys().collect::<Vec<_>>(), ["key", "value"]);
        let key: String = serde_json::from_str(entry["key"].get()).unwrap();
        got.insert(key, entry["value"].get().to_string());
    }
    assert_eq!(got, as_map(&pairs));
}

fn export_default(sandbox: &Sandbox) -> Vec<u8> {
    let output = sandbox.run(&["export", "db.json"], "");
    assert_eq!(output.status.code(), Some(0));
    output.stdout
}

#[test]
fn export_of_a_missing_database_is_status_2_and_creates_nothing() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["export", "missing.json"], "");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: there is no database at missing.json (no such file, and no log beside it): \
         a read-only open creates nothing\n"
    );
    let names: Vec<_> = std::fs::read_dir(sandbox.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let (sandbox, _) = nasty_sandbox();
    let output = sandbox.run(&["export", "db.json", "--format", "csv"], "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[possible values: json, jsonl, resp, sql]"),
        "{stderr}"
    );
}

/// Export takes no lock: beside a live writer committing transfers (each a transaction
/// that keeps the two accounts' sum at 100) and checkpointing, every export is one
/// moment of the database, never half a transfer.
#[test]
fn export_beside_a_live_writer_sees_whole_transactions() {
    const TRANSFERS: i64 = 1500;
    let sandbox = Sandbox::new();
    let mut writer = sandbox.spawn(&["--durability", "wal", "db.json"]);
    let mut input = writer.stdin.take().unwrap();
    let mut output = BufReader::new(writer.stdout.take().unwrap());
    input
        .write_all(b"begin\nput a 100\nput b 0\ncommit\n")
        .unwrap();
    let mut line = String::new();
    while !line.starts_with("OK (2 mutations)") {
        line.clear();
        output.read_line(&mut line).unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let drain = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut rest = String::new();
            output.read_to_string(&mut rest).unwrap();
            done.store(true, Ordering::SeqCst);
            rest
        })
    };
    let feeder = std::thread::spawn(move || {
        let mut script = String::new();
        for i in 1..=TRANSFERS {
            let a = 100 - i % 101;
            script.push_str(&format!("begin\nput a {a}\nput b {}\ncommit\n", 100 - a));
            if i % 50 == 0 {
                script.push_str("checkpoint\n");
            }
        }
        input.write_all(script.as_bytes()).unwrap();
        // Dropping `input` ends the writer's input: it exits.
    });

    let (mut exports, mut during) = (0, 0);
    let started = Instant::now();
    while (exports < 5 || !done.load(Ordering::SeqCst))
        && started.elapsed() < Duration::from_secs(60)
    {
        let output = sandbox.run(&["export", "db.json", "--format", "jsonl"], "");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut sum = 0;
        for line in String::from_utf8(output.stdout).unwrap().lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            sum += entry["value"].as_i64().unwrap();
        }
        assert_eq!(sum, 100, "export {exports} saw half a transfer");
        exports += 1;
        if !done.load(Ordering::SeqCst) {
            during += 1;
        }
    }
    feeder.join().unwrap();
    let rest = drain.join().unwrap();
    assert_eq!(writer.wait().unwrap().code(), Some(0), "{rest}");
    assert!(during >= 2, "only {during} exports ran beside the writer");
    // The last export, after the writer left, is its final state.
    let a = 100 - TRANSFERS % 101;
    let last = export(&sandbox, "json");
    assert_eq!(
        String::from_utf8(last).unwrap(),
        format!("{{\"a\":{a},\"b\":{}}}\n", 100 - a)
    );
}

/// A `redis-server` of the test's own, on a free loopback port, in its own directory,
/// saving nothing; killed by its PID when dropped, so a failing test leaves none behind.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        // A port the kernel just handed out and took back: free unless something takes
        // it within the next few milliseconds.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("KV_TEST_REDIS=1 needs redis-server: {err}"));
        let redis = Redis {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        while redis.cli(&["PING"]).stdout != b"PONG\n" {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// `redis-cli -p PORT ARGS`.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("KV_TEST_REDIS=1 needs redis-cli: {err}"))
    }

    /// Sends one command over RESP and returns the reply: binary-safe both ways, so a
    /// key with a U+0000 (which no command line can carry) can be asked for.
    fn ask(&self, stream: &mut TcpStream, words: &[&[u8]]) -> OwnedFrame {
        let mut request = format!("*{}\r\n", words.len()).into_bytes();
        for word in words {
            request.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
            request.extend_from_slice(word);
            request.extend_from_slice(b"\r\n");
        }
        stream.write_all(&request).unwrap();
        let mut reply = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            if let Some((frame, _)) = redis_protocol::resp2::decode::decode(&reply).unwrap() {
                return frame;
            }
            let read = stream.read(&mut chunk).unwrap();
            assert!(read > 0, "redis closed the connection");
            reply.extend_from_slice(&chunk[..read]);
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_resp_export_loads_into_a_real_redis_server_with_redis_cli_pipe() {
    if std::env::var_os("KV_TEST_REDIS").is_none_or(|value| value != "1") {
        eprintln!(
            "skipped the round trip through a real redis-server: run it with \
             `KV_TEST_REDIS=1 cargo test --test export` (needs redis-server and redis-cli; \
             .ci/run installs them)"
        );
        return;
    }
    let (sandbox, pairs) = nasty_sandbox();
    let stream = export(&sandbox, "resp");
    let redis = Redis::start();

    let mut pipe = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &redis.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pipe.stdin.take().unwrap().write_all(&stream).unwrap();
    let output = pipe.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}{output:?}");
    assert!(
        said.contains(&format!("errors: 0, replies: {}", pairs.len())),
        "{said}"
    );

    // redis-cli itself reads back an ordinary key, and counts them all.
    assert_eq!(
        redis.cli(&["DBSIZE"]).stdout,
        format!("{}\n", pairs.len()).as_bytes()
    );
    let user = redis.cli(&["--raw", "GET", "user:1"]).stdout;
    assert_eq!(
        String::from_utf8(user).unwrap(),
        format!("{}\n", as_map(&pairs)["user:1"])
    );
    // Every key, over RESP: the server holds exactly the store.
    let mut connection = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    let OwnedFrame::Array(keys) = redis.ask(&mut connection, &[b"KEYS", b"*"]) else {
        panic!("KEYS gave no list");
    };
    let mut got = BTreeMap::new();
    for key in keys {
        let OwnedFrame::BulkString(key) = key else {
            panic!("a key that is no bulk string: {key:?}");
        };
        let OwnedFrame::BulkString(value) = redis.ask(&mut connection, &[b"GET", &key]) else {
            panic!("no value for {key:?}");
        };
        got.insert(
            String::from_utf8(key).unwrap(),
            String::from_utf8(value).unwrap(),
        );
    }
    assert_eq!(got, as_map(&pairs));
}

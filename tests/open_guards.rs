//! What every entry point refuses before it creates, locks or reads anything: a database
//! file (or a log beside it) that is not a regular file, and, for a writer, a file with a
//! second name (hard link); the names of the temp files open removes, which no user's
//! file may share; and `save` from `--simulate`, which must not overwrite what another
//! process committed since the simulation loaded the database. Through the real `kv` binary (each run under a time limit, so a
//! regression that hangs on a FIFO fails instead of hanging the suite) and the library.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::Sandbox;
use kv_engine::fs::FileKind;
use kv_engine::{Durability, Error, KvStore, Options};

/// How long one `kv` run may take: they all finish in milliseconds unless they hang.
const LIMIT: Duration = Duration::from_secs(20);

impl Sandbox {
    /// Runs `kv ARGS` with `stdin`, killing it (and failing) if it takes over [`LIMIT`].
    fn run_limited(&self, args: &[&str], stdin: &str) -> Output {
        let child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child, stdin, &format!("kv {}", args.join(" ")))
    }

    fn mkfifo(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        let status = Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(status.success(), "mkfifo {}", path.display());
        path
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

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "history")
            .collect();
        names.sort();
        names
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

#[track_caller]
fn refused(output: &Output, expected: &str) {
    let stderr = text(&output.stderr);
    let context = format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{stderr}",
        output.status.code(),
        text(&output.stdout)
    );
    assert_eq!(output.status.code(), Some(2), "{context}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?}\n{context}"
    );
}

/// Runs `f` on another thread and fails if it does not return within [`LIMIT`], so a
/// library call that blocks on a FIFO fails the test instead of hanging it.
fn within_limit<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let _ = send.send(f());
    });
    receive
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("{what} did not return within {LIMIT:?} (it hangs)"))
}

/// Every way into a database: the shell in each mode, on a simulated disk, `check`, and
/// `repair`.
const ENTRY_POINTS: [&[&str]; 7] = [
    &["-c", "count"],
    &["--durability", "naive", "-c", "count"],
    &["--durability", "wal", "-c", "count"],
    &["--durability", "memory", "-c", "count"],
    &["--simulate", "-c", "count"],
    &["check"],
    &["repair", "--yes"],
];

/// `kv ARGS... NAME` for an entry point, with the path where each subcommand wants it.
fn args_for<'a>(entry: &[&'a str], name: &'a str) -> Vec<&'a str> {
    match entry {
        ["check"] | ["repair", ..] => {
            let mut args = entry.to_vec();
            args.push(name);
            args
        }
        _ => {
            let mut args = vec![name];
            args.extend_from_slice(entry);
            args
        }
    }
}

#[test]
fn a_fifo_is_refused_by_every_entry_point_at_once_and_nothing_is_created() {
    let sandbox = Sandbox::new();
    sandbox.mkfifo("db.fifo");
    for entry in ENTRY_POINTS {
        let args = args_for(entry, "db.fifo");
        let output = sandbox.run_limited(&args, "");
        refused(
            &output,
            "db.fifo is a named pipe (FIFO), not a regular file: refusing to use it as the \
             database file (nothing was created or read)",
        );
        assert_eq!(sandbox.entries(), ["db.fifo"], "kv {args:?}");
    }
}

#[test]
fn a_fifo_where_a_log_belongs_is_refused_by_every_entry_point() {
    for (log, role) in [
        ("db.json.wal", "the write-ahead log"),
        ("db.json.wal.next", "the new log of a checkpoint"),
    ] {
        let sandbox = Sandbox::new();
        sandbox.write("db.json", "{\"a\":1}\n");
        sandbox.mkfifo(log);
        for entry in ENTRY_POINTS {
            let args = args_for(entry, "db.json");
            let output = sandbox.run_limited(&args, "");
            refused(
                &output,
                &format!(
                    "{log} is a named pipe (FIFO), not a regular file: refusing to use it as \
                     {role} (nothing was created or read)"
                ),
            );
            let mut expected = vec!["db.json", log];
            expected.sort();
            assert_eq!(sandbox.entries(), expected, "kv {args:?}");
            assert_eq!(sandbox.read("db.json").as_deref(), Some("{\"a\":1}\n"));
        }
    }
}

#[test]
fn devices_are_refused_without_reading_them_or_creating_a_lock_beside_them() {
    let sandbox = Sandbox::new();
    let lock_existed = Path::new("/dev/null.lock").exists();
    for device in ["/dev/null", "/dev/zero"] {
        for entry in ENTRY_POINTS {
            let args = args_for(entry, device);
            // /dev/zero read whole would never end: the time limit catches a regression
            // (the guard refuses it before any read).
            let output = sandbox.run_limited(&args, "");
            refused(
                &output,
                &format!("{device} is a character device, not a regular file"),
            );
        }
    }
    if !lock_existed {
        assert!(
            !Path::new("/dev/null.lock").exists(),
            "kv created /dev/null.lock"
        );
    }
}

#[test]
fn the_library_refuses_a_fifo_in_every_mode_and_in_check_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("db.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let is_fifo_refusal = |result: Result<(), Error>| match result {
        Err(Error::NotARegularFile {
            path,
            kind: FileKind::Fifo,
            role: "the database file",
        }) => path.file_name() == Some("db.json".as_ref()),
        _ => false,
    };
    for mode in Durability::ALL {
        let path = fifo.clone();
        let result = within_limit(&format!("open {mode}"), move || {
            KvStore::open(&path, Options::new().durability(mode)).map(drop)
        });
        assert!(is_fifo_refusal(result), "{mode}");
    }
    let path = fifo.clone();
    let result = within_limit("check", move || {
        kv_engine::check(&path, &Options::new()).map(drop)
    });
    assert!(is_fifo_refusal(result), "check");
    let path = fifo.clone();
    let result = within_limit("plan_repair", move || {
        kv_engine::plan_repair(&path, &Options::new()).map(drop)
    });
    assert!(is_fifo_refusal(result), "plan_repair");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing was created beside the FIFO");
}

/// The lock is found by name, so two names of one file would let two writers in: each
/// writer refuses a file with a second name, before creating or locking anything.
/// Reading through either name stays possible.
#[test]
fn two_kv_processes_cannot_write_one_file_through_two_names() {
    let sandbox = Sandbox::new();
    let put = sandbox.run_limited(&["db.json", "-c", "put a 1"], "");
    assert_eq!(put.status.code(), Some(0), "{}", text(&put.stderr));
    std::fs::hard_link(sandbox.path("db.json"), sandbox.path("alias.json")).unwrap();
    let before = sandbox.read("db.json");

    // As the issue did it: one kv per name, at the same time.
    let first = sandbox.spawn(&["db.json"]);
    let second = sandbox.spawn(&["alias.json"]);
    let first = finish(first, "put b 2\n", "kv db.json");
    let second = finish(second, "put c 3\n", "kv alias.json");
    for (name, output) in [("db.json", &first), ("alias.json", &second)] {
        refused(
            output,
            &format!(
                "{name} has 2 names (hard links): refusing to open it for writing, because a \
                 writer opening another of its names would take a different lock and the two \
                 would split the data"
            ),
        );
    }
    assert_eq!(sandbox.read("db.json"), before);
    assert_eq!(sandbox.read("alias.json"), before);
    assert_eq!(
        sandbox.entries(),
        ["alias.json", "db.json", "db.json.lock"],
        "no lock was taken for alias.json"
    );

    // Reading is harmless, through either name.
    let read = sandbox.run_limited(&["alias.json", "--durability", "memory", "-c", "get a"], "");
    assert_eq!(text(&read.stdout), "1\n", "{}", text(&read.stderr));
    let check = sandbox.run_limited(&["check", "alias.json"], "");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));

    // With one name again, it is a database like any other.
    std::fs::remove_file(sandbox.path("alias.json")).unwrap();
    let put = sandbox.run_limited(&["db.json", "-c", "put b 2", "-c", "count"], "");
    assert_eq!(text(&put.stdout), "OK\n2\n", "{}", text(&put.stderr));
}

#[test]
fn a_writer_refuses_a_hard_linked_database_or_log_and_a_reader_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = KvStore::open(&path, Options::new().durability(Durability::Wal)).unwrap();
    store.put("a", serde_json::json!(1)).unwrap();
    // Both files exist: a snapshot, and a log with a record after it.
    store.checkpoint().unwrap();
    store.put("b", serde_json::json!(2)).unwrap();
    drop(store);
    std::fs::remove_file(dir.path().join("db.json.lock")).unwrap();
    for (linked, alias) in [("db.json.wal", "other.json.wal"), ("db.json", "alias.json")] {
        let alias = dir.path().join(alias);
        std::fs::hard_link(dir.path().join(linked), &alias).unwrap();
        for mode in [Durability::Naive, Durability::Snapshot, Durability::Wal] {
            let opened = KvStore::open(&path, Options::new().durability(mode));
            assert!(
                matches!(
                    &opened,
                    Err(Error::HardLinked { path, links: 2 })
                        if path.file_name() == Some(linked.as_ref())
                ),
                "{mode}: {opened:?}"
            );
            assert!(
                !dir.path().join("db.json.lock").exists(),
                "{mode}: refused before taking the lock"
            );
        }
        let reader = KvStore::open(&path, Options::new().durability(Durability::Memory)).unwrap();
        assert_eq!(reader.get("a"), Some(serde_json::json!(1)));
        let report = kv_engine::check(&path, &Options::new()).unwrap();
        assert_eq!(report.keys, Some(2));
        std::fs::remove_file(&alias).unwrap();
    }
    let store = KvStore::open(&path, Options::new().durability(Durability::Wal)).unwrap();
    assert_eq!(store.get("a"), Some(serde_json::json!(1)));
}

/// `cp db.json db.json.tmp-2024-06` used to be deleted by the next open: it matched the
/// old temp shape `NAME.tmp-<digits>-<digits>`.
#[test]
fn a_users_file_named_like_an_old_temp_file_survives_an_open() {
    let sandbox = Sandbox::new();
    sandbox.write("db.json", "{\"a\":1}\n");
    sandbox.write("db.json.tmp-2024-06", "{\"a\":1}\n");
    let output = sandbox.run_limited(&["db.json", "-c", "count"], "");
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
        let output = sandbox.run_limited(&["db.json", "--durability", mode, "-c", "count"], "");
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

/// Reads `stdout` up to and including the next line, failing after [`LIMIT`].
fn next_line(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    line
}

/// `save` from `--simulate` overwrote the real database even when another process had
/// committed to it since the simulation loaded it, losing those commits.
#[test]
fn save_refuses_when_another_process_changed_the_database_since_it_was_loaded() {
    let sandbox = Sandbox::new();
    sandbox.write("db.json", "{\"a\":1}\n");
    let mut simulated = sandbox.spawn(&["--simulate", "db.json"]);
    let mut stdin = simulated.stdin.take().unwrap();
    let mut stdout = BufReader::new(simulated.stdout.take().unwrap());
    writeln!(stdin, "put sim 1").unwrap();
    stdin.flush().unwrap();
    // The simulation has loaded the file once it answers.
    assert_eq!(next_line(&mut stdout), "OK\n");

    let other = sandbox.run_limited(&["db.json", "-c", "put other 2"], "");
    assert_eq!(text(&other.stdout), "OK\n", "{}", text(&other.stderr));
    let after_other = sandbox.read("db.json");

    writeln!(stdin, "save").unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    simulated
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = simulated.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest}{stderr}");
    assert_eq!(rest, "");
    assert!(
        stderr.starts_with("error: line 2: nothing saved to db.json: ")
            && stderr.contains("db.json changed from 8 to 18 bytes since --simulate loaded it")
            && stderr.contains("saving would overwrite its commits"),
        "{stderr}"
    );
    assert_eq!(
        sandbox.read("db.json"),
        after_other,
        "the other commit is kept"
    );
}

#[test]
fn save_writes_when_nothing_changed_and_again_after_its_own_save() {
    let sandbox = Sandbox::new();
    sandbox.write("db.json", "{\"a\":1}\n");
    for mode in ["snapshot", "wal"] {
        let output = sandbox.run_limited(
            &["--simulate", "db.json", "--durability", mode],
            "put b 2\nsave\nput c 3\nsave\n",
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{mode}: {}",
            text(&output.stderr)
        );
        let check = sandbox.run_limited(&["db.json", "--durability", mode, "-c", "count"], "");
        assert_eq!(
            text(&check.stdout),
            "3\n",
            "{mode}: {}",
            text(&check.stderr)
        );
    }
}

#[test]
fn save_refuses_a_database_with_a_second_name_that_the_simulation_could_read() {
    let sandbox = Sandbox::new();
    sandbox.write("db.json", "{\"a\":1}\n");
    std::fs::hard_link(sandbox.path("db.json"), sandbox.path("alias.json")).unwrap();
    let output = sandbox.run_limited(&["--simulate", "db.json"], "get a\nput a 2\nsave\n");
    assert_eq!(text(&output.stdout), "1\nOK\n");
    assert!(
        text(&output.stderr).starts_with("error: line 3: db.json has 2 names (hard links)"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(sandbox.read("db.json").as_deref(), Some("{\"a\":1}\n"));
}

/// Item 4 on the simulated disk, which now has hard links: a writer refuses either name of
/// a database with two, in every mode that writes, and a reader may still read it.
#[test]
fn the_simulated_disk_refuses_a_writer_through_either_of_two_names() {
    use kv_engine::fs::SimFs;
    use std::sync::Arc;
    let sim = SimFs::new();
    sim.create_dir_all("/data");
    let options = |durability| {
        Options::new()
            .durability(durability)
            .fs(Arc::new(sim.clone()))
    };
    let mut store = KvStore::open("/data/db.json", options(Durability::Snapshot)).unwrap();
    store.put("a", serde_json::json!(1)).unwrap();
    drop(store);
    sim.hard_link("/data/db.json", "/data/alias.json").unwrap();
    for name in ["/data/db.json", "/data/alias.json"] {
        for durability in [Durability::Naive, Durability::Snapshot, Durability::Wal] {
            match KvStore::open(name, options(durability)) {
                Err(Error::HardLinked { links: 2, .. }) => {}
                other => panic!("{name} {durability}: expected a refusal, got {other:?}"),
            }
        }
        let reader = KvStore::open(name, options(Durability::Memory)).unwrap();
        assert_eq!(reader.get("a"), Some(serde_json::json!(1)));
    }
    // Nothing was created beside either name (the lock is the first writer's).
    assert_eq!(
        sim.files(),
        vec![
            PathBuf::from("/data/alias.json"),
            PathBuf::from("/data/db.json"),
            PathBuf::from("/data/db.json.lock")
        ]
    );
}

#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Real process kills: the real `kv` binary, on the real filesystem (in snapshot and wal
//! mode, and in both with `--group-commit`), gets
//! `put`/`delete` statements through a pipe and is SIGKILLed at a random moment: after a
//! random delay (0–60 ms) or after a random number of acknowledgements. Then the database
//! is reopened with the library and checked against the oracle of
//! `shared/design/durability.md`: it opens, and it equals the model after some prefix of
//! the issued statements that includes every one whose result was read.
//!
//! Among the puts and deletes are transfers between four accounts, each a transaction
//! (`begin`, debit, credit, `commit`): after every kill the accounts must hold the money
//! they were opened with (all of a transfer or none of it), and every transfer whose
//! `OK (2 mutations)` was read must be there.
//!
//! A kill only loses what the process had not yet written (the page cache survives it), so
//! this proves the ack ordering and the atomic rename, not survival of a power loss.
//!
//! With `--sync 100ms` (stage 5) a kill still loses no acknowledged statement, in wal mode
//! (the log's records) and in snapshot mode (its journal): each reaches the kernel before
//! its `OK`, and only the fsync waits.
//!
//! `KV_KILL_ITERATIONS` sets the number of iterations (default 100); each uses seed
//! `KV_KILL_SEED + i` (the default base comes from the clock). A failure prints its seed;
//! `KV_KILL_SEED=S KV_KILL_ITERATIONS=1 cargo test --test kill` replays its choices (the
//! moment the kill lands still depends on timing).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kv_engine::{Durability, KvStore, Options};
use serde_json::{Value, json};

/// Kill rounds per iteration, all on one database: later rounds open a file left by a
/// killed process (and maybe its temp file).
const ROUNDS: usize = 2;
/// Statements written per round. Each put costs a commit with two fsyncs (often 10 ms or
/// more), so a kill rarely lets even a tenth of these through; if kv runs out, it waits for
/// more input and is killed there, which is a fine moment too.
const STATEMENTS: usize = 150;
/// The most results to read before the kill (each one waited for is a commit's time).
const MAX_RESULTS_BEFORE_KILL: u64 = 12;
/// Keys are drawn from a small set so that most puts overwrite.
const KEYS: u64 = 8;

/// splitmix64: a seeded generator in a few lines (the choices must replay from a seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One statement (or transaction) the test sends, and what it does to the model.
#[derive(Debug, Clone)]
enum Step {
    Put(String, Value),
    Delete(String),
    /// `begin`, a put of each pair, `commit`: all of it or none of it.
    Transaction(Vec<(String, Value)>),
}

impl Step {
    fn line(&self) -> String {
        match self {
            Step::Put(key, value) => format!("put {key} {value}\n"),
            Step::Delete(key) => format!("delete {key}\n"),
            Step::Transaction(puts) => {
                let puts: String = puts
                    .iter()
                    .map(|(key, value)| format!("put {key} {value}\n"))
                    .collect();
                format!("begin\n{puts}commit\n")
            }
        }
    }

    /// Applies the step to `model` and returns the result lines kv prints for it (the
    /// last one is the acknowledgement).
    fn apply(&self, model: &mut BTreeMap<String, Value>) -> Vec<String> {
        match self {
            Step::Put(key, value) => {
                model.insert(key.clone(), value.clone());
                vec!["OK".into()]
            }
            Step::Delete(key) => vec![match model.remove(key) {
                Some(_) => "OK".into(),
                None => "(nil)".into(),
            }],
            Step::Transaction(puts) => {
                let mut lines = vec!["OK".to_string()];
                for (key, value) in puts {
                    model.insert(key.clone(), value.clone());
                    lines.push("QUEUED".into());
                }
                lines.push(format!("OK ({} mutations)", puts.len()));
                lines
            }
        }
    }
}

/// The accounts transfers move money between, and what each holds when opened: no kill
/// may change their total.
const ACCOUNTS: [&str; 4] = ["acct:0", "acct:1", "acct:2", "acct:3"];
const OPENING_BALANCE: i64 = 100;

/// The balances in `model`, if the accounts are open.
fn balances(model: &BTreeMap<String, Value>) -> Option<Vec<i64>> {
    ACCOUNTS
        .iter()
        .map(|account| model.get(*account).and_then(Value::as_i64))
        .collect()
}

/// A random workload whose every put writes a value never written before (it carries
/// its round and sequence number), so a value from nowhere cannot pass as a real one.
/// Among the puts and deletes, transfers between accounts, each a transaction that debits
/// one and credits another (opening the accounts first, in one transaction, if `model`
/// has none).
fn workload(rng: &mut Rng, round: usize, model: &BTreeMap<String, Value>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut money = balances(model).unwrap_or_else(|| {
        steps.push(Step::Transaction(
            ACCOUNTS
                .iter()
                .map(|account| (account.to_string(), json!(OPENING_BALANCE)))
                .collect(),
        ));
        vec![OPENING_BALANCE; ACCOUNTS.len()]
    });
    for seq in steps.len()..STATEMENTS {
        let key = format!("k{}", rng.below(KEYS));
        steps.push(match rng.below(10) {
            0 => Step::Delete(key),
            1..=3 => {
                let from = rng.below(ACCOUNTS.len() as u64) as usize;
                let to =
                    (from + 1 + rng.below(ACCOUNTS.len() as u64 - 1) as usize) % ACCOUNTS.len();
                let amount = rng.below(money[from] as u64 + 1) as i64;
                money[from] -= amount;
                money[to] += amount;
                Step::Transaction(vec![
                    (ACCOUNTS[from].to_string(), json!(money[from])),
                    (ACCOUNTS[to].to_string(), json!(money[to])),
                ])
            }
            _ => {
                // Some large values, so that a kill often lands inside a write.
                let pad = "x".repeat(match rng.below(4) {
                    0 => rng.below(20_000) as usize,
                    _ => rng.below(100) as usize,
                });
                Step::Put(key, json!({"round": round, "seq": seq, "pad": pad}))
            }
        });
    }
    steps
}

/// When to pull the trigger.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// After this long, wherever kv is (possibly still starting, or opening the file).
    After(Duration),
    /// As soon as this many results have been read.
    AfterResults(usize),
}

/// How kv is run: its durability mode, and whether it groups commits.
#[derive(Debug, Clone, Copy)]
struct Setup {
    durability: Durability,
    group_commit: bool,
    /// `--sync WHEN`, if not the default (`always`).
    sync: Option<&'static str>,
}

const SNAPSHOT: Setup = Setup {
    durability: Durability::Snapshot,
    group_commit: false,
    sync: None,
};

/// Held while this process has a store open and while it spawns a kv. The tests run on
/// several threads: a child forked by one test holds a copy of every descriptor of this
/// process until it execs, so a fork landing while another test has its store open would
/// keep that store's lock alive after the drop, and the next kv would find the database
/// locked.
static FORK_GUARD: Mutex<()> = Mutex::new(());

fn spawn_kv(db: &Path, setup: Setup) -> Child {
    // `spawn` returns once the child has exec'd, so no copied descriptor outlives this.
    let _guard = FORK_GUARD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut command = Command::new(env!("CARGO_BIN_EXE_kv"));
    command.args(["--durability", setup.durability.name()]);
    if setup.group_commit {
        command.arg("--group-commit");
    }
    if let Some(sync) = setup.sync {
        command.args(["--sync", sync]);
    }
    command
        .arg(db)
        .env("NO_COLOR", "1")
        .env_remove("KV_HISTFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `steps` through a kv that is killed as `trigger` says; returns every result line
/// it printed, and its stderr (with a note if it ended by itself rather than by the kill).
fn run_and_kill(
    db: &Path,
    setup: Setup,
    steps: &[Step],
    trigger: Trigger,
) -> (Vec<String>, String) {
    let mut child = spawn_kv(db, setup);
    let mut stdin = child.stdin.take().unwrap();
    let script: String = steps.iter().map(Step::line).collect();
    let (release, released) = mpsc::channel::<()>();
    let writer = thread::spawn(move || {
        // Fails with a broken pipe once kv is dead: expected.
        let _ = stdin.write_all(script.as_bytes());
        // Keep stdin open until the kill, so kv never sees the end of its input and
        // exits by itself.
        let _ = released.recv();
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut results = Vec::new();
    match trigger {
        Trigger::After(delay) => thread::sleep(delay),
        Trigger::AfterResults(count) => {
            while results.len() < count {
                let mut line = String::new();
                if stdout.read_line(&mut line).unwrap() == 0 {
                    break; // kv died on its own: the checks below will say why
                }
                results.push(line);
            }
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    release.send(()).unwrap();
    writer.join().unwrap();
    // Whatever reached the pipe before the kill was printed after its commit returned:
    // it is an acknowledgement too.
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    results.extend(rest.split_inclusive('\n').map(str::to_string));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    if status.signal() != Some(SIGKILL) {
        // kv ended by itself: its input never ends, so something went wrong.
        stderr.push_str(&format!("[kv was not killed but ended: {status}]"));
    }
    let results = results
        .into_iter()
        .map(|line| line.trim_end_matches('\n').to_string())
        .collect();
    (results, stderr)
}

const SIGKILL: i32 = 9;

/// One iteration: `ROUNDS` kills on one fresh database. `Err` says what broke.
fn iteration(seed: u64, setup: Setup) -> Result<(), String> {
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.json");
    let mut model: BTreeMap<String, Value> = BTreeMap::new();
    for round in 0..ROUNDS {
        let steps = workload(&mut rng, round, &model);
        let trigger = if rng.below(2) == 0 {
            Trigger::After(Duration::from_millis(rng.below(61)))
        } else {
            Trigger::AfterResults(rng.below(MAX_RESULTS_BEFORE_KILL + 1) as usize)
        };
        let (results, stderr) = run_and_kill(&db, setup, &steps, trigger);
        let context = format!("round {round}, {trigger:?}, {} results read", results.len());
        // A torn tail cut on open is news, not a failure: a kill mid-append leaves one.
        let stderr: String = stderr
            .lines()
            .filter(|line| !line.contains("cut off a torn tail"))
            .collect::<Vec<_>>()
            .join("\n");
        if !stderr.is_empty() {
            return Err(format!("{context}: kv wrote to stderr:\n{stderr}"));
        }

        let guard = FORK_GUARD
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let store = KvStore::open(&db, Options::new().durability(setup.durability))
            .map_err(|err| format!("{context}: the database does not open: {err}"))?;
        let recovered: BTreeMap<String, Value> = store
            .iter()
            .map(|(key, value)| (key.to_string(), serde_json::from_str(value).unwrap()))
            .collect();
        drop(store); // releases the lock for the next round
        drop(guard);

        // No kill may create or destroy money: the accounts are all there or none is,
        // and they hold what they were opened with.
        let total: Option<i64> = balances(&recovered).map(|money| money.iter().sum());
        let any_account = ACCOUNTS
            .iter()
            .any(|account| recovered.contains_key(*account));
        if any_account && total != Some(OPENING_BALANCE * ACCOUNTS.len() as i64) {
            return Err(format!(
                "{context}: a transfer was half applied: the accounts hold {:?}",
                ACCOUNTS.map(|account| recovered.get(account))
            ));
        }

        // Walk the model through the steps: each result read must be the right one, and
        // the recovered store must equal the model after some prefix that includes every
        // acknowledged step (one whose last result line, its acknowledgement, was read).
        let mut state = model.clone();
        let mut expected_lines = 0;
        let mut acknowledged = 0;
        let mut states = vec![state.clone()];
        for (index, step) in steps.iter().enumerate() {
            let lines = step.apply(&mut state);
            for (offset, expected) in lines.iter().enumerate() {
                if let Some(result) = results.get(expected_lines + offset)
                    && result != expected
                {
                    return Err(format!(
                        "{context}: statement {} ({}) printed {result:?}, expected \
                         {expected:?}",
                        index + 1,
                        step.line().trim_end().replace('\n', "; ")
                    ));
                }
            }
            expected_lines += lines.len();
            if expected_lines <= results.len() {
                acknowledged = index + 1;
            }
            states.push(state.clone());
        }
        if results.last().is_some_and(String::is_empty) || results.len() > expected_lines {
            return Err(format!("{context}: odd output {results:?}"));
        }
        if !states[acknowledged..].contains(&recovered) {
            let differing: Vec<&String> = states[acknowledged]
                .iter()
                .filter(|(key, value)| recovered.get(*key) != Some(value))
                .map(|(key, _)| key)
                .collect();
            return Err(format!(
                "{context}: the recovered store is the state after no prefix of \
                 {acknowledged} or more statements (a lost acknowledged write, or a value \
                 never written); keys unlike the acknowledged state: {differing:?}; \
                 recovered keys: {:?}",
                recovered.keys().collect::<Vec<_>>()
            ));
        }
        // The next round starts from what survived.
        model = recovered;
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
    )
}

fn kill_iterations(setup: Setup, default_iterations: u64) {
    let iterations = env_number("KV_KILL_ITERATIONS").unwrap_or(default_iterations);
    let base = env_number("KV_KILL_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64)
    });
    for i in 0..iterations {
        let seed = base.wrapping_add(i);
        if let Err(message) = iteration(seed, setup) {
            panic!(
                "kill test failed with seed {seed} ({setup:?}): {message}\n\
                 replay: KV_KILL_SEED={seed} KV_KILL_ITERATIONS=1 cargo test --test kill"
            );
        }
    }
}

#[test]
fn every_acknowledged_statement_survives_a_kill_9() {
    kill_iterations(SNAPSHOT, 100);
}

/// The same in wal mode, one statement per commit: each record is fdatasynced into the log
/// before its `OK`, and a kill mid-append leaves a torn tail the reopen cuts.
#[test]
fn every_acknowledged_statement_survives_a_kill_9_in_wal_mode() {
    let setup = Setup {
        durability: Durability::Wal,
        group_commit: false,
        sync: None,
    };
    kill_iterations(setup, 100);
}

/// Group commit prints a batch's results only after its commit: a kill at any moment
/// loses no statement whose `OK` was read, in wal mode (one fdatasync per batch) and in
/// snapshot mode (one snapshot per batch).
#[test]
fn every_acknowledged_statement_survives_a_kill_9_with_group_commit() {
    for durability in [Durability::Wal, Durability::Snapshot] {
        let setup = Setup {
            durability,
            group_commit: true,
            sync: None,
        };
        kill_iterations(setup, 100);
    }
}

/// Asynchronous commit in wal mode (`--sync 100ms`): a record is written to the log
/// before its `OK` and fdatasynced later, so a kill, which leaves the kernel's cache, loses
/// no acknowledged statement.
#[test]
fn every_acknowledged_statement_survives_a_kill_9_in_wal_mode_with_a_sync_window() {
    let setup = Setup {
        durability: Durability::Wal,
        group_commit: false,
        sync: Some("100ms"),
    };
    kill_iterations(setup, 100);
}

/// Asynchronous commit in snapshot mode (`--sync 100ms`): the snapshot is written at most
/// 100 ms after the first unsaved change, and meanwhile each statement is appended to the
/// journal, unsynced, before its `OK`; a kill, which leaves the kernel's cache, loses no
/// acknowledged statement, and what survives is a whole prefix (never a torn or mixed
/// file).
#[test]
fn every_acknowledged_statement_survives_a_kill_9_in_snapshot_mode_with_a_sync_window() {
    let setup = Setup {
        durability: Durability::Snapshot,
        group_commit: false,
        sync: Some("100ms"),
    };
    kill_iterations(setup, 100);
}

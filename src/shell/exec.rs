//! The executor: [`run_next`] runs parsed statements against a [`Database`] and returns
//! what each did, as data. Every statement goes through it, one at a time or a batch at
//! once (`--group-commit`), so grouping changes how many commits there are and nothing
//! else: the crash buttons, a poisoned store and the outcomes are the same on every path.
//! Nothing here prints; `render` turns an [`Outcome`] into text.

use std::collections::{HashMap, VecDeque};

use crate::shell::command::{Command, Verb, VerbId};
use crate::shell::database::{Armed, Database, ModeSource, Reboot, Saved};
pub use crate::shell::exec_error::ExecError;
use crate::shell::exec_error::{NoStore, READ_ONLY_NO_CRASH};
use crate::shell::pattern::KeyPattern;
use kv_engine::{Batch, CrashPoint, Durability, JsonText, KvStore, Mutation, Stats};

/// What a command produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A stored value (`get`), as the store's compact JSON text.
    Value(String),
    /// No value under the key (`get`), or no key to delete (`delete`).
    Missing,
    /// A `put` that is now durable as the store's mode promises: the key it stored.
    Stored(String),
    /// A `delete` that is now durable as the store's mode promises: the key it removed.
    Deleted(String),
    /// A transaction was opened (`begin`).
    Begun,
    /// A put or delete inside a transaction: queued, not durable, until `commit`.
    Queued,
    /// A transaction's mutations (this many) are now durable as one commit.
    Committed(usize),
    /// A transaction's mutations (this many) were dropped: nothing of them was stored.
    RolledBack(usize),
    /// The answer to `exists`.
    Bool(bool),
    /// Keys, in order (`keys`).
    Keys(Vec<String>),
    /// A number of keys (`count`).
    Count(usize),
    /// The whole store as one compact JSON object (`dump`).
    Dump(String),
    /// Counters and sizes (`stats`).
    Stats(Box<StatsReport>),
    /// What `checkpoint` did.
    Checkpointed(Checkpointed),
    /// The crash points of `mode` (`crash`).
    CrashPoints {
        mode: Durability,
        points: Vec<CrashPoint>,
        /// On a simulated disk a point may fire as a power cut too.
        simulated: bool,
    },
    /// A crash button is armed (`crash POINT`).
    Armed(Armed),
    /// The simulated disk rebooted (`powercut`, or an armed point fired) and the store
    /// reopened.
    Rebooted(Box<Reboot>),
    /// The simulated kernel flushed its cache (`writeback`).
    WrittenBack,
    /// `sync` made this many acknowledged writes durable.
    Synced(u64),
    /// `sleep` moved the simulated clock this far; this many delayed syncs ran.
    Slept {
        duration: std::time::Duration,
        syncs: u64,
    },
    /// The simulated file was written to the real disk (`save`).
    Saved(Saved),
    /// Whether `trace` is on.
    Tracing(bool),
    /// The command list, or one verb's description.
    Help(Option<&'static Verb>),
    /// `help crash`: the verb's description, the crash points of the current mode and
    /// the crash modes.
    CrashHelp {
        verb: &'static Verb,
        mode: Durability,
        points: Vec<CrashPoint>,
        simulated: bool,
    },
    /// The user asked to leave.
    Exit,
    /// `source FILE`: a request the session carries out (it runs the file's statements
    /// through itself), as it carries out [`Outcome::Exit`].
    Source { path: String, step: bool },
    /// `pause`: a request the session carries out (it knows whether a file is running
    /// and whether there is a terminal to wait on).
    Pause,
}

impl Outcome {
    /// Why the command failed although it ran: a reboot after which the store would not
    /// reopen. The session reports it as an error after rendering the outcome.
    pub fn failure(&self) -> Option<&NoStore> {
        match self {
            Outcome::Rebooted(reboot) => reboot.reopened.as_ref().err(),
            _ => None,
        }
    }

    /// Whether the store's key set may have changed (the editor refreshes completions):
    /// by the one key a put or delete names, or in ways no outcome names (a reboot, a
    /// file of statements).
    pub fn changed_keys(&self) -> bool {
        matches!(
            self,
            Outcome::Stored(_)
                | Outcome::Deleted(_)
                | Outcome::Rebooted(_)
                | Outcome::Source { .. }
        )
    }
}

/// What `stats` shows: the store's counters, and what only the shell knows about them.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsReport {
    pub stats: Stats,
    /// Why the store is in its mode.
    pub source: ModeSource,
    /// Reboots of the simulated disk since the shell started: the counters are the
    /// reopened store's, so they restarted at the last one.
    pub reboots: u64,
    /// The mutations queued in the open transaction, if one is open.
    pub transaction: Option<usize>,
}

/// What `checkpoint` did: in a mode without a log, nothing (the database file already
/// holds every commit, so there is nothing to fold: a no-op, not a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpointed {
    /// The mode has no log.
    NoLog(Durability),
    /// The log holds no record since the last checkpoint: the snapshot already holds
    /// everything, so nothing was written.
    Empty,
    /// The log was folded into a new snapshot and a fresh log started.
    Folded {
        /// Records the old log held.
        records: u64,
        /// Bytes of the old log in use, and of the new one.
        log_before: u64,
        log_after: u64,
        /// The new snapshot's size.
        snapshot: Option<u64>,
    },
}

/// Runs the statements at the front of `batch` that commit together, takes them off it,
/// and returns what each did, in order. A run of puts and deletes commits as one
/// [`KvStore::apply`]: one commit (one fsync in `wal` mode, one snapshot in `snapshot`
/// mode), all of it or none of it. Any other statement runs alone. Two things end a run
/// early, so that grouping never changes what a statement prints:
/// - an armed crash point: each write then commits alone, so the point interrupts exactly
///   the write it would interrupt one statement at a time, and on the real disk every
///   earlier result is printed before the process aborts;
/// - a value the store will refuse (nested too deeply, too large): it commits alone, so it
///   is refused on its own and the writes around it are stored.
///
/// A write's outcome exists only once the commit holding it returned `Ok`: that call is
/// the durability point, so no `OK` is ever produced early. On a simulated disk, a write
/// that reaches an armed crash point returns [`Outcome::Rebooted`]: what the store held
/// after the reboot, never an `OK`.
pub fn run_next(
    db: &mut Database,
    tx: &mut Option<Batch>,
    batch: &mut VecDeque<Command>,
) -> Vec<Result<Outcome, ExecError>> {
    if let Some(open) = tx.as_mut()
        && let Some(Command::Put { .. } | Command::Delete { .. }) = batch.front()
    {
        return queue(db, open, batch);
    }
    let alone = db.is_armed();
    let mut mutations = Vec::new();
    loop {
        let refused = match batch.front() {
            Some(Command::Put { key, value }) => store_refuses(key, value),
            Some(Command::Delete { .. }) => false,
            _ => break,
        };
        if refused && !mutations.is_empty() {
            break;
        }
        let Some(mutation) = batch
            .pop_front()
            .and_then(|command| take_write(command, batch))
        else {
            break;
        };
        mutations.push(mutation);
        if alone || refused {
            break;
        }
    }
    match mutations.len() {
        0 => batch
            .pop_front()
            .map(|command| vec![execute(db, tx, command)])
            .unwrap_or_default(),
        1 => mutations
            .pop()
            .map(|mutation| vec![commit_one(db, mutation)])
            .unwrap_or_default(),
        _ => commit_group(db, mutations),
    }
}

/// Runs every statement of `commands`, in order, as [`run_next`] groups them, and returns
/// what each did.
pub fn run(
    db: &mut Database,
    tx: &mut Option<Batch>,
    commands: Vec<Command>,
) -> Vec<Result<Outcome, ExecError>> {
    let mut batch = VecDeque::from(commands);
    let mut results = Vec::with_capacity(batch.len());
    while !batch.is_empty() {
        results.extend(run_next(db, tx, &mut batch));
    }
    results
}

/// Inside a transaction: queues the puts and deletes at the front of `batch`. Nothing is
/// written until `commit`; a value the store would refuse is refused now, and not queued.
fn queue(
    db: &mut Database,
    open: &mut Batch,
    batch: &mut VecDeque<Command>,
) -> Vec<Result<Outcome, ExecError>> {
    let mut results = Vec::new();
    while let Some(command) = batch.pop_front() {
        let queued = match (command, db.store_mut()) {
            (Command::Put { key, value }, Ok(_)) => {
                open.put_text(key, value).map_err(ExecError::from)
            }
            (Command::Delete { key }, Ok(store)) => {
                open.delete(store, &key);
                Ok(())
            }
            // No store (a reopen failed): said as a write outside a transaction says it.
            (Command::Put { .. } | Command::Delete { .. }, Err(closed)) => Err(closed),
            (other, _) => {
                batch.push_front(other);
                break;
            }
        };
        results.push(queued.map(|()| Outcome::Queued));
    }
    results
}

/// The mutation a `put` or `delete` makes; any other statement goes back to the front of
/// `batch`.
fn take_write(command: Command, batch: &mut VecDeque<Command>) -> Option<Mutation> {
    match command {
        Command::Put { key, value } => Some(Mutation::PutText { key, text: value }),
        Command::Delete { key } => Some(Mutation::Delete { key }),
        other => {
            batch.push_front(other);
            None
        }
    }
}

/// Whether the store will refuse to store `value` under `key`: it then refuses the whole
/// commit that holds it, before writing anything.
fn store_refuses(key: &str, value: &JsonText) -> bool {
    kv_engine::admit_text(key, value).is_err()
}

/// Commits one put or delete.
fn commit_one(db: &mut Database, mutation: Mutation) -> Result<Outcome, ExecError> {
    let verb = match mutation {
        Mutation::Delete { .. } => "delete",
        _ => "put",
    };
    mutate(db, verb, |store| {
        let outcome = acknowledgement(&mutation, |key| store.contains_key(key));
        store.apply(vec![mutation]).map(|()| outcome)
    })
}

/// Commits a run of puts and deletes as one; if that fails, every one of them reports it.
fn commit_group(db: &mut Database, mutations: Vec<Mutation>) -> Vec<Result<Outcome, ExecError>> {
    let count = mutations.len();
    let outcomes = match db.store_mut() {
        Ok(store) => acknowledgements(store, &mutations),
        // No store (a reopen failed): each statement says so as it would alone (`Ok` cannot
        // come back: nothing reopens in between).
        Err(_) => {
            return (0..count)
                .map(|_| db.store_mut().map(|_| Outcome::Missing))
                .collect();
        }
    };
    let reason = match on_store(db, "group commit", |store| store.apply(mutations)) {
        Ok(()) => return outcomes.into_iter().map(Ok).collect(),
        // Unreached: while a point is armed, each write commits alone.
        Err(Failed::Rebooted(reboot)) => {
            let lost = "the process died in the commit it shared".to_string();
            let mut results = vec![Ok(Outcome::Rebooted(reboot))];
            results.extend((1..count).map(|_| {
                Err(ExecError::GroupFailed {
                    reason: lost.clone(),
                })
            }));
            return results;
        }
        Err(Failed::Error(error)) => error.to_string(),
    };
    (0..count)
        .map(|_| {
            Err(ExecError::GroupFailed {
                reason: reason.clone(),
            })
        })
        .collect()
}

/// What each of `mutations` prints once they are committed together, worked out on the
/// store as it is before.
fn acknowledgements(store: &KvStore, mutations: &[Mutation]) -> Vec<Outcome> {
    // Whether each key is there after the mutations so far: only a delete asks.
    let mut present: HashMap<&str, bool> = HashMap::new();
    let has_delete = mutations
        .iter()
        .any(|mutation| matches!(mutation, Mutation::Delete { .. }));
    mutations
        .iter()
        .map(|mutation| {
            let outcome = acknowledgement(mutation, |key| match present.get(key) {
                Some(&there) => there,
                None => store.contains_key(key),
            });
            if has_delete {
                present.insert(mutation.key(), !matches!(mutation, Mutation::Delete { .. }));
            }
            outcome
        })
        .collect()
}

/// What `mutation` prints once committed: `Stored` for a put; `Deleted`, or `Missing` for
/// the delete of a key that is not there (`there` says whether a key is, just before).
fn acknowledgement(mutation: &Mutation, there: impl FnOnce(&str) -> bool) -> Outcome {
    let key = mutation.key();
    match mutation {
        Mutation::Delete { .. } if there(key) => Outcome::Deleted(key.to_owned()),
        Mutation::Delete { .. } => Outcome::Missing,
        _ => Outcome::Stored(key.to_owned()),
    }
}

/// Runs one statement other than a put or delete (those go through [`run_next`], which
/// commits them).
fn execute(
    db: &mut Database,
    tx: &mut Option<Batch>,
    command: Command,
) -> Result<Outcome, ExecError> {
    Ok(match command {
        // `run_next` commits runs of writes (or queues them in a transaction) itself; one
        // given here commits alone.
        Command::Put { key, value } => {
            return commit_one(db, Mutation::PutText { key, text: value });
        }
        Command::Delete { key } => return commit_one(db, Mutation::Delete { key }),
        Command::Checkpoint => {
            if db.is_read_only() {
                // Refused as every write is, not "nothing to checkpoint": the database
                // may well have a log, which only its writer may fold.
                db.store_mut()?.checkpoint()?;
            }
            let durability = db.durability();
            let before = db.store_mut()?.stats();
            if before.log_size.is_none() {
                return Ok(Outcome::Checkpointed(Checkpointed::NoLog(durability)));
            }
            return mutate(db, "checkpoint", |store| {
                store.checkpoint()?;
                let after = store.stats();
                if after.checkpoints == before.checkpoints {
                    return Ok(Outcome::Checkpointed(Checkpointed::Empty));
                }
                Ok(Outcome::Checkpointed(Checkpointed::Folded {
                    records: before.log_records.unwrap_or(0),
                    log_before: before.log_size.unwrap_or(0),
                    log_after: after.log_size.unwrap_or(0),
                    snapshot: after.file_size,
                }))
            });
        }
        // Memory mode's "nothing to crash, every key is lost" would mislead here.
        Command::Crash { .. } if db.is_read_only() => {
            return Err(ExecError::Refused(READ_ONLY_NO_CRASH.to_string()));
        }
        Command::Crash { point: None, .. } => Outcome::CrashPoints {
            mode: db.durability(),
            points: db.crash_points(),
            simulated: db.is_simulated(),
        },
        Command::Crash {
            point: Some(point),
            cut,
        } => Outcome::Armed(db.arm(point, cut)?),
        Command::PowerCut(cut) => {
            let reboot = db.power_cut(cut)?;
            // The process died with the transaction it held: nothing of it was committed.
            *tx = None;
            Outcome::Rebooted(Box::new(reboot))
        }
        Command::Begin => match tx {
            Some(open) => {
                return Err(ExecError::InTransaction { queued: open.len() });
            }
            None => {
                *tx = Some(Batch::new());
                Outcome::Begun
            }
        },
        Command::Commit => {
            let open = tx
                .take()
                .ok_or(ExecError::NoTransaction { verb: "commit" })?;
            return commit_transaction(db, open);
        }
        Command::Rollback => {
            let open = tx
                .take()
                .ok_or(ExecError::NoTransaction { verb: "roll back" })?;
            Outcome::RolledBack(open.len())
        }
        Command::Writeback => {
            db.writeback()?;
            Outcome::WrittenBack
        }
        Command::Sync => return mutate(db, "sync", |store| Ok(Outcome::Synced(store.sync()?))),
        Command::Sleep(duration) => Outcome::Slept {
            duration,
            syncs: db.sleep(duration)?,
        },
        Command::Save => Outcome::Saved(db.save()?),
        Command::Trace { on: None } => Outcome::Tracing(db.tracing()),
        Command::Trace { on: Some(on) } => {
            db.set_tracing(on)?;
            Outcome::Tracing(on)
        }
        Command::Help { topic: Some(verb) } if verb.id == VerbId::Crash => Outcome::CrashHelp {
            verb,
            mode: db.durability(),
            points: db.crash_points(),
            simulated: db.is_simulated(),
        },
        Command::Help { topic } => Outcome::Help(topic),
        Command::Exit => Outcome::Exit,
        Command::Source { path, step } => Outcome::Source { path, step },
        Command::Pause => Outcome::Pause,
        Command::Stats => {
            let (source, reboots) = (db.mode_source(), db.reboots());
            Outcome::Stats(Box::new(StatsReport {
                stats: db.store_mut()?.stats(),
                source,
                reboots,
                transaction: tx.as_ref().map(Batch::len),
            }))
        }
        // A read inside a transaction sees the transaction's own writes.
        read => return View::of(db.store_mut()?, tx.as_ref()).read(read),
    })
}

/// The store as a statement reads it: with the open transaction's writes, if any, laid
/// over it.
struct View<'a> {
    store: &'a KvStore,
    tx: Option<&'a Batch>,
}

impl<'a> View<'a> {
    fn of(store: &'a KvStore, tx: Option<&'a Batch>) -> Self {
        View { store, tx }
    }

    /// Runs a read (`get`, `exists`, `keys`, `count`, `dump`).
    fn read(&self, command: Command) -> Result<Outcome, ExecError> {
        let store = self.store;
        Ok(match command {
            // The stored text is printed as it is: no parse, no re-serialisation.
            Command::Get { key } => {
                let text = match self.tx {
                    Some(tx) => tx.get_raw(store, &key),
                    None => store.get_raw(&key),
                };
                match text {
                    Some(json) => Outcome::Value(json.to_string()),
                    None => Outcome::Missing,
                }
            }
            Command::Exists { key } => Outcome::Bool(match self.tx {
                Some(tx) => tx.contains_key(store, &key),
                None => store.contains_key(&key),
            }),
            Command::Keys { pattern } => Outcome::Keys(match pattern {
                Some(pattern) => {
                    let pattern = KeyPattern::parse(&pattern);
                    self.from(&pattern.scan_prefix())
                        .filter(|(key, _)| pattern.matches(key))
                        .map(|(key, _)| key.to_string())
                        .collect()
                }
                None => self.from("").map(|(key, _)| key.to_string()).collect(),
            }),
            Command::Count => Outcome::Count(match self.tx {
                Some(tx) => tx.count(store),
                None => store.len(),
            }),
            Command::Dump => Outcome::Dump(match self.tx {
                Some(tx) => {
                    let entries: Vec<String> = tx
                        .iter(store)
                        .map(|(key, value)| format!("{}:{value}", JsonText::string(key)))
                        .collect();
                    format!("{{{}}}", entries.join(","))
                }
                None => store.to_json(),
            }),
            other => {
                return Err(ExecError::Refused(format!(
                    "not a read: {other:?} (the executor runs it elsewhere)"
                )));
            }
        })
    }

    /// The entries whose key starts with `prefix`, in key order: only those are read.
    fn from(&self, prefix: &'a str) -> Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a> {
        match self.tx {
            Some(tx) => Box::new(
                tx.iter(self.store)
                    .filter(move |(key, _)| key.starts_with(prefix)),
            ),
            None => Box::new(self.store.scan_prefix(prefix)),
        }
    }
}

/// `commit`: the transaction's mutations as one commit (one snapshot in `snapshot` mode,
/// one log commit with one fdatasync in `wal` mode). An armed point fires in it as in any
/// commit: the reboot shows all of the transaction or none of it.
fn commit_transaction(db: &mut Database, open: Batch) -> Result<Outcome, ExecError> {
    let mutations = open.len();
    if mutations == 0 {
        // Nothing to write: no commit, no fsync.
        return Ok(Outcome::Committed(0));
    }
    match on_store(db, "commit", |store| store.commit(open)) {
        Ok(committed) => Ok(Outcome::Committed(committed)),
        Err(Failed::Rebooted(reboot)) => Ok(Outcome::Rebooted(reboot)),
        Err(Failed::Error(error)) => Err(ExecError::TransactionFailed {
            reason: error.to_string(),
            mutations,
        }),
    }
}

/// Runs `action` on the store: a statement that writes. An armed point firing on a
/// simulated disk becomes a reboot, reported as the statement's outcome.
fn mutate(
    db: &mut Database,
    verb: &'static str,
    action: impl FnOnce(&mut KvStore) -> kv_engine::Result<Outcome>,
) -> Result<Outcome, ExecError> {
    match on_store(db, verb, action) {
        Ok(outcome) => Ok(outcome),
        Err(Failed::Rebooted(reboot)) => Ok(Outcome::Rebooted(reboot)),
        Err(Failed::Error(error)) => Err(error),
    }
}

/// Why a statement that writes did not return `Ok`.
enum Failed {
    /// An armed point fired on the simulated disk, which rebooted.
    Rebooted(Box<Reboot>),
    /// It failed, or there is no store.
    Error(ExecError),
}

/// Runs `action` on the store (`verb` names it in a reboot report: it was not
/// acknowledged).
fn on_store<T>(
    db: &mut Database,
    verb: &'static str,
    action: impl FnOnce(&mut KvStore) -> kv_engine::Result<T>,
) -> Result<T, Failed> {
    match action(db.store_mut().map_err(Failed::Error)?) {
        Ok(value) => Ok(value),
        Err(error) => Err(match db.after_error(error, verb) {
            Ok(reboot) => Failed::Rebooted(Box::new(reboot)),
            Err(error) => Failed::Error(error),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::command::parse;
    use serde_json::json;

    fn run(store: &mut Database, line: &str) -> Outcome {
        let command = parse(line).unwrap().unwrap();
        execute(store, &mut None, command).unwrap()
    }

    fn done(key: &str) -> Outcome {
        Outcome::Stored(key.to_string())
    }

    #[test]
    fn commands_return_what_the_store_holds() {
        let mut store = Database::in_memory();
        assert_eq!(run(&mut store, "get a"), Outcome::Missing);
        assert_eq!(run(&mut store, "put a {\"x\": 1}"), done("a"));
        assert_eq!(
            run(&mut store, "get a"),
            Outcome::Value(json!({"x": 1}).to_string())
        );
        assert_eq!(run(&mut store, "put b null"), done("b"));
        assert_eq!(run(&mut store, "get b"), Outcome::Value("null".into()));
        assert_eq!(run(&mut store, "exists b"), Outcome::Bool(true));
        assert_eq!(run(&mut store, "exists c"), Outcome::Bool(false));
        assert_eq!(run(&mut store, "put ab 1"), done("ab"));
        assert_eq!(
            run(&mut store, "keys a"),
            Outcome::Keys(vec!["a".into(), "ab".into()])
        );
        assert_eq!(
            run(&mut store, "keys *"),
            Outcome::Keys(vec!["a".into(), "ab".into(), "b".into()])
        );
        assert_eq!(run(&mut store, "keys ?b"), Outcome::Keys(vec!["ab".into()]));
        assert_eq!(run(&mut store, "keys a\\*"), Outcome::Keys(vec![]));
        assert_eq!(run(&mut store, "count"), Outcome::Count(3));
        assert_eq!(
            run(&mut store, "dump"),
            Outcome::Dump(json!({"a": {"x": 1}, "ab": 1, "b": null}).to_string())
        );
        assert_eq!(run(&mut store, "delete a"), Outcome::Deleted("a".into()));
        assert_eq!(run(&mut store, "delete a"), Outcome::Missing);
        assert_eq!(run(&mut store, "count"), Outcome::Count(2));
    }

    fn commands(script: &[&str]) -> Vec<Command> {
        script
            .iter()
            .map(|line| parse(line).unwrap().unwrap())
            .collect()
    }

    fn simulated(durability: Durability) -> Database {
        let sim = kv_engine::fs::SimFs::new();
        Database::on_simulated_disk(sim, std::path::Path::new("db.json"), durability).unwrap()
    }

    #[test]
    fn a_run_of_writes_is_one_commit_and_each_names_its_key() {
        let mut db = simulated(Durability::Wal);
        run(&mut db, "put gone 0");
        let before = db.store().unwrap().stats().commits;
        let mut batch = VecDeque::from(commands(&[
            "put a 1",
            "delete gone",
            "delete never",
            "put b 2",
            "delete b",
            "delete b",
            "get a",
        ]));
        let results: Vec<Outcome> = run_next(&mut db, &mut None, &mut batch)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            results,
            [
                done("a"),
                Outcome::Deleted("gone".into()),
                Outcome::Missing,
                done("b"),
                Outcome::Deleted("b".into()),
                Outcome::Missing,
            ]
        );
        assert_eq!(db.store().unwrap().stats().commits, before + 1);
        // The read after the run is the next round, alone.
        assert_eq!(batch.len(), 1);
        let results = run_next(&mut db, &mut None, &mut batch);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].as_ref().unwrap(), &Outcome::Value("1".into()));
        assert!(batch.is_empty());
    }

    #[test]
    fn a_value_the_store_refuses_commits_alone_and_the_writes_around_it_are_stored() {
        let deep = format!("put deep {}{}", "[".repeat(101), "]".repeat(101));
        let mut db = Database::in_memory();
        let results = super::run(
            &mut db,
            &mut None,
            commands(&["put a 1", "put b 2", &deep, "put c 3", "put d 4"]),
        );
        let shown: Vec<String> = results
            .iter()
            .map(|result| match result {
                Ok(outcome) => format!("{outcome:?}"),
                Err(error) => error.to_string(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "Stored(\"a\")",
                "Stored(\"b\")",
                "the value for key \"deep\" nests deeper than 100 levels of arrays and \
                 objects; nothing was written",
                "Stored(\"c\")",
                "Stored(\"d\")",
            ]
        );
        let store = db.store().unwrap();
        assert_eq!(store.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        // Two groups and none for the refused value.
        assert_eq!(store.stats().commits, 2);
    }

    #[test]
    fn while_a_point_is_armed_each_write_commits_alone() {
        let mut db = simulated(Durability::Snapshot);
        run(&mut db, "crash after-temp-sync");
        let mut batch = VecDeque::from(commands(&["put a 1", "put b 2", "put c 3"]));
        let first = run_next(&mut db, &mut None, &mut batch);
        assert_eq!(first.len(), 1, "the armed write alone");
        assert!(
            matches!(&first[0], Ok(Outcome::Rebooted(_))),
            "{:?}",
            first[0]
        );
        assert_eq!(batch.len(), 2);
        // The point fired: the rest commit together again.
        let rest: Vec<Outcome> = run_next(&mut db, &mut None, &mut batch)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rest, [done("b"), done("c")]);
        assert_eq!(db.store().unwrap().keys().collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn a_failed_group_commit_fails_every_statement_in_it() {
        let mut db = Database::in_memory();
        let results = super::run(&mut db, &mut None, commands(&["put a 1", "put b 2"]));
        assert!(results.iter().all(Result::is_ok));
        let read_only = tempfile::tempdir().unwrap();
        let path = read_only.path().join("db.json");
        let mut writer = KvStore::open(&path, kv_engine::Options::new()).unwrap();
        writer.put("b", json!(1)).unwrap();
        drop(writer);
        let mut db = Database::open_read_only(&path).unwrap();
        let results = super::run(
            &mut db,
            &mut None,
            commands(&["put a 1", "delete b", "put c 3"]),
        );
        assert_eq!(results.len(), 3);
        for result in results {
            let error = result.unwrap_err().to_string();
            assert!(
                error.ends_with("(the whole group commit failed: nothing of it was stored)"),
                "{error}"
            );
        }
        // Alone, a write reports the store's own error.
        let alone = super::run(&mut db, &mut None, commands(&["put a 1"]));
        let error = alone[0].as_ref().unwrap_err().to_string();
        assert!(!error.contains("group commit"), "{error}");
    }
}

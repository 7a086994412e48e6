//! [`execute`]: runs a [`Command`] against a [`Database`] and returns what happened as
//! data. Nothing here prints; `render` turns an [`Outcome`] into text.

use crate::shell::command::{Command, Verb, VerbId};
use crate::shell::database::{Armed, Database, ModeSource, Reboot, Saved};
pub use crate::shell::exec_error::ExecError;
use crate::shell::exec_error::READ_ONLY_NO_CRASH;
use crate::shell::pattern::KeyPattern;
use kv_engine::{CrashPoint, Durability, KvStore, Stats};

/// What a command produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A stored value (`get`), as the store's compact JSON text.
    Value(String),
    /// No value under the key (`get`), or no key to delete (`delete`).
    Missing,
    /// A mutation that is now durable as the store's mode promises.
    Done,
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
    pub fn failure(&self) -> Option<&str> {
        match self {
            Outcome::Rebooted(reboot) => reboot.reopened.as_ref().err().map(String::as_str),
            _ => None,
        }
    }

    /// Whether the store's key set may have changed (the editor refreshes completions).
    pub fn changed_keys(&self) -> bool {
        matches!(
            self,
            Outcome::Done | Outcome::Rebooted(_) | Outcome::Source { .. }
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

/// Runs `command`. Mutations return only after the store call returned `Ok`: that call is
/// the durability point, so [`Outcome::Done`] is never produced early. On a simulated
/// disk, a mutation that reaches an armed crash point returns [`Outcome::Rebooted`]: what
/// the store held after the reboot, never an `OK`.
pub fn execute(db: &mut Database, command: Command) -> Result<Outcome, ExecError> {
    Ok(match command {
        Command::Put { key, value } => {
            return mutate(db, "put", |store| {
                store.put_text(key, value).map(|()| Outcome::Done)
            });
        }
        Command::Delete { key } => {
            return mutate(db, "delete", |store| {
                Ok(match store.delete(&key)? {
                    true => Outcome::Done,
                    false => Outcome::Missing,
                })
            });
        }
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
        Command::PowerCut(cut) => Outcome::Rebooted(Box::new(db.power_cut(cut)?)),
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
        // The stored text is printed as it is: no parse, no re-serialisation.
        Command::Get { key } => match db.store_mut()?.get_raw(&key) {
            Some(json) => Outcome::Value(json.to_string()),
            None => Outcome::Missing,
        },
        Command::Exists { key } => Outcome::Bool(db.store_mut()?.contains_key(&key)),
        Command::Keys { pattern } => {
            let store = db.store_mut()?;
            let keys = match pattern {
                // Only the keys under the pattern's literal start are read.
                Some(pattern) => {
                    let pattern = KeyPattern::parse(&pattern);
                    store
                        .scan_prefix(&pattern.scan_prefix())
                        .filter(|(key, _)| pattern.matches(key))
                        .map(|(key, _)| key.to_string())
                        .collect()
                }
                None => store.keys().map(str::to_string).collect(),
            };
            Outcome::Keys(keys)
        }
        Command::Count => Outcome::Count(db.store_mut()?.len()),
        Command::Dump => Outcome::Dump(db.store_mut()?.to_json()),
        Command::Stats => {
            let (source, reboots) = (db.mode_source(), db.reboots());
            Outcome::Stats(Box::new(StatsReport {
                stats: db.store_mut()?.stats(),
                source,
                reboots,
            }))
        }
    })
}

/// Runs a mutation; an armed point firing on a simulated disk becomes a reboot.
fn mutate(
    db: &mut Database,
    verb: &'static str,
    mutation: impl FnOnce(&mut KvStore) -> kv_engine::Result<Outcome>,
) -> Result<Outcome, ExecError> {
    match mutation(db.store_mut()?) {
        Ok(outcome) => Ok(outcome),
        Err(error) => Ok(Outcome::Rebooted(Box::new(db.after_error(error, verb)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::command::parse;
    use serde_json::json;

    fn run(store: &mut Database, line: &str) -> Outcome {
        let command = parse(line).unwrap().unwrap();
        execute(store, command).unwrap()
    }

    #[test]
    fn commands_return_what_the_store_holds() {
        let mut store = Database::in_memory();
        assert_eq!(run(&mut store, "get a"), Outcome::Missing);
        assert_eq!(run(&mut store, "put a {\"x\": 1}"), Outcome::Done);
        assert_eq!(
            run(&mut store, "get a"),
            Outcome::Value(json!({"x": 1}).to_string())
        );
        assert_eq!(run(&mut store, "put b null"), Outcome::Done);
        assert_eq!(run(&mut store, "get b"), Outcome::Value("null".into()));
        assert_eq!(run(&mut store, "exists b"), Outcome::Bool(true));
        assert_eq!(run(&mut store, "exists c"), Outcome::Bool(false));
        assert_eq!(run(&mut store, "put ab 1"), Outcome::Done);
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
        assert_eq!(run(&mut store, "delete a"), Outcome::Done);
        assert_eq!(run(&mut store, "delete a"), Outcome::Missing);
        assert_eq!(run(&mut store, "count"), Outcome::Count(2));
    }
}

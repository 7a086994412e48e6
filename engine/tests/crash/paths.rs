//! The paths that hid data-loss bugs from the plain sweep (issue 11): each scenario is a
//! short history that walks one of them, crashed after every filesystem operation from
//! its marked point on, in every crash mode, and checked with the sweep's oracle (the
//! store opens, at a prefix state of the history that holds every acknowledged mutation).
//!
//! - A checkpoint that fails (ENOSPC or EIO at each of its operations in turn; asked for,
//!   or started by a commit), after which the process carries on committing (or, if the store was poisoned,
//!   reopens and carries on); then every crash, a plain reopen (a kill at the end)
//!   included.
//! - A checkpoint whose new snapshot is byte-identical to the old one (the records since
//!   the last checkpoint netted to nothing), then more commits.
//! - A database file written without fsync (by `cp` or an editor, or by naive mode), then
//!   opened in `wal` mode: the log must not be built on page-cache bytes.
//! - Mode switches: naive, then wal, then snapshot, then wal again, on the same disk.
//! - Group commits whose records span several 4 KiB pages, under the page-reordering
//!   crash modes.
//!
//! What a mutation in naive mode, or a foreign write, acknowledges is not durable: it is
//! in the history (a later durable acknowledgement covers it) but is not itself required,
//! and until a crash-safe mode has acknowledged something, a database that does not open
//! after a power loss (an empty file its writer never synced) loses nothing promised.
//! Replay a failure with the line it prints (`KV_CRASH_FAULT` names the injected fault).
#![allow(clippy::unwrap_used)] // helpers of tests: a panic is a failing test

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use kv_engine::fs::sim::{FaultError, PAGE, Repeat};
use kv_engine::fs::{CrashMode, Fs, OpenMode, SimFs};
use kv_engine::{Durability, KvStore, LogState, Mutation, Options};
use serde_json::{Value, json};

use super::simdisk::{Model, PATH, contents, disk, file_text};
use super::{Case, Filter, Run, Subject, Tally, Violation, check};

/// An injected fault: the `nth` filesystem operation of the failing checkpoint fails
/// once with `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    nth: u64,
    error: FaultError,
}

impl Fault {
    /// As `KV_CRASH_FAULT` takes it: `3:enospc`.
    pub fn spec(self) -> String {
        format!("{}:{}", self.nth, error_name(self.error))
    }
}

fn error_name(error: FaultError) -> &'static str {
    match error {
        FaultError::Enospc => "enospc",
        FaultError::Eio => "eio",
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at operation {} of the failing step",
            error_name(self.error).to_uppercase(),
            self.nth
        )
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (nth, error) = spec.split_once(':').ok_or("expected N:enospc or N:eio")?;
        let nth = nth
            .parse()
            .map_err(|_| format!("{nth:?} is not an operation number"))?;
        let error = match error {
            "enospc" => FaultError::Enospc,
            "eio" => FaultError::Eio,
            other => return Err(format!("{other:?} is neither enospc nor eio")),
        };
        Ok(Fault { nth, error })
    }
}

/// One step of a scenario.
#[derive(Debug, Clone)]
enum Act {
    /// Drop the store (if any) and open the database in this mode: a reopen, or a switch.
    Open(Durability),
    Put(&'static str, Value),
    Delete(&'static str),
    /// One group commit: `apply` with these puts (`Some`) and deletes (`None`).
    Batch(Vec<(&'static str, Option<Value>)>),
    Checkpoint,
    /// A checkpoint with the sweep's fault injected; the process carries on after it.
    FailingCheckpoint,
    /// A group commit with the sweep's fault injected: in the commit itself (which then
    /// fails, and the run stops there) or in the automatic checkpoint that follows it
    /// (which fails while the commit stands, and the process carries on).
    FailingCommit(Vec<(&'static str, Option<Value>)>),
    /// Another program (`cp`, an editor) writes the database file, fsyncing nothing.
    ForeignWrite(&'static str),
    /// The sweep crashes after every operation from here on (what came before is set-up).
    CrashFromHere,
}

/// A history that walks one path.
pub struct Scenario {
    pub name: &'static str,
    acts: Vec<Act>,
    /// The log size past which a commit checkpoints on its own.
    checkpoint_bytes: u64,
}

/// Values big enough that a batch of them spans several pages.
fn page_sized(fill: &str) -> Value {
    Value::String(fill.repeat(PAGE as usize / 2 / fill.len()))
}

/// Every scenario, by the test that sweeps it.
pub fn scenarios() -> Vec<Scenario> {
    // No automatic checkpoint: the one asked for is the one that fails.
    let never = 1 << 30;
    vec![
        Scenario {
            // Issue 11, hole 1, as reproduced with the binary: the failed checkpoint's
            // new snapshot would have been byte-identical to the old one.
            name: "failed-identical-checkpoint-then-commits",
            acts: vec![
                Act::Open(Durability::Wal),
                Act::Put("a", json!(1)),
                Act::Checkpoint,
                Act::Put("tmp", json!(1)),
                Act::Delete("tmp"),
                Act::CrashFromHere,
                Act::FailingCheckpoint,
                Act::Put("b", json!(2)),
                Act::Put("c", json!(3)),
            ],
            checkpoint_bytes: never,
        },
        Scenario {
            name: "failed-checkpoint-then-commits",
            acts: vec![
                Act::Open(Durability::Wal),
                Act::Put("a", json!(1)),
                Act::Checkpoint,
                Act::Put("x", json!({"y": 2})),
                Act::CrashFromHere,
                Act::FailingCheckpoint,
                Act::Put("b", json!(2)),
                Act::Delete("x"),
            ],
            checkpoint_bytes: never,
        },
        Scenario {
            // The same, with the checkpoint started by the commit (every commit checkpoints
            // here): the put and the delete of `tmp` in one group commit net to nothing.
            name: "failed-automatic-identical-checkpoint-then-commits",
            acts: vec![
                Act::Open(Durability::Wal),
                Act::Put("a", json!(1)),
                Act::CrashFromHere,
                Act::FailingCommit(vec![("tmp", Some(json!(1))), ("tmp", None)]),
                Act::Put("b", json!(2)),
                Act::Put("c", json!(3)),
            ],
            checkpoint_bytes: 1,
        },
        Scenario {
            name: "identical-checkpoint-then-commits",
            acts: vec![
                Act::Open(Durability::Wal),
                Act::Put("a", json!(1)),
                Act::Checkpoint,
                Act::CrashFromHere,
                Act::Put("tmp", json!(1)),
                Act::Delete("tmp"),
                Act::Checkpoint,
                Act::Put("b", json!(2)),
                Act::Put("c", json!(3)),
                Act::Open(Durability::Wal),
                Act::Put("d", json!(4)),
            ],
            checkpoint_bytes: never,
        },
        Scenario {
            name: "foreign-unsynced-file-then-wal",
            acts: vec![
                Act::ForeignWrite("{\"a\":1,\"b\":[2]}\n"),
                Act::CrashFromHere,
                Act::Open(Durability::Wal),
                Act::Put("c", json!(3)),
                Act::Delete("a"),
            ],
            checkpoint_bytes: never,
        },
        Scenario {
            name: "naive-then-wal",
            acts: vec![
                Act::Open(Durability::Naive),
                Act::Put("a", json!(1)),
                Act::Put("b", json!(2)),
                Act::CrashFromHere,
                Act::Open(Durability::Wal),
                Act::Put("c", json!(3)),
                Act::Delete("a"),
            ],
            checkpoint_bytes: never,
        },
        Scenario {
            name: "naive-wal-snapshot-wal",
            acts: vec![
                Act::Open(Durability::Naive),
                Act::Put("a", json!(1)),
                Act::CrashFromHere,
                Act::Open(Durability::Wal),
                Act::Put("b", json!(2)),
                Act::Open(Durability::Snapshot),
                Act::Put("c", json!(3)),
                Act::Delete("a"),
                Act::Open(Durability::Wal),
                Act::Put("d", json!(4)),
            ],
            // Small: the wal phases checkpoint on their own too.
            checkpoint_bytes: 256,
        },
        Scenario {
            name: "group-commits-of-several-pages",
            acts: vec![
                Act::Open(Durability::Wal),
                Act::Put("first", json!(0)),
                Act::CrashFromHere,
                Act::Batch(vec![
                    ("p1", Some(page_sized("a"))),
                    ("p2", Some(page_sized("b"))),
                    ("p3", Some(page_sized("c"))),
                    ("p4", Some(page_sized("d"))),
                    ("p5", Some(page_sized("e"))),
                    ("p6", Some(page_sized("f"))),
                ]),
                Act::Batch(vec![
                    ("p1", Some(page_sized("A"))),
                    ("q", Some(json!(1))),
                    ("p6", Some(page_sized("F"))),
                ]),
                Act::Put("last", json!(2)),
            ],
            checkpoint_bytes: never,
        },
    ]
}

impl Scenario {
    /// The model after each prefix of the history: `states[i]` after its first `i` steps.
    fn states(&self) -> Vec<Model> {
        let mut model = Model::new();
        let mut states = vec![model.clone()];
        for act in &self.acts {
            match act {
                Act::Put(key, value) => {
                    model.insert(key.to_string(), value.clone());
                }
                Act::Delete(key) => {
                    model.remove(*key);
                }
                Act::Batch(changes) | Act::FailingCommit(changes) => {
                    for (key, value) in changes {
                        match value {
                            Some(value) => model.insert(key.to_string(), value.clone()),
                            None => model.remove(*key),
                        };
                    }
                }
                Act::ForeignWrite(text) => {
                    model = serde_json::from_str(text).unwrap();
                }
                Act::Open(_) | Act::Checkpoint | Act::FailingCheckpoint | Act::CrashFromHere => {
                    continue;
                }
            }
            states.push(model.clone());
        }
        states
    }

    fn options(&self, sim: &SimFs, durability: Durability) -> Options {
        Options::new()
            .durability(durability)
            .fs(Arc::new(sim.clone()))
            .wal_chunk_bytes(1024)
            .checkpoint_bytes(self.checkpoint_bytes)
    }

    fn has_failing_checkpoint(&self) -> bool {
        self.acts
            .iter()
            .any(|act| matches!(act, Act::FailingCheckpoint | Act::FailingCommit(_)))
    }
}

/// How far a run got.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// The steps up to the last one acknowledged in a crash-safe mode (all must survive).
    acked: usize,
    /// The steps started.
    issued: usize,
    /// The mode the database was last opened in (the one to reopen it in).
    durability: Durability,
    /// Operations before [`Act::CrashFromHere`].
    crash_from: u64,
    /// Operations the failing act (checkpoint, or commit and its checkpoint) took.
    checkpoint_ops: u64,
    /// A checkpoint failed and left the store writable: the carry-on path.
    carried_on: bool,
    /// It failed and poisoned the store, which was reopened.
    poisoned: bool,
}

/// Runs `scenario` on `sim` until its end or until the process dies.
fn run(sim: &SimFs, scenario: &Scenario, fault: Option<Fault>) -> Progress {
    let mut progress = Progress {
        acked: 0,
        issued: 0,
        durability: Durability::Wal,
        crash_from: 0,
        checkpoint_ops: 0,
        carried_on: false,
        poisoned: false,
    };
    let mut store: Option<KvStore> = None;
    for act in &scenario.acts {
        let batch = match act {
            Act::Open(durability) => {
                drop(store.take());
                progress.durability = *durability;
                match KvStore::open(PATH, scenario.options(sim, *durability)) {
                    Ok(opened) => store = Some(opened),
                    Err(_) => return progress,
                }
                continue;
            }
            Act::CrashFromHere => {
                progress.crash_from = sim.total_ops();
                continue;
            }
            Act::ForeignWrite(text) => {
                progress.issued += 1;
                let written = sim
                    .open(Path::new(PATH), OpenMode::Truncate { mode: 0o644 })
                    .and_then(|mut file| file.write_all_at(0, text.as_bytes()));
                if written.is_err() {
                    return progress;
                }
                continue;
            }
            Act::Checkpoint => {
                match store.as_mut().map(KvStore::checkpoint) {
                    Some(Ok(())) => {}
                    _ => return progress,
                }
                continue;
            }
            Act::FailingCheckpoint => {
                let Some(current) = store.as_mut() else {
                    return progress;
                };
                let before = sim.total_ops();
                if let Some(fault) = fault {
                    sim.fail(None, fault.nth, fault.error, Repeat::Once);
                }
                let result = current.checkpoint();
                sim.clear_faults();
                progress.checkpoint_ops = sim.total_ops() - before;
                if sim.is_dead() {
                    return progress;
                }
                if result.is_err() {
                    if current.poisoned().is_some() {
                        // The user's next move: reopen, and carry on from there.
                        progress.poisoned = true;
                        drop(store.take());
                        match KvStore::open(PATH, scenario.options(sim, progress.durability)) {
                            Ok(opened) => store = Some(opened),
                            Err(_) => return progress,
                        }
                    } else {
                        progress.carried_on = true;
                    }
                }
                continue;
            }
            Act::Put(key, value) => vec![Mutation::Put {
                key: key.to_string(),
                value: value.clone(),
            }],
            Act::Delete(key) => vec![Mutation::Delete {
                key: key.to_string(),
            }],
            Act::Batch(changes) | Act::FailingCommit(changes) => changes
                .iter()
                .map(|(key, value)| match value {
                    Some(value) => Mutation::Put {
                        key: key.to_string(),
                        value: value.clone(),
                    },
                    None => Mutation::Delete {
                        key: key.to_string(),
                    },
                })
                .collect(),
        };
        let Some(current) = store.as_mut() else {
            return progress;
        };
        progress.issued += 1;
        let failing = matches!(act, Act::FailingCommit(_));
        let before = sim.total_ops();
        if let (true, Some(fault)) = (failing, fault) {
            sim.fail(None, fault.nth, fault.error, Repeat::Once);
        }
        let result = current.apply(batch);
        if failing {
            sim.clear_faults();
            progress.checkpoint_ops = sim.total_ops() - before;
        }
        if result.is_err() {
            return progress;
        }
        // Naive mode's OK promises nothing durable; a crash-safe mode's covers every
        // step before it too.
        if progress.durability != Durability::Naive {
            progress.acked = progress.issued;
        }
        if failing && current.stats().checkpoint_error.is_some() {
            // The commit stands; its automatic checkpoint failed.
            if current.poisoned().is_some() {
                progress.poisoned = true;
                drop(store.take());
                match KvStore::open(PATH, scenario.options(sim, progress.durability)) {
                    Ok(opened) => store = Some(opened),
                    Err(_) => return progress,
                }
            } else {
                progress.carried_on = true;
            }
        }
    }
    progress
}

/// Crashes `scenario` after every operation from its marked point on (with every fault,
/// if it has a failing checkpoint), in every crash mode, and checks the oracle.
fn sweep(scenario: &Scenario, filter: &Filter) -> Tally {
    let mut tally = Tally::default();
    let states = scenario.states();
    // The probe: no fault, no crash.
    let probe = disk();
    let full = run(&probe, scenario, None);
    assert_eq!(
        full.issued,
        states.len() - 1,
        "{}: the probe run stopped early",
        scenario.name
    );
    let reopened = KvStore::open(PATH, scenario.options(&probe, full.durability)).unwrap();
    assert_eq!(
        &contents(&reopened),
        states.last().unwrap(),
        "{}: the probe run did not end at the model's state",
        scenario.name
    );
    drop(reopened);

    let faults: Vec<Option<Fault>> = if scenario.has_failing_checkpoint() {
        assert!(full.checkpoint_ops > 0, "{}", scenario.name);
        let mut faults = Vec::new();
        for nth in 1..=full.checkpoint_ops {
            for error in [FaultError::Enospc, FaultError::Eio] {
                faults.push(Some(Fault { nth, error }));
            }
        }
        faults
    } else {
        vec![None]
    };
    let crashes = filter.crashes();
    let (mut carried_on, mut poisoned) = (0, 0);
    for fault in faults {
        if filter.fault.is_some() && filter.fault != fault {
            continue;
        }
        let fault_probe = disk();
        let finished = run(&fault_probe, scenario, fault);
        carried_on += u64::from(finished.carried_on);
        poisoned += u64::from(finished.poisoned);
        for point in finished.crash_from..=fault_probe.total_ops() {
            if filter.point.is_some_and(|wanted| wanted != point) {
                continue;
            }
            let sim = disk();
            sim.kill_after(point);
            let progress = run(&sim, scenario, fault);
            let subject = Subject::new(progress.durability);
            let run = Run {
                acked: progress.acked,
                issued: progress.issued,
                checkpoints: 0,
            };
            for &(mode, seed) in &crashes {
                let case = Case {
                    durability: progress.durability,
                    workload: scenario.name,
                    point,
                    mode,
                    seed,
                    recovery: None,
                    fault,
                    scenario: true,
                };
                let rebooted = sim.crash(mode, seed);
                if filter.replaying() {
                    println!("{case}\n  file after reboot: {:?}", file_text(&rebooted));
                }
                let outcome = match check(&rebooted, subject, &states, run) {
                    // Nothing acknowledged yet in a crash-safe mode: a file that another
                    // program (or naive mode) never synced may come back empty or torn,
                    // and refusing it loses nothing the engine promised.
                    Err((Violation::Unopenable, _)) if run.acked == 0 => Ok(()),
                    outcome => outcome,
                };
                tally.record(&case, outcome);
            }
        }
    }
    if scenario.has_failing_checkpoint() && !filter.replaying() {
        // The sweep walks the path only if some faults fail the checkpoint cleanly.
        assert!(
            carried_on > 0,
            "{}: no injected fault left the store writable after a failed checkpoint \
             ({poisoned} poisoned it)",
            scenario.name
        );
    }
    tally
}

/// Sweeps the named scenarios (those the filter selects) and asserts no violation.
fn sweep_scenarios(names: &[&str]) {
    let filter = Filter::from_env();
    if filter.durability.is_some() {
        // Replaying a plain workload: none of this.
        return;
    }
    let mut reports = Vec::new();
    let mut swept = 0;
    for scenario in scenarios() {
        if !names.contains(&scenario.name)
            || filter
                .workload
                .as_deref()
                .is_some_and(|name| name != scenario.name)
        {
            continue;
        }
        swept += 1;
        let tally = sweep(&scenario, &filter);
        println!("{}: {}", scenario.name, tally.report());
        assert!(tally.cases > 0, "{}: no case was checked", scenario.name);
        if tally.total() > 0 {
            reports.push(format!("{}: {}", scenario.name, tally.report()));
        }
    }
    assert!(
        swept > 0 || filter.workload.is_some(),
        "no scenario named {names:?}"
    );
    assert!(
        reports.is_empty(),
        "acknowledged data lost or a state no prefix produces:\n{}",
        reports.join("\n")
    );
}

#[test]
fn a_failed_checkpoint_then_more_commits_survives_a_crash_at_every_step() {
    sweep_scenarios(&[
        "failed-identical-checkpoint-then-commits",
        "failed-checkpoint-then-commits",
        "failed-automatic-identical-checkpoint-then-commits",
    ]);
}

#[test]
fn a_checkpoint_that_rewrites_the_same_snapshot_then_more_commits_survives_every_crash() {
    sweep_scenarios(&["identical-checkpoint-then-commits"]);
}

#[test]
fn a_database_written_without_fsync_then_opened_in_wal_mode_survives_a_power_loss() {
    sweep_scenarios(&["foreign-unsynced-file-then-wal", "naive-then-wal"]);
}

#[test]
fn mode_switches_naive_wal_snapshot_survive_a_crash_at_every_step() {
    sweep_scenarios(&["naive-wal-snapshot-wal"]);
}

#[test]
fn group_commits_of_several_pages_survive_reordered_and_garbage_power_loss() {
    sweep_scenarios(&["group-commits-of-several-pages"]);
}

/// The set-ups really are what the scenarios claim, or their sweeps would prove nothing.
#[test]
fn the_scenarios_set_up_what_they_claim() {
    let find = |name: &str| {
        scenarios()
            .into_iter()
            .find(|scenario| scenario.name == name)
            .unwrap()
    };
    // The foreign file and naive mode's file are in the page cache only: a power loss
    // before the wal opens finds no data in them.
    for name in ["foreign-unsynced-file-then-wal", "naive-then-wal"] {
        let scenario = find(name);
        let sim = disk();
        let marker = scenario
            .acts
            .iter()
            .position(|act| matches!(act, Act::CrashFromHere))
            .unwrap();
        let set_up = Scenario {
            name: scenario.name,
            acts: scenario.acts[..marker].to_vec(),
            checkpoint_bytes: scenario.checkpoint_bytes,
        };
        run(&sim, &set_up, None);
        assert!(
            sim.contents(PATH).is_some_and(|bytes| bytes.len() > 2),
            "{name}"
        );
        let after = sim.crash(CrashMode::CleanPowerLoss, 0);
        assert!(
            after.contents(PATH).is_none_or(|bytes| bytes.is_empty()),
            "{name}: the set-up's file is durable"
        );
    }
    // The identical checkpoint writes the snapshot it replaces, byte for byte.
    let sim = disk();
    let scenario = find("identical-checkpoint-then-commits");
    let upto = scenario
        .acts
        .iter()
        .rposition(|act| matches!(act, Act::Checkpoint))
        .unwrap();
    let first = scenario
        .acts
        .iter()
        .position(|act| matches!(act, Act::Checkpoint))
        .unwrap();
    let before = Scenario {
        name: scenario.name,
        acts: scenario.acts[..=first].to_vec(),
        checkpoint_bytes: scenario.checkpoint_bytes,
    };
    run(&sim, &before, None);
    let old = sim.contents(PATH).unwrap();
    let sim = disk();
    let after = Scenario {
        name: scenario.name,
        acts: scenario.acts[..=upto].to_vec(),
        checkpoint_bytes: scenario.checkpoint_bytes,
    };
    let progress = run(&sim, &after, None);
    assert_eq!(progress.issued, 3);
    assert_eq!(sim.contents(PATH).unwrap(), old);
    // And it was taken, not skipped: the log that held the two records was replaced.
    let report = kv_engine::check(PATH, &scenario.options(&sim, Durability::Wal)).unwrap();
    assert!(
        matches!(
            report.log,
            LogState::Valid {
                records: 0,
                base_seq: 3,
                ..
            }
        ),
        "{report:?}"
    );
    // A group commit of the scenario spans several pages of the log.
    let scenario = find("group-commits-of-several-pages");
    let Act::Batch(puts) = &scenario.acts[3] else {
        panic!("{:?}", scenario.acts[3]);
    };
    let bytes: usize = puts
        .iter()
        .map(|(key, value)| key.len() + value.as_ref().map_or(0, |v| v.to_string().len()))
        .sum();
    assert!(bytes as u64 > 2 * PAGE, "{bytes} bytes");
    // And the crash modes the sweep runs include the page-reordering ones.
    let modes: Vec<_> = Filter::everything()
        .crashes()
        .into_iter()
        .map(|(mode, _)| mode)
        .collect();
    assert!(modes.contains(&CrashMode::ReorderPowerLoss));
    assert!(modes.contains(&CrashMode::GarbagePowerLoss));
}

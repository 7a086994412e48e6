//! Crash at every step: each workload is run once on a simulated disk to count its
//! filesystem operations, then again for every k with the process killed after operation
//! k; the disk is rebooted in every crash mode with several seeds, and the recovered store
//! is checked against a `BTreeMap` model. Recovery itself is then crashed at each of its
//! operations and recovered again.
//!
//! The oracle: the store opens, and holds exactly the model after some prefix of the
//! issued mutations that includes every acknowledged one (never a mix, never a value that
//! was not written); a file that is not a JSON object is refused, never read as data (and
//! for a mode claiming crash safety, a refused file is itself a violation); no temp file
//! of a crashed commit is left once the store is open.
//!
//! `MODES` says what each durability mode must show: no violation at all (its ✅ row),
//! or, for Naive, the failures of its ❌ row. The harness proves it can fail: the same
//! sweep on a disk that drops directory fsyncs, file fsyncs or hides directory entries
//! must find violations in Snapshot.
//!
//! The paths a successful workload never walks (a failure the program carries on from,
//! a checkpoint that rewrites the same snapshot, a file nobody fsynced, mode switches,
//! group commits of several pages) are swept in [`paths`], with the same oracle.
//!
//! Environment:
//! - `KV_CRASH_SEEDS=N`: seeds per random crash mode (default 3); raise it for a longer
//!   sweep. (Seeds 0 and 1 of `reorder` and `garbage` are fixed shapes, so 3 seeds try
//!   one drawn at random; more seeds try more.)
//! - `KV_CRASH_DURABILITY`, `KV_CRASH_WORKLOAD`, `KV_CRASH_POINT`, `KV_CRASH_MODE`,
//!   `KV_CRASH_SEED`, `KV_CRASH_FAULT` (a path's injected fault, `N:enospc` or `N:eio`):
//!   run only the matching cases (a failure prints the line to paste), and print each
//!   one's recovered file.

mod simdisk;
// The paths a plain workload does not walk (failures carried on from, mode switches,
// foreign unsynced files, group commits); it shares this file's oracle and tally.
#[path = "crash/paths.rs"]
mod paths;
// The install that `save` writes a database with: old or new after a crash at every step.
#[path = "crash/install.rs"]
mod install;

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kv_engine::files::TEMP_MARKER;
use kv_engine::fs::sim::OpKind;
use kv_engine::fs::{CrashMode, Fs, FsFile, FsLock, Metadata, OpenMode, SimFs};
use kv_engine::{CrashAction, CrashPoint, Durability, Error, KvStore, Options};
use serde_json::{Value, json};

use simdisk::{Model, PATH, contents, disk, file_text, open, options};

/// The modes the sweep runs, and what it must find. A new mode is one line here.
const MODES: &[(Durability, Expect)] = &[
    (Durability::Naive, Expect::Violations),
    (Durability::Snapshot, Expect::Safe),
    (Durability::Wal, Expect::Safe),
];

/// What the sweep of a mode must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Every crash point recovers a valid prefix (a ✅ row).
    Safe,
    /// Some crash points lose acknowledged data or leave a corrupt file (a ❌ row).
    Violations,
}

#[derive(Debug, Clone)]
enum Step {
    Put(&'static str, Value),
    Delete(&'static str),
    /// Drop the store and open it again.
    Reopen,
    /// The kernel writes its page cache back: everything written becomes durable.
    Writeback,
    /// `checkpoint` (wal: fold the log into a new snapshot; other modes: nothing to do).
    Checkpoint,
    /// A transaction of puts (`Some`) and deletes (`None`): one mutation of the history,
    /// all of it or none of it.
    Transaction(Vec<(&'static str, Option<Value>)>),
}

struct Workload {
    name: &'static str,
    steps: Vec<Step>,
}

/// Small workloads: CrashMonkey found most crash bugs need three operations or fewer.
fn workloads() -> Vec<Workload> {
    // Several sectors, so a torn write can land part of it.
    let big = |fill: &str| Value::String(fill.repeat(1500));
    // Two sectors: three of them in one commit span several of the sweep's 1 KiB chunks.
    let page = |fill: &str| Value::String(fill.repeat(350));
    vec![
        Workload {
            name: "a-few-puts",
            steps: vec![
                Step::Put("a", json!(1)),
                Step::Put("b", json!({"x": [1, 2]})),
                Step::Put("c", json!("three")),
            ],
        },
        Workload {
            name: "put-delete-put",
            steps: vec![
                Step::Put("k", json!("first")),
                Step::Delete("k"),
                Step::Put("k", json!("second")),
            ],
        },
        Workload {
            name: "overwrite-large-value",
            steps: vec![
                Step::Put("small", json!(0)),
                Step::Put("big", big("ab")),
                Step::Put("big", big("XY")),
            ],
        },
        Workload {
            // The same after the kernel flushed the first value: an in-place rewrite
            // torn by a power loss can now mix old and new bytes.
            name: "overwrite-large-value-after-writeback",
            steps: vec![
                Step::Put("big", big("ab")),
                Step::Writeback,
                Step::Put("big", big("XY")),
            ],
        },
        Workload {
            // Small values, so the log stays under the threshold until the checkpoint
            // folds it; the writes after it go to the fresh log.
            name: "checkpoint-in-the-middle",
            steps: vec![
                Step::Put("a", json!(1)),
                Step::Put("b", json!({"x": 2})),
                Step::Checkpoint,
                Step::Put("a", json!(10)),
                Step::Delete("b"),
            ],
        },
        Workload {
            // The money transfer: no crash may leave it half moved.
            name: "transfer-in-a-transaction",
            steps: vec![
                Step::Transaction(vec![("alice", Some(json!(100))), ("bob", Some(json!(0)))]),
                Step::Transaction(vec![
                    ("alice", Some(json!(70))),
                    ("bob", Some(json!(30))),
                    ("pending", Some(json!("transfer 1"))),
                ]),
                Step::Transaction(vec![
                    ("pending", None),
                    ("alice", Some(json!(40))),
                    ("bob", Some(json!(60))),
                ]),
            ],
        },
        Workload {
            // One commit over many sectors and several of the log's 1 KiB chunks (wal),
            // or one large snapshot: a torn or reordered write must not show part of it.
            name: "transaction-across-pages-and-chunks",
            steps: vec![
                Step::Put("a", json!(0)),
                Step::Transaction(vec![
                    ("a", Some(page("a1"))),
                    ("b", Some(page("b1"))),
                    ("c", Some(page("c1"))),
                    ("a", None),
                ]),
            ],
        },
        Workload {
            name: "reopen-then-write",
            steps: vec![
                Step::Put("a", json!(1)),
                Step::Put("b", json!(2)),
                Step::Reopen,
                Step::Put("a", json!(10)),
                Step::Delete("b"),
            ],
        },
    ]
}

impl Workload {
    /// The model after each prefix of the mutations: `states[i]` after the first `i`.
    fn states(&self) -> Vec<Model> {
        let mut model = Model::new();
        let mut states = vec![model.clone()];
        for step in &self.steps {
            match step {
                Step::Put(key, value) => {
                    model.insert(key.to_string(), value.clone());
                }
                Step::Delete(key) => {
                    model.remove(*key);
                }
                Step::Transaction(ops) => {
                    for (key, value) in ops {
                        match value {
                            Some(value) => model.insert(key.to_string(), value.clone()),
                            None => model.remove(*key),
                        };
                    }
                }
                Step::Reopen | Step::Writeback | Step::Checkpoint => continue,
            }
            states.push(model.clone());
        }
        states
    }
}

/// The store under test: a durability mode on the simulated disk, seen through `fs`
/// (the disk itself, or a deliberately broken wrapper for the harness's self-tests).
#[derive(Clone, Copy)]
struct Subject {
    durability: Durability,
    fs: fn(&SimFs) -> Arc<dyn Fs>,
}

impl Subject {
    fn new(durability: Durability) -> Self {
        Subject {
            durability,
            fs: |sim| Arc::new(sim.clone()),
        }
    }

    fn open(&self, sim: &SimFs) -> kv_engine::Result<KvStore> {
        let options = Options::new()
            .durability(self.durability)
            .fs((self.fs)(sim))
            // Wal: small chunks, and a threshold the workloads pass, so that the sweep
            // crashes inside log growth and checkpoints too.
            .wal_chunk_bytes(1024)
            .checkpoint_bytes(256);
        KvStore::open(PATH, options)
    }
}

/// How far a run got before the process died.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Mutations that returned `Ok`.
    acked: usize,
    /// Mutations started (the last one may have been cut short).
    issued: usize,
    /// Checkpoints the stores took (automatic and asked for), counted as each is dropped.
    checkpoints: u64,
}

/// Runs `workload` on `sim` until the end or the first error (the process dying).
fn run(sim: &SimFs, subject: Subject, workload: &Workload) -> Run {
    let mut progress = Run {
        acked: 0,
        issued: 0,
        checkpoints: 0,
    };
    let Ok(mut store) = subject.open(sim) else {
        return progress;
    };
    for step in &workload.steps {
        let result = match step {
            Step::Reopen => {
                progress.checkpoints += store.stats().checkpoints;
                drop(store);
                match subject.open(sim) {
                    Ok(reopened) => store = reopened,
                    Err(_) => return progress,
                }
                continue;
            }
            Step::Writeback => {
                sim.writeback();
                continue;
            }
            Step::Checkpoint => {
                // A failed checkpoint is the process dying mid-way: stop here.
                if store.checkpoint().is_err() {
                    return progress;
                }
                continue;
            }
            Step::Put(key, value) => {
                progress.issued += 1;
                store.put(*key, value.clone())
            }
            Step::Delete(key) => {
                progress.issued += 1;
                store.delete(key).map(|_| ())
            }
            Step::Transaction(ops) => {
                progress.issued += 1;
                let mut tx = store.transaction();
                for (key, value) in ops {
                    match value {
                        Some(value) => tx.put(*key, value.clone()).map(|_| ()),
                        None => {
                            tx.delete(key);
                            Ok(())
                        }
                    }
                    .unwrap_or_else(|err| panic!("queueing {key}: {err}"));
                }
                tx.commit().map(|_| ())
            }
        };
        if result.is_err() {
            return progress;
        }
        progress.acked += 1;
    }
    progress.checkpoints += store.stats().checkpoints;
    progress
}

/// One crash: where, how, and (optionally) a second crash during the recovery.
#[derive(Debug, Clone, Copy)]
struct Case {
    durability: Durability,
    workload: &'static str,
    point: u64,
    mode: CrashMode,
    seed: u64,
    recovery: Option<(u64, CrashMode, u64)>,
    /// A path's injected fault (`paths`), which the replay must repeat.
    fault: Option<paths::Fault>,
    /// Whether `workload` names one of `paths`'s scenarios, which switch durability
    /// modes themselves (so the replay line names none).
    scenario: bool,
}

impl Case {
    /// The crash that decided what survived: a process kill keeps the kernel's unsynced
    /// state, so when recovery from it crashes again, the second crash decides.
    fn deciding_mode(&self) -> CrashMode {
        match self.recovery {
            Some((_, second, _)) if self.mode == CrashMode::ProcessKill => second,
            _ => self.mode,
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "durability={} workload={} crash after op {} mode={} seed={}",
            self.durability, self.workload, self.point, self.mode, self.seed
        )?;
        if let Some((point, mode, seed)) = self.recovery {
            write!(
                f,
                ", then recovery crashed after op {point} mode={mode} seed={seed}"
            )?;
        }
        // A kill ignores its seed: after one, the seed to replay is the recovery crash's.
        let seed = match self.recovery {
            Some((_, _, seed)) if !self.mode.is_random() => seed,
            _ => self.seed,
        };
        if let Some(fault) = self.fault {
            write!(f, ", with {fault}")?;
        }
        f.write_str("\n  replay: ")?;
        if !self.scenario {
            write!(f, "KV_CRASH_DURABILITY={} ", self.durability)?;
        }
        if let Some(fault) = self.fault {
            write!(f, "KV_CRASH_FAULT={} ", fault.spec())?;
        }
        write!(
            f,
            "KV_CRASH_WORKLOAD={} KV_CRASH_POINT={} KV_CRASH_MODE={} KV_CRASH_SEED={seed} \
             cargo test --test crash",
            self.workload, self.point, self.mode
        )
    }
}

/// What went wrong in one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Violation {
    /// The store did not open (a corrupt file, refused as it must be).
    Unopenable,
    /// It opened at an earlier state: acknowledged mutations are gone.
    LostAcknowledged,
    /// It opened at a state no prefix of the mutations produces (a mix, or a value
    /// never written).
    NotAPrefix,
    /// It opened although the file is not a JSON object: a corrupt file read as data.
    CorruptAccepted,
    /// It opened and left a temp file of a crashed commit behind.
    StrayTemp,
}

/// Opens the store on the rebooted disk and checks the oracle.
fn check(
    rebooted: &SimFs,
    subject: Subject,
    states: &[Model],
    run: Run,
) -> Result<(), (Violation, String)> {
    let store = subject
        .open(rebooted)
        .map_err(|err| (Violation::Unopenable, err.to_string()))?;
    let found = contents(&store);
    if let Some(bytes) = rebooted.contents(PATH)
        && serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes).is_err()
    {
        let text = String::from_utf8_lossy(&bytes);
        return Err((
            Violation::CorruptAccepted,
            format!("opened {text:?} as {found:?}"),
        ));
    }
    let temp_prefix = format!("{PATH}{TEMP_MARKER}");
    if let Some(temp) = rebooted
        .files()
        .into_iter()
        .find(|file| file.to_string_lossy().starts_with(&temp_prefix))
    {
        return Err((Violation::StrayTemp, format!("{} is left", temp.display())));
    }
    if states[run.acked..=run.issued].contains(&found) {
        return Ok(());
    }
    let violation = if states[..run.acked].contains(&found) {
        Violation::LostAcknowledged
    } else {
        Violation::NotAPrefix
    };
    Err((
        violation,
        format!(
            "recovered {}; acknowledged {} of {} issued mutations; allowed states [{}]",
            brief(&found),
            run.acked,
            run.issued,
            states[run.acked..=run.issued]
                .iter()
                .map(brief)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// A model as compact JSON, each long value cut to its first characters and its length,
/// so that a failure with page-sized values stays readable.
fn brief(model: &Model) -> String {
    let entries: Vec<String> = model
        .iter()
        .map(|(key, value)| {
            let text = value.to_string();
            let shown = match text.char_indices().nth(24) {
                Some((cut, _)) => format!("{}...({} chars)", &text[..cut], text.chars().count()),
                None => text,
            };
            format!("{key:?}: {shown}")
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Which cases to run: all by default, or those the environment names.
struct Filter {
    durability: Option<String>,
    workload: Option<String>,
    point: Option<u64>,
    mode: Option<String>,
    seed: Option<u64>,
    seeds: u64,
    /// `KV_CRASH_FAULT`: only the paths' cases with this injected fault.
    fault: Option<paths::Fault>,
    /// The crash modes swept (all of them, but in the harness's self-tests).
    modes: &'static [CrashMode],
}

impl Filter {
    fn from_env() -> Self {
        let var = |name: &str| env::var(name).ok().filter(|value| !value.is_empty());
        let number = |name: &str| {
            var(name).map(|value| {
                value
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}={value} is not a number"))
            })
        };
        let filter = Filter {
            durability: var("KV_CRASH_DURABILITY"),
            workload: var("KV_CRASH_WORKLOAD"),
            point: number("KV_CRASH_POINT"),
            mode: var("KV_CRASH_MODE"),
            seed: number("KV_CRASH_SEED"),
            seeds: number("KV_CRASH_SEEDS").unwrap_or(3).max(1),
            fault: var("KV_CRASH_FAULT").map(|spec| {
                spec.parse()
                    .unwrap_or_else(|err| panic!("KV_CRASH_FAULT={spec}: {err}"))
            }),
            modes: &CrashMode::ALL,
        };
        // A misspelt name would select nothing and pass: refuse it instead.
        if let Some(name) = &filter.durability
            && let Err(err) = name.parse::<Durability>()
        {
            panic!("KV_CRASH_DURABILITY: {err}");
        }
        if let Some(name) = &filter.mode
            && let Err(err) = name.parse::<CrashMode>()
        {
            panic!("KV_CRASH_MODE: {err}");
        }
        if let Some(name) = &filter.workload {
            let names: Vec<_> = workloads()
                .iter()
                .map(|workload| workload.name)
                .chain(paths::scenarios().iter().map(|scenario| scenario.name))
                .chain(install::scenarios().iter().map(|scenario| scenario.name))
                .collect();
            assert!(
                names.contains(&name.as_str()),
                "KV_CRASH_WORKLOAD={name} is none of {names:?}"
            );
        }
        filter
    }

    /// Every case, with the default seeds: for the harness's self-tests, whatever the
    /// environment says.
    fn everything() -> Self {
        Filter {
            durability: None,
            workload: None,
            point: None,
            mode: None,
            seed: None,
            seeds: 3,
            fault: None,
            modes: &CrashMode::ALL,
        }
    }

    /// As [`Filter::everything`], in the four modes that predate the page-reordering
    /// ones: enough for the harness's self-tests to show that a lying disk is caught.
    fn older_modes() -> Self {
        Filter {
            modes: &[
                CrashMode::ProcessKill,
                CrashMode::CleanPowerLoss,
                CrashMode::RandomPowerLoss,
                CrashMode::TornPowerLoss,
            ],
            ..Filter::everything()
        }
    }

    /// Whether the filter selects one of `paths`'s scenarios (so no plain workload).
    fn names_a_scenario(&self) -> bool {
        self.fault.is_some()
            || self.workload.as_deref().is_some_and(|name| {
                paths::scenarios()
                    .iter()
                    .map(|scenario| scenario.name)
                    .chain(install::scenarios().iter().map(|scenario| scenario.name))
                    .any(|scenario| scenario == name)
            })
    }

    fn replaying(&self) -> bool {
        self.durability.is_some()
            || self.workload.is_some()
            || self.point.is_some()
            || self.mode.is_some()
            || self.seed.is_some()
            || self.fault.is_some()
    }

    /// The seeds of a random crash: the one replayed, or the sweep's.
    fn random_seeds(&self) -> Vec<u64> {
        match self.seed {
            Some(seed) => vec![seed],
            None => (0..self.seeds).collect(),
        }
    }

    /// The (mode, seed) pairs to crash with.
    fn crashes(&self) -> Vec<(CrashMode, u64)> {
        let mut crashes = Vec::new();
        for &mode in self.modes {
            if self.mode.as_deref().is_some_and(|name| name != mode.name()) {
                continue;
            }
            match (mode.is_random(), self.seed) {
                // The seed changes nothing: one crash is the whole story.
                (false, seed) => crashes.push((mode, seed.unwrap_or(0))),
                // Replaying: exactly that seed, however many the sweep ran.
                (true, _) => {
                    crashes.extend(self.random_seeds().into_iter().map(|seed| (mode, seed)))
                }
            }
        }
        crashes
    }
}

/// What a sweep found.
#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    /// Keyed by the crash that decided what survived (`Case::deciding_mode`).
    violations: BTreeMap<(Violation, CrashMode), u64>,
    /// The first case of each kind of violation (so one frequent kind cannot hide the
    /// others), in the order found.
    examples: Vec<String>,
}

/// Threads each mode's sweep splits its crash points between.
const SWEEP_THREADS: usize = 2;

impl Tally {
    /// Adds `other`'s cases and violations (its examples after this one's).
    fn merge(&mut self, other: Tally) {
        self.cases += other.cases;
        for (key, count) in other.violations {
            let mine = self.violations.entry(key).or_insert(0);
            if *mine == 0 {
                self.examples.extend(
                    other
                        .examples
                        .iter()
                        .filter(|example| example.starts_with(&format!("{:?}:", key.0)))
                        .take(1)
                        .cloned(),
                );
            }
            *mine += count;
        }
    }

    fn record(&mut self, case: &Case, outcome: Result<(), (Violation, String)>) {
        self.cases += 1;
        if let Err((violation, detail)) = outcome {
            let count = self
                .violations
                .entry((violation, case.deciding_mode()))
                .or_insert(0);
            *count += 1;
            if *count == 1 {
                self.examples
                    .push(format!("{violation:?}: {case}\n  {detail}"));
            }
        }
    }

    fn total(&self) -> u64 {
        self.violations.values().sum()
    }

    fn count(&self, wanted: impl Fn(Violation, CrashMode) -> bool) -> u64 {
        self.violations
            .iter()
            .filter(|((violation, mode), _)| wanted(*violation, *mode))
            .map(|(_, count)| count)
            .sum()
    }

    fn report(&self) -> String {
        format!(
            "{} cases, {} violations {:?}\nthe first of each kind:\n{}",
            self.cases,
            self.total(),
            self.violations,
            self.examples.join("\n")
        )
    }
}

/// Crashes every workload of `subject` after each of its operations, in every mode.
fn sweep(subject: Subject, filter: &Filter) -> Tally {
    let durability = subject.durability;
    let mut tally = Tally::default();
    if filter
        .durability
        .as_deref()
        .is_some_and(|name| name != durability.name())
    {
        return tally;
    }
    let crashes = filter.crashes();
    let (mut checkpoints, mut asked) = (0, 0);
    for workload in workloads() {
        if filter
            .workload
            .as_deref()
            .is_some_and(|name| name != workload.name)
        {
            continue;
        }
        let states = workload.states();

        // The probe: the whole workload with no crash, to count its operations.
        let probe = disk();
        let full = run(&probe, subject, &workload);
        assert_eq!(
            full.acked,
            states.len() - 1,
            "{}: the probe run failed",
            workload.name
        );
        let operations = probe.total_ops();
        assert!(operations > 0);
        checkpoints += full.checkpoints;
        asked += workload
            .steps
            .iter()
            .filter(|step| matches!(step, Step::Checkpoint))
            .count() as u64;

        // The crash points are independent: split them between two threads (this is the
        // suite's longest test), each with a tally of its own.
        let sweep_points = |first: u64| {
            let mut tally = Tally::default();
            for point in (first..=operations).step_by(SWEEP_THREADS) {
                if filter.point.is_some_and(|wanted| wanted != point) {
                    continue;
                }
                let sim = disk();
                sim.kill_after(point);
                let progress = run(&sim, subject, &workload);
                for &(mode, seed) in &crashes {
                    let case = Case {
                        durability,
                        workload: workload.name,
                        point,
                        mode,
                        seed,
                        recovery: None,
                        fault: None,
                        scenario: false,
                    };
                    let rebooted = sim.crash(mode, seed);
                    if filter.replaying() {
                        println!("{case}\n  file after reboot: {:?}", file_text(&rebooted));
                    }
                    let outcome = check(&rebooted.fork(), subject, &states, progress);
                    let recovered = outcome.is_ok();
                    tally.record(&case, outcome);
                    if recovered {
                        let seeds = filter.random_seeds();
                        let again = Again {
                            states: &states,
                            progress,
                            seeds: &seeds,
                            modes: filter.modes,
                        };
                        crash_during_recovery(&rebooted, subject, case, &again, &mut tally);
                    }
                }
            }
            tally
        };
        let tallies: Vec<Tally> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..SWEEP_THREADS as u64)
                .map(|first| scope.spawn(move || sweep_points(first)))
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for part in tallies {
            tally.merge(part);
        }
    }
    // The sweep crashes inside checkpoints only if the probe took some: the one asked
    // for, and at least one that the threshold started (the large values pass it).
    if durability == Durability::Wal && filter.workload.is_none() {
        assert!(
            checkpoints > asked,
            "wal: the probe runs took {checkpoints} checkpoints, {asked} of them asked for: \
             the sweep no longer crashes inside automatic checkpoints"
        );
    }
    tally
}

/// What a crash during recovery is checked against.
struct Again<'a> {
    states: &'a [Model],
    progress: Run,
    /// Seeds for a random second crash after a process kill (which has no seed of its own).
    seeds: &'a [u64],
    /// The modes of the second crash.
    modes: &'a [CrashMode],
}

/// Crashes the recovery of `rebooted` after each of its operations, reboots, recovers
/// again, and checks the same oracle.
fn crash_during_recovery(
    rebooted: &SimFs,
    subject: Subject,
    case: Case,
    again: &Again<'_>,
    tally: &mut Tally,
) {
    let probe = rebooted.fork();
    let before = probe.total_ops();
    drop(subject.open(&probe));
    let operations = probe.total_ops() - before;
    for point in 0..operations {
        let sim = rebooted.fork();
        sim.kill_after(point);
        assert!(
            subject.open(&sim).is_err(),
            "{case}: recovery finished within {point} of its {operations} operations"
        );
        // After a random first crash its seed is reused (the outer sweep varies it);
        // after a kill, which has no seed, a random second crash gets every seed.
        for &mode in again.modes {
            if !worth_a_second_crash(case.mode, mode) {
                continue;
            }
            let seeds = match (mode.is_random(), case.mode.is_random()) {
                (true, false) => again.seeds.to_vec(),
                _ => vec![case.seed],
            };
            for seed in seeds {
                let twice = Case {
                    recovery: Some((point, mode, seed)),
                    ..case
                };
                let crashed = sim.crash(mode, seed);
                let outcome = check(&crashed, subject, again.states, again.progress);
                tally.record(&twice, outcome);
            }
        }
    }
}

/// Whether a recovery from a `first` crash is crashed again in mode `second`. After a kill
/// (which decides nothing: the kernel's unsynced state lives on) every mode; after a power
/// loss, the four older modes, and a page-reordering mode (`reorder`, `garbage`) only
/// after itself. A reordering second crash after some other power loss adds little that
/// the same crash after a kill does not cover, and would cost the sweep a third more time.
fn worth_a_second_crash(first: CrashMode, second: CrashMode) -> bool {
    let reorders = |mode| {
        matches!(
            mode,
            CrashMode::ReorderPowerLoss | CrashMode::GarbagePowerLoss
        )
    };
    first == CrashMode::ProcessKill || !reorders(second) || first == second
}

/// Runs the sweep of every mode in [`MODES`] matching `expect`, and checks its verdict.
fn sweep_modes(expect: Expect) {
    let filter = Filter::from_env();
    // One thread per mode: the sweeps share nothing, and the longest test of the suite
    // then takes the time of its longest mode rather than the sum.
    let modes: Vec<(Durability, Expect)> = MODES
        .iter()
        .copied()
        .filter(|(_, e)| *e == expect)
        .collect();
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let sweeps: Vec<_> = modes
            .iter()
            .map(|&(durability, _)| {
                let filter = &filter;
                scope.spawn(move || sweep(Subject::new(durability), filter))
            })
            .collect();
        sweeps
            .into_iter()
            .map(|sweep| {
                sweep
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for (&(durability, expected), tally) in modes.iter().zip(tallies) {
        println!("{durability}: {}", tally.report());
        let filtered_out = filter
            .durability
            .as_deref()
            .is_some_and(|name| name != durability.name())
            || filter.names_a_scenario();
        assert!(
            filtered_out || tally.cases > 0,
            "{durability}: no case matched the filter, so nothing was checked"
        );
        match expected {
            Expect::Safe => assert_eq!(
                tally.total(),
                0,
                "{durability} must survive a crash at every step:\n{}",
                tally.report()
            ),
            Expect::Violations if filter.replaying() => {}
            Expect::Violations => {
                // Its ❌ rows: a process kill mid-commit corrupts the file, and a power loss
                // also loses acknowledged data.
                let killed = tally
                    .count(|v, mode| mode == CrashMode::ProcessKill && v == Violation::Unopenable);
                let lost = tally.count(|v, mode| {
                    mode != CrashMode::ProcessKill && v == Violation::LostAcknowledged
                });
                let corrupt = tally
                    .count(|v, mode| mode != CrashMode::ProcessKill && v == Violation::Unopenable);
                assert!(
                    killed > 0 && lost > 0 && corrupt > 0,
                    "the sweep should catch {durability} losing or corrupting data:\n{}",
                    tally.report()
                );
            }
        }
    }
}

#[test]
fn crash_safe_modes_recover_a_valid_prefix_after_a_crash_at_every_step() {
    sweep_modes(Expect::Safe);
}

#[test]
fn naive_mode_loses_or_corrupts_data_at_some_crash_points() {
    sweep_modes(Expect::Violations);
}

#[test]
fn the_model_and_the_probe_agree_without_a_crash() {
    for &(durability, _) in MODES {
        for workload in workloads() {
            let sim = disk();
            let progress = run(&sim, Subject::new(durability), &workload);
            let states = workload.states();
            assert_eq!(progress.acked, states.len() - 1);
            let store = open(&sim, durability).unwrap();
            assert_eq!(
                &contents(&store),
                states.last().unwrap(),
                "{}",
                workload.name
            );
        }
    }
}

/// A disk that lies about syncs, as some drives and virtual disks do: the harness must
/// catch the snapshot protocol losing data on it, or its ✅ would prove nothing.
#[derive(Debug)]
struct LyingDisk {
    sim: SimFs,
    skips_dir_sync: bool,
    skips_file_sync: bool,
    /// `list_dir` finds nothing, so open cannot see (and remove) stray temp files.
    hides_entries: bool,
}

#[derive(Debug)]
struct LyingFile {
    file: Box<dyn FsFile>,
    skips_sync: bool,
}

impl Fs for LyingDisk {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.sim.read(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(LyingFile {
            file: self.sim.open(path, mode)?,
            skips_sync: self.skips_file_sync,
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.sim.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.sim.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.skips_dir_sync {
            return Ok(());
        }
        self.sim.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        if self.hides_entries {
            return Ok(Vec::new());
        }
        self.sim.list_dir(dir)
    }
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        self.sim.metadata(path)
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        self.sim.resolve(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        self.sim.lock(path)
    }
}

impl FsFile for LyingFile {
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(offset, buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        if self.skips_sync {
            return Ok(());
        }
        self.file.sync_data()
    }
    fn sync_all(&mut self) -> io::Result<()> {
        if self.skips_sync {
            return Ok(());
        }
        self.file.sync_all()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.file.size()
    }
}

#[test]
fn the_sweep_catches_a_snapshot_whose_directory_fsync_is_lost() {
    let subject = Subject {
        durability: Durability::Snapshot,
        fs: |sim| {
            Arc::new(LyingDisk {
                sim: sim.clone(),
                skips_dir_sync: true,
                skips_file_sync: false,
                hides_entries: false,
            })
        },
    };
    let tally = sweep(subject, &Filter::older_modes());
    // The renamed file never becomes durable: a power loss brings the old one back.
    let lost =
        tally.count(|v, mode| v == Violation::LostAcknowledged && mode != CrashMode::ProcessKill);
    assert!(lost > 0, "{}", tally.report());
    assert_eq!(
        tally.count(|_, mode| mode == CrashMode::ProcessKill),
        0,
        "{}",
        tally.report()
    );
}

#[test]
fn the_sweep_catches_a_snapshot_whose_file_fsync_is_lost() {
    let subject = Subject {
        durability: Durability::Snapshot,
        fs: |sim| {
            Arc::new(LyingDisk {
                sim: sim.clone(),
                skips_dir_sync: false,
                skips_file_sync: true,
                hides_entries: false,
            })
        },
    };
    let tally = sweep(subject, &Filter::older_modes());
    // The rename is durable before the data (ext4's zero-length files of 2009).
    let corrupt =
        tally.count(|v, mode| v == Violation::Unopenable && mode != CrashMode::ProcessKill);
    assert!(corrupt > 0, "{}", tally.report());
}

#[test]
fn the_sweep_catches_stray_temp_files_left_after_recovery() {
    let subject = Subject {
        durability: Durability::Snapshot,
        fs: |sim| {
            Arc::new(LyingDisk {
                sim: sim.clone(),
                skips_dir_sync: false,
                skips_file_sync: false,
                hides_entries: true,
            })
        },
    };
    let tally = sweep(subject, &Filter::older_modes());
    assert!(
        tally.count(|v, _| v == Violation::StrayTemp) > 0,
        "{}",
        tally.report()
    );
}

/// The naive mode's worst case, which the sweep's few seeds need not hit: a torn power
/// loss during an in-place rewrite leaves a file that parses, holding a value that was
/// never written (the first sectors new, the rest old).
#[test]
fn naive_mode_can_recover_a_value_that_was_never_written() {
    let workload = workloads()
        .into_iter()
        .find(|workload| workload.name == "overwrite-large-value-after-writeback")
        .unwrap();
    let states = workload.states();
    let sim = disk();
    let progress = run(&sim, Subject::new(Durability::Naive), &workload);
    let mixed = (0..500).find(|&seed| {
        let rebooted = sim.crash(CrashMode::TornPowerLoss, seed);
        let outcome = check(
            &rebooted,
            Subject::new(Durability::Naive),
            &states,
            progress,
        );
        matches!(outcome, Err((Violation::NotAPrefix, _)))
    });
    let seed = mixed.expect("no seed tore the rewrite into a mix of old and new");
    let store = open(
        &sim.crash(CrashMode::TornPowerLoss, seed),
        Durability::Naive,
    )
    .unwrap();
    let Some(Value::String(big)) = store.get("big") else {
        panic!("seed {seed}: {:?}", contents(&store));
    };
    assert!(
        big.starts_with("XY") && big.ends_with("ab"),
        "seed {seed}: {big}"
    );
}

/// What a reboot finds in key `a`: `None` for a file refused as corrupt.
type Found = Option<Option<Value>>;

/// The crash buttons with [`CrashAction::Halt`]: the commit stops dead, the store refuses
/// writes, and the disk shows what a crash at that point leaves.
#[test]
fn armed_crash_points_halt_the_commit_on_a_simulated_disk() {
    // (point, after a process kill, after a clean power loss), with `a` = 1 committed
    // before and `a` = 2 being committed when the point is reached.
    let cases: [(CrashPoint, Found, Found); 4] = [
        // Naive never syncs: even the acknowledged 1 is gone after a power loss.
        (CrashPoint::MidWrite, None, Some(None)),
        (
            CrashPoint::AfterTempWrite,
            Some(Some(json!(1))),
            Some(Some(json!(1))),
        ),
        (
            CrashPoint::AfterTempSync,
            Some(Some(json!(1))),
            Some(Some(json!(1))),
        ),
        (
            CrashPoint::AfterRename,
            Some(Some(json!(2))),
            Some(Some(json!(1))),
        ),
    ];
    for (point, after_kill, after_power_loss) in cases {
        let durability = point.durability();
        let sim = disk();
        let options = options(&sim, durability).crash_action(CrashAction::Halt);
        let mut store = KvStore::open(PATH, options).unwrap();
        store.put("a", json!(1)).unwrap();
        store.arm_crash(point).unwrap();
        let dir_syncs = sim.count(OpKind::SyncDir);

        let err = store.put("a", json!(2)).unwrap_err();
        assert!(
            matches!(err, Error::Crashed { point: reached, .. } if reached == point),
            "{point}: {err}"
        );
        assert_eq!(
            sim.count(OpKind::SyncDir),
            dir_syncs,
            "{point}: the commit went on"
        );
        assert_eq!(store.get("a"), Some(json!(1)), "{point}");
        let refused = store.put("b", json!(3));
        assert!(
            matches!(refused, Err(Error::Poisoned { .. })),
            "{point}: {refused:?}"
        );
        drop(store);

        for (mode, expected) in [
            (CrashMode::ProcessKill, after_kill),
            (CrashMode::CleanPowerLoss, after_power_loss),
        ] {
            let found: Found = match open(&sim.crash(mode, 0), durability) {
                Ok(store) => Some(store.get("a")),
                Err(Error::Syntax { .. }) => None,
                Err(err) => panic!("{point} {mode}: {err}"),
            };
            assert_eq!(found, expected, "{point} {mode}");
        }
    }
}

/// A kill between a commit's rename and its directory fsync leaves the new value visible
/// but not durable. Whatever recovery shows must then stay: open makes the directory
/// durable, so a power loss after the recovery cannot bring the older value back.
#[test]
fn what_recovery_shows_survives_a_later_power_loss() {
    snapshot_recovery_shows_only_what_survives_a_power_loss();
    wal_recovery_shows_only_what_survives_a_power_loss();
}

/// The same in wal mode: a kill after a commit's records were written but before their
/// fdatasync leaves them in the page cache, and recovery replays them. It must make them
/// durable before serving them, or a power loss after the reopen takes back values the
/// store has shown (and that a transaction's reader may have acted on).
#[allow(clippy::unwrap_used)] // a test's helper: a panic is the failure
fn wal_recovery_shows_only_what_survives_a_power_loss() {
    let sim = disk();
    let options = options(&sim, Durability::Wal).crash_action(CrashAction::Halt);
    let mut store = KvStore::open(PATH, options).unwrap();
    store.put("alice", json!(100)).unwrap();
    store.put("bob", json!(0)).unwrap();
    store.arm_crash(CrashPoint::AfterAppend).unwrap();
    let mut tx = store.transaction();
    tx.put("alice", json!(70)).unwrap();
    tx.put("bob", json!(30)).unwrap();
    let err = tx.commit().unwrap_err();
    assert!(matches!(err, Error::Crashed { .. }), "{err}");
    drop(store);

    let rebooted = sim.crash(CrashMode::ProcessKill, 0);
    let shown = contents(&open(&rebooted, Durability::Wal).unwrap());
    let after_power_loss = contents(
        &open(
            &rebooted.crash(CrashMode::CleanPowerLoss, 0),
            Durability::Wal,
        )
        .unwrap(),
    );
    assert_eq!(after_power_loss, shown);
}

#[allow(clippy::unwrap_used)] // a test's helper: a panic is the failure
fn snapshot_recovery_shows_only_what_survives_a_power_loss() {
    let sim = disk();
    let options = options(&sim, Durability::Snapshot).crash_action(CrashAction::Halt);
    let mut store = KvStore::open(PATH, options).unwrap();
    store.put("a", json!(1)).unwrap();
    store.arm_crash(CrashPoint::AfterRename).unwrap();
    let err = store.put("a", json!(2)).unwrap_err();
    assert!(matches!(err, Error::Crashed { .. }), "{err}");
    drop(store);

    let rebooted = sim.crash(CrashMode::ProcessKill, 0);
    let recovered = open(&rebooted, Durability::Snapshot).unwrap();
    assert_eq!(recovered.get("a"), Some(json!(2)));
    drop(recovered);

    let after_power_loss = open(
        &rebooted.crash(CrashMode::CleanPowerLoss, 0),
        Durability::Snapshot,
    )
    .unwrap();
    assert_eq!(after_power_loss.get("a"), Some(json!(2)));
}

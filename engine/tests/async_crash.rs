//! Stage 5's crash sweep: asynchronous commit ([`SyncPolicy::Within`]) loses at most the
//! window. Each workload runs once on a simulated disk, with a [`ManualClock`] moved by its
//! `Sleep` steps, to count its filesystem operations; then again for every k with the
//! process killed after operation k; the disk is rebooted in every crash mode
//! ([`every_crash`]) and recovered.
//!
//! The clock moves only in `Sleep` steps, and a sleep stops at each deadline on its way
//! and runs the sync there (`flush_due`), as the flusher thread does on the real clock.
//! So the crash happens at a definite time, the clock's when the run stopped.
//!
//! The oracle: the store opens, and holds the model after some prefix of the issued
//! mutations that includes every one acknowledged more than the window before the crash
//! (a power loss), or every acknowledged one (a process kill, in both modes: the log's
//! records, and snapshot mode's journal, are in the kernel's cache). The sweep proves it
//! can fail: asking for every acknowledged write after a power loss finds losses.
//!
//! Crashes during recovery are swept by `crash.rs` (recovery does not depend on the
//! policy). `KV_CRASH_DURABILITY` and `KV_CRASH_WORKLOAD` select cases, as there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod simdisk;

use std::env;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_engine::fs::{CrashMode, SimFs};
use kv_engine::{Clock, Durability, KvStore, ManualClock, SyncPolicy};
use serde_json::{Value, json};

use simdisk::{Model, PATH, contents, disk, every_crash, options};

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
enum Step {
    Put(&'static str, Value),
    Delete(&'static str),
    /// Time passes; the syncs that fall due meanwhile run at their deadlines.
    Sleep(Duration),
    /// Drop the store (a clean close: everything becomes durable) and open it again.
    Reopen,
    /// `sync`: everything acknowledged becomes durable now.
    Sync,
}

struct Workload {
    name: &'static str,
    steps: Vec<Step>,
    /// Wal: the log's chunk size. Small chunks grow the log (with an fsync) every two
    /// commits; a large one leaves many commits unsynced together, whose pages a power
    /// loss may land in any order.
    chunk: u64,
}

fn ms(n: u64) -> Step {
    Step::Sleep(Duration::from_millis(n))
}

fn workloads() -> Vec<Workload> {
    // Several sectors, so a torn write can land part of it.
    let big = |fill: &str| Value::String(fill.repeat(1500));
    vec![
        Workload {
            // Writes spread over several windows: some synced by a deadline, some by a
            // later write finding its deadline past, the last ones never.
            name: "writes-across-windows",
            chunk: 1024,
            steps: vec![
                Step::Put("a", json!(1)),
                ms(400),
                Step::Put("b", json!({"x": [1, 2]})),
                ms(700),
                Step::Put("c", json!("three")),
                Step::Delete("a"),
                ms(2500),
                Step::Put("d", json!(4)),
                Step::Put("b", json!(null)),
            ],
        },
        Workload {
            // Large values: the log grows (an fsync of its own) and checkpoints, and a
            // snapshot spans several sectors.
            name: "large-values-and-checkpoints",
            chunk: 1024,
            steps: vec![
                Step::Put("small", json!(0)),
                Step::Put("big", big("ab")),
                ms(1200),
                Step::Put("big", big("XY")),
                Step::Delete("small"),
                ms(300),
                Step::Put("small", json!(2)),
                ms(1000),
                Step::Put("last", json!(3)),
            ],
        },
        Workload {
            name: "sync-and-reopen",
            chunk: 1024,
            steps: vec![
                Step::Put("a", json!(1)),
                Step::Put("b", json!(2)),
                Step::Sync,
                Step::Put("a", json!(10)),
                Step::Reopen,
                Step::Put("c", json!(3)),
                ms(1500),
                Step::Delete("b"),
            ],
        },
        Workload {
            // Many commits in one window, all in one preallocated chunk: they reach the
            // disk, or not, in any order.
            name: "many-commits-in-one-window",
            chunk: 1 << 16,
            steps: vec![
                Step::Put("a", json!(1)),
                ms(1100),
                Step::Put("b", json!(2)),
                Step::Put("c", json!(3)),
                Step::Delete("a"),
                Step::Put("d", json!(4)),
                Step::Put("b", json!(20)),
                ms(600),
                Step::Put("e", json!(5)),
            ],
        },
        Workload {
            // A window whose writes net to nothing: its sync writes a snapshot
            // byte-identical to the one on disk (in snapshot mode a checkpoint of the
            // journal; recovery must tell the old journal from the new by its sequence
            // numbers, not by the snapshot they name), then more writes follow.
            name: "a-window-that-changes-nothing",
            chunk: 1 << 16,
            steps: vec![
                Step::Put("a", json!(1)),
                ms(1100),
                Step::Put("a", json!(2)),
                Step::Put("a", json!(1)),
                ms(1100),
                Step::Put("b", json!(3)),
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
                Step::Sleep(_) | Step::Reopen | Step::Sync => continue,
            }
            states.push(model.clone());
        }
        states
    }
}

/// How far a run got before the process died, and when.
#[derive(Debug)]
struct Run {
    /// When each acknowledged mutation returned `Ok`, in order.
    acked: Vec<Instant>,
    /// Mutations started (the last one may have been cut short).
    issued: usize,
    /// The clock when the process died (or the workload ended).
    crashed_at: Instant,
}

fn open(
    sim: &SimFs,
    durability: Durability,
    clock: &Arc<ManualClock>,
    chunk: u64,
) -> kv_engine::Result<KvStore> {
    let options = options(sim, durability)
        .wal_chunk_bytes(chunk)
        .sync_policy(SyncPolicy::Within(WINDOW))
        .clock(clock.clone());
    KvStore::open(PATH, options)
}

/// Runs `workload` until its end or the first failure (the process dying). A call that
/// returned `Ok` although the disk refused an operation during it (a best-effort step)
/// counts as cut short: the process died inside it.
fn run(sim: &SimFs, durability: Durability, workload: &Workload) -> Run {
    let clock = Arc::new(ManualClock::default());
    let mut progress = Run {
        acked: Vec::new(),
        issued: 0,
        crashed_at: clock.now(),
    };
    let finish = |mut progress: Run| {
        progress.crashed_at = clock.now();
        progress
    };
    let Ok(mut store) = open(sim, durability, &clock, workload.chunk) else {
        return finish(progress);
    };
    for step in &workload.steps {
        let result = match step {
            Step::Put(key, value) => {
                progress.issued += 1;
                store.put(*key, value.clone())
            }
            Step::Delete(key) => {
                progress.issued += 1;
                store.delete(key).map(|_| ())
            }
            Step::Sleep(duration) => {
                let target = clock.now() + *duration;
                let mut slept = Ok(());
                while let Some(deadline) = store.sync_deadline().filter(|due| *due <= target) {
                    clock.advance_to(deadline);
                    slept = store.flush_due();
                    if slept.is_err() || sim.is_dead() {
                        break;
                    }
                }
                if slept.is_ok() && !sim.is_dead() {
                    clock.advance_to(target);
                }
                slept
            }
            Step::Sync => store.sync().map(|_| ()),
            Step::Reopen => {
                drop(store);
                if sim.is_dead() {
                    return finish(progress);
                }
                match open(sim, durability, &clock, workload.chunk) {
                    Ok(reopened) => store = reopened,
                    Err(_) => return finish(progress),
                }
                Ok(())
            }
        };
        if result.is_err() || sim.is_dead() {
            return finish(progress);
        }
        if matches!(step, Step::Put(..) | Step::Delete(_)) {
            progress.acked.push(clock.now());
        }
    }
    finish(progress)
}

/// How many of the acknowledged mutations must survive a crash of `mode`, if those older
/// than `window` must (`None`: all of them).
fn required(mode: CrashMode, run: &Run, window: Option<Duration>) -> usize {
    let Some(window) = window else {
        return run.acked.len();
    };
    if mode == CrashMode::ProcessKill {
        return run.acked.len();
    }
    run.acked
        .iter()
        .take_while(|acked| **acked + window < run.crashed_at)
        .count()
}

/// What a sweep found: cases checked, and the violations.
#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    violations: Vec<String>,
    /// Cases where something acknowledged was lost, within what the oracle allowed.
    lost_within_window: u64,
}

fn env_filter(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.is_empty())
}

/// Crashes every workload of `durability` after each of its operations, in every crash
/// mode, checking that at least the acknowledged writes older than `promised` survive
/// (`None`: every acknowledged write).
fn sweep(durability: Durability, promised: Option<Duration>) -> Tally {
    let mut tally = Tally::default();
    if env_filter("KV_CRASH_DURABILITY").is_some_and(|name| name != durability.name()) {
        return tally;
    }
    for workload in workloads() {
        if env_filter("KV_CRASH_WORKLOAD").is_some_and(|name| name != workload.name) {
            continue;
        }
        let states = workload.states();
        let probe = disk();
        let full = run(&probe, durability, &workload);
        assert_eq!(
            full.acked.len(),
            states.len() - 1,
            "{}: the probe failed",
            workload.name
        );
        for point in 0..=probe.total_ops() {
            let sim = disk();
            sim.kill_after(point);
            let progress = run(&sim, durability, &workload);
            for (mode, seed) in every_crash() {
                tally.cases += 1;
                let case = format!(
                    "{durability} {} crash after op {point} mode={mode} seed={seed}",
                    workload.name
                );
                let rebooted = sim.crash(mode, seed);
                let found = match simdisk::open(&rebooted, durability) {
                    Ok(store) => contents(&store),
                    Err(err) => {
                        tally
                            .violations
                            .push(format!("{case}: did not open: {err}"));
                        continue;
                    }
                };
                let must = required(mode, &progress, promised);
                if let Some(at) = states[must..=progress.issued]
                    .iter()
                    .position(|s| *s == found)
                {
                    if must + at < progress.acked.len() {
                        tally.lost_within_window += 1;
                    }
                } else {
                    tally.violations.push(format!(
                        "{case}: recovered {found:?}; {} acknowledged, {must} of them older \
                         than the window, {} issued",
                        progress.acked.len(),
                        progress.issued
                    ));
                }
            }
        }
    }
    tally
}

#[test]
fn a_crash_at_every_step_loses_at_most_the_writes_of_the_last_window() {
    for durability in [Durability::Snapshot, Durability::Wal] {
        let tally = sweep(durability, Some(WINDOW));
        println!(
            "{durability}: {} cases, {} lost within the window",
            tally.cases, tally.lost_within_window
        );
        assert!(
            tally.violations.is_empty(),
            "{durability}: {} of {} cases violate the window:\n{}",
            tally.violations.len(),
            tally.cases,
            tally.violations[..tally.violations.len().min(5)].join("\n")
        );
        // The promise is not empty: the sweep did see acknowledged writes lost, all
        // younger than the window.
        assert!(
            env_filter("KV_CRASH_WORKLOAD").is_some() || tally.lost_within_window > 0,
            "{durability}: nothing was ever lost, so the sweep shows nothing"
        );
    }
}

#[test]
fn the_sweep_catches_a_loss_older_than_what_it_is_told_was_promised() {
    // Asking for every acknowledged write must fail after a power loss: asynchronous
    // commit does lose the last window.
    for durability in [Durability::Snapshot, Durability::Wal] {
        let tally = sweep(durability, None);
        assert!(
            env_filter("KV_CRASH_DURABILITY").is_some() || !tally.violations.is_empty(),
            "{durability}: the sweep found no loss even when promised none could happen"
        );
    }
}

//! The install (`kv_engine::Installer`, which `kv --simulate`'s `save` writes the real
//! database with): each scenario builds an old database on a simulated disk, and the
//! images of a new one made from it (a copy of the old files, written on in some mode, as
//! `--simulate` writes on its copy); the install of those images over the old files is
//! crashed after every filesystem operation, in every crash mode, and the reopened store
//! must hold the old database or the new one: never a mix, never a refusal (the old
//! database was acknowledged, so a refusal loses it). Recovery from each crash is crashed
//! again, as in the plain sweep. Once the install has returned `Ok`, only the new one.
//!
//! The harness proves it can fail: an install by hand in the wrong order (the snapshot
//! first, then the log renamed straight over `PATH.wal`) must be caught.
#![allow(clippy::unwrap_used)] // helpers of tests: a panic is a failing test

use std::sync::Arc;

use kv_engine::fs::{CrashMode, Fs, OpenMode, SimFs};
use kv_engine::{Durability, Image, Installer, KvStore, Options, files};
use serde_json::{Value, json};

use super::simdisk::{Model, PATH, contents, disk, file_text};
use super::{Again, Case, Filter, Run, Subject, Tally, Violation, check, crash_during_recovery};

/// One step of building a database.
#[derive(Debug, Clone)]
enum Step {
    /// Drop the store (if any) and open the database in this mode.
    Open(Durability),
    Put(&'static str, Value),
    Delete(&'static str),
    Checkpoint,
}

/// An old database, and what is written on a copy of it to make the new one.
pub struct Scenario {
    pub name: &'static str,
    old: Vec<Step>,
    new: Vec<Step>,
}

/// Every install the sweep crashes: each way the images can meet the files on disk.
pub fn scenarios() -> Vec<Scenario> {
    use Durability::{Snapshot, Wal};
    use Step::{Checkpoint, Delete, Open, Put};
    // Several sectors, so that a torn write can land part of an image.
    let big = |fill: &str| Value::String(fill.repeat(1500));
    vec![
        Scenario {
            name: "install-snapshot-over-nothing",
            old: vec![],
            new: vec![Open(Snapshot), Put("a", json!(1))],
        },
        Scenario {
            name: "install-snapshot-over-snapshot",
            old: vec![Open(Snapshot), Put("a", json!(1)), Put("b", big("ab"))],
            new: vec![Open(Snapshot), Delete("a"), Put("b", big("XY"))],
        },
        Scenario {
            name: "install-log-over-nothing",
            old: vec![],
            new: vec![Open(Wal), Put("a", json!(1)), Put("b", json!(2))],
        },
        Scenario {
            name: "install-log-over-snapshot",
            old: vec![Open(Snapshot), Put("a", json!(1))],
            new: vec![Open(Wal), Put("b", json!(2)), Delete("a")],
        },
        Scenario {
            // The same snapshot, a longer log: `.next` names the snapshot on disk but does
            // not continue the old log's records.
            name: "install-longer-log-over-log",
            old: vec![
                Open(Wal),
                Put("a", json!(1)),
                Checkpoint,
                Put("b", json!(2)),
            ],
            new: vec![Open(Wal), Put("c", json!(3)), Delete("a")],
        },
        Scenario {
            // The same snapshot, and an old log with no record: `.next` continues it at
            // once, so a crash before the last rename finishes a log that holds records.
            name: "install-log-over-empty-log",
            old: vec![Open(Wal), Put("a", json!(1)), Checkpoint],
            new: vec![Open(Wal), Put("b", json!(2)), Put("a", big("cd"))],
        },
        Scenario {
            name: "install-checkpointed-log-over-log",
            old: vec![
                Open(Wal),
                Put("a", json!(1)),
                Checkpoint,
                Put("b", json!(2)),
            ],
            new: vec![
                Open(Wal),
                Put("c", big("ef")),
                Checkpoint,
                Put("d", json!(4)),
                Delete("b"),
            ],
        },
        Scenario {
            // Snapshot mode folded the log: the real one must not stay beside the new
            // snapshot, and must not go before it is in place.
            name: "install-snapshot-over-log",
            old: vec![
                Open(Wal),
                Put("a", json!(1)),
                Checkpoint,
                Put("b", json!(2)),
            ],
            new: vec![Open(Snapshot), Put("c", json!(3))],
        },
    ]
}

/// A store of `durability` on `sim`, with small log chunks (so that an image spans
/// several), checkpointing only when a scenario says so.
fn options(sim: &SimFs, durability: Durability) -> Options {
    Options::new()
        .durability(durability)
        .fs(Arc::new(sim.clone()))
        .wal_chunk_bytes(1024)
}

/// Plays `steps` on `sim`; the store is dropped at the end, as a process exits.
fn play(sim: &SimFs, steps: &[Step]) {
    let mut store: Option<KvStore> = None;
    for step in steps {
        match step {
            Step::Open(durability) => {
                drop(store.take());
                store = Some(KvStore::open(PATH, options(sim, *durability)).unwrap());
            }
            Step::Put(key, value) => store.as_mut().unwrap().put(*key, value.clone()).unwrap(),
            Step::Delete(key) => {
                store.as_mut().unwrap().delete(key).unwrap();
            }
            Step::Checkpoint => store.as_mut().unwrap().checkpoint().unwrap(),
        }
    }
}

/// A scenario made ready: the old files, durable; the new database's images; and the two
/// databases' contents.
struct Prepared {
    old: SimFs,
    snapshot: Option<Vec<u8>>,
    log: Option<Vec<u8>>,
    /// The old database, then the new one.
    states: Vec<Model>,
}

/// What the store reads on `sim` (a copy of it, so `sim` is left as it is).
fn read(sim: &SimFs) -> Model {
    contents(&KvStore::open(PATH, options(&sim.fork(), Durability::Wal)).unwrap())
}

fn prepare(scenario: &Scenario) -> Prepared {
    let sim = disk();
    play(&sim, &scenario.old);
    // At rest: the engine synced everything it acknowledged, and the counts start at 0.
    let old = sim.crash(CrashMode::CleanPowerLoss, 0);
    let copy = old.fork();
    play(&copy, &scenario.new);
    let states = vec![read(&old), read(&copy)];
    assert_ne!(
        states[0], states[1],
        "{}: nothing new to install",
        scenario.name
    );
    Prepared {
        old,
        snapshot: copy.contents(PATH),
        log: copy.contents(files::wal_path(PATH.as_ref())),
        states,
    }
}

/// How the images are put over the old files.
type Install = fn(&SimFs, &Prepared) -> kv_engine::Result<()>;

/// The engine's way.
fn with_installer(sim: &SimFs, prepared: &Prepared) -> kv_engine::Result<()> {
    let mut installer = Installer::lock(PATH, Arc::new(sim.clone()))?;
    installer.install(Image {
        snapshot: prepared.snapshot.as_deref(),
        log: prepared.log.as_deref(),
    })
}

/// The wrong order, for the harness's self-test: each file written to a temp file,
/// synced, and renamed into place, the snapshot first, then the log straight over
/// `PATH.wal` (a stale log is not removed at all).
fn snapshot_then_log(sim: &SimFs, prepared: &Prepared) -> kv_engine::Result<()> {
    let put = |target: &str, bytes: &[u8]| -> std::io::Result<()> {
        let temp = format!("{PATH}.kv-tmp.1.0123456789abcdef");
        let mut file = sim.open(temp.as_ref(), OpenMode::CreateNew { mode: 0o600 })?;
        file.write_all_at(0, bytes)?;
        file.sync_all()?;
        drop(file);
        sim.rename(temp.as_ref(), target.as_ref())?;
        sim.sync_dir("/data".as_ref())
    };
    let wal = format!("{PATH}.wal");
    let fail = |err| kv_engine::Error::io("install", PATH, err);
    if let Some(bytes) = &prepared.snapshot {
        put(PATH, bytes).map_err(fail)?;
    }
    if let Some(bytes) = &prepared.log {
        put(&wal, bytes).map_err(fail)?;
    }
    Ok(())
}

/// Crashes the install of `scenario` after each of its operations, in every crash mode,
/// then its recovery too, and checks that the old database or the new one opens.
fn sweep(scenario: &Scenario, install: Install, filter: &Filter) -> Tally {
    let mut tally = Tally::default();
    let prepared = prepare(scenario);
    let probe = prepared.old.fork();
    install(&probe, &prepared).unwrap();
    assert_eq!(
        read(&probe),
        prepared.states[1],
        "{}: the probe",
        scenario.name
    );
    let operations = probe.total_ops();
    let subject = Subject::new(Durability::Wal);
    for point in 0..=operations {
        if filter.point.is_some_and(|wanted| wanted != point) {
            continue;
        }
        let sim = prepared.old.fork();
        sim.kill_after(point);
        let run = Run {
            acked: usize::from(install(&sim, &prepared).is_ok()),
            issued: 1,
            checkpoints: 0,
        };
        for (mode, seed) in filter.crashes() {
            let case = Case {
                durability: Durability::Wal,
                workload: scenario.name,
                point,
                mode,
                seed,
                recovery: None,
                fault: None,
                scenario: true,
            };
            let rebooted = sim.crash(mode, seed);
            if filter.replaying() {
                println!("{case}\n  file after reboot: {:?}", file_text(&rebooted));
            }
            let outcome = check(&rebooted.fork(), subject, &prepared.states, run);
            let recovered = outcome.is_ok();
            tally.record(&case, outcome);
            if recovered {
                let seeds = filter.random_seeds();
                let again = Again {
                    states: &prepared.states,
                    progress: run,
                    seeds: &seeds,
                    modes: filter.modes,
                };
                crash_during_recovery(&rebooted, subject, case, &again, &mut tally);
            }
        }
    }
    tally
}

#[test]
fn an_install_crashed_at_every_step_opens_as_the_old_database_or_the_new_one() {
    let filter = Filter::from_env();
    if filter.durability.is_some() {
        return; // Replaying a plain workload: none of this.
    }
    let mut reports = Vec::new();
    for scenario in scenarios() {
        if filter
            .workload
            .as_deref()
            .is_some_and(|name| name != scenario.name)
        {
            continue;
        }
        let tally = sweep(&scenario, with_installer, &filter);
        println!("{}: {}", scenario.name, tally.report());
        assert!(tally.cases > 0, "{}: no case was checked", scenario.name);
        if tally.total() > 0 {
            reports.push(format!("{}: {}", scenario.name, tally.report()));
        }
    }
    assert!(
        reports.is_empty(),
        "an install crashed mid-way opened as neither database:\n{}",
        reports.join("\n")
    );
}

/// The sweep would catch an install in the wrong order: the log renamed over `PATH.wal`
/// after its snapshot leaves a new snapshot beside the old log, which refuses to open
/// (the old database lost), and a stale log left beside a new snapshot refuses for good.
#[test]
fn the_install_sweep_catches_a_log_installed_after_its_snapshot() {
    let filter = Filter::older_modes();
    for name in [
        "install-checkpointed-log-over-log",
        "install-snapshot-over-log",
    ] {
        let scenario = scenarios().into_iter().find(|s| s.name == name).unwrap();
        // The probe itself fails for a stale log: the new database never opens.
        let prepared = prepare(&scenario);
        let probe = prepared.old.fork();
        snapshot_then_log(&probe, &prepared).unwrap();
        let opened = KvStore::open(PATH, options(&probe, Durability::Wal));
        if name == "install-snapshot-over-log" {
            assert!(opened.is_err(), "{name}: the stale log should refuse");
            continue;
        }
        drop(opened.unwrap());
        let tally = sweep(&scenario, snapshot_then_log, &filter);
        assert!(
            tally.count(|violation, _| violation == Violation::Unopenable) > 0,
            "{name}: the sweep missed the wrong order:\n{}",
            tally.report()
        );
    }
}

/// What the scenarios claim about their images is so, or their sweeps prove less.
#[test]
fn the_install_scenarios_meet_the_files_they_claim() {
    let wal = files::wal_path(PATH.as_ref());
    let find = |name: &str| prepare(&scenarios().into_iter().find(|s| s.name == name).unwrap());
    let nothing = find("install-log-over-nothing");
    assert!(nothing.old.files().is_empty(), "{:?}", nothing.old.files());
    assert!(nothing.snapshot.is_none() && nothing.log.is_some());
    // The same snapshot on both sides; the old log holds no record.
    let empty_log = find("install-log-over-empty-log");
    assert_eq!(empty_log.old.contents(PATH), empty_log.snapshot);
    let old_log = KvStore::open(PATH, options(&empty_log.old.fork(), Durability::Wal)).unwrap();
    assert_eq!(old_log.stats().log_records, Some(0));
    // A new snapshot over an old log, which the images do not have.
    let folded = find("install-snapshot-over-log");
    assert!(folded.old.contents(&wal).is_some() && folded.log.is_none());
    assert_ne!(folded.old.contents(PATH), folded.snapshot);
    let checkpointed = find("install-checkpointed-log-over-log");
    assert_ne!(checkpointed.old.contents(PATH), checkpointed.snapshot);
    assert!(checkpointed.old.contents(&wal).is_some() && checkpointed.log.is_some());
}

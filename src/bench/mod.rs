//! `kv bench`: what durability costs on this disk, beside what the disk itself can do.
//!
//! For each durability mode and store size it times puts of new keys, overwrites, gets
//! and deletes (throughput, p50 and p99 latency), reads the store's own counters for
//! fsyncs and bytes written per operation, times reopening the store and measures the
//! resident memory per key. In the same directory and the same run it measures the disk's
//! own limits through the same [`Fs`](kv_engine::fs::Fs) seam: an append plus fdatasync of a
//! record, an overwrite plus fdatasync inside preallocated space, and the snapshot recipe
//! for the snapshot's byte count. Each engine figure is reported beside the limit that
//! bounds it, as a ratio, and the project's targets are checked.
//!
//! The library never prints: [`run`] reports progress through a callback and returns a
//! [`Report`], which renders itself as tables into any `io::Write`
//! ([`Report::render_table`]) or as JSON ([`Report::to_json`]).
//!
//! ```no_run
//! use kv::bench::{self, BenchConfig};
//!
//! let report = bench::run(&BenchConfig::quick(), &mut |progress| {
//!     eprint!("\r{}/{} {}", progress.done, progress.total, progress.label);
//! })?;
//! report.render_table(&mut std::io::stdout())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod args;
mod async_commit;
mod config;
mod disk;
mod engine;
mod format;
mod peers;
mod piped;
mod progress;
mod report;
mod stats;
mod system;
mod table;
mod targets;
mod timing;

use std::path::Path;
use std::sync::Arc;

pub use args::{BenchArgs, run_cli};
pub use config::{BenchConfig, ModeKind};
pub use engine::{MEMORY_PROBE_COMMAND, key, overwrite_value, probe_memory, put_value};
pub use piped::PipedPhase;
pub use progress::{Progress, clear_progress_line, render_progress_line};
pub use report::{
    AsyncPuts, Bound, Case, LimitKind, Limits, Memory, Op, OpResult, PeerCase, PeerResult, Peers,
    PipedBound, PipedCase, PipedResult, Report, SizeLimits, SkippedPeer, TargetCheck, Timing,
};
pub use stats::{Sample, median, median_u64, percentile};
pub use system::Machine;
pub use targets::evaluate as evaluate_targets;

use engine::{CaseRun, MemoryRun, Pass};
use kv_engine::Durability;
use kv_engine::Error;
use kv_engine::fs::{Fs, RealFs};
use stats::Sample as RepSample;

/// What can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The settings cannot make a meaningful run.
    #[error("invalid benchmark settings: {0}")]
    Config(String),
    /// The store or the disk failed.
    #[error(transparent)]
    Engine(#[from] Error),
    /// A workload did not do what it was asked (a result line was wrong, a pipe broke).
    #[error("{what} went wrong: {reason}")]
    Workload { what: String, reason: String },
    /// Writing the report or the progress bar failed.
    #[error("cannot write the benchmark report: {0}")]
    Output(#[from] std::io::Error),
}

/// A median fsync of a freshly written block faster than this is not a real flush.
const IMPLAUSIBLE_FSYNC_NS: u64 = 10_000;

/// Runs the benchmark `config` describes on the real filesystem, calling `progress` as
/// each step starts, and removes everything it wrote before returning.
pub fn run(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Report, BenchError> {
    config.validate().map_err(BenchError::Config)?;
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let base = config.dir.clone().unwrap_or_else(std::env::temp_dir);
    // The directory itself comes from tempfile (a fresh, unique name); every file in it
    // is written through the Fs seam.
    let work = tempfile::Builder::new()
        .prefix("kv-bench-")
        .tempdir_in(&base)
        .map_err(|err| Error::io("create a temporary directory in", &base, err))?;
    let result = run_in(config, &fs, &base, work.path(), progress);
    let work_path = work.path().to_path_buf();
    let removed = work
        .close()
        .map_err(|err| Error::io("remove the benchmark directory", work_path, err));
    let report = result?;
    removed?;
    Ok(report)
}

/// Counts steps and reports them.
struct Steps<'a> {
    done: usize,
    total: usize,
    report: &'a mut dyn FnMut(&Progress<'_>),
}

impl Steps<'_> {
    fn begin(&mut self, label: &str) {
        (self.report)(&Progress {
            done: self.done,
            total: self.total,
            label,
        });
        self.done += 1;
    }

    fn finish(&mut self) {
        self.done = self.total;
        self.begin("done");
    }
}

/// The engine phases of one case, each a progress step.
const CASE_PHASES: usize = 6;

fn run_in(
    config: &BenchConfig,
    fs: &Arc<dyn Fs>,
    base: &Path,
    dir: &Path,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Report, BenchError> {
    let modes = &config.modes;
    let sizes = &config.sizes;
    let cases = modes.len() * sizes.len();
    // Memory mode is the piped scripts' bound, so it runs whether or not it is listed.
    let piped_modes: Vec<Durability> = std::iter::once(Durability::Memory)
        .chain(
            modes
                .iter()
                .copied()
                .filter(|&mode| mode != Durability::Memory),
        )
        .collect();
    // The peers' programs, looked up on the PATH as a shell would.
    let lineup = config
        .peers
        .then(|| peers::Lineup::find(fs.as_ref(), std::env::var_os("PATH").as_deref()));
    let peer_steps = lineup.as_ref().map_or(0, peers::Lineup::steps);
    let mut steps = Steps {
        done: 0,
        total: cases
            + config.reps
                * (2 + sizes.len()
                    * (2 + piped_modes.len() + 1 + async_commit::MODES.len() + peer_steps)
                    + cases * CASE_PHASES),
        report: progress,
    };
    // Mount points are absolute; a relative --dir is compared as the absolute path it means.
    let machine = Machine::describe(
        fs.as_ref(),
        &std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()),
    );

    // Memory first, before the workloads leave freed heap behind for these stores to
    // reuse (which would hide their cost).
    let (snapshot_bytes, memory) = memory_phase(config, fs, dir, &mut steps)?;

    let mut append = Vec::new();
    let mut overwrite = Vec::new();
    let mut recipes: Vec<Vec<RepSample>> = vec![Vec::new(); sizes.len()];
    let mut rewrites: Vec<Vec<RepSample>> = vec![Vec::new(); sizes.len()];
    let mut runs: Vec<Vec<CaseRun>> = vec![Vec::new(); cases];
    let mut piped_runs: Vec<Vec<Vec<piped::PhaseRun>>> =
        vec![Vec::new(); piped_modes.len() * sizes.len()];
    // Per size: memory mode's put script, then each asynchronous mode's (mode-major).
    let mut async_memory: Vec<Vec<piped::PhaseRun>> = vec![Vec::new(); sizes.len()];
    let mut async_runs: Vec<Vec<piped::PhaseRun>> =
        vec![Vec::new(); async_commit::MODES.len() * sizes.len()];
    let mut peer_runs: Vec<Vec<peers::Rep>> = vec![Vec::new(); sizes.len()];
    // Repetitions outermost: a noisy minute then spoils one repetition of everything, not
    // every repetition of one figure.
    for rep in 1..=config.reps {
        let at = format!("rep {rep}/{}", config.reps);
        let record = config.record_bytes;
        let record_ops = config.record_ops;
        for (kind, timings) in [
            (LimitKind::AppendFdatasync, &mut append),
            (LimitKind::OverwriteFdatasync, &mut overwrite),
        ] {
            steps.begin(&format!("{at}: disk limit, {}", kind.describe()));
            timings.push(disk::measure(
                fs.as_ref(),
                dir,
                kind,
                record,
                config.warmup_ops,
                record_ops,
            )?);
        }
        for (size_index, &n) in sizes.iter().enumerate() {
            let bytes = snapshot_bytes[size_index] as usize;
            let warmup = config.warmup_for(n);
            let keys = format::int(n as u64);
            // Each timed as many times as the mode it bounds commits.
            for (kind, timings, bounds) in [
                (
                    LimitKind::SnapshotRecipe,
                    &mut recipes[size_index],
                    Durability::Snapshot,
                ),
                (
                    LimitKind::RewriteUnsynced,
                    &mut rewrites[size_index],
                    Durability::Naive,
                ),
            ] {
                steps.begin(&format!(
                    "{at}: disk limit, {} ({keys} keys)",
                    kind.describe()
                ));
                timings.push(disk::measure(
                    fs.as_ref(),
                    dir,
                    kind,
                    bytes,
                    warmup,
                    config.timed_ops(bounds, n),
                )?);
            }
            for (mode_index, &mode) in modes.iter().enumerate() {
                let limit = bounding_limit(mode).map(|kind| engine::Limit {
                    kind,
                    bytes: match kind {
                        LimitKind::AppendFdatasync | LimitKind::OverwriteFdatasync => record,
                        LimitKind::SnapshotRecipe | LimitKind::RewriteUnsynced => bytes,
                    },
                });
                let run = engine::run_case(fs, dir, mode, n, limit, config, &mut |phase| {
                    steps.begin(&format!("{at}: {mode}, {keys} keys: {phase}"));
                })?;
                runs[mode_index * sizes.len() + size_index].push(run);
            }
            // Memory first: each mode's ratio is to the memory run just before it.
            for (mode_index, &mode) in piped_modes.iter().enumerate() {
                steps.begin(&format!("{at}: {mode}, {keys} keys: piped scripts"));
                piped_runs[mode_index * sizes.len() + size_index]
                    .push(piped::run(fs, dir, mode, n)?);
            }
            steps.begin(&format!(
                "{at}: memory, {keys} keys: puts without group commit"
            ));
            async_memory[size_index].push(piped::run_puts(
                fs,
                dir,
                Durability::Memory,
                kv_engine::SyncPolicy::Always,
                n,
            )?);
            for (mode_index, &mode) in async_commit::MODES.iter().enumerate() {
                let sync = async_commit::POLICY;
                steps.begin(&format!("{at}: {mode} --sync {sync}, {keys} keys: puts"));
                async_runs[mode_index * sizes.len() + size_index]
                    .push(piped::run_puts(fs, dir, mode, sync, n)?);
            }
            if let Some(lineup) = &lineup {
                let kv = config.memory_probe.as_deref();
                peer_runs[size_index].push(peers::run(fs, dir, kv, n, lineup, &mut |label| {
                    steps.begin(&format!("{at}: {label}, {keys} keys"))
                })?);
            }
        }
    }

    let timing = |samples: &[RepSample]| {
        Timing::from_reps(samples).ok_or_else(|| BenchError::Config("no repetitions".into()))
    };
    let limits = Limits {
        record_bytes: config.record_bytes,
        append_fdatasync: timing(&append)?,
        overwrite_fdatasync: timing(&overwrite)?,
        by_size: sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                Ok(SizeLimits {
                    n,
                    bytes: snapshot_bytes[i],
                    snapshot_recipe: timing(&recipes[i])?,
                    rewrite_unsynced: timing(&rewrites[i])?,
                })
            })
            .collect::<Result<_, BenchError>>()?,
    };
    let mut report_cases = Vec::with_capacity(cases);
    for (mode_index, &mode) in modes.iter().enumerate() {
        for (size_index, &n) in sizes.iter().enumerate() {
            let index = mode_index * sizes.len() + size_index;
            report_cases.push(summarise_case(mode, n, &runs[index], memory[index])?);
        }
    }
    let mut report_piped = Vec::with_capacity(cases);
    for &mode in modes {
        let Some(mode_index) = piped_modes.iter().position(|&piped| piped == mode) else {
            continue;
        };
        for (size_index, &n) in sizes.iter().enumerate() {
            report_piped.push(summarise_piped(
                mode,
                n,
                &piped_runs[mode_index * sizes.len() + size_index],
                &piped_runs[size_index],
            )?);
        }
    }
    let mut async_puts = Vec::with_capacity(async_commit::MODES.len() * sizes.len());
    for (mode_index, &mode) in async_commit::MODES.iter().enumerate() {
        for (size_index, &n) in sizes.iter().enumerate() {
            async_puts.push(async_commit::summarise(
                mode,
                n,
                &async_runs[mode_index * sizes.len() + size_index],
                &async_memory[size_index],
            )?);
        }
    }
    let mut report = Report {
        warning: fsync_warning(&machine, &limits),
        machine,
        reps: config.reps,
        limits,
        cases: report_cases,
        piped: report_piped,
        async_puts,
        peers: lineup
            .map(|lineup| {
                peers::summarise(&lineup, sizes, config.memory_probe.as_deref(), &peer_runs)
            })
            .transpose()?,
        targets: Vec::new(),
    };
    report.targets = targets::evaluate(&report);
    steps.finish();
    Ok(report)
}

/// Writes a snapshot of each size for each mode, opens each and measures the resident-set
/// growth of the open: in a fresh `kv` process per store when the config names one, else
/// in this process, keeping every store alive. Returns the snapshot size
/// per size and the memory figures per case (mode-major).
fn memory_phase(
    config: &BenchConfig,
    fs: &Arc<dyn Fs>,
    dir: &Path,
    steps: &mut Steps<'_>,
) -> Result<(Vec<u64>, Vec<MemoryRun>), BenchError> {
    let seed_path = |mode: Durability, n: usize| dir.join(format!("seed-{}-{n}.json", mode.name()));
    let mut snapshot_bytes = Vec::with_capacity(config.sizes.len());
    for &n in &config.sizes {
        let mut bytes = 0;
        for &mode in &config.modes {
            bytes = engine::write_seed(fs.as_ref(), &seed_path(mode, n), n)?;
        }
        snapshot_bytes.push(bytes);
    }
    let mut memory = vec![
        MemoryRun {
            resident_bytes: None,
            snapshot_bytes: 0,
        };
        config.modes.len() * config.sizes.len()
    ];
    let mut held = Vec::with_capacity(memory.len());
    // Smallest first, into a heap that nothing has freed memory into yet: a small store's
    // figure would otherwise vanish into a bigger one's leftovers. What remains is the read
    // buffer inside each open (one file size), which may or may not stay resident.
    let mut order: Vec<usize> = (0..config.sizes.len()).collect();
    order.sort_by_key(|&i| config.sizes[i]);
    for size_index in order {
        let n = config.sizes[size_index];
        for (mode_index, &mode) in config.modes.iter().enumerate() {
            steps.begin(&format!("memory: {mode}, {} keys", format::int(n as u64)));
            let (path, bytes) = (seed_path(mode, n), snapshot_bytes[size_index]);
            let run =
                match &config.memory_probe {
                    Some(exe) => engine::measure_memory_in_child(exe, &path, mode, bytes).map_err(
                        |reason| BenchError::Workload {
                            what: format!("measuring memory ({mode}, {n} keys)"),
                            reason,
                        },
                    )?,
                    None => {
                        let (run, store) = engine::measure_memory(fs, &path, mode, bytes)?;
                        held.push(store);
                        run
                    }
                };
            memory[mode_index * config.sizes.len() + size_index] = run;
        }
    }
    drop(held);
    engine::remove_with_prefix(fs.as_ref(), dir, "seed-")?;
    Ok((snapshot_bytes, memory))
}

/// The disk limit that bounds `mode`'s writes, if any.
fn bounding_limit(mode: Durability) -> Option<LimitKind> {
    match ModeKind::of(mode) {
        ModeKind::InMemory => None,
        ModeKind::FullRewrite { synced: true } => Some(LimitKind::SnapshotRecipe),
        ModeKind::FullRewrite { synced: false } => Some(LimitKind::RewriteUnsynced),
        ModeKind::RecordLog => Some(LimitKind::OverwriteFdatasync),
    }
}

/// The medians of one case's repetitions, beside the limit measured with them.
fn summarise_case(
    mode: Durability,
    n: usize,
    runs: &[CaseRun],
    memory: MemoryRun,
) -> Result<Case, BenchError> {
    let mut ops = Vec::with_capacity(Op::ALL.len());
    for op in Op::ALL {
        let passes: Vec<Pass> = runs
            .iter()
            .map(|run| match op {
                Op::Put => run.puts,
                Op::Overwrite => run.overwrites,
                Op::Get => run.gets,
                Op::Delete => run.deletes,
                Op::Transaction => run.transactions,
            })
            .collect();
        let samples: Vec<RepSample> = passes.iter().map(|pass| pass.sample).collect();
        let timing = Timing::from_reps(&samples)
            .ok_or_else(|| BenchError::Config("no repetitions".into()))?;
        let per_op = |count: fn(&Pass) -> u64| {
            let values: Vec<f64> = passes
                .iter()
                .map(|pass| count(pass) as f64 / pass.sample.ops.max(1) as f64)
                .collect();
            median(&values).unwrap_or(0.0)
        };
        let found = match op {
            Op::Get => runs.iter().map(|run| run.gets_found).min(),
            Op::Delete => runs.iter().map(|run| run.deletes_found).min(),
            Op::Put | Op::Overwrite | Op::Transaction => None,
        };
        // The ratio of each repetition's paired measurements, then the median: both
        // sides of a ratio saw the same moments of a noisy machine.
        let limit_samples: Vec<RepSample> = passes.iter().filter_map(|pass| pass.limit).collect();
        let ratios: Vec<f64> = passes
            .iter()
            .filter_map(|pass| Some(pass.sample.ops_per_sec / pass.limit?.ops_per_sec))
            .collect();
        let bound = match (bounding_limit(mode), Timing::from_reps(&limit_samples)) {
            (Some(kind), Some(limit)) if op != Op::Get => Some(Bound {
                limit: kind,
                limit_timing: limit,
                ratio: median(&ratios).unwrap_or(f64::NAN),
            }),
            _ => None,
        };
        ops.push(OpResult {
            op,
            timing,
            found,
            fsyncs_per_op: per_op(|pass| pass.fsyncs),
            bytes_per_op: per_op(|pass| pass.bytes_written),
            bound,
        });
    }
    let opens: Vec<u64> = runs.iter().filter_map(|run| run.open_ns).collect();
    Ok(Case {
        mode: mode.name().to_string(),
        n,
        file_bytes: runs.iter().find_map(|run| run.file_bytes),
        open_ns: median_u64(&opens),
        keys_after_open: runs
            .iter()
            .map(|run| run.keys_after_open)
            .min()
            .unwrap_or(0),
        memory: memory.resident_bytes.map(|resident_bytes| Memory {
            resident_bytes,
            snapshot_bytes: memory.snapshot_bytes,
            bytes_per_key: resident_bytes as f64 / n as f64,
            ratio_to_snapshot: resident_bytes as f64 / memory.snapshot_bytes.max(1) as f64,
        }),
        ops,
    })
}

/// The medians of one piped case's repetitions (`runs[rep][phase]`), beside memory mode's
/// runs of the same scripts in the same repetitions (`memory`).
fn summarise_piped(
    mode: Durability,
    n: usize,
    runs: &[Vec<piped::PhaseRun>],
    memory: &[Vec<piped::PhaseRun>],
) -> Result<PipedCase, BenchError> {
    let mut phases = Vec::with_capacity(PipedPhase::ALL.len());
    for (index, phase) in PipedPhase::ALL.into_iter().enumerate() {
        let passes: Vec<&piped::PhaseRun> = runs.iter().filter_map(|rep| rep.get(index)).collect();
        let rates: Vec<f64> = passes.iter().map(|pass| pass.ops_per_sec()).collect();
        let ops_per_sec =
            median(&rates).ok_or_else(|| BenchError::Config("no repetitions".into()))?;
        let per_op = |count: fn(&piped::PhaseRun) -> u64| {
            let values: Vec<f64> = passes
                .iter()
                .map(|pass| count(pass) as f64 / pass.statements.max(1) as f64)
                .collect();
            median(&values).unwrap_or(0.0)
        };
        let batch_sizes: Vec<f64> = passes
            .iter()
            .filter(|pass| pass.commits > 0)
            .map(|pass| pass.statements as f64 / pass.commits as f64)
            .collect();
        let memory_rates: Vec<f64> = memory
            .iter()
            .filter_map(|rep| Some(rep.get(index)?.ops_per_sec()))
            .collect();
        let ratios: Vec<f64> = rates
            .iter()
            .zip(&memory_rates)
            .map(|(rate, memory_rate)| rate / memory_rate)
            .collect();
        let bound = match (mode, median(&memory_rates), median(&ratios)) {
            (Durability::Memory, _, _) => None,
            (_, Some(memory_ops_per_sec), Some(ratio)) => Some(PipedBound {
                memory_ops_per_sec,
                ratio,
            }),
            _ => None,
        };
        phases.push(PipedResult {
            phase,
            statements: phase.statements(n),
            reps: passes.len(),
            ops_per_sec,
            min_ops_per_sec: rates.iter().copied().fold(f64::INFINITY, f64::min),
            max_ops_per_sec: rates.iter().copied().fold(0.0, f64::max),
            statements_per_commit: median(&batch_sizes).unwrap_or(0.0),
            fsyncs_per_op: per_op(|pass| pass.fsyncs),
            bytes_per_op: per_op(|pass| pass.bytes_written),
            bound,
        });
    }
    Ok(PipedCase {
        mode: mode.name().to_string(),
        n,
        phases,
    })
}

/// Why durable figures may mean nothing here, if they may.
fn fsync_warning(machine: &Machine, limits: &Limits) -> Option<String> {
    let mut reasons = Vec::new();
    if let Some(filesystem) = machine
        .filesystem
        .as_deref()
        .filter(|fs| matches!(*fs, "tmpfs" | "ramfs"))
    {
        reasons.push(format!(
            "the directory is on {filesystem}, where fsync does nothing"
        ));
    }
    let p50 = limits.overwrite_fdatasync.p50_ns;
    if p50 < IMPLAUSIBLE_FSYNC_NS {
        reasons.push(format!(
            "an fdatasync of a freshly written block took {} (median), faster than any real \
             flush, so this disk does not make data durable when asked",
            format::duration_ns(p50)
        ));
    }
    (!reasons.is_empty()).then(|| {
        format!(
            "{}: the durable figures show the CPU and the page cache, not the disk.",
            reasons.join("; and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits_with_fsync(p50_ns: u64) -> Limits {
        let timing = Timing {
            ops: 10,
            reps: 1,
            ops_per_sec: 1e9 / p50_ns as f64,
            min_ops_per_sec: 0.0,
            max_ops_per_sec: 0.0,
            p50_ns,
            p99_ns: p50_ns,
        };
        Limits {
            record_bytes: 64,
            append_fdatasync: timing,
            overwrite_fdatasync: timing,
            by_size: Vec::new(),
        }
    }

    fn machine_on(filesystem: &str) -> Machine {
        Machine {
            cpus: 2,
            cpu_model: None,
            kernel: None,
            memory_bytes: None,
            filesystem: Some(filesystem.into()),
            dir: "/tmp".into(),
        }
    }

    #[test]
    fn warns_when_fsync_cannot_mean_anything() {
        let real_disk = limits_with_fsync(90_000);
        assert_eq!(fsync_warning(&machine_on("ext4"), &real_disk), None);

        let tmpfs = fsync_warning(&machine_on("tmpfs"), &real_disk).unwrap();
        assert!(
            tmpfs.contains("on tmpfs, where fsync does nothing"),
            "{tmpfs}"
        );

        let lying = fsync_warning(&machine_on("ext4"), &limits_with_fsync(3_000)).unwrap();
        assert!(lying.contains("took 3.00 µs (median)"), "{lying}");
        assert!(lying.ends_with("not the disk."), "{lying}");
    }
}

//! Stage 5's rows: piped puts without `--group-commit` under `--sync 1s` (issue 14),
//! acknowledged before they are durable (the session appends the puts already waiting on
//! the pipe in one write, as Redis appends pipelined commands once per event loop), beside
//! the same script in memory mode. The target: at least half memory mode's rate, with
//! fsyncs per put near 0.

use std::time::Duration;

use super::BenchError;
use super::piped::PhaseRun;
use super::report::AsyncPuts;
use super::stats::median;
use kv_engine::{Durability, SyncPolicy};

/// The modes measured, in table order.
pub(crate) const MODES: [Durability; 2] = [Durability::Wal, Durability::Snapshot];

/// The window: the issue's `--sync 1s`.
pub(crate) const POLICY: SyncPolicy = SyncPolicy::Within(Duration::from_secs(1));

/// The medians of `runs` (one per repetition), each beside the memory run of the same
/// repetition in `memory`.
pub(crate) fn summarise(
    mode: Durability,
    n: usize,
    runs: &[PhaseRun],
    memory: &[PhaseRun],
) -> Result<AsyncPuts, BenchError> {
    let none = || BenchError::Config("no repetitions".into());
    let rates: Vec<f64> = runs.iter().map(PhaseRun::ops_per_sec).collect();
    let memory_rates: Vec<f64> = memory.iter().map(PhaseRun::ops_per_sec).collect();
    let ratios: Vec<f64> = rates
        .iter()
        .zip(&memory_rates)
        .map(|(rate, memory_rate)| rate / memory_rate)
        .collect();
    let fsyncs: Vec<f64> = runs
        .iter()
        .map(|run| run.fsyncs as f64 / run.statements.max(1) as f64)
        .collect();
    Ok(AsyncPuts {
        mode: mode.name().to_string(),
        sync: POLICY.to_string(),
        n,
        ops_per_sec: median(&rates).ok_or_else(none)?,
        memory_ops_per_sec: median(&memory_rates).ok_or_else(none)?,
        vs_memory: median(&ratios).ok_or_else(none)?,
        fsyncs_per_put: median(&fsyncs).ok_or_else(none)?,
    })
}

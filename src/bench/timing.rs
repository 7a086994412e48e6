//! Timing a pass of operations one by one, alone or interleaved with a disk limit.

use std::time::Instant;

use super::stats::Sample;
use kv_engine::Result;

/// Runs `op(0..ops)`, timing each call and the whole pass. Stops at the first error.
pub(crate) fn time_each(ops: usize, mut op: impl FnMut(usize) -> Result<()>) -> Result<Sample> {
    let mut latencies = Vec::with_capacity(ops);
    let pass = Instant::now();
    for i in 0..ops {
        let started = Instant::now();
        op(i)?;
        latencies.push(nanos(started));
    }
    let wall = nanos(pass);
    Ok(
        Sample::from_latencies(&mut latencies, wall).unwrap_or(Sample {
            ops: 0,
            ops_per_sec: 0.0,
            p50_ns: 0,
            p99_ns: 0,
        }),
    )
}

/// Nanoseconds since `started`, saturating (a pass never lasts 584 years).
pub(crate) fn nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `engine(i)` and `limit(i)` alternately for `i` in `0..ops`, timing each call, so
/// both see the same moments of the machine. Throughput is operations ÷ the sum of each
/// side's own latencies.
pub(crate) fn time_paired(
    ops: usize,
    mut engine: impl FnMut(usize) -> Result<()>,
    mut limit: impl FnMut(usize) -> Result<()>,
) -> Result<(Sample, Sample)> {
    let mut engine_ns = Vec::with_capacity(ops);
    let mut limit_ns = Vec::with_capacity(ops);
    for i in 0..ops {
        let started = Instant::now();
        engine(i)?;
        engine_ns.push(nanos(started));
        let started = Instant::now();
        limit(i)?;
        limit_ns.push(nanos(started));
    }
    let summarise = |latencies: &mut Vec<u64>| {
        let total = latencies.iter().sum();
        Sample::from_latencies(latencies, total).unwrap_or(EMPTY)
    };
    Ok((summarise(&mut engine_ns), summarise(&mut limit_ns)))
}

/// The summary of a pass of no operations.
const EMPTY: Sample = Sample {
    ops: 0,
    ops_per_sec: 0.0,
    p50_ns: 0,
    p99_ns: 0,
};

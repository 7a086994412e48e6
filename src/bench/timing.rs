//! Timing a pass of operations one by one.

use std::time::Instant;

use super::stats::Sample;
use crate::error::Result;

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

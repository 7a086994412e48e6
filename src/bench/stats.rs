//! Order statistics for latency samples and repetitions: median and percentiles.
//!
//! Percentiles use the nearest-rank method (the smallest sample such that at least `p` % of
//! the samples are less than or equal to it), so every reported latency is one that was
//! actually measured, never an interpolation between two.

/// The `p`-th percentile (0 ≤ `p` ≤ 100) of `sorted`, which must be sorted ascending, by
/// nearest rank; `None` for no samples. `p` outside 0..=100 is clamped.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
    // Nearest rank: ceil(p/100 × n), counted from 1; p = 0 takes the smallest sample.
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` for
/// no values. NaNs sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// The median of integer samples, rounded down for an even count; `None` for none.
pub fn median_u64(values: &[u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        // Halve before adding so two huge values cannot overflow.
        sorted[mid - 1] / 2 + sorted[mid] / 2 + (sorted[mid - 1] % 2 + sorted[mid] % 2) / 2
    })
}

/// What one timed pass of operations measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Operations timed.
    pub ops: usize,
    /// Operations per second over the whole pass.
    pub ops_per_sec: f64,
    /// Median latency of one operation, in nanoseconds.
    pub p50_ns: u64,
    /// 99th-percentile latency, in nanoseconds.
    pub p99_ns: u64,
}

impl Sample {
    /// Summarises per-operation latencies (in nanoseconds, any order) and the wall time of
    /// the pass that produced them. `None` for no operations.
    pub fn from_latencies(latencies_ns: &mut [u64], wall_ns: u64) -> Option<Sample> {
        latencies_ns.sort_unstable();
        Some(Sample {
            ops: latencies_ns.len(),
            ops_per_sec: ops_per_sec(latencies_ns.len(), wall_ns),
            p50_ns: percentile(latencies_ns, 50.0)?,
            p99_ns: percentile(latencies_ns, 99.0)?,
        })
    }
}

/// `ops` divided by `wall_ns` nanoseconds, per second; a zero-length pass counts as 1 ns
/// so the result stays finite.
pub fn ops_per_sec(ops: usize, wall_ns: u64) -> f64 {
    ops as f64 * 1e9 / wall_ns.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_by_nearest_rank_on_one_to_hundred() {
        let data: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&data, 0.0), Some(1));
        assert_eq!(percentile(&data, 1.0), Some(1));
        assert_eq!(percentile(&data, 50.0), Some(50));
        assert_eq!(percentile(&data, 99.0), Some(99));
        assert_eq!(percentile(&data, 99.5), Some(100));
        assert_eq!(percentile(&data, 100.0), Some(100));
    }

    #[test]
    fn percentile_of_small_and_empty_sets() {
        let empty: [u64; 0] = [];
        assert_eq!(percentile(&empty, 50.0), None);
        assert_eq!(percentile(&[7u64], 0.0), Some(7));
        assert_eq!(percentile(&[7u64], 99.0), Some(7));
        // Ten samples: the 99th percentile is the largest, the median the fifth.
        let ten: Vec<u64> = (10..20).collect();
        assert_eq!(percentile(&ten, 50.0), Some(14));
        assert_eq!(percentile(&ten, 99.0), Some(19));
        // Out-of-range p is clamped rather than panicking.
        assert_eq!(percentile(&ten, -5.0), Some(10));
        assert_eq!(percentile(&ten, 250.0), Some(19));
        assert_eq!(percentile(&ten, f64::NAN), Some(10));
    }

    #[test]
    fn median_of_odd_even_and_unsorted_data() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_u64(&[]), None);
        assert_eq!(median_u64(&[9, 1, 5]), Some(5));
        assert_eq!(median_u64(&[4, 1, 3, 2]), Some(2));
        assert_eq!(median_u64(&[u64::MAX, u64::MAX]), Some(u64::MAX));
        assert_eq!(median_u64(&[3, 5]), Some(4));
    }

    #[test]
    fn sample_summarises_latencies_and_wall_time() {
        let mut latencies: Vec<u64> = (1..=200).rev().collect();
        let sample = Sample::from_latencies(&mut latencies, 2_000_000_000).unwrap();
        assert_eq!(sample.ops, 200);
        assert_eq!(sample.ops_per_sec, 100.0);
        assert_eq!(sample.p50_ns, 100);
        assert_eq!(sample.p99_ns, 198);
        assert_eq!(Sample::from_latencies(&mut [], 5), None);
        assert_eq!(ops_per_sec(3, 0), 3e9);
    }
}

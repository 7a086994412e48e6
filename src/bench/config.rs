//! What a benchmark run measures: sizes, modes, repetitions and how many operations to time.

use std::path::PathBuf;

use kv_engine::Durability;

/// Puts in each timed transaction (`kv bench`'s "tx of 100" rows).
pub const TRANSACTION_PUTS: usize = 100;

/// How a benchmark run is set up. A plain struct, so a command line (clap, see
/// [`super::BenchArgs`]) or a test can fill it; [`BenchConfig::default`] is the full run,
/// [`BenchConfig::quick`] a run of a few seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Store sizes N, in keys: each mode is measured on a store of each size.
    pub sizes: Vec<usize>,
    /// Durability modes to measure, in table order.
    pub modes: Vec<Durability>,
    /// Where to create the run's temporary directory (removed afterwards); `None` for the
    /// system's temporary directory. Disk limits are measured in the same directory.
    pub dir: Option<PathBuf>,
    /// Repetitions of everything; the median is reported.
    pub reps: usize,
    /// Untimed operations before each timed pass, so caches, allocators and the file's
    /// first blocks are warm.
    pub warmup_ops: usize,
    /// Cap on timed operations per pass for modes that rewrite the whole store on every
    /// commit (naive, snapshot): at 100,000 keys each such put writes ~3 MiB.
    pub rewrite_ops: usize,
    /// Further cap for those modes, in keys rewritten per pass: at least
    /// [`MIN_REWRITE_OPS`] operations, and no more than `rewrite_keys / n`, so the biggest
    /// store does not take most of the run.
    pub rewrite_keys: usize,
    /// Cap on timed operations per pass for modes that make each mutation durable with one
    /// small log record (the write-ahead log), and for the append and overwrite limits.
    pub record_ops: usize,
    /// Cap on timed operations per pass in memory, and on gets in every mode.
    pub memory_ops: usize,
    /// Size of one "record-sized" write for the append and overwrite limits: about one
    /// log record of the benchmark's workload.
    pub record_bytes: usize,
    /// A `kv` binary that measures each store's memory in a fresh process of its own
    /// (`kv bench` passes itself), as a user's `kv` opening the database would use it.
    /// `None` measures in this process, where what earlier opens freed (and the
    /// allocator's raised mmap threshold after freeing a big buffer) blurs the figure.
    /// With [`peers`](Self::peers), kv's side of each comparison runs through this binary
    /// too, a process per script as for the peers (`None`: in this process).
    pub memory_probe: Option<PathBuf>,
    /// Also run the workload through the peers (sqlite3, Redis) found on the `PATH`, each
    /// beside kv's run of the same scripts (`--peers`).
    pub peers: bool,
}

impl Default for BenchConfig {
    /// The full run: 1,000, 10,000 and 100,000 keys, every mode, 3 repetitions. Takes a
    /// couple of minutes on a 2-core machine with a ~0.1 ms flush.
    fn default() -> Self {
        BenchConfig {
            sizes: vec![1_000, 10_000, 100_000],
            modes: Durability::ALL.to_vec(),
            dir: None,
            reps: 3,
            warmup_ops: 20,
            rewrite_ops: 100,
            rewrite_keys: 4_000_000,
            record_ops: 1_000,
            memory_ops: 100_000,
            record_bytes: 64,
            memory_probe: None,
            peers: false,
        }
    }
}

impl BenchConfig {
    /// A run of a few seconds: every mode, two small sizes, fewer operations.
    pub fn quick() -> Self {
        BenchConfig {
            sizes: vec![1_000, 10_000],
            reps: 2,
            warmup_ops: 5,
            rewrite_ops: 20,
            record_ops: 200,
            memory_ops: 10_000,
            ..BenchConfig::default()
        }
    }

    /// Checks the settings make a run that can measure something; the message says which
    /// setting is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.sizes.is_empty() {
            return Err("no store sizes given".into());
        }
        if let Some(&n) = self.sizes.iter().find(|&&n| n < 2) {
            return Err(format!("store size {n} is too small: at least 2 keys"));
        }
        if self.modes.is_empty() {
            return Err("no durability modes given".into());
        }
        for (name, value) in [
            ("repetitions", self.reps),
            ("rewrite ops", self.rewrite_ops),
            ("record ops", self.record_ops),
            ("memory ops", self.memory_ops),
            ("record bytes", self.record_bytes),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }

    /// Untimed warm-up operations before each timed pass on a store of `n` keys: at most a
    /// tenth of the store, so the timed operations still find it at about `n` keys.
    pub fn warmup_for(&self, n: usize) -> usize {
        self.warmup_ops.min(n / 10)
    }

    /// How many puts, overwrites and deletes are timed in each pass of `mode` at `n` keys.
    pub fn timed_ops(&self, mode: Durability, n: usize) -> usize {
        let cap = match ModeKind::of(mode) {
            ModeKind::InMemory => self.memory_ops,
            ModeKind::FullRewrite { .. } => self
                .rewrite_ops
                .min((self.rewrite_keys / n.max(1)).max(MIN_REWRITE_OPS)),
            ModeKind::RecordLog => self.record_ops,
        };
        cap.min(n - self.warmup_for(n)).max(1)
    }

    /// How many transactions of [`TRANSACTION_PUTS`] overwrites are timed in each pass of
    /// `mode` at `n` keys: a hundredth as many as single puts in memory (the same number of
    /// mutations), a quarter in the record log (so the log stays short of a checkpoint),
    /// and as many as single puts where each commit rewrites the file anyway.
    pub fn timed_transactions(&self, mode: Durability, n: usize) -> usize {
        let single = self.timed_ops(mode, n);
        match ModeKind::of(mode) {
            ModeKind::InMemory => single / TRANSACTION_PUTS,
            ModeKind::FullRewrite { .. } => single,
            ModeKind::RecordLog => single / 4,
        }
        .max(1)
    }

    /// How many gets are timed in each pass at `n` keys (gets cost the same in every mode).
    pub fn timed_gets(&self, n: usize) -> usize {
        self.memory_ops.min(n)
    }
}

/// Timed operations per pass of a whole-store rewrite that [`BenchConfig::rewrite_keys`]
/// never cuts below: fewer would leave no percentile worth the name.
pub const MIN_REWRITE_OPS: usize = 50;

/// What a mode does on every commit, which decides what it is bounded by and how many
/// operations can be timed in a reasonable run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    /// No disk at all: bounded by nothing but the CPU.
    InMemory,
    /// Rewrites the whole store per commit: bounded by writing (and, if `synced`, by the
    /// snapshot recipe for) the same number of bytes.
    FullRewrite { synced: bool },
    /// Appends one record per commit and syncs it: bounded by an overwrite + fdatasync of
    /// a record in preallocated space.
    RecordLog,
}

impl ModeKind {
    /// The kind of `mode`. Every mode beyond the rewriting stages is a log (the
    /// write-ahead log of stage 3), so a new log mode needs no line here.
    pub fn of(mode: Durability) -> ModeKind {
        if mode == Durability::Memory {
            ModeKind::InMemory
        } else if matches!(mode, Durability::Naive | Durability::Snapshot) {
            ModeKind::FullRewrite {
                synced: mode == Durability::Snapshot,
            }
        } else {
            ModeKind::RecordLog
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_quick_configs_are_valid() {
        assert_eq!(BenchConfig::default().validate(), Ok(()));
        assert_eq!(BenchConfig::quick().validate(), Ok(()));
        assert_eq!(BenchConfig::default().sizes, vec![1_000, 10_000, 100_000]);
        assert_eq!(BenchConfig::default().modes, Durability::ALL.to_vec());
    }

    #[test]
    fn validate_names_the_bad_setting() {
        let bad = |change: fn(&mut BenchConfig)| {
            let mut config = BenchConfig::quick();
            change(&mut config);
            config.validate().unwrap_err()
        };
        assert_eq!(bad(|c| c.sizes.clear()), "no store sizes given");
        assert!(bad(|c| c.sizes = vec![10, 1]).contains("store size 1"));
        assert_eq!(bad(|c| c.modes.clear()), "no durability modes given");
        assert_eq!(bad(|c| c.reps = 0), "repetitions must be at least 1");
        assert_eq!(
            bad(|c| c.record_bytes = 0),
            "record bytes must be at least 1"
        );
    }

    #[test]
    fn timed_ops_are_capped_per_kind_and_leave_room_for_warmup() {
        let config = BenchConfig::default();
        assert_eq!(config.timed_ops(Durability::Snapshot, 10_000), 100);
        assert_eq!(config.timed_ops(Durability::Snapshot, 50_000), 80);
        assert_eq!(config.timed_ops(Durability::Snapshot, 100_000), 50);
        assert_eq!(config.timed_ops(Durability::Naive, 1_000_000), 50);
        assert_eq!(config.timed_ops(Durability::Memory, 100_000), 100_000 - 20);
        assert_eq!(config.timed_ops(Durability::Memory, 50), 45);
        assert_eq!(config.warmup_for(50), 5);
        assert_eq!(config.timed_gets(50), 50);
        assert_eq!(config.timed_gets(1_000_000), 100_000);
    }
}

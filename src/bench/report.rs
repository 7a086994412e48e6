//! The report of a benchmark run: plain data, serialisable to JSON, rendered as a table by
//! [`Report::render_table`].

pub use super::disk::LimitKind;
use serde::Serialize;

use super::piped::PipedPhase;
use super::stats::{Sample, median, median_u64};
use super::system::Machine;

/// Everything a run measured. Rates are operations per second, latencies nanoseconds,
/// sizes bytes; every figure is the median over the repetitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// Repetitions of every measurement.
    pub reps: usize,
    /// Why the durable figures may mean nothing here (tmpfs, a disk that ignores flushes).
    pub warning: Option<String>,
    /// The disk's own limits, measured in the same directory during the same run.
    pub limits: Limits,
    /// One entry per durability mode and store size, in the configured order.
    pub cases: Vec<Case>,
    /// The piped-input path with `--group-commit`, per durability mode and store size, in
    /// the configured order.
    pub piped: Vec<PipedCase>,
    /// Stage 5: piped puts without `--group-commit` under `--sync 1s`, per mode and store
    /// size, beside memory mode's.
    pub async_puts: Vec<AsyncPuts>,
    /// `--peers`: the same piped workload through sqlite3 and Redis, beside kv's; `None`
    /// when not asked for.
    pub peers: Option<Peers>,
    /// The project's performance targets (`docs/targets.md`), checked against this run.
    pub targets: Vec<TargetCheck>,
}

/// Piped puts of new keys without `--group-commit`, acknowledged before they are durable
/// (`--sync`), beside the same script in memory mode (issue 14's target: at least half
/// its rate, with fsyncs per put near 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AsyncPuts {
    /// The durability mode's name.
    pub mode: String,
    /// The sync policy, as `--sync` takes it.
    pub sync: String,
    /// Store size in keys (puts in the script).
    pub n: usize,
    /// Median puts per second over the repetitions.
    pub ops_per_sec: f64,
    /// Median of memory mode's rate for the same script, run just before.
    pub memory_ops_per_sec: f64,
    /// Median of the per-repetition ratios to memory mode.
    pub vs_memory: f64,
    /// Median fsyncs per put.
    pub fsyncs_per_put: f64,
}

/// The peers of `--peers`: the ones measured, per peer and store size in table order, and
/// the ones that could not run here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peers {
    /// How kv's side ran the scripts: through the `kv` binary, a process per script as
    /// for the peers, or (a library caller without the binary) in this process.
    pub kv_runs_as: String,
    pub cases: Vec<PeerCase>,
    pub skipped: Vec<SkippedPeer>,
}

/// One peer on one store size: the three scripts, each beside kv's run of the same script
/// in the kv mode that makes the same promise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerCase {
    /// The short name (`sqlite3 WAL`, `redis always --pipe`, ...).
    pub peer: String,
    /// What exactly runs.
    pub description: String,
    /// The kv mode it is compared with (`wal`, `wal --group-commit`, `wal --sync 1s`).
    pub kv_mode: String,
    /// Store size in keys: the number of puts.
    pub n: usize,
    /// Puts, gets and deletes, in that order.
    pub phases: Vec<PeerResult>,
}

impl PeerCase {
    /// The result for `phase`, if it was measured.
    pub fn phase(&self, phase: PipedPhase) -> Option<&PeerResult> {
        self.phases.iter().find(|result| result.phase == phase)
    }
}

/// One script of a [`PeerCase`], as the median over repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeerResult {
    pub phase: PipedPhase,
    pub statements: usize,
    pub reps: usize,
    /// The peer's statements per second, from starting its program to its exit.
    pub ops_per_sec: f64,
    pub min_ops_per_sec: f64,
    pub max_ops_per_sec: f64,
    /// kv's statements per second for the same script, run just before.
    pub kv_ops_per_sec: f64,
    /// Median over repetitions of kv's rate ÷ the peer's: above 1.0, kv is ahead.
    pub kv_ratio: f64,
}

/// A peer that could not run, and why (`sqlite3 not installed (apt install sqlite3)`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedPeer {
    pub peer: String,
    pub reason: String,
}

/// The disk's own limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Size of the record-sized writes below.
    pub record_bytes: usize,
    /// Append a record at the end of a growing file, then fdatasync.
    pub append_fdatasync: Timing,
    /// Overwrite a record inside preallocated, already-synced space, then fdatasync.
    pub overwrite_fdatasync: Timing,
    /// The whole-file limits, per store size.
    pub by_size: Vec<SizeLimits>,
}

/// Limits that depend on the size of the store's snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeLimits {
    /// Store size in keys.
    pub n: usize,
    /// Bytes written per operation: the snapshot file of `n` keys.
    pub bytes: u64,
    /// Write a temp file, fsync it, rename it over the target, fsync the directory.
    pub snapshot_recipe: Timing,
    /// Truncate a file and write the bytes, with no sync.
    pub rewrite_unsynced: Timing,
}

/// Throughput and latency of one kind of operation, as the median over repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Operations timed in each repetition.
    pub ops: usize,
    /// Repetitions measured.
    pub reps: usize,
    /// Median throughput, operations per second.
    pub ops_per_sec: f64,
    /// Slowest and fastest repetition, to show the noise.
    pub min_ops_per_sec: f64,
    pub max_ops_per_sec: f64,
    /// Median over repetitions of the median and the 99th-percentile latency, in ns.
    pub p50_ns: u64,
    pub p99_ns: u64,
}

impl Timing {
    /// Summarises the repetitions of one measurement; `None` for no repetitions.
    pub fn from_reps(samples: &[Sample]) -> Option<Timing> {
        let rates: Vec<f64> = samples.iter().map(|s| s.ops_per_sec).collect();
        let p50s: Vec<u64> = samples.iter().map(|s| s.p50_ns).collect();
        let p99s: Vec<u64> = samples.iter().map(|s| s.p99_ns).collect();
        Some(Timing {
            ops: samples.iter().map(|s| s.ops).min()?,
            reps: samples.len(),
            ops_per_sec: median(&rates)?,
            min_ops_per_sec: rates.iter().copied().fold(f64::INFINITY, f64::min),
            max_ops_per_sec: rates.iter().copied().fold(0.0, f64::max),
            p50_ns: median_u64(&p50s)?,
            p99_ns: median_u64(&p99s)?,
        })
    }
}

/// One durability mode on one store size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// The durability mode's name.
    pub mode: String,
    /// Store size in keys.
    pub n: usize,
    /// Size of the database file at `n` keys; `None` in memory.
    pub file_bytes: Option<u64>,
    /// Median time to reopen the store at `n` keys; `None` in memory (nothing to open).
    pub open_ns: Option<u64>,
    /// Keys the reopened store held (fewest over repetitions): `n` unless something is
    /// wrong.
    pub keys_after_open: usize,
    /// Resident memory of the store opened from a snapshot of `n` keys.
    pub memory: Option<Memory>,
    /// Puts of new keys, overwrites, gets and deletes, in that order.
    pub ops: Vec<OpResult>,
}

impl Case {
    /// The result for `op`, if it was measured.
    pub fn op(&self, op: Op) -> Option<&OpResult> {
        self.ops.iter().find(|result| result.op == op)
    }
}

/// Resident memory per key, from the growth of the process's resident set (`VmRSS`)
/// across opening the store.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Memory {
    pub resident_bytes: u64,
    pub snapshot_bytes: u64,
    pub bytes_per_key: f64,
    /// `resident_bytes / snapshot_bytes`; the target is at most 3.
    pub ratio_to_snapshot: f64,
}

/// The four operations of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Put of a key that is not in the store.
    Put,
    /// Put of a key that is, with a value of the same size.
    Overwrite,
    Get,
    /// Delete of a key that is in the store.
    Delete,
    /// A transaction of [`TRANSACTION_PUTS`](super::config::TRANSACTION_PUTS) overwrites,
    /// committed as one commit.
    Transaction,
}

impl Op {
    /// Every operation, in workload order.
    pub const ALL: [Op; 5] = [Op::Put, Op::Overwrite, Op::Get, Op::Delete, Op::Transaction];

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Overwrite => "overwrite",
            Op::Get => "get",
            Op::Delete => "delete",
            Op::Transaction => "tx of 100",
        }
    }
}

/// One operation of one case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpResult {
    pub op: Op,
    pub timing: Timing,
    /// For gets and deletes: operations that found their key (fewest over repetitions);
    /// equal to `timing.ops` unless something is wrong.
    pub found: Option<usize>,
    /// fsync/fdatasync calls per operation, from the store's counters.
    pub fsyncs_per_op: f64,
    /// Bytes handed to write calls per operation, from the store's counters.
    pub bytes_per_op: f64,
    /// The disk limit that bounds this operation, if any.
    pub bound: Option<Bound>,
}

/// An engine figure beside the limit that bounds it, measured in alternation with it: one
/// engine operation, one limit operation, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bound {
    pub limit: LimitKind,
    /// The limit, as measured interleaved with the engine's operations.
    pub limit_timing: Timing,
    /// Median over repetitions of engine throughput ÷ limit throughput: 1.0 means the
    /// engine runs at the disk's limit; above 1.0 is possible only within the noise.
    pub ratio: f64,
}

/// `docs/targets.md`'s workload piped into the shell with `--group-commit`, on one mode and
/// store size: N puts of new keys, N gets, N/100 deletes, each a script of its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipedCase {
    /// The durability mode's name.
    pub mode: String,
    /// Store size in keys: the number of puts.
    pub n: usize,
    /// Puts, gets and deletes, in that order.
    pub phases: Vec<PipedResult>,
}

impl PipedCase {
    /// The result for `phase`, if it was measured.
    pub fn phase(&self, phase: PipedPhase) -> Option<&PipedResult> {
        self.phases.iter().find(|result| result.phase == phase)
    }
}

/// One script of a [`PipedCase`], as the median over repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PipedResult {
    pub phase: PipedPhase,
    /// Statements in the script.
    pub statements: usize,
    pub reps: usize,
    /// Statements per second, from the first byte read to the last result printed.
    pub ops_per_sec: f64,
    pub min_ops_per_sec: f64,
    pub max_ops_per_sec: f64,
    /// How many statements each commit took on average (group commit's batch size); 0
    /// for a script that commits nothing.
    pub statements_per_commit: f64,
    /// fsync/fdatasync calls per statement, from the store's counters.
    pub fsyncs_per_op: f64,
    /// Bytes of data handed to write calls per statement (not the zeros that preallocate
    /// log space), from the store's counters.
    pub bytes_per_op: f64,
    /// The same script in memory mode; `None` for memory mode itself.
    pub bound: Option<PipedBound>,
}

/// A piped script beside the same script in memory mode, timed right before it in each
/// repetition. Once group commit shares each fsync among a batch, the bound of a piped
/// script is the shell's own work (read, parse, execute, print), which memory mode is
/// with no disk at all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PipedBound {
    /// Memory mode's statements per second (median over repetitions).
    pub memory_ops_per_sec: f64,
    /// Median over repetitions of this mode's rate ÷ memory mode's: 1.0 means durability
    /// costs the piped path nothing.
    pub ratio: f64,
}

/// One performance target and whether this run met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// What is required, in words.
    pub target: String,
    /// What this run measured, in words.
    pub measured: String,
    pub met: bool,
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys and finite-or-null numbers: serialising cannot fail,
        // but an error is still reported rather than panicking.
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|err| format!("{{\"error\": {:?}}}", err.to_string()))
    }

    /// The case for `mode` at `n` keys.
    pub fn case(&self, mode: &str, n: usize) -> Option<&Case> {
        self.cases
            .iter()
            .find(|case| case.mode == mode && case.n == n)
    }

    /// The piped case for `mode` at `n` keys.
    pub fn piped_case(&self, mode: &str, n: usize) -> Option<&PipedCase> {
        self.piped
            .iter()
            .find(|case| case.mode == mode && case.n == n)
    }

    /// The whole-file limits at `n` keys.
    pub fn size_limits(&self, n: usize) -> Option<&SizeLimits> {
        self.limits.by_size.iter().find(|limits| limits.n == n)
    }
}

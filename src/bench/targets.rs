//! The project's performance targets (`docs/targets.md`, issues 5 and 6), checked against a
//! report. Each check compares figures measured in the same run, never an absolute time
//! against another machine, except where the target itself is absolute.

use super::config::ModeKind;
use super::format;
use super::piped::PipedPhase;
use super::report::{Op, OpResult, Report, TargetCheck};
use kv_engine::Durability;

/// Gets per second an in-memory store must reach.
pub const GETS_PER_SEC: f64 = 1_000_000.0;
/// Snapshot commit ÷ snapshot recipe for the same bytes, at [`SNAPSHOT_TARGET_KEYS`].
pub const SNAPSHOT_RATIO: f64 = 0.8;
/// The store size the snapshot target is stated at.
pub const SNAPSHOT_TARGET_KEYS: usize = 10_000;
/// Durable log put ÷ overwrite + fdatasync of a record.
pub const LOG_PUT_RATIO: f64 = 0.85;
/// A log transaction of 100 puts costs at most this many single put commits, plus the
/// time the disk takes to write its extra bytes.
pub const TRANSACTION_COMMITS: f64 = 2.0;
/// Resident memory ÷ snapshot size on disk, at most.
pub const MEMORY_RATIO: f64 = 3.0;
/// Below this many keys the resident-set growth is a few pages, too coarse to judge.
pub const MEMORY_MIN_KEYS: usize = 10_000;
/// Our reading of "flat": the put's ratio to its disk limit at the largest size ≥ this ×
/// the same ratio at the smallest.
pub const FLAT_RATIO: f64 = 0.8;
/// Opening a store of this many keys must take less than [`OPEN_LIMIT_NS`].
pub const OPEN_TARGET_KEYS: usize = 1_000_000;
pub const OPEN_LIMIT_NS: u64 = 1_000_000_000;
/// Durable puts per second from a piped file with group commit, at
/// [`PIPED_TARGET_KEYS`]: what `redis-cli --pipe` reaches against redis with
/// `appendfsync always` (`docs/targets.md`, measured elsewhere: the one absolute target).
pub const PIPED_PUTS_PER_SEC: f64 = 600_000.0;
/// The store size the piped-put target is stated at.
pub const PIPED_TARGET_KEYS: usize = 100_000;
/// Gets per second from a piped file, through the shell.
pub const PIPED_GETS_PER_SEC: f64 = 1_000_000.0;

/// The peers kv's durable puts must be ahead of (`docs/targets.md`, next targets).
pub const PEERS_TO_BEAT: [&str; 3] = [
    super::peers::SQLITE_WAL,
    super::peers::REDIS_ALWAYS,
    super::peers::REDIS_ALWAYS_PIPE,
];

/// Checks every target this report has the figures for (its own `targets` are ignored).
pub fn evaluate(report: &Report) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let kind = |mode: &str| mode.parse::<Durability>().ok().map(ModeKind::of);

    // Snapshot commit at 10,000 keys vs the recipe: overwrites keep the file at exactly
    // the recipe's byte count.
    if let Some(result) = report
        .case(Durability::Snapshot.name(), SNAPSHOT_TARGET_KEYS)
        .and_then(|case| case.op(Op::Overwrite))
    {
        checks.extend(ratio_check(
            format!(
                "snapshot commit at {} keys ≥ {SNAPSHOT_RATIO} × the snapshot recipe for the same bytes",
                format::int(SNAPSHOT_TARGET_KEYS as u64)
            ),
            result,
            SNAPSHOT_RATIO,
        ));
    }

    // Durable puts of a per-record log vs an overwrite + fdatasync of a record.
    for case in &report.cases {
        if kind(&case.mode) != Some(ModeKind::RecordLog) {
            continue;
        }
        if let Some(result) = case.op(Op::Put) {
            checks.extend(ratio_check(
                format!(
                    "{} put at {} keys ≥ {LOG_PUT_RATIO} × overwrite + fdatasync",
                    case.mode,
                    format::int(case.n as u64)
                ),
                result,
                LOG_PUT_RATIO,
            ));
        }
    }

    // A transaction's one log commit: at most two single put commits, plus the time the
    // disk takes to write its extra bytes (its overwrite + fdatasync of the transaction's
    // bytes less that of one record, both measured beside the engine in this case).
    for case in &report.cases {
        if kind(&case.mode) != Some(ModeKind::RecordLog) {
            continue;
        }
        let bounded = |op| {
            case.op(op)
                .and_then(|result| result.bound.map(|bound| (result, bound)))
        };
        let (Some((put, put_bound)), Some((tx, tx_bound))) =
            (bounded(Op::Put), bounded(Op::Transaction))
        else {
            continue;
        };
        let extra_bytes_ns = tx_bound
            .limit_timing
            .p50_ns
            .saturating_sub(put_bound.limit_timing.p50_ns);
        let allowed_ns = TRANSACTION_COMMITS * put.timing.p50_ns as f64 + extra_bytes_ns as f64;
        checks.push(TargetCheck {
            target: format!(
                "{} tx of 100 puts at {} keys ≤ {TRANSACTION_COMMITS} put commits + writing its bytes",
                case.mode,
                format::int(case.n as u64)
            ),
            measured: format!(
                "{} (p50 {} vs put {} + bytes {})",
                format::ratio(tx.timing.p50_ns as f64 / allowed_ns),
                kv_engine::human::duration_ns(tx.timing.p50_ns),
                kv_engine::human::duration_ns(put.timing.p50_ns),
                kv_engine::human::duration_ns(extra_bytes_ns)
            ),
            met: tx.timing.p50_ns as f64 <= allowed_ns,
        });
    }

    // Put cost flat across sizes, for log modes: compared through each size's ratio to
    // the limit measured beside it, so a noisy minute at one size does not read as growth.
    let mut log_modes: Vec<&str> = report
        .cases
        .iter()
        .filter(|case| kind(&case.mode) == Some(ModeKind::RecordLog))
        .map(|case| case.mode.as_str())
        .collect();
    log_modes.sort_unstable();
    log_modes.dedup();
    for mode in log_modes {
        let puts: Vec<(usize, f64)> = report
            .cases
            .iter()
            .filter(|case| case.mode == mode)
            .filter_map(|case| Some((case.n, case.op(Op::Put)?.bound?.ratio)))
            .collect();
        let smallest = puts.iter().min_by_key(|(n, _)| *n);
        let largest = puts.iter().max_by_key(|(n, _)| *n);
        if let (Some(&(small_n, small)), Some(&(large_n, large))) = (smallest, largest)
            && small_n < large_n
        {
            let ratio = large / small;
            checks.push(TargetCheck {
                target: format!(
                    "{mode} put cost flat from {} to {} keys (its ratio to the disk limit at the largest size ≥ {FLAT_RATIO} × at the smallest)",
                    format::int(small_n as u64),
                    format::int(large_n as u64)
                ),
                measured: format!(
                    "{} ({} vs {} of overwrite + fdatasync)",
                    format::ratio(ratio),
                    format::ratio(large),
                    format::ratio(small)
                ),
                met: ratio >= FLAT_RATIO,
            });
        }
    }

    // Gets in memory, at every size.
    let gets: Vec<(usize, f64)> = report
        .cases
        .iter()
        .filter(|case| case.mode == Durability::Memory.name())
        .filter_map(|case| Some((case.n, case.op(Op::Get)?.timing.ops_per_sec)))
        .collect();
    if let Some(&(n, slowest)) = gets.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
        checks.push(TargetCheck {
            target: format!(
                "gets in memory ≥ {}/s at every size",
                format::rate(GETS_PER_SEC)
            ),
            measured: format!(
                "slowest {}/s (at {} keys)",
                format::rate(slowest),
                format::int(n as u64)
            ),
            met: slowest >= GETS_PER_SEC,
        });
    }

    // Resident memory vs the snapshot's size, where the store is big enough to measure.
    let memory = report
        .cases
        .iter()
        .filter(|case| case.n >= MEMORY_MIN_KEYS)
        .filter_map(|case| Some((case, case.memory?)))
        .max_by(|a, b| a.1.ratio_to_snapshot.total_cmp(&b.1.ratio_to_snapshot));
    if let Some((case, memory)) = memory {
        checks.push(TargetCheck {
            target: format!(
                "resident memory ≤ {MEMORY_RATIO} × the snapshot's size on disk (stores of ≥ {} keys)",
                format::int(MEMORY_MIN_KEYS as u64)
            ),
            measured: format!(
                "worst {} ({} mode, {} keys: {} per key vs {} per key on disk)",
                format::ratio(memory.ratio_to_snapshot),
                case.mode,
                format::int(case.n as u64),
                format::size(memory.bytes_per_key),
                format::size(memory.snapshot_bytes as f64 / case.n as f64)
            ),
            met: memory.ratio_to_snapshot <= MEMORY_RATIO,
        });
    }

    // Durable puts piped with group commit, in log modes at the size the target names.
    for case in report
        .piped
        .iter()
        .filter(|case| kind(&case.mode) == Some(ModeKind::RecordLog) && case.n == PIPED_TARGET_KEYS)
    {
        if let Some(puts) = case.phase(PipedPhase::Put) {
            checks.push(TargetCheck {
                target: format!(
                    "{} puts piped with --group-commit at {} keys ≥ {}/s (redis-cli --pipe, appendfsync always)",
                    case.mode,
                    format::int(case.n as u64),
                    format::rate(PIPED_PUTS_PER_SEC)
                ),
                measured: format!(
                    "{}/s, {} statements per commit",
                    format::rate(puts.ops_per_sec),
                    format::rate(puts.statements_per_commit)
                ),
                met: puts.ops_per_sec >= PIPED_PUTS_PER_SEC,
            });
        }
    }

    // Piped gets, through the shell, in every mode and size measured.
    let piped_gets = report
        .piped
        .iter()
        .filter_map(|case| Some((case, case.phase(PipedPhase::Get)?.ops_per_sec)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((case, slowest)) = piped_gets {
        checks.push(TargetCheck {
            target: format!(
                "piped gets ≥ {}/s at every size",
                format::rate(PIPED_GETS_PER_SEC)
            ),
            measured: format!(
                "slowest {}/s ({} mode, {} keys)",
                format::rate(slowest),
                case.mode,
                format::int(case.n as u64)
            ),
            met: slowest >= PIPED_GETS_PER_SEC,
        });
    }

    // Peers (`--peers`): ahead of sqlite3 WAL and redis `appendfsync always` on durable
    // puts, and of `redis-cli --pipe` with group commit, on the same scripts in the same run.
    if let Some(peers) = &report.peers {
        for case in peers
            .cases
            .iter()
            .filter(|case| PEERS_TO_BEAT.contains(&case.peer.as_str()))
        {
            if let Some(puts) = case.phase(PipedPhase::Put) {
                checks.push(TargetCheck {
                    target: format!(
                        "{} puts ahead of {} at {} keys (same scripts, same run)",
                        case.kv_mode,
                        case.peer,
                        format::int(case.n as u64)
                    ),
                    measured: format!(
                        "{} ({}/s vs {}/s)",
                        format::ratio(puts.kv_ratio),
                        format::rate(puts.kv_ops_per_sec),
                        format::rate(puts.ops_per_sec)
                    ),
                    met: puts.kv_ratio >= 1.0,
                });
            }
        }
    }

    // Opening a large store.
    for case in report
        .cases
        .iter()
        .filter(|case| case.n >= OPEN_TARGET_KEYS)
    {
        if let Some(open_ns) = case.open_ns {
            checks.push(TargetCheck {
                target: format!(
                    "open a {} store of {} keys in < 1 s",
                    case.mode,
                    format::int(case.n as u64)
                ),
                measured: format::duration_ns(open_ns),
                met: open_ns < OPEN_LIMIT_NS,
            });
        }
    }
    checks
}

/// The check that `result` ran at `floor` × the disk limit that bounds it, or better;
/// `None` if no limit bounds it.
fn ratio_check(target: String, result: &OpResult, floor: f64) -> Option<TargetCheck> {
    let bound = result.bound?;
    Some(TargetCheck {
        target,
        measured: format!(
            "{} ({}/s vs {}/s)",
            format::ratio(bound.ratio),
            format::rate(result.timing.ops_per_sec),
            format::rate(bound.limit_timing.ops_per_sec)
        ),
        met: bound.ratio >= floor,
    })
}

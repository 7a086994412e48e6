//! [`ExecError`]: why a command failed, apart from `exec` so that the database layer
//! (`database.rs`), which `exec` drives, can fail the same way without importing it.

use std::path::PathBuf;
use std::sync::Arc;

use kv_engine::{CrashPoint, Durability};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] kv_engine::Error),
    /// No store is open: a reopen after a reboot failed.
    #[error(
        "no database is open: {0}. `powercut` reboots and tries to open it again; `exit` leaves"
    )]
    Closed(NoStore),
    /// A button that only a simulated disk has.
    #[error(
        "{what} needs a simulated disk: run kv --simulate PATH (on the real disk, `crash POINT` \
         arms a real process abort)"
    )]
    NeedsSimulate { what: &'static str },
    /// `crash POINT` in memory mode.
    #[error("memory mode has no disk: nothing to crash (every key is lost when the process ends)")]
    NothingToCrash,
    /// `crash POINT` with a point of another mode.
    #[error(
        "crash point {point} is not part of the {mode} mode's commit (its points: {})",
        names(points)
    )]
    NotAPointOfThisMode {
        point: CrashPoint,
        mode: Durability,
        points: Vec<CrashPoint>,
    },
    /// The commit of a group of statements (`--group-commit`) failed: nothing of it was
    /// stored, and each of its statements reports it.
    #[error("{reason} (the whole group commit failed: nothing of it was stored)")]
    GroupFailed { reason: String },
    /// `begin` inside a transaction: transactions do not nest.
    #[error(
        "a transaction is already open ({} queued): commit or rollback it first \
         (transactions do not nest)",
        count_mutations(*queued)
    )]
    InTransaction { queued: usize },
    /// `commit` or `rollback` with no transaction open.
    #[error("no transaction is open: nothing to {verb} (begin opens one)")]
    NoTransaction { verb: &'static str },
    /// A transaction's commit failed: nothing of it was stored, nor is visible.
    #[error(
        "{reason} (the transaction was not committed: none of its {} was stored)",
        count_mutations(*mutations)
    )]
    TransactionFailed { reason: String, mutations: usize },
    /// The store refused to arm a point.
    #[error("{0}")]
    Refused(String),
    /// `save` refused: the real file was not touched.
    #[error("nothing saved to {}: {why}; the real file was not touched", path.display())]
    NothingSaved { path: PathBuf, why: String },
    /// `sleep` without a simulated clock.
    #[error(
        "sleep moves the simulated clock of a delayed sync: run kv --simulate --sync DURATION PATH"
    )]
    NeedsSimulatedClock,
    /// `trace on` with no filesystem behind the store.
    #[error(
        "an in-memory store performs no filesystem operations: nothing to trace (open a file: kv PATH)"
    )]
    NothingToTrace,
}

/// Why the shell has no store open.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoStore {
    /// A reboot of the simulated disk dropped the store (the process died) and has not
    /// reopened it yet; no command can see this state.
    #[error("the simulated disk is rebooting")]
    Rebooting,
    /// The store was closed at the shell's exit; no command runs after it.
    #[error("the shell has exited")]
    Closed,
    /// Reopening after a reboot failed: the shell goes on without a store.
    #[error("after the reboot, {} cannot be opened: {error}", path.display())]
    ReopenFailed {
        /// The database file, as given.
        path: PathBuf,
        /// Shared, because an outcome that carries it is cloned and the engine's errors
        /// (holding `io::Error`s) are not.
        error: Arc<kv_engine::Error>,
    },
}

impl PartialEq for NoStore {
    /// By what the user is told: the engine's errors have no equality of their own.
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Why `crash` does nothing on a `--read-only` store.
pub(crate) const READ_ONLY_NO_CRASH: &str = "opened read-only, this store commits nothing, so \
     no crash point is ever reached (the writer's crash points are armed in the writer)";

/// `N mutation(s)`.
fn count_mutations(n: usize) -> String {
    kv_engine::human::count(n as u64, "mutation")
}

/// The names of `points`, comma-separated, or `none`.
fn names(points: &[CrashPoint]) -> String {
    if points.is_empty() {
        return "none".to_string();
    }
    points
        .iter()
        .map(|point| point.name())
        .collect::<Vec<_>>()
        .join(", ")
}

//! [`ExecError`]: why a command failed, apart from `exec` so that the database layer
//! (`database.rs`), which `exec` drives, can fail the same way without importing it.

use std::path::PathBuf;

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
        "no database is open: {reason}. `powercut` reboots and tries to open it again; `exit` leaves"
    )]
    Closed { reason: String },
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

/// Why `crash` does nothing on a `--read-only` store.
pub(crate) const READ_ONLY_NO_CRASH: &str = "opened read-only, this store commits nothing, so \
     no crash point is ever reached (the writer's crash points are armed in the writer)";

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

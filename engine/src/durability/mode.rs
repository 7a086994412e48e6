//! [`Durability`]: the modes a store can commit in, one per stage of `history/`. Apart
//! from the backends that carry them out, so that what names a mode (the crash buttons,
//! the shell) need not depend on how a mode works.

use std::str::FromStr;

/// How a store makes its mutations survive, documented by what is still there after the
/// call that made a mutation has returned `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Stage 0: no file at all. A process kill or a power loss loses everything.
    Memory,
    /// Stage 1: the database file is truncated and rewritten in place, with no fsync.
    /// A process kill *during* a commit can leave an empty or half-written file; a power
    /// loss can lose or corrupt anything. Kept to be shown failing.
    Naive,
    /// Stage 2: a full snapshot is written to a temp file, fsynced, renamed over the
    /// database file, and the directory fsynced before the call returns. Survives a
    /// process kill and a power loss at any moment: the file holds either the previous
    /// or the new committed state, never a mix.
    #[default]
    Snapshot,
    /// Stage 3: each commit appends its mutations to a write-ahead log (`PATH.wal`) and
    /// fdatasyncs it before the call returns; a checkpoint folds the log into the snapshot
    /// now and then. Survives a process kill and a power loss at any moment: recovery
    /// finds every acknowledged commit, whole, and never half of one.
    Wal,
}

impl Durability {
    /// Every mode, in stage order.
    pub const ALL: [Durability; 4] = [
        Durability::Memory,
        Durability::Naive,
        Durability::Snapshot,
        Durability::Wal,
    ];

    /// The name used on the command line and in `stats`.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Memory => "memory",
            Durability::Naive => "naive",
            Durability::Snapshot => "snapshot",
            Durability::Wal => "wal",
        }
    }

    /// The stage number of `history/`.
    pub fn stage(self) -> u8 {
        match self {
            Durability::Memory => 0,
            Durability::Naive => 1,
            Durability::Snapshot => 2,
            Durability::Wal => 3,
        }
    }
}

known_by_name!(Durability);

impl FromStr for Durability {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Durability::by_name(name).ok_or_else(|| {
            format!(
                "unknown durability mode {name:?} (expected one of: {})",
                Durability::names()
            )
        })
    }
}

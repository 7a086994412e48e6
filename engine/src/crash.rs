//! Crash buttons: named points inside a commit where the user can make the process die,
//! to show in front of a class what each stage leaves on disk.

use std::str::FromStr;

use crate::durability::mode::Durability;

/// What reaching an armed crash point does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum CrashAction {
    /// Abort the process there: no destructors, no flushing, exactly what a `kill -9` at
    /// that instant would leave behind. The default, for a store on the real disk.
    #[default]
    Abort,
    /// Stop the commit dead: it returns [`Error::Crashed`](crate::Error::Crashed) without
    /// another filesystem call, and the store refuses further writes. For a store on a
    /// simulated disk, whose owner then builds the post-crash disk
    /// ([`SimFs::crash`](crate::fs::SimFs::crash)) and reopens, without losing the process.
    Halt,
}

/// A step of a commit protocol where an armed store ([`KvStore::arm_crash`](crate::KvStore::arm_crash))
/// crashes: it aborts the process, or stops the commit dead, as its [`CrashAction`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CrashPoint {
    /// Naive: half of the new file written over the truncated old one.
    MidWrite,
    /// Snapshot: the temp file written but not fsynced.
    AfterTempWrite,
    /// Snapshot: the temp file fsynced but not yet renamed.
    AfterTempSync,
    /// Snapshot: renamed, but the directory not yet fsynced.
    AfterRename,
    /// Wal: half of a commit's records written to the log, nothing synced.
    MidAppend,
    /// Wal: all of a commit's records written to the log, not yet synced.
    AfterAppend,
    /// Wal: a checkpoint has installed its snapshot but not yet switched to its new log.
    MidCheckpoint,
}

impl CrashPoint {
    /// Every point, in protocol order.
    pub const ALL: [CrashPoint; 7] = [
        CrashPoint::MidWrite,
        CrashPoint::AfterTempWrite,
        CrashPoint::AfterTempSync,
        CrashPoint::AfterRename,
        CrashPoint::MidAppend,
        CrashPoint::AfterAppend,
        CrashPoint::MidCheckpoint,
    ];

    /// The name the shell's `crash` command takes.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::MidWrite => "mid-write",
            CrashPoint::AfterTempWrite => "after-temp-write",
            CrashPoint::AfterTempSync => "after-temp-sync",
            CrashPoint::AfterRename => "after-rename",
            CrashPoint::MidAppend => "mid-append",
            CrashPoint::AfterAppend => "after-append",
            CrashPoint::MidCheckpoint => "mid-checkpoint",
        }
    }

    /// What the disk holds when the process dies at this point, in one line (the shell's
    /// `crash` lists it).
    pub fn description(self) -> &'static str {
        match self {
            CrashPoint::MidWrite => {
                "half of the new file written over the truncated old one: the only copy is torn"
            }
            CrashPoint::AfterTempWrite => {
                "the temp file written but not fsynced; the database file untouched"
            }
            CrashPoint::AfterTempSync => {
                "the temp file fsynced but not yet renamed over the database file"
            }
            CrashPoint::AfterRename => {
                "the temp file renamed over the database file, the directory not yet fsynced"
            }
            CrashPoint::MidAppend => {
                "half of the commit's records written into the log, nothing synced: a torn tail"
            }
            CrashPoint::AfterAppend => {
                "all of the commit's records written into the log, not yet synced"
            }
            CrashPoint::MidCheckpoint => {
                "the new snapshot installed, the log not yet switched to the checkpoint's new one"
            }
        }
    }

    /// The mode whose commit protocol contains this point.
    pub fn durability(self) -> Durability {
        match self {
            CrashPoint::MidWrite => Durability::Naive,
            CrashPoint::AfterTempWrite | CrashPoint::AfterTempSync | CrashPoint::AfterRename => {
                Durability::Snapshot
            }
            CrashPoint::MidAppend | CrashPoint::AfterAppend | CrashPoint::MidCheckpoint => {
                Durability::Wal
            }
        }
    }

    /// The points of `mode`'s protocol, in order.
    pub fn of(mode: Durability) -> impl Iterator<Item = CrashPoint> {
        CrashPoint::ALL
            .into_iter()
            .filter(move |point| point.durability() == mode)
    }
}

known_by_name!(CrashPoint);

impl FromStr for CrashPoint {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        CrashPoint::by_name(name).ok_or_else(|| format!("unknown crash point {name:?}"))
    }
}

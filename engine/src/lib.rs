//! kv-engine: a key-value store whose durability and crash behaviour you can see and prove.
//!
//! String keys map to any JSON value, with numbers and object key order kept exactly as
//! written. How a mutation survives is chosen per store by [`Durability`]:
//!
//! | mode | after `put` returns, a process kill… | …and a power loss |
//! | --- | --- | --- |
//! | [`Durability::Memory`] | loses everything | loses everything |
//! | [`Durability::Naive`] | keeps it, unless it strikes mid-commit | may lose or corrupt the file |
//! | [`Durability::Snapshot`] (default) | keeps it | keeps it |
//! | [`Durability::Wal`] | keeps it | keeps it (one `fdatasync` of the log per commit) |
//!
//! In snapshot and wal mode, [`Options::sync_policy`] can acknowledge a write before it is
//! durable and sync within a window ([`SyncPolicy::Within`]): a process kill still loses
//! nothing in wal mode, and a power loss loses at most the writes of the last window.
//!
//! Every byte goes through the [`fs::Fs`] seam, so tests can put a simulated disk behind
//! the store and cut the power between any two system calls.
//!
//! ```
//! use kv_engine::{KvStore, Options};
//! use serde_json::json;
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("db.json");
//! let mut db = KvStore::open(&path, Options::new())?;
//! db.put("A", json!(0))?;
//! db.delete("A")?;
//! assert_eq!(db.get("A"), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

#[macro_use]
mod named;

pub mod clock;
mod crash;
mod durability;
mod error;
pub mod files;
mod flusher;
pub mod fs;
pub mod human;
mod install;
pub mod json_scan;
mod json_text;
mod maintenance;
mod options;
mod store;
mod transaction;
mod typed;

pub use clock::{Clock, ManualClock, SystemClock};
pub use crash::{CrashAction, CrashPoint};
pub use durability::wal::{DEFAULT_CHECKPOINT_BYTES, DEFAULT_CHUNK_BYTES};
pub use durability::warning::Warning;
pub use durability::{Durability, Mutation, SyncPolicy};
pub use error::{Error, Result};
pub use flusher::SyncHandle;
pub use install::{Image, Installer};
pub use json_text::JsonText;
pub use maintenance::repair::{
    CheckReport, LogState, LogTail, PendingCheckpoint, RepairAction, RepairOutcome, RepairPlan,
    SnapshotState,
};
pub use maintenance::{admit_reader, check, plan_repair, repair};
pub use options::Options;
pub use store::{KvStore, MAX_ENTRY_BYTES, MAX_VALUE_DEPTH, Stats, admit_text};
pub use transaction::{Batch, Transaction};

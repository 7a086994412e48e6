//! kv-engine: a key-value store whose durability and crash behaviour you can see and prove.
//!
//! String keys map to any JSON value, with numbers and object key order kept exactly as
//! written; any serde type goes in with [`KvStore::put_as`] and comes out with
//! [`KvStore::get_as`]. One store at a time writes a database (it holds a lock file beside
//! it; [`Options::read_only`] opens one beside a writer), and a write returns once it is as
//! durable as the store's [`Durability`] and [`SyncPolicy`] promise.
//!
//! ```
//! use kv_engine::{KvStore, Options};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Account {
//!     owner: String,
//!     balance: u64,
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("bank.json");
//!
//! let mut db = KvStore::open(&path, Options::new())?;
//! db.put_as("alice", &Account { owner: "Alice".into(), balance: 100 })?;
//! db.put_as("bob", &Account { owner: "Bob".into(), balance: 0 })?;
//! let alice: Option<Account> = db.get_as("alice")?;
//! assert_eq!(alice.map(|account| account.balance), Some(100));
//!
//! // Move 30 from Alice to Bob: both puts become durable as one commit, or neither does.
//! let mut tx = db.transaction();
//! let mut alice: Account = tx.get_as("alice")?.ok_or("no account alice")?;
//! let mut bob: Account = tx.get_as("bob")?.ok_or("no account bob")?;
//! alice.balance -= 30;
//! bob.balance += 30;
//! tx.put_as("alice", &alice)?;
//! tx.put_as("bob", &bob)?;
//! tx.commit()?;
//!
//! // Close the store (releasing its lock) and open the files again.
//! drop(db);
//! let db = KvStore::open(&path, Options::new())?;
//! assert_eq!(db.get_as("alice")?, Some(Account { owner: "Alice".into(), balance: 70 }));
//! assert_eq!(db.get_as("bob")?, Some(Account { owner: "Bob".into(), balance: 30 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Plain JSON goes in and out with [`KvStore::put`] and [`KvStore::get`] (a
//! [`serde_json::Value`]); what `put_as` stores is exactly what `put` of the value's JSON
//! stores, so the `kv` shell and any other reader see plain JSON.
//!
//! # Durability
//!
//! How a mutation survives is chosen per store by [`Durability`]
//! ([`Options::durability`]):
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
//! nothing (snapshot mode writes each change to an unsynced journal before acknowledging
//! it), and a power loss loses at most the writes of the last window.
//!
//! A [`Transaction`] (or a [`Batch`] given to [`KvStore::commit`]) is one commit: in
//! snapshot and wal mode a crash at any step keeps all of its mutations or none of them
//! (naive mode rewrites its file in place, so a crash mid-write can lose it and more).
//!
//! # Seeing and proving it
//!
//! Every byte goes through the [`fs::Fs`] seam, so tests can put a simulated disk behind
//! the store ([`fs::SimFs`]) and cut the power between any two system calls, or record
//! every call ([`fs::TraceFs`]). [`check`], [`plan_repair`] and [`repair()`] inspect and
//! mend a database's files; [`KvStore::open_warnings`] says what recovery did on open (the
//! engine never prints). The crash points ([`CrashPoint`]) stop a commit at a named step
//! of its protocol.

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
// Public so that the shell and `kv bench` print durations, sizes and counts exactly as
// the engine's own messages do; formatting is not part of the storage API, so it stays out
// of the docs.
#[doc(hidden)]
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
pub use durability::wal::{DEFAULT_CHECKPOINT_BYTES, DEFAULT_CHUNK_BYTES, logged_mode};
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

// The README's Rust snippet ("Using the engine from Rust"), compiled and run as a doctest of
// this crate so that it cannot go stale. Only when collecting doctests: the README is not
// part of the API, and its links are not this crate's to check.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

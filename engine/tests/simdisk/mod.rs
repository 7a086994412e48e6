//! Helpers shared by the tests on the simulated disk (crash and faults).
#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::collections::BTreeMap;
use std::sync::Arc;

use kv_engine::fs::{CrashMode, SimFs};
use kv_engine::{Durability, KvStore, Options};
use serde_json::Value;

/// The directory and database file every sim test uses.
pub const DIR: &str = "/data";
pub const PATH: &str = "/data/db.json";

/// The model a store is compared with.
pub type Model = BTreeMap<String, Value>;

/// An empty simulated disk with [`DIR`] in it.
pub fn disk() -> SimFs {
    let sim = SimFs::new();
    sim.create_dir_all(DIR);
    sim
}

/// Options for a store of `durability` on `sim`.
pub fn options(sim: &SimFs, durability: Durability) -> Options {
    Options::new()
        .durability(durability)
        .fs(Arc::new(sim.clone()))
        // Wal: small chunks, and a threshold the workloads pass, so that the sweep crashes
        // inside log growth and checkpoints too.
        .wal_chunk_bytes(1024)
        .checkpoint_bytes(256)
}

/// Opens the store at [`PATH`] on `sim`.
pub fn open(sim: &SimFs, durability: Durability) -> kv_engine::Result<KvStore> {
    KvStore::open(PATH, options(sim, durability))
}

/// Everything a store holds, as a model.
pub fn contents(store: &KvStore) -> Model {
    store
        .iter()
        .map(|(key, value)| {
            let value = serde_json::from_str(value)
                .unwrap_or_else(|err| panic!("the stored text of {key:?} is not JSON: {err}"));
            (key.to_string(), value)
        })
        .collect()
}

/// The database file as text, as the process would read it now.
pub fn file_text(sim: &SimFs) -> Option<String> {
    sim.contents(PATH)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Every crash mode, with a few seeds for the random ones.
pub fn every_crash() -> Vec<(CrashMode, u64)> {
    CrashMode::ALL
        .into_iter()
        .flat_map(|mode| {
            let seeds = if mode.is_random() { 0..8 } else { 0..1 };
            seeds.map(move |seed| (mode, seed))
        })
        .collect()
}

//! Write amplification, measured in bytes rather than seconds: the guarantee table's
//! performance row. A full snapshot per commit makes the bytes written by one put grow with
//! the store; no timing is involved, so the test is exact on any machine.

#![allow(clippy::unwrap_used)] // A panic in a test helper is a failing test.

use kv_engine::{Durability, KvStore, Options};
use serde_json::json;

/// Bytes written by one more put into a store that already holds `keys` keys.
fn bytes_per_put(durability: Durability, keys: usize) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let mut store = KvStore::open(
        dir.path().join("db.json"),
        Options::new().durability(durability),
    )
    .unwrap();
    let batch = (0..keys)
        .map(|n| kv_engine::Mutation::Put {
            key: format!("k{n:06}"),
            value: json!({"n": n, "s": "abc"}),
        })
        .collect();
    store.apply(batch).unwrap();
    let before = store.stats().bytes_written;
    store.put("one-more", json!({"n": 1, "s": "abc"})).unwrap();
    store.stats().bytes_written - before
}

#[test]
fn full_rewrite_modes_write_more_per_put_as_the_store_grows() {
    for durability in [Durability::Naive, Durability::Snapshot] {
        let small = bytes_per_put(durability, 10);
        let large = bytes_per_put(durability, 1_000);
        // The whole store is rewritten: about 100 times the bytes for 100 times the keys.
        assert!(
            large > 50 * small,
            "{durability}: {small} B per put at 10 keys, {large} B at 1000"
        );
    }
}

#[test]
fn memory_mode_writes_nothing_per_put_at_any_size() {
    // Counted below the engine, on a simulated disk: the store's own byte counter could
    // stay at zero while something still reached the filesystem.
    for keys in [10, 1_000] {
        let sim = std::sync::Arc::new(kv_engine::fs::SimFs::new());
        sim.create_dir_all("/db");
        let mut store = KvStore::open(
            "/db/db.json",
            Options::new()
                .durability(Durability::Memory)
                .fs(sim.clone()),
        )
        .unwrap();
        // Opening may read (a memory store can start from a file); the puts touch nothing.
        let after_open = sim.total_ops();
        for n in 0..keys {
            store.put(format!("k{n:06}"), json!({"n": n})).unwrap();
        }
        assert!(store.delete("k000000").unwrap());
        assert_eq!(store.len(), keys - 1);
        assert_eq!(
            sim.total_ops(),
            after_open,
            "{keys} keys: filesystem operations"
        );
        assert_eq!(sim.files(), Vec::<std::path::PathBuf>::new(), "{keys} keys");
        assert_eq!(store.stats().bytes_written, 0, "{keys} keys");
    }
}

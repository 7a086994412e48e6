//! Model test: random sequences of puts, deletes and reopens, checked after every step
//! against a `BTreeMap`, for each mode. `KV_MODEL_CASES=N` runs more cases than the
//! default (kept small so the suite stays fast in a debug build).
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test

mod common;

use std::collections::BTreeMap;

use common::{bytes, open};
use kv_engine::{Durability, KvStore};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Op {
    Put(String, Value),
    Delete(String),
    /// Drop the store and open the file again (file modes only).
    Reopen,
}

/// A small key space, so deletes and overwrites hit existing keys often; it includes the
/// empty key, a prefix of another key, and non-ASCII.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "a", "ab", "a b", "\"q\"", "é", "😀", "z"]).prop_map(String::from)
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(12345678901234567890u64)),
        "[a-z ]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::vec(("[a-c]", inner), 0..3)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn ops(with_reopen: bool) -> impl Strategy<Value = Vec<Op>> {
    let reopen_weight = if with_reopen { 1 } else { 0 };
    let op = prop_oneof![
        5 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => key().prop_map(Op::Delete),
        reopen_weight => Just(Op::Reopen),
    ];
    prop::collection::vec(op, 1..24)
}

fn cases() -> u32 {
    std::env::var("KV_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

/// Compares everything the read API shows with the model.
fn check(store: &KvStore, model: &BTreeMap<String, Value>) -> Result<(), TestCaseError> {
    let seen: BTreeMap<String, Value> = store
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::from_str(v).unwrap()))
        .collect();
    prop_assert_eq!(&seen, model);
    prop_assert_eq!(store.len(), model.len());
    prop_assert_eq!(
        store.keys().collect::<Vec<_>>(),
        model.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for probe in ["", "a", "ab", "a b", "\"q\"", "é", "😀", "z", "missing"] {
        prop_assert_eq!(store.get(probe), model.get(probe).cloned());
        // The raw text is the value's exact compact JSON.
        prop_assert_eq!(
            store.get_raw(probe).map(str::to_string),
            model.get(probe).map(Value::to_string)
        );
        prop_assert_eq!(store.contains_key(probe), model.contains_key(probe));
        let scanned: Vec<&str> = store.scan_prefix(probe).map(|(k, _)| k).collect();
        let expected: Vec<&str> = model
            .keys()
            .filter(|k| k.starts_with(probe))
            .map(String::as_str)
            .collect();
        prop_assert_eq!(scanned, expected);
    }
    Ok(())
}

fn run(mode: Durability, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = match mode {
        Durability::Memory => KvStore::in_memory(),
        _ => open(&path, mode),
    };
    let mut model = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(key, value) => {
                store.put(key.clone(), value.clone()).unwrap();
                model.insert(key, value);
            }
            Op::Delete(key) => {
                let existed = store.delete(&key).unwrap();
                prop_assert_eq!(existed, model.remove(&key).is_some());
            }
            Op::Reopen => {
                drop(store);
                store = open(&path, mode);
            }
        }
        check(&store, &model)?;
        if mode != Durability::Memory {
            // The file holds the committed state after every step (or does not exist yet
            // when nothing was ever committed).
            match bytes(&path) {
                Some(file) => {
                    let on_disk: BTreeMap<String, Value> = serde_json::from_slice(&file).unwrap();
                    prop_assert_eq!(&on_disk, &model);
                }
                None => prop_assert_eq!(store.stats().commits, 0),
            }
        }
    }
    // And a final reopen sees it all.
    if mode != Durability::Memory {
        drop(store);
        check(&open(&path, mode), &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_a_btreemap(ops in ops(false)) {
        run(Durability::Memory, ops)?;
    }

    #[test]
    fn naive_matches_a_btreemap_across_reopens(ops in ops(true)) {
        run(Durability::Naive, ops)?;
    }

    #[test]
    fn snapshot_matches_a_btreemap_across_reopens(ops in ops(true)) {
        run(Durability::Snapshot, ops)?;
    }
}

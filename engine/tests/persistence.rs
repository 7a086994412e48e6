//! What reaches the file and comes back: write, drop, reopen and re-check in the file
//! modes; the original design's `db.json` format; the commit protocol's footprint (rename
//! vs in-place rewrite, no temp left behind); and the `stats` counters.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use common::{FILE_MODES, bytes, entries, json, open, text, write};
use kv_engine::{Durability, KvStore, Options};
use serde_json::{Value, json};

fn contents(store: &KvStore) -> BTreeMap<String, Value> {
    store
        .iter()
        .map(|(k, v)| (k.to_string(), json(v)))
        .collect()
}

/// Many commits of puts, overwrites and deletes come back exactly after a reopen, in the
/// same mode and in the other file mode (both write the same format).
#[test]
fn write_drop_reopen_restores_exactly_the_committed_state() {
    for mode in FILE_MODES {
        for reopen_as in FILE_MODES {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.json");
            let mut model = BTreeMap::new();
            let mut store = open(&path, mode);
            for i in 0..60u32 {
                let key = format!("key{:02}", i % 23);
                if i % 5 == 4 {
                    assert_eq!(store.delete(&key).unwrap(), model.remove(&key).is_some());
                } else {
                    let value = json!({"i": i, "half": f64::from(i) / 2.0, "list": [i, "x"]});
                    store.put(key.clone(), value.clone()).unwrap();
                    model.insert(key, value);
                }
            }
            assert_eq!(contents(&store), model, "{mode}");
            drop(store);

            let store = open(&path, reopen_as);
            assert_eq!(contents(&store), model, "{mode} reopened as {reopen_as}");
            drop(store);
            // And once more: a reopen that writes nothing changes nothing.
            assert_eq!(contents(&open(&path, mode)), model, "{mode} second reopen");
        }
    }
}

#[test]
fn deleting_the_last_key_leaves_an_empty_object_that_reopens_empty() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let mut store = open(&path, mode);
        store.put("A", json!(0)).unwrap();
        assert!(store.delete("A").unwrap());
        drop(store);
        assert_eq!(bytes(&path).as_deref(), Some(&b"{}\n"[..]), "{mode}");
        let store = open(&path, mode);
        assert_eq!(store.get("A"), None, "{mode}");
        assert!(store.is_empty(), "{mode}");
    }
}

/// A file in the original design's format, whitespace and all, opens as it is in every
/// mode, and survives a write and a reopen with every value equal.
#[test]
fn a_file_in_the_original_format_opens_and_round_trips() {
    const ORIGINAL: &str = "{\"A\": 0, \"B\": {\"x\": [1, 2]}}";
    for mode in Durability::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        write(&path, ORIGINAL);
        let mut store = open(&path, mode);
        assert_eq!(store.keys().collect::<Vec<_>>(), ["A", "B"], "{mode}");
        assert_eq!(store.get("A"), Some(json!(0)), "{mode}");
        assert_eq!(store.get("B"), Some(json!({"x": [1, 2]})), "{mode}");
        store.put("C", json!("new")).unwrap();
        drop(store);
        if mode == Durability::Memory {
            assert_eq!(bytes(&path).as_deref(), Some(ORIGINAL.as_bytes()));
            continue;
        }
        let mut store = open(&path, mode);
        assert_eq!(store.get("A"), Some(json!(0)), "{mode}");
        assert_eq!(store.get("B"), Some(json!({"x": [1, 2]})), "{mode}");
        assert_eq!(store.get("C"), Some(json!("new")), "{mode}");
        assert_eq!(store.len(), 3, "{mode}");
        // The log mode keeps commits in `PATH.wal` (replayed above) until a checkpoint
        // folds them into the file.
        store.checkpoint().unwrap();
        // What `cat db.json` shows: the same format, compact, one line.
        assert_eq!(
            bytes(&path).as_deref(),
            Some(&b"{\"A\":0,\"B\":{\"x\":[1,2]},\"C\":\"new\"}\n"[..]),
            "{mode}"
        );
    }
}

/// A file written by hand (spaces, `1E5`, `\u0041`, a repeated key) opens with every value
/// as the compact text a `Value` round trip gives, the text `get_raw` and the shell print,
/// and the next snapshot is byte for byte what serde_json writes for those values.
#[test]
fn a_hand_written_file_opens_with_every_value_in_canonical_compact_form() {
    // (No key repeats in one object: such a file is refused, see
    // `open.rs::a_snapshot_written_by_hand_with_a_repeated_key_is_refused_with_its_position`.)
    const HAND: &str = "{ \"a0\" : { \"b\" : [ 1 , 2.50 , 1E5, -3e-2 ] ,\n  \"c\" : \"\\u0041\\/ \\n\" } ,\n\
                        \"d\" : {\"x\": 2, \"y\": true},\t\"e\": 12345678901234567890,\r\n\
                        \"q\\\"\\u00e9\": [ ], \"a\": { \"z\" : null, \"b\": 0.1 } }\n";
    // What the store held when values were `Value`s: parse, then serialise each.
    let values: BTreeMap<String, Value> = serde_json::from_str(HAND).unwrap();
    for mode in Durability::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        write(&path, HAND);
        let mut store = open(&path, mode);
        assert_eq!(store.len(), values.len(), "{mode}");
        for (key, value) in &values {
            assert_eq!(
                store.get_raw(key),
                Some(serde_json::to_string(value).unwrap().as_str()),
                "{mode} {key}"
            );
            assert_eq!(text(store.get(key)), text(Some(value.clone())), "{mode}");
        }
        assert_eq!(store.get_raw("a"), Some(r#"{"z":null,"b":0.1}"#), "{mode}");
        assert_eq!(store.get_raw("d"), Some(r#"{"x":2,"y":true}"#), "{mode}");
        assert_eq!(store.get_raw("q\"é"), Some("[]"), "{mode}");
        if mode == Durability::Memory {
            continue;
        }
        store.put("k", json!(1)).unwrap();
        store.checkpoint().unwrap();
        let mut expected = values.clone();
        expected.insert("k".into(), json!(1));
        let mut serde_bytes = serde_json::to_vec(&expected).unwrap();
        serde_bytes.push(b'\n');
        assert_eq!(bytes(&path), Some(serde_bytes), "{mode}");
    }
}

/// Keys are escaped in the file exactly as serde_json escapes them, and come back.
#[test]
fn keys_with_quotes_controls_and_emoji_are_escaped_as_serde_escapes_them() {
    let keys = [
        "",
        "plain",
        "q\"uote",
        "back\\slash",
        "\u{0}\u{1f}\u{8}\u{c}\n\r\t",
        "é 😀 \u{7f}",
    ];
    for mode in [Durability::Naive, Durability::Snapshot, Durability::Wal] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let mut store = open(&path, mode);
        for (i, key) in keys.iter().enumerate() {
            store.put(*key, json!({"i": i, "key": key})).unwrap();
        }
        store.checkpoint().unwrap();
        let expected: BTreeMap<String, Value> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| (key.to_string(), json!({"i": i, "key": key})))
            .collect();
        let mut serde_bytes = serde_json::to_vec(&expected).unwrap();
        serde_bytes.push(b'\n');
        assert_eq!(bytes(&path), Some(serde_bytes), "{mode}");
        drop(store);
        let store = open(&path, mode);
        assert_eq!(contents(&store), expected, "{mode}");
    }
}

/// A value nested as deep as a file can hold opens (and parses back for `get`); one level
/// deeper is refused naming the file, line and column, as the parser reports it.
#[test]
fn a_file_nested_deeper_than_the_parser_reads_is_refused_with_its_position() {
    let file = |levels: usize| {
        format!(
            "{{\"ok\": 1,\n\"deep\": {}{}}}",
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    // The object itself is one level: 126 more make the 127 serde_json accepts.
    write(&path, file(126));
    let store = open(&path, Durability::Snapshot);
    let deep = store.get("deep").unwrap();
    assert_eq!(
        text(Some(deep)).unwrap(),
        format!("{}{}", "[".repeat(126), "]".repeat(126))
    );
    drop(store);

    let too_deep = file(127);
    write(&path, &too_deep);
    for mode in Durability::ALL {
        let err = KvStore::open(&path, Options::new().durability(mode)).unwrap_err();
        match err {
            kv_engine::Error::Syntax {
                path: named,
                line,
                column,
                reason,
            } => {
                assert_eq!(named, path, "{mode}");
                // `"deep": ` is 8 columns; the 127th `[` is the one too many.
                assert_eq!((line, column), (2, 8 + 127), "{mode}");
                assert!(reason.contains("recursion limit"), "{mode}: {reason}");
            }
            other => panic!("{mode}: expected a syntax error, got {other:?}"),
        }
        assert_eq!(bytes(&path).as_deref(), Some(too_deep.as_bytes()), "{mode}");
    }
}

/// The file is a plain JSON object of exactly the store's contents after every commit,
/// with number text and nested key order as written.
#[test]
fn the_file_holds_the_whole_store_after_every_commit() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let mut store = open(&path, mode);
        let steps: [(&str, Option<&str>); 5] = [
            ("b", Some("{\"z\":1,\"a\":0.10}")),
            ("a", Some("12345678901234567890")),
            ("b", Some("null")),
            ("a", None),
            ("😀", Some("[1.0]")),
        ];
        for (key, value) in steps {
            match value {
                Some(value) => store.put(key, json(value)).unwrap(),
                None => assert!(store.delete(key).unwrap()),
            }
            let on_disk: BTreeMap<String, Value> =
                serde_json::from_slice(&bytes(&path).unwrap()).unwrap();
            assert_eq!(on_disk, contents(&store), "{mode} after {key}");
            for (k, v) in &on_disk {
                assert_eq!(text(Some(v.clone())), text(store.get(k)), "{mode}");
            }
        }
        assert_eq!(
            bytes(&path).as_deref(),
            Some("{\"b\":null,\"😀\":[1.0]}\n".as_bytes()),
            "{mode}"
        );
    }
}

/// Snapshot replaces the file by renaming a new one over it (the inode changes, so the old
/// file is never written into) and leaves no temp file; naive rewrites the same inode in
/// place, which is what makes it unsafe.
#[test]
fn snapshot_replaces_the_file_by_rename_and_naive_rewrites_it_in_place() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        write(&path, "{}");
        let mut store = open(&path, mode);
        let mut inode = std::fs::metadata(&path).unwrap().ino();
        for i in 0..3 {
            store.put(format!("k{i}"), json!(i)).unwrap();
            let now = std::fs::metadata(&path).unwrap().ino();
            match mode {
                Durability::Snapshot => assert_ne!(now, inode, "commit {i} wrote in place"),
                _ => assert_eq!(now, inode, "naive commit {i} replaced the file"),
            }
            inode = now;
            assert_eq!(
                entries(dir.path()).into_iter().collect::<Vec<_>>(),
                ["db.json", "db.json.lock"],
                "{mode}: something was left beside the file"
            );
        }
    }
}

/// `stats`: one commit per mutation; a snapshot commit fsyncs twice (the temp file, then
/// the directory) and writes exactly the new file's bytes; naive never fsyncs.
#[test]
fn stats_count_commits_fsyncs_and_bytes() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let mut store = open(&path, mode);
        let fresh = store.stats();
        assert_eq!(fresh.durability, mode);
        assert_eq!(
            (fresh.commits, fresh.fsyncs, fresh.bytes_written),
            (0, 0, 0)
        );
        assert_eq!(
            fresh.file_size, None,
            "{mode}: no file before the first commit"
        );
        assert_eq!(fresh.last_commit, None);
        assert_eq!(fresh.keys, 0);

        let fsyncs_per_commit = if mode == Durability::Snapshot { 2 } else { 0 };
        for i in 1..=4u64 {
            let before = store.stats();
            store
                .put(format!("key{i}"), json!("v".repeat(i as usize * 10)))
                .unwrap();
            let after = store.stats();
            let size = std::fs::metadata(&path).unwrap().len();
            assert_eq!(after.commits, before.commits + 1, "{mode}");
            assert_eq!(after.fsyncs, before.fsyncs + fsyncs_per_commit, "{mode}");
            assert_eq!(after.bytes_written - before.bytes_written, size, "{mode}");
            assert_eq!(after.file_size, Some(size), "{mode}");
            assert_eq!(after.keys, i as usize, "{mode}");
            assert!(after.last_commit.is_some(), "{mode}");
            assert_eq!(
                std::fs::canonicalize(after.path.unwrap()).unwrap(),
                std::fs::canonicalize(&path).unwrap()
            );
        }
        assert_eq!(store.stats().commits, 4);
        assert_eq!(store.stats().fsyncs, 4 * fsyncs_per_commit);
    }
}

#[test]
fn stats_in_memory_count_commits_and_nothing_on_disk() {
    let mut store = KvStore::in_memory();
    store.put("a", json!(1)).unwrap();
    store.put("b", json!(2)).unwrap();
    let stats = store.stats();
    assert_eq!(stats.durability, Durability::Memory);
    assert_eq!(stats.commits, 2);
    assert_eq!((stats.fsyncs, stats.bytes_written), (0, 0));
    assert_eq!((stats.path, stats.file_size), (None, None));
    assert_eq!(stats.keys, 2);
}

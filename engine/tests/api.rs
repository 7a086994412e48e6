//! API semantics, checked the same way in every mode: `in_memory()`, `open` with
//! `Durability::Memory`, `Naive`, `Snapshot` and `Wal`. Where a mode keeps a file, each check is
//! repeated after a reopen.

mod common;

use common::{ALL_FLAVOURS, Fixture, Flavour, bytes, entries, json, parsed_entries, text};
use kv_engine::{Error, JsonText, MAX_VALUE_DEPTH, Mutation};
use serde_json::{Value, json};

/// Runs `check` on a fresh store of every flavour, and again after a reopen where the
/// flavour keeps a file.
fn in_every_mode(setup: impl Fn(&mut Fixture), check: impl Fn(&Fixture)) {
    for flavour in ALL_FLAVOURS {
        let mut fixture = Fixture::new(flavour);
        setup(&mut fixture);
        check(&fixture);
        if fixture.persists() {
            fixture.reopen();
            check(&fixture);
        }
    }
}

#[test]
fn get_of_a_missing_key_is_none() {
    in_every_mode(
        |f| f.store.put("present", json!(1)).unwrap(),
        |f| {
            assert_eq!(f.store.get("missing"), None, "{:?}", f.flavour);
            assert!(!f.store.contains_key("missing"), "{:?}", f.flavour);
        },
    );
}

#[test]
fn a_stored_null_is_present_not_missing() {
    in_every_mode(
        |f| f.store.put("nothing", Value::Null).unwrap(),
        |f| {
            assert_eq!(f.store.get("nothing"), Some(Value::Null), "{:?}", f.flavour);
            assert!(f.store.contains_key("nothing"), "{:?}", f.flavour);
            assert_eq!(f.store.len(), 1, "{:?}", f.flavour);
        },
    );
}

#[test]
fn put_overwrites() {
    in_every_mode(
        |f| {
            f.store.put("k", json!("first")).unwrap();
            f.store.put("k", json!({"second": [2]})).unwrap();
        },
        |f| {
            assert_eq!(
                f.store.get("k"),
                Some(json!({"second": [2]})),
                "{:?}",
                f.flavour
            );
            assert_eq!(f.store.len(), 1, "{:?}", f.flavour);
        },
    );
}

/// The original design's example: put("A", 0); delete("A"); get("A") is None.
#[test]
fn the_original_example_put_then_delete_leaves_none() {
    in_every_mode(
        |f| {
            f.store.put("A", json!(0)).unwrap();
            assert!(f.store.delete("A").unwrap(), "{:?}", f.flavour);
        },
        |f| {
            assert_eq!(f.store.get("A"), None, "{:?}", f.flavour);
            assert!(f.store.is_empty(), "{:?}", f.flavour);
        },
    );
}

#[test]
fn delete_reports_whether_the_key_was_there() {
    for flavour in ALL_FLAVOURS {
        let mut f = Fixture::new(flavour);
        f.store.put("k", json!(1)).unwrap();
        assert!(f.store.delete("k").unwrap(), "{flavour:?}");
        assert!(!f.store.delete("k").unwrap(), "{flavour:?}");
        assert!(!f.store.delete("never").unwrap(), "{flavour:?}");
        assert_eq!(f.store.get("k"), None, "{flavour:?}");
    }
}

/// A delete of a missing key is a no-op: no commit, no fsync, no byte written, the file's
/// bytes and the directory's entries unchanged.
#[test]
fn deleting_a_missing_key_writes_nothing() {
    for flavour in ALL_FLAVOURS {
        let mut f = Fixture::new(flavour);
        f.store.put("k", json!(1)).unwrap();
        let before_stats = f.store.stats();
        let before_bytes = bytes(&f.path);
        let before_entries = entries(f.dir.path());

        assert!(!f.store.delete("missing").unwrap());
        // A batch made only of such deletes is a no-op too.
        f.store
            .apply(vec![
                Mutation::Delete {
                    key: "missing".into(),
                },
                Mutation::Delete { key: "".into() },
            ])
            .unwrap();

        let after = f.store.stats();
        assert_eq!(after.commits, before_stats.commits, "{flavour:?}");
        assert_eq!(after.fsyncs, before_stats.fsyncs, "{flavour:?}");
        assert_eq!(
            after.bytes_written, before_stats.bytes_written,
            "{flavour:?}"
        );
        assert_eq!(bytes(&f.path), before_bytes, "{flavour:?}");
        assert_eq!(entries(f.dir.path()), before_entries, "{flavour:?}");
        assert_eq!(f.store.get("k"), Some(json!(1)), "{flavour:?}");
    }
}

/// On a fresh database, deleting a missing key does not even create the file.
#[test]
fn deleting_a_missing_key_in_a_new_database_creates_no_file() {
    for flavour in [Flavour::Naive, Flavour::Snapshot] {
        let mut f = Fixture::new(flavour);
        assert!(!f.store.delete("missing").unwrap());
        assert_eq!(bytes(&f.path), None, "{flavour:?}");
        assert_eq!(f.store.stats().commits, 0, "{flavour:?}");
    }
}

#[test]
fn keys_len_and_iter_come_out_in_key_order() {
    in_every_mode(
        |f| {
            for key in ["b", "a", "c", "aa", "B", ""] {
                f.store.put(key, json!(key)).unwrap();
            }
        },
        |f| {
            let expected = ["", "B", "a", "aa", "b", "c"];
            assert_eq!(
                f.store.keys().collect::<Vec<_>>(),
                expected,
                "{:?}",
                f.flavour
            );
            assert_eq!(f.store.len(), 6, "{:?}", f.flavour);
            let pairs = parsed_entries(&f.store);
            let expected_pairs: Vec<_> =
                expected.iter().map(|k| (k.to_string(), json!(k))).collect();
            assert_eq!(pairs, expected_pairs, "{:?}", f.flavour);
        },
    );
}

#[test]
fn scan_prefix_returns_exactly_the_keys_with_that_prefix_in_order() {
    let keys = [
        "", "a", "a\u{0}", "a\u{0}b", "ab", "abc", "ac", "b", "é", "😀x",
    ];
    in_every_mode(
        |f| {
            for (i, key) in keys.iter().enumerate() {
                f.store.put(*key, json!(i)).unwrap();
            }
        },
        |f| {
            let scan = |prefix: &str| -> Vec<String> {
                f.store
                    .scan_prefix(prefix)
                    .map(|(k, _)| k.to_string())
                    .collect()
            };
            let owned =
                |list: &[&str]| -> Vec<String> { list.iter().map(|k| k.to_string()).collect() };
            // The empty prefix matches everything.
            assert_eq!(scan(""), owned(&keys), "{:?}", f.flavour);
            assert_eq!(
                scan("a"),
                owned(&["a", "a\u{0}", "a\u{0}b", "ab", "abc", "ac"]),
                "{:?}",
                f.flavour
            );
            assert_eq!(
                scan("a\u{0}"),
                owned(&["a\u{0}", "a\u{0}b"]),
                "{:?}",
                f.flavour
            );
            assert_eq!(scan("ab"), owned(&["ab", "abc"]), "{:?}", f.flavour);
            assert_eq!(scan("abc"), owned(&["abc"]), "{:?}", f.flavour);
            assert_eq!(scan("abcd"), owned(&[]), "{:?}", f.flavour);
            assert_eq!(scan("zzz"), owned(&[]), "{:?}", f.flavour);
            assert_eq!(scan("😀"), owned(&["😀x"]), "{:?}", f.flavour);
            // The values come with their keys.
            let values: Vec<&str> = f.store.scan_prefix("ab").map(|(_, v)| v).collect();
            assert_eq!(values, vec!["4", "5"], "{:?}", f.flavour);
        },
    );
}

#[test]
fn any_utf8_string_is_a_key() {
    let keys = [
        "",
        " ",
        "  two  spaces ",
        "\"quoted\"",
        "'single'",
        "back\\slash",
        "new\nline",
        "tab\t",
        "😀",
        "日本語",
        "{\"not\": \"json\"}",
        "\u{0}nul",
    ];
    in_every_mode(
        |f| {
            for (i, key) in keys.iter().enumerate() {
                f.store.put(*key, json!(i)).unwrap();
            }
        },
        |f| {
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(
                    f.store.get(key),
                    Some(json!(i)),
                    "{:?} key {key:?}",
                    f.flavour
                );
            }
            assert_eq!(f.store.len(), keys.len(), "{:?}", f.flavour);
        },
    );
}

/// Every JSON type is a value, and each comes back with exactly the text it was written
/// with: big integers, `0.1`, `1.0`, `-0` and object key order are not normalised. The one
/// rewrite is serde_json's spelling of exponents (`1e400` → `1e+400`, `E` → `e`): the
/// digits, and so the value, are kept even beyond f64's range.
const VALUES: [(&str, &str); 18] = [
    ("null", "null"),
    ("true", "true"),
    ("false", "false"),
    ("0", "0"),
    ("-7", "-7"),
    ("12345678901234567890", "12345678901234567890"),
    (
        "-98765432109876543210987654321",
        "-98765432109876543210987654321",
    ),
    ("0.1", "0.1"),
    ("1.0", "1.0"),
    ("1e400", "1e+400"),
    ("2.5E-10", "2.5e-10"),
    ("\"\"", "\"\""),
    (
        "\"quotes \\\" and \\u00e9 and 😀\"",
        "\"quotes \\\" and é and 😀\"",
    ),
    ("[]", "[]"),
    (
        "[1,\"two\",[3.0],{\"four\":null}]",
        "[1,\"two\",[3.0],{\"four\":null}]",
    ),
    ("{}", "{}"),
    ("{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}"),
    (
        "{\"z\":{\"y\":[1.50,{\"b\":0,\"a\":1}]},\"a\":-0}",
        "{\"z\":{\"y\":[1.50,{\"b\":0,\"a\":1}]},\"a\":-0}",
    ),
];

#[test]
fn every_json_value_round_trips_with_its_exact_text() {
    in_every_mode(
        |f| {
            for (i, (written, _)) in VALUES.iter().enumerate() {
                f.store.put(format!("v{i:02}"), json(written)).unwrap();
            }
        },
        |f| {
            for (i, (written, expected)) in VALUES.iter().enumerate() {
                let got = text(f.store.get(&format!("v{i:02}")));
                assert_eq!(
                    got.as_deref(),
                    Some(*expected),
                    "{:?} wrote {written}",
                    f.flavour
                );
                // The stored text, which the shell prints, is that same exact text.
                assert_eq!(
                    f.store.get_raw(&format!("v{i:02}")),
                    Some(*expected),
                    "{:?} wrote {written}",
                    f.flavour
                );
            }
        },
    );
}

/// A value the database file could not be read back with (serde_json refuses input nested
/// more than 127 levels deep) is refused up front, and the store and file stay usable.
/// Before this limit, such a `put` succeeded and the next `open` failed.
#[test]
fn a_value_nested_too_deep_to_read_back_is_refused_without_writing() {
    let nested = |levels: usize| json(&format!("{}{}", "[".repeat(levels), "]".repeat(levels)));
    for flavour in ALL_FLAVOURS {
        let mut f = Fixture::new(flavour);
        f.store.put("ok", nested(MAX_VALUE_DEPTH)).unwrap();
        let before = bytes(&f.path);
        let commits = f.store.stats().commits;

        // 127 levels is what serde_json itself parses (what the shell can hand us).
        let err = f.store.put("deep", nested(127)).unwrap_err();
        assert!(
            matches!(&err, Error::ValueTooDeep { key, max } if key == "deep" && *max == MAX_VALUE_DEPTH),
            "{flavour:?}: {err}"
        );
        assert!(err.to_string().contains("\"deep\""), "{err}");
        // A too-deep value anywhere in a batch refuses the whole batch.
        let batch = vec![
            Mutation::Put {
                key: "fine".into(),
                value: json!(1),
            },
            Mutation::Put {
                key: "object".into(),
                value: json(&format!(
                    "{}1{}",
                    "{\"k\":".repeat(MAX_VALUE_DEPTH + 1),
                    "}".repeat(MAX_VALUE_DEPTH + 1)
                )),
            },
        ];
        assert!(
            matches!(f.store.apply(batch), Err(Error::ValueTooDeep { .. })),
            "{flavour:?}"
        );

        assert_eq!(f.store.get("deep"), None, "{flavour:?}");
        assert_eq!(f.store.get("fine"), None, "{flavour:?}");
        assert_eq!(f.store.stats().commits, commits, "{flavour:?}");
        assert_eq!(bytes(&f.path), before, "{flavour:?}");
        if f.persists() {
            f.reopen();
            assert_eq!(
                f.store.get("ok"),
                Some(nested(MAX_VALUE_DEPTH)),
                "{flavour:?}"
            );
            assert_eq!(f.store.len(), 1, "{flavour:?}");
        }
    }
}

/// The same limit for a value that arrives as text (`put_text`, what the shell sends):
/// judged by the depth `JsonText::parse` learnt while canonicalising it, brackets inside
/// strings not counted, whatever the whitespace.
#[test]
fn a_value_as_text_nested_too_deep_is_refused_by_the_depth_its_parse_learnt() {
    let nested =
        |levels: usize| format!("{} \"[[{{\" {}", "[ ".repeat(levels), "\n]".repeat(levels));
    for flavour in ALL_FLAVOURS {
        let mut f = Fixture::new(flavour);
        let at_limit = JsonText::parse(&nested(MAX_VALUE_DEPTH)).unwrap();
        assert_eq!(at_limit.depth(), MAX_VALUE_DEPTH);
        f.store.put_text("ok", at_limit).unwrap();
        let deep = JsonText::parse(&nested(MAX_VALUE_DEPTH + 1)).unwrap();
        assert_eq!(deep.depth(), MAX_VALUE_DEPTH + 1);
        let err = f.store.put_text("deep", deep).unwrap_err();
        assert!(
            matches!(&err, Error::ValueTooDeep { key, max } if key == "deep" && *max == MAX_VALUE_DEPTH),
            "{flavour:?}: {err}"
        );
        assert_eq!(f.store.get("deep"), None, "{flavour:?}");
        assert!(f.store.get("ok").is_some(), "{flavour:?}");
    }
}

#[test]
fn apply_commits_a_batch_as_one() {
    for flavour in ALL_FLAVOURS {
        let mut f = Fixture::new(flavour);
        f.store.put("gone", json!(0)).unwrap();
        let commits = f.store.stats().commits;
        f.store
            .apply(vec![
                Mutation::Put {
                    key: "a".into(),
                    value: json!(1),
                },
                Mutation::Put {
                    key: "a".into(),
                    value: json!(2),
                },
                Mutation::Delete { key: "gone".into() },
                Mutation::Put {
                    key: "b".into(),
                    value: json!(3),
                },
            ])
            .unwrap();
        assert_eq!(f.store.stats().commits, commits + 1, "{flavour:?}");
        assert_eq!(
            f.store.keys().collect::<Vec<_>>(),
            ["a", "b"],
            "{flavour:?}"
        );
        assert_eq!(f.store.get("a"), Some(json!(2)), "{flavour:?}");
        if f.persists() {
            f.reopen();
            assert_eq!(
                f.store.keys().collect::<Vec<_>>(),
                ["a", "b"],
                "{flavour:?}"
            );
            assert_eq!(f.store.get("a"), Some(json!(2)), "{flavour:?}");
        }
    }
}

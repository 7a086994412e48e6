//! The in-memory map: ordered, so `keys` and prefix scans come out sorted.
//!
//! Each value is kept as its canonical compact JSON text (what `serde_json::to_string`
//! gives for the `Value` that was put), not as a `Value`: a snapshot is then the keys and
//! these texts copied into one buffer, a load copies text instead of building a tree per
//! entry, and a small value costs its length rather than the ~700 bytes of a `Value` with
//! ordered objects and exact numbers. [`text`](super::text) states and keeps the invariant
//! on the text.
//!
//! Each entry is one allocation holding the key's bytes and then the value's, with the
//! key's length beside it, rather than a `Box<str>` key and a `Box<str>` value. For the
//! bench's entries (a 7-byte key, a 19-byte value) that is one 48-byte malloc chunk and a
//! 24-byte slot in a B-tree node instead of two 32-byte chunks and a 32-byte slot:
//! `kv bench --n 100000` measured 100 B per key resident after opening a snapshot (3.3×
//! the file) before, 76 B (2.5×) after. Most of what is left is the chunk and the slot;
//! keeping the length inside the allocation would make the slot 16 bytes (68 B per key in
//! a quick trial), at the price of a length encoding inside the `str`; not done.
//!
//! An [`Entry`] compares, and borrows as `str`, by its key alone, so the tree is ordered by
//! key bytes as a `BTreeMap<Box<str>, _>` was, and a lookup by `&str` allocates nothing.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Bound;

/// A key and its value's stored text, in one allocation: the key's bytes, then the value's.
///
/// Equality and order are the key's only (that is what lets the set find an entry by its
/// key): two entries with the same key and different values are equal.
#[derive(Clone)]
pub(crate) struct Entry {
    text: Box<str>,
    /// Where the key ends in `text`. A `usize` costs no more than a `u32`: the slot is
    /// padded to 24 bytes either way.
    key_len: usize,
}

impl Entry {
    /// The entry for `key` holding `value` (copied into one new allocation).
    pub fn new(key: &str, value: &str) -> Self {
        let mut text = String::with_capacity(key.len() + value.len());
        text.push_str(key);
        text.push_str(value);
        Entry {
            // Exactly the capacity asked for, so this does not reallocate.
            text: text.into_boxed_str(),
            key_len: key.len(),
        }
    }

    pub fn key(&self) -> &str {
        // `key_len` is the length of the `str` the text starts with, so it is in bounds
        // and on a char boundary.
        &self.text[..self.key_len]
    }

    /// The value's canonical compact JSON text.
    pub fn value(&self) -> &str {
        &self.text[self.key_len..]
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(other.key())
    }
}

/// Consistent with `Ord` and `Eq` (both are the key's), as `Borrow` requires.
impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        self.key()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Entry")
            .field(&self.key())
            .field(&self.value())
            .finish()
    }
}

/// Keys mapped to their values' stored texts, ordered by key; a key put again keeps its
/// last value.
#[derive(Clone, Default)]
pub(crate) struct Map {
    entries: BTreeSet<Entry>,
}

impl Map {
    pub fn new() -> Self {
        Map::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The stored text of `key`'s value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(Entry::value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains(key)
    }

    /// Stores `value` under `key`; returns the entry it replaced, if any (one descent of
    /// the tree either way).
    pub fn insert(&mut self, key: &str, value: &str) -> Option<Entry> {
        self.insert_entry(Entry::new(key, value))
    }

    /// Stores `entry` (for example one that [`insert`](Self::insert) or
    /// [`remove`](Self::remove) returned, to undo it); returns the entry it replaced.
    pub fn insert_entry(&mut self, entry: Entry) -> Option<Entry> {
        self.entries.replace(entry)
    }

    /// Removes `key`; returns its entry if it was there.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        self.entries.take(key)
    }

    /// Every key and value text, in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator {
        self.entries
            .iter()
            .map(|entry| (entry.key(), entry.value()))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.entries.iter().map(Entry::key)
    }

    /// The keys that start with `prefix` and their value texts, in key order.
    pub fn scan_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.entries
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |entry| entry.key().starts_with(prefix))
            .map(|entry| (entry.key(), entry.value()))
    }
}

/// Builds the tree bottom-up with full nodes (after a stable sort, so of entries with the
/// same key the last one wins, as inserting them in order would). A tree built by inserting
/// keys in order leaves its nodes a little over half full.
impl FromIterator<Entry> for Map {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        Map {
            entries: iter.into_iter().collect(),
        }
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Map {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        iter.into_iter()
            .map(|(key, value)| Entry::new(key, value))
            .collect()
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn pairs(map: &Map) -> Vec<(&str, &str)> {
        map.iter().collect()
    }

    #[test]
    fn an_entry_splits_into_its_key_and_value() {
        for (key, value) in [("k", "1"), ("", "null"), ("é🦀", r#"{"a":"é"}"#), ("k", "")] {
            let entry = Entry::new(key, value);
            assert_eq!((entry.key(), entry.value()), (key, value));
            assert_eq!(&*entry.text, format!("{key}{value}"));
        }
    }

    #[test]
    fn entries_order_and_compare_by_key_alone() {
        // "a" + "b…" and "ab" + "…" share their text's first bytes; the key decides.
        let a = Entry::new("a", "\"bc\"");
        let ab = Entry::new("ab", "1");
        assert!(a < ab);
        assert_eq!(Entry::new("k", "1"), Entry::new("k", "2"));
        assert_ne!(Entry::new("k", "1"), Entry::new("k1", ""));
        // Byte order, as `str` orders.
        assert!(Entry::new("Z", "0") < Entry::new("a", "0"));
        assert!(Entry::new("z", "0") < Entry::new("é", "0"));
    }

    #[test]
    fn insert_replaces_and_returns_the_old_entry() {
        let mut map = Map::new();
        assert!(map.is_empty());
        assert_eq!(map.insert("k", "1"), None);
        let old = map.insert("k", "2").unwrap();
        assert_eq!((old.key(), old.value()), ("k", "1"));
        assert_eq!(map.get("k"), Some("2"));
        assert_eq!(map.len(), 1);
        // Putting the old entry back undoes the put.
        let newer = map.insert_entry(old).unwrap();
        assert_eq!(newer.value(), "2");
        assert_eq!(map.get("k"), Some("1"));
    }

    #[test]
    fn remove_returns_the_entry_and_a_missing_key_is_none() {
        let mut map: Map = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(map.remove("c"), None);
        let removed = map.remove("a").unwrap();
        assert_eq!((removed.key(), removed.value()), ("a", "1"));
        assert!(!map.contains_key("a"));
        assert!(map.contains_key("b"));
        assert_eq!(map.get("a"), None);
        assert_eq!(pairs(&map), [("b", "2")]);
    }

    #[test]
    fn a_bulk_build_sorts_and_keeps_the_last_of_a_repeated_key() {
        let map: Map = [("b", "1"), ("a", "2"), ("b", "3"), ("c", "4"), ("b", "5")]
            .into_iter()
            .collect();
        assert_eq!(pairs(&map), [("a", "2"), ("b", "5"), ("c", "4")]);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map.iter().len(), 3);
        assert_eq!(map.iter().next_back(), Some(("c", "4")));
    }

    #[test]
    fn a_prefix_scan_stops_at_the_first_key_without_it() {
        let map: Map = [
            ("a", "0"),
            ("ab", "1"),
            ("abc", "2"),
            ("abd", "3"),
            ("ac", "4"),
        ]
        .into_iter()
        .collect();
        let scan = |prefix| {
            map.scan_prefix(prefix)
                .map(|(key, _)| key)
                .collect::<Vec<_>>()
        };
        assert_eq!(scan("ab"), ["ab", "abc", "abd"]);
        assert_eq!(scan(""), ["a", "ab", "abc", "abd", "ac"]);
        assert_eq!(scan("abz"), Vec::<&str>::new());
        assert_eq!(scan("b"), Vec::<&str>::new());
    }

    #[test]
    fn debug_shows_the_map_as_a_map() {
        let map: Map = [("k", "1")].into_iter().collect();
        assert_eq!(format!("{map:?}"), r#"{"k": "1"}"#);
    }

    #[derive(Debug, Clone)]
    enum MapOp {
        Insert(String, String),
        Remove(String),
        Get(String),
        Prefix(String),
    }

    /// Short keys from a small alphabet (with a non-ASCII letter), so operations collide
    /// and prefixes share keys.
    fn key() -> impl Strategy<Value = String> {
        "[abé]{0,4}"
    }

    fn op() -> impl Strategy<Value = MapOp> {
        prop_oneof![
            (key(), "[0-9a-z\"{}]{0,8}").prop_map(|(key, value)| MapOp::Insert(key, value)),
            key().prop_map(MapOp::Remove),
            key().prop_map(MapOp::Get),
            "[abé]{0,2}".prop_map(MapOp::Prefix),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_a_btreemap(
            initial in proptest::collection::vec((key(), "[0-9]{0,3}"), 0..40),
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            let mut map: Map = initial.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut model: BTreeMap<String, String> = BTreeMap::new();
            for (key, value) in &initial {
                model.insert(key.clone(), value.clone());
            }
            for op in ops {
                match op {
                    MapOp::Insert(key, value) => {
                        let old = map.insert(&key, &value).map(|e| e.value().to_string());
                        prop_assert_eq!(old, model.insert(key, value));
                    }
                    MapOp::Remove(key) => {
                        let old = map.remove(&key).map(|e| e.value().to_string());
                        prop_assert_eq!(old, model.remove(&key));
                    }
                    MapOp::Get(key) => {
                        prop_assert_eq!(map.get(&key), model.get(&key).map(String::as_str));
                        prop_assert_eq!(map.contains_key(&key), model.contains_key(&key));
                    }
                    MapOp::Prefix(prefix) => {
                        let expected: Vec<(&str, &str)> = model
                            .iter()
                            .filter(|(key, _)| key.starts_with(&prefix))
                            .map(|(key, value)| (key.as_str(), value.as_str()))
                            .collect();
                        prop_assert_eq!(map.scan_prefix(&prefix).collect::<Vec<_>>(), expected);
                    }
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert_eq!(map.is_empty(), model.is_empty());
            }
            let expected: Vec<(&str, &str)> =
                model.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
            prop_assert_eq!(pairs(&map), expected);
        }
    }
}

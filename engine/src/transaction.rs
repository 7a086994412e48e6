//! Transactions: mutations across keys that become durable and visible together, or not at
//! all. A [`Batch`] queues them and answers reads as if they were committed (read your
//! writes); [`KvStore::commit`] commits it as one commit, the same one a single `put`
//! makes: one snapshot in snapshot mode, one log commit with one `fdatasync` in wal mode.
//! [`Transaction`] is the same thing borrowed from a store, for code that runs a
//! transaction in one scope.
//!
//! What survives a crash is what survives any commit of the store's mode: in snapshot and
//! wal mode all of a committed transaction or none of it, through a process kill or a power
//! loss at any step. Naive mode applies a transaction to memory as one step but rewrites
//! its file in place, so a crash during the commit can leave the file with part of it, or
//! unreadable. Memory mode keeps nothing.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::iter::Peekable;

use serde_json::Value;

use crate::durability::Mutation;
use crate::error::Result;
use crate::json_text::JsonText;
use crate::store::{KvStore, admit_text};

// Here rather than in `store.rs`, so that the store knows nothing of transactions.
impl KvStore {
    /// Commits every mutation of `batch` as one commit, as [`apply`](Self::apply) does,
    /// returning how many the batch held: all of them become durable and visible, or on
    /// error none of them does. What survives a crash is what survives any commit in this
    /// store's mode (see [`Transaction`]).
    pub fn commit(&mut self, batch: Batch) -> Result<usize> {
        let held = batch.len();
        self.apply(batch.into_mutations())?;
        Ok(held)
    }

    /// A transaction on this store: see [`Transaction`].
    pub fn transaction(&mut self) -> Transaction<'_> {
        Transaction::new(self)
    }
}

/// Mutations queued for one commit, and the reads they imply. Owned, so a shell can keep
/// one open across input lines; commit it with [`KvStore::commit`], roll it back by
/// dropping it.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    mutations: Vec<Mutation>,
    /// The last queued write to each key: its text, or `None` for a delete.
    writes: BTreeMap<String, Option<JsonText>>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Queues storing `value` under `key`. A value the store would refuse (nested too
    /// deeply, too large) is refused now, and nothing is queued.
    pub fn put(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        self.put_text(key, JsonText::from(&value))
    }

    /// Queues storing `text` under `key`, as [`put`](Self::put) does.
    pub fn put_text(&mut self, key: impl Into<String>, text: JsonText) -> Result<()> {
        let key = key.into();
        admit_text(&key, &text)?;
        self.writes.insert(key.clone(), Some(text.clone()));
        self.mutations.push(Mutation::PutText { key, text });
        Ok(())
    }

    /// Queues removing `key`; returns whether `key` is there as `store` plus this batch
    /// sees it (removing a missing key is queued, and commits as a no-op).
    pub fn delete(&mut self, store: &KvStore, key: &str) -> bool {
        let present = self.contains_key(store, key);
        self.writes.insert(key.to_string(), None);
        self.mutations.push(Mutation::Delete {
            key: key.to_string(),
        });
        present
    }

    /// The number of mutations queued.
    pub fn len(&self) -> usize {
        self.mutations.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.mutations.is_empty()
    }

    /// The mutations queued, oldest first.
    pub fn mutations(&self) -> &[Mutation] {
        &self.mutations
    }

    /// The value under `key` as its compact JSON text, as `store` will hold it once the
    /// batch commits (see [`KvStore::get_raw`]).
    pub fn get_raw<'a>(&'a self, store: &'a KvStore, key: &str) -> Option<&'a str> {
        match self.writes.get(key) {
            Some(write) => write.as_ref().map(JsonText::as_str),
            None => store.get_raw(key),
        }
    }

    /// The value under `key` once the batch commits (see [`KvStore::get`]).
    pub fn get(&self, store: &KvStore, key: &str) -> Option<Value> {
        match self.writes.get(key) {
            Some(write) => write.as_ref().map(JsonText::to_value),
            None => store.get(key),
        }
    }

    /// Whether `key` is present once the batch commits.
    pub fn contains_key(&self, store: &KvStore, key: &str) -> bool {
        match self.writes.get(key) {
            Some(write) => write.is_some(),
            None => store.contains_key(key),
        }
    }

    /// Every entry once the batch commits, in key order, values as text (see
    /// [`KvStore::iter`]).
    pub fn iter<'a>(&'a self, store: &'a KvStore) -> impl Iterator<Item = (&'a str, &'a str)> {
        Merged {
            stored: store.iter().peekable(),
            writes: self.writes.iter().peekable(),
        }
    }

    /// The number of keys once the batch commits.
    pub fn count(&self, store: &KvStore) -> usize {
        let mut count = store.len();
        for (key, write) in &self.writes {
            match (store.contains_key(key), write.is_some()) {
                (false, true) => count += 1,
                (true, false) => count -= 1,
                _ => {}
            }
        }
        count
    }

    pub(crate) fn into_mutations(self) -> Vec<Mutation> {
        self.mutations
    }
}

/// The store's entries with a batch's writes laid over them, in key order: both sources are
/// sorted, so one pass merges them.
struct Merged<'a, S: Iterator<Item = (&'a str, &'a str)>> {
    stored: Peekable<S>,
    writes: Peekable<std::collections::btree_map::Iter<'a, String, Option<JsonText>>>,
}

impl<'a, S: Iterator<Item = (&'a str, &'a str)>> Iterator for Merged<'a, S> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.stored.peek(), self.writes.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((stored, _)), Some((written, _))) => (*stored).cmp(written.as_str()),
            };
            if order == Ordering::Less {
                return self.stored.next();
            }
            if order == Ordering::Equal {
                // The batch's write replaces the stored entry.
                self.stored.next();
            }
            if let Some((key, Some(text))) = self.writes.next() {
                return Some((key.as_str(), text.as_str()));
            }
            // A delete: the key is gone; look at the next one.
        }
    }
}

/// A transaction on a store: reads see its own writes, [`commit`](Self::commit) makes all
/// of them durable and visible as one commit, and dropping it without committing (or
/// [`rollback`](Self::rollback)) leaves the store as it was, having written nothing.
///
/// ```
/// use kv_engine::{KvStore, Options};
/// use serde_json::json;
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("bank.json");
/// let mut db = KvStore::open(&path, Options::new())?;
/// db.put("alice", json!(100))?;
/// db.put("bob", json!(0))?;
///
/// let mut tx = db.transaction();
/// tx.put("alice", json!(70))?;
/// tx.put("bob", json!(30))?;
/// assert_eq!(tx.get("bob"), Some(json!(30)));
/// assert_eq!(tx.commit()?, 2);
/// assert_eq!(db.get("alice"), Some(json!(70)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a transaction that is dropped rolls back"]
pub struct Transaction<'a> {
    store: &'a mut KvStore,
    batch: Batch,
}

impl<'a> Transaction<'a> {
    pub(crate) fn new(store: &'a mut KvStore) -> Self {
        Transaction {
            store,
            batch: Batch::new(),
        }
    }

    /// The value under `key`, this transaction's writes included.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.batch.get(self.store, key)
    }

    /// The value under `key` as text, this transaction's writes included.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.batch.get_raw(self.store, key)
    }

    /// Whether `key` is present, this transaction's writes included.
    pub fn contains_key(&self, key: &str) -> bool {
        self.batch.contains_key(self.store, key)
    }

    /// Queues a put (see [`Batch::put`]).
    pub fn put(&mut self, key: impl Into<String>, value: Value) -> Result<()> {
        self.batch.put(key, value)
    }

    /// Queues a put of text (see [`Batch::put_text`]).
    pub fn put_text(&mut self, key: impl Into<String>, text: JsonText) -> Result<()> {
        self.batch.put_text(key, text)
    }

    /// Queues a delete; returns whether the key was there (see [`Batch::delete`]).
    pub fn delete(&mut self, key: &str) -> bool {
        self.batch.delete(self.store, key)
    }

    /// The number of mutations queued.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Commits every queued mutation as one commit, returning how many there were; on
    /// error none of them is visible (see [`KvStore::commit`]).
    pub fn commit(self) -> Result<usize> {
        self.store.commit(self.batch)
    }

    /// Drops every queued mutation: the store is as it was, and nothing was written.
    pub fn rollback(self) {}
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn store(entries: &[(&str, Value)]) -> KvStore {
        let mut store = KvStore::in_memory();
        for (key, value) in entries {
            store.put(*key, value.clone()).unwrap();
        }
        store
    }

    #[test]
    fn reads_see_the_batch_over_the_store() {
        let store = store(&[("a", json!(1)), ("b", json!(2)), ("d", json!(4))]);
        let mut batch = Batch::new();
        batch.put("c", json!(3)).unwrap();
        assert!(batch.delete(&store, "b"));
        assert!(!batch.delete(&store, "zz"));
        batch.put("a", json!("one")).unwrap();
        assert_eq!(batch.get_raw(&store, "a"), Some("\"one\""));
        assert_eq!(batch.get(&store, "b"), None);
        assert_eq!(batch.get(&store, "d"), Some(json!(4)));
        assert!(batch.contains_key(&store, "c"));
        assert!(!batch.contains_key(&store, "b"));
        assert_eq!(
            batch.iter(&store).collect::<Vec<_>>(),
            [("a", "\"one\""), ("c", "3"), ("d", "4")]
        );
        assert_eq!(batch.count(&store), 3);
        assert_eq!(batch.len(), 4);
        // The store itself is untouched until the commit.
        assert_eq!(store.get("b"), Some(json!(2)));
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn a_put_then_a_delete_of_the_same_key_leaves_it_missing() {
        let mut store = store(&[]);
        let mut batch = Batch::new();
        batch.put("k", json!(1)).unwrap();
        assert!(batch.delete(&store, "k"));
        assert_eq!(batch.iter(&store).count(), 0);
        assert_eq!(batch.count(&store), 0);
        assert_eq!(store.commit(batch).unwrap(), 2);
        assert_eq!(store.get("k"), None);
    }

    #[test]
    fn a_value_the_store_would_refuse_is_refused_when_queued() {
        let mut deep = json!(0);
        for _ in 0..=crate::MAX_VALUE_DEPTH {
            deep = json!([deep]);
        }
        let mut batch = Batch::new();
        let refused = batch.put("k", deep);
        assert!(
            matches!(refused, Err(crate::Error::ValueTooDeep { .. })),
            "{refused:?}"
        );
        assert!(batch.is_empty());
    }

    #[test]
    fn a_dropped_transaction_changes_nothing() {
        let mut store = store(&[("a", json!(1))]);
        let commits = store.stats().commits;
        {
            let mut tx = store.transaction();
            tx.put("a", json!(2)).unwrap();
            assert!(tx.delete("a"));
            assert!(!tx.contains_key("a"));
        }
        let mut tx = store.transaction();
        tx.put("b", json!(3)).unwrap();
        tx.rollback();
        assert_eq!(store.get("a"), Some(json!(1)));
        assert_eq!(store.get("b"), None);
        assert_eq!(store.stats().commits, commits);
    }
}

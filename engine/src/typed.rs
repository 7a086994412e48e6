//! Typed access: any `Serialize` value in, any `Deserialize` type out, through the same
//! JSON texts the store keeps (`put_as` stores exactly what `put` of the value's JSON
//! stores, so the shell and other readers see plain JSON).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::json_text::JsonText;
use crate::store::KvStore;
use crate::transaction::{Batch, Transaction};

/// The canonical text of `value`, stored under `key`, or why it is not JSON.
fn to_text<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<JsonText> {
    let value = serde_json::to_value(value).map_err(|err| Error::NotJson {
        key: key.to_string(),
        reason: err.to_string(),
    })?;
    Ok(JsonText::from(&value))
}

/// `text`, the value of `key`, as a `T`.
fn from_text<T: DeserializeOwned>(key: &str, text: Option<&str>) -> Result<Option<T>> {
    let Some(text) = text else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|err| Error::WrongType {
            key: key.to_string(),
            type_name: std::any::type_name::<T>(),
            reason: err.to_string(),
        })
}

// Here rather than in `store.rs`: typed access is a layer over the text the store keeps.
impl KvStore {
    /// Stores `value`, serialised with serde, under `key` (see [`put`](Self::put)).
    /// `Err(NotJson)`, with nothing written, if it does not serialise to JSON.
    pub fn put_as<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let text = to_text(key, value)?;
        self.put_text(key, text)
    }

    /// The value under `key` as a `T`; `Ok(None)` if there is none, `Err(WrongType)`
    /// (naming the key, the type and what did not fit) if the stored JSON is not a `T`.
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        from_text(key, self.get_raw(key))
    }
}

impl Batch {
    /// Queues storing `value`, serialised with serde, under `key` (see
    /// [`KvStore::put_as`]).
    pub fn put_as<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let text = to_text(key, value)?;
        self.put_text(key, text)
    }

    /// The value under `key` once the batch commits, as a `T` (see [`KvStore::get_as`]).
    pub fn get_as<T: DeserializeOwned>(&self, store: &KvStore, key: &str) -> Result<Option<T>> {
        from_text(key, self.get_raw(store, key))
    }
}

impl Transaction<'_> {
    /// Queues storing `value`, serialised with serde, under `key` (see
    /// [`KvStore::put_as`]).
    pub fn put_as<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let text = to_text(key, value)?;
        self.put_text(key, text)
    }

    /// The value under `key`, this transaction's writes included, as a `T` (see
    /// [`KvStore::get_as`]).
    pub fn get_as<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        from_text(key, self.get_raw(key))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Account {
        owner: String,
        balance: u64,
    }

    #[test]
    fn a_struct_round_trips_as_plain_json() {
        let mut store = KvStore::in_memory();
        let alice = Account {
            owner: "alice".into(),
            balance: 100,
        };
        store.put_as("acct:1", &alice).unwrap();
        assert_eq!(
            store.get_raw("acct:1"),
            Some(r#"{"owner":"alice","balance":100}"#)
        );
        assert_eq!(store.get_as::<Account>("acct:1").unwrap(), Some(alice));
        assert_eq!(store.get_as::<Account>("acct:2").unwrap(), None);
    }

    #[test]
    fn a_value_of_another_shape_names_the_key_the_type_and_the_misfit() {
        let mut store = KvStore::in_memory();
        store.put("acct:1", json!({"owner": "bob"})).unwrap();
        let err = store.get_as::<Account>("acct:1").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::WrongType { .. }), "{err:?}");
        assert!(message.contains("\"acct:1\""), "{message}");
        assert!(message.contains("Account"), "{message}");
        assert!(message.contains("missing field `balance`"), "{message}");
        // A number too large for the type is a misfit too, never a wrapped value.
        store.put("big", json!(300)).unwrap();
        assert!(matches!(
            store.get_as::<u8>("big"),
            Err(Error::WrongType { .. })
        ));
    }

    #[test]
    fn a_value_that_is_not_json_is_refused_and_nothing_is_written() {
        let mut store = KvStore::in_memory();
        let map: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let err = store.put_as("pairs", &map).unwrap_err();
        assert!(matches!(err, Error::NotJson { .. }), "{err:?}");
        assert!(err.to_string().contains("\"pairs\""), "{err}");
        assert_eq!(store.get_raw("pairs"), None);
    }

    #[test]
    fn a_transaction_reads_its_own_typed_writes() {
        let mut store = KvStore::in_memory();
        let mut tx = store.transaction();
        tx.put_as("n", &7u32).unwrap();
        assert_eq!(tx.get_as::<u32>("n").unwrap(), Some(7));
        tx.commit().unwrap();
        let mut batch = Batch::new();
        batch.put_as("n", &8u32).unwrap();
        assert_eq!(batch.get_as::<u32>(&store, "n").unwrap(), Some(8));
        assert_eq!(store.get_as::<u32>("n").unwrap(), Some(7));
    }
}

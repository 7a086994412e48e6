//! [`execute`]: runs a [`Command`] against a [`KvStore`] and returns what happened as data.
//! Nothing here prints; `render` turns an [`Outcome`] into text.

use serde_json::{Map, Value};

use crate::shell::command::{Command, Verb};
use crate::{KvStore, Result, Stats};

/// What a command produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A stored value (`get`).
    Value(Value),
    /// No value under the key (`get`), or no key to delete (`delete`).
    Missing,
    /// A mutation that is now durable as the store's mode promises.
    Done,
    /// The answer to `exists`.
    Bool(bool),
    /// Keys, in order (`keys`).
    Keys(Vec<String>),
    /// A number of keys (`count`).
    Count(usize),
    /// The whole store as one JSON object (`dump`).
    Dump(Value),
    /// Counters and sizes (`stats`).
    Stats(Stats),
    /// The command list, or one verb's description.
    Help(Option<&'static Verb>),
    /// The user asked to leave.
    Exit,
}

impl Outcome {
    /// Whether the store's key set may have changed (the editor refreshes completions).
    pub fn changed_keys(&self) -> bool {
        matches!(self, Outcome::Done)
    }
}

/// Runs `command`. Mutations return only after the store call returned `Ok`: that call is
/// the durability point, so [`Outcome::Done`] is never produced early.
pub fn execute(store: &mut KvStore, command: Command) -> Result<Outcome> {
    Ok(match command {
        Command::Get { key } => match store.get(&key) {
            Some(value) => Outcome::Value(value.clone()),
            None => Outcome::Missing,
        },
        Command::Put { key, value } => {
            store.put(key, value)?;
            Outcome::Done
        }
        Command::Delete { key } => {
            if store.delete(&key)? {
                Outcome::Done
            } else {
                Outcome::Missing
            }
        }
        Command::Exists { key } => Outcome::Bool(store.contains_key(&key)),
        Command::Keys { prefix } => {
            let keys = match prefix {
                Some(prefix) => store
                    .scan_prefix(&prefix)
                    .map(|(key, _)| key.to_string())
                    .collect(),
                None => store.keys().map(str::to_string).collect(),
            };
            Outcome::Keys(keys)
        }
        Command::Count => Outcome::Count(store.len()),
        Command::Dump => Outcome::Dump(Value::Object(
            store
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect::<Map<String, Value>>(),
        )),
        Command::Stats => Outcome::Stats(store.stats()),
        Command::Help { topic } => Outcome::Help(topic),
        Command::Exit => Outcome::Exit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::command::parse;
    use serde_json::json;

    fn run(store: &mut KvStore, line: &str) -> Outcome {
        let command = parse(line).unwrap().unwrap();
        execute(store, command).unwrap()
    }

    #[test]
    fn commands_return_what_the_store_holds() {
        let mut store = KvStore::in_memory();
        assert_eq!(run(&mut store, "get a"), Outcome::Missing);
        assert_eq!(run(&mut store, "put a {\"x\": 1}"), Outcome::Done);
        assert_eq!(run(&mut store, "get a"), Outcome::Value(json!({"x": 1})));
        assert_eq!(run(&mut store, "put b null"), Outcome::Done);
        assert_eq!(run(&mut store, "get b"), Outcome::Value(Value::Null));
        assert_eq!(run(&mut store, "exists b"), Outcome::Bool(true));
        assert_eq!(run(&mut store, "exists c"), Outcome::Bool(false));
        assert_eq!(run(&mut store, "put ab 1"), Outcome::Done);
        assert_eq!(
            run(&mut store, "keys a"),
            Outcome::Keys(vec!["a".into(), "ab".into()])
        );
        assert_eq!(run(&mut store, "count"), Outcome::Count(3));
        assert_eq!(
            run(&mut store, "dump"),
            Outcome::Dump(json!({"a": {"x": 1}, "ab": 1, "b": null}))
        );
        assert_eq!(run(&mut store, "delete a"), Outcome::Done);
        assert_eq!(run(&mut store, "delete a"), Outcome::Missing);
        assert_eq!(run(&mut store, "count"), Outcome::Count(2));
    }
}

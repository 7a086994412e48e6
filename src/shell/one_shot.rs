//! One-shot commands (`kv db.json put k '{"a": 1}'`): the words the shell split, joined
//! into one statement of the command language that means what the words meant.
//!
//! The shell has already removed its quotes, so each word is one argument: a KEY word is
//! the key exactly (quoted as a JSON string if it needs to be), and a single VALUE word is
//! JSON if it is JSON and otherwise a string, so `put name 'Ada Lovelace'` stores the text
//! rather than failing as `put name Ada Lovelace` typed at the prompt would.

use serde_json::Value;

use crate::shell::command::{Args, find_verb, key_syntax};

/// Why the words are no command: said before the database is opened, as a usage error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotACommand(pub String);

/// The statement the words after PATH mean. The first word must name a verb (or be a
/// whole statement, as sqlite3 takes one: `kv db.json 'get a'`).
pub fn statement(words: &[String]) -> Result<String, NotACommand> {
    let Some((first, rest)) = words.split_first() else {
        return Err(NotACommand("no command given".to_string()));
    };
    let verb_word = first.split_whitespace().next().unwrap_or_default();
    let Some(verb) = find_verb(verb_word) else {
        return Err(not_a_verb(verb_word));
    };
    if first.trim() != verb_word {
        // A whole statement in one word: the words after it are taken as they are.
        return Ok(join(
            std::iter::once(first.clone()).chain(rest.iter().cloned()),
        ));
    }
    let mut parts = vec![first.clone()];
    match verb.args {
        Args::Key | Args::OptionalKey => parts.extend(rest.iter().map(|word| key_syntax(word))),
        Args::KeyValue => {
            if let Some((key, value)) = rest.split_first() {
                parts.push(key_syntax(key));
                match value {
                    [one] => parts.push(value_syntax(one)),
                    // Several words: the value was typed unquoted (`put k [1, 2]`); the
                    // parser judges the text as the prompt would.
                    many => parts.extend(many.iter().cloned()),
                }
            }
        }
        // A file name as the shell gave it, spaces and all: written as a JSON string.
        Args::File => parts.extend(rest.iter().map(|word| match word.as_str() {
            "--step" => word.clone(),
            name => Value::String(name.to_string()).to_string(),
        })),
        Args::None | Args::OptionalVerb | Args::Words(_) => parts.extend(rest.iter().cloned()),
    }
    Ok(join(parts.into_iter()))
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(" ")
}

/// One VALUE word: JSON as written, or, if it is not JSON, the string it holds. A word
/// that starts like JSON (`{`, `[`, `"`) but is broken stays as written, so the parser
/// reports the JSON error instead of storing the typo as a string.
fn value_syntax(word: &str) -> String {
    let trimmed = word.trim_start();
    if kv_engine::JsonText::parse(word).is_ok() || trimmed.starts_with(['{', '[', '"']) {
        return word.to_string();
    }
    Value::String(word.to_string()).to_string()
}

/// The error for a first word that names no verb, naming the closest one and the
/// subcommands that must come before PATH.
fn not_a_verb(word: &str) -> NotACommand {
    const SUBCOMMANDS: [&str; 3] = ["check", "repair", "bench"];
    if let Some(sub) = SUBCOMMANDS
        .iter()
        .find(|sub| sub.eq_ignore_ascii_case(word))
    {
        return NotACommand(format!(
            "{sub:?} is a subcommand, not a shell command: write it before the path (kv {sub} PATH)"
        ));
    }
    let reason = match crate::shell::command::parse(word) {
        Err(err) => err.message,
        _ => format!("unknown command {word:?}"),
    };
    let reason = reason.trim_end_matches(" (type help for the list)");
    NotACommand(format!(
        "{reason} (after PATH comes a shell command: kv PATH help lists them)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::command::{Command, parse};

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|word| word.to_string()).collect()
    }

    fn joined(list: &[&str]) -> String {
        statement(&words(list)).unwrap()
    }

    #[test]
    fn each_shell_word_keeps_its_meaning() {
        let cases: &[(&[&str], &str)] = &[
            (&["get", "a"], "get a"),
            (&["get", "key with space"], "get \"key with space\""),
            (&["get", ""], "get \"\""),
            (&["get", "#tag"], "get \"#tag\""),
            (&["get", "a\"b"], "get \"a\\\"b\""),
            (&["put", "k", "{\"a\": 1}"], "put k {\"a\": 1}"),
            (&["put", "k", "42"], "put k 42"),
            (&["put", "k", "-1"], "put k -1"),
            (&["put", "k", "\"quoted\""], "put k \"quoted\""),
            (&["put", "k", "Ada Lovelace"], "put k \"Ada Lovelace\""),
            (&["put", "k", "two\nlines"], "put k \"two\\nlines\""),
            (&["put", "k", ""], "put k \"\""),
            (&["put", "k", "{\"a\": "], "put k {\"a\": "),
            (&["put", "k", "[1,", "2]"], "put k [1, 2]"),
            (&["set", "my key", "x"], "set \"my key\" \"x\""),
            (&["keys"], "keys"),
            (&["keys", "user:*"], "keys user:*"),
            (&["count"], "count"),
            (&["help", "put"], "help put"),
            (&["get a"], "get a"),
            (&["put k", "{\"a\": 1}"], "put k {\"a\": 1}"),
        ];
        for (list, expected) in cases {
            assert_eq!(joined(list), *expected, "{list:?}");
        }
    }

    #[test]
    fn the_statement_parses_to_what_the_words_meant() {
        let put = |key: &str, json: &str| Command::Put {
            key: key.to_string(),
            value: kv_engine::JsonText::parse(json).unwrap(),
        };
        let cases: Vec<(&[&str], Command)> = vec![
            (
                &["put", "a b", "{\"x\": [1, 2]}"],
                put("a b", "{\"x\":[1,2]}"),
            ),
            (
                &["put", "name", "Ada Lovelace"],
                put("name", "\"Ada Lovelace\""),
            ),
            (&["put", "n", "1.50"], put("n", "1.50")),
            (&["put", "s", "tab\there"], put("s", "\"tab\\there\"")),
            (
                &["get", "\"quoted\""],
                Command::Get {
                    key: "\"quoted\"".to_string(),
                },
            ),
        ];
        for (list, expected) in cases {
            let text = joined(list);
            assert_eq!(parse(&text), Ok(Some(expected)), "{list:?} -> {text}");
        }
        // A broken JSON value is reported, not stored as a string.
        assert!(parse(&joined(&["put", "k", "{\"a\": "])).is_err());
    }

    #[test]
    fn a_first_word_that_is_no_verb_is_refused_with_a_hint() {
        let err = |list: &[&str]| statement(&words(list)).unwrap_err().0;
        assert_eq!(
            err(&["gte", "a"]),
            "unknown command \"gte\"; did you mean \"get\"? (after PATH comes a shell \
             command: kv PATH help lists them)"
        );
        assert_eq!(
            err(&["check"]),
            "\"check\" is a subcommand, not a shell command: write it before the path \
             (kv check PATH)"
        );
        assert!(err(&["b.json"]).starts_with("unknown command \"b.json\""));
        assert!(err(&["# note"]).starts_with("unknown command \"#\""));
        assert_eq!(err(&[]), "no command given");
    }
}

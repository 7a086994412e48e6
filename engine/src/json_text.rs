//! [`JsonText`]: a JSON value as the canonical compact text the store keeps, so a value
//! that arrives as text (a shell statement, a piped file) is stored without building a
//! [`Value`] and serialising it back.

use std::cell::RefCell;
use std::fmt;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::durability::text::{self, Canonicaliser, MAX_TEXT_DEPTH, Slow};
use crate::json_scan;

/// A JSON value held as its canonical compact text: exactly what `serde_json::to_string`
/// writes for the [`Value`] the text parses to (numbers and object key order as written,
/// no whitespace, serde's escapes). [`KvStore::put_text`](crate::KvStore::put_text) stores
/// it as it is; [`KvStore::get_raw`](crate::KvStore::get_raw) returns the same text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonText {
    text: Box<str>,
    /// How deeply the text nests, learnt while it was canonicalised, so the store's
    /// depth limit costs no second scan.
    depth: usize,
}

thread_local! {
    /// Scratch space reused from one parse to the next.
    static CANONICALISER: RefCell<Canonicaliser> = RefCell::new(Canonicaliser::default());
}

impl JsonText {
    /// Parses `text` as one JSON value (surrounding whitespace allowed) and brings it to
    /// canonical form. The error is serde_json's, with its line and column, exactly as
    /// parsing a [`Value`] would report it, with one addition: an object that repeats a
    /// key is refused (a data error, `repeats the key "x" in one object`, positioned just
    /// after the repeat), where a [`Value`] would silently keep the last of the two: the
    /// store keeps values as written, and cannot keep both.
    pub fn parse(text: &str) -> serde_json::Result<JsonText> {
        // Validation without a tree: a RawValue is the text itself, checked. When it
        // fails, the Value parser has the last word, so the error is the one a Value parse
        // gives (`trailing comma`, where the raw scan says `expected value`).
        let raw: Box<RawValue> = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(_) => return JsonText::from_value(&serde_json::from_str(text)?),
        };
        let canonical = CANONICALISER.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut canonicaliser) => canonicaliser.canonical(raw, MAX_TEXT_DEPTH),
            // Only a re-entrant call could find it borrowed; fresh scratch does as well.
            Err(_) => Canonicaliser::default().canonical(raw, MAX_TEXT_DEPTH),
        });
        match canonical {
            Ok((text, depth)) => Ok(JsonText { text, depth }),
            // Escapes serde would not write and repeated keys need the round trip; so does
            // deep nesting, which the Value parser accepts or refuses with its own error.
            Err(Slow::NeedsValue(_)) => {
                // Only here can a key be repeated: the fast path has ruled it out otherwise.
                text::refuse_duplicate_keys(text)?;
                JsonText::from_value(&serde_json::from_str(text)?)
            }
            Err(Slow::TooDeep) => JsonText::from_value(&serde_json::from_str(text)?),
        }
    }

    /// The canonical text of `value`.
    pub fn from_value(value: &Value) -> serde_json::Result<JsonText> {
        let text = text::from_value(value)?;
        // The rare path (a `Value`, or text that needed one): scanned once more.
        let depth = json_scan::depth(&text);
        Ok(JsonText { text, depth })
    }

    /// The canonical text of the JSON string `s`.
    pub fn string(s: &str) -> JsonText {
        let mut out = Vec::with_capacity(s.len() + 2);
        text::write_key(&mut out, s);
        // write_key appends `s` (UTF-8) with ASCII quotes and escapes: still UTF-8.
        JsonText {
            text: String::from_utf8_lossy(&out).into(),
            depth: 0,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value the text holds.
    pub fn to_value(&self) -> Value {
        // The text is canonical JSON by construction, so this parse cannot fail; Null is
        // never returned in practice, and is no panic if it were.
        text::to_value(&self.text).unwrap_or(Value::Null)
    }

    /// How deeply arrays and objects nest in the value (`0` for a scalar).
    pub fn depth(&self) -> usize {
        self.depth
    }

    pub(crate) fn into_boxed_str(self) -> Box<str> {
        self.text
    }
}

impl Default for JsonText {
    /// `null`, as [`Value::default`].
    fn default() -> Self {
        JsonText {
            text: "null".into(),
            depth: 0,
        }
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        // Serialising a Value cannot fail: its object keys are strings.
        JsonText::from_value(value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::durability::text::tests::json_value;

    fn via_value(raw: &str) -> serde_json::Result<String> {
        serde_json::to_string(&serde_json::from_str::<Value>(raw)?)
    }

    /// That `parse` gave what a Value round trip gives (text or error), except that valid
    /// text repeating a key is refused, naming the key (judged by the separate checker).
    fn matches_value_round_trip(raw: &str) -> Result<(), TestCaseError> {
        let ours = JsonText::parse(raw)
            .map(|text| text.to_string())
            .map_err(|e| e.to_string());
        let values = via_value(raw).map_err(|e| e.to_string());
        match (&values, text::duplicate_key(raw)) {
            (Ok(_), Ok(Some(repeat))) => {
                let refusal = text::repeated_key_message(&repeat.key);
                prop_assert!(
                    ours.as_ref().is_err_and(|err| err.starts_with(&refusal)),
                    "{:?}: {:?}",
                    raw,
                    ours
                );
            }
            _ => prop_assert_eq!(ours, values, "{:?}", raw),
        }
        Ok(())
    }

    #[test]
    fn parse_gives_what_a_value_round_trip_gives() {
        for raw in [
            " 42 ",
            "12345678901234567890",
            "0.1",
            "1E5",
            r#"{"b": 1, "a": [1, 2.50, {}]}"#,
            r#""\u0041\/""#,
            r#"{"a":1,"b":2,"c":{"a":3}}"#,
            "\"🦀\"",
            "null",
        ] {
            assert_eq!(
                JsonText::parse(raw).map(|text| text.to_string()).ok(),
                via_value(raw).ok(),
                "{raw}"
            );
        }
    }

    #[test]
    fn parse_errors_are_the_value_parsers_errors() {
        for raw in [
            "",
            "{\"a\":",
            "[1, 2",
            "{\"a\" 1}",
            "1 2",
            "tru",
            "\"open",
            "[1,]",
            "\"a\u{1}b\"",
            "\"a\nb\"",
            r#""\x""#,
            r#""\ud800""#,
            r#""\udc00x""#,
            r#"{"a":1,}"#,
            "01",
            "1.",
            "-",
            "[1] x",
            &format!("{}{}", "[".repeat(200), "]".repeat(200)),
        ] {
            let ours = JsonText::parse(raw).err().map(|err| err.to_string());
            let values = serde_json::from_str::<Value>(raw)
                .err()
                .map(|err| err.to_string());
            assert!(ours.is_some(), "{raw:?} parsed");
            assert_eq!(ours, values, "{raw:?}");
        }
    }

    #[test]
    fn an_object_that_repeats_a_key_is_refused_where_a_value_would_keep_the_last() {
        for (raw, key, column) in [
            (r#"{"x":1,"x":2}"#, "x", 10),
            (r#"{"a":1,"b":2,"a":3}"#, "a", 16),
            // Spelt differently, the same key: serde's escapes are undone first.
            (r#"{"\u0078":1,"x":2}"#, "x", 15),
            (r#"[{"y":[{"k":1,"k":2}]}]"#, "k", 17),
            (r#"{"q\"":1, "q\"" :2}"#, "q\"", 16),
        ] {
            let err = JsonText::parse(raw).unwrap_err();
            assert_eq!(
                err.classify(),
                serde_json::error::Category::Data,
                "{raw}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "repeats the key {} in one object at line 1 column {column}",
                    serde_json::to_string(key).unwrap()
                ),
                "{raw}"
            );
            // The silent choice this refuses: the Value parser keeps one of the two.
            assert!(serde_json::from_str::<Value>(raw).is_ok(), "{raw}");
        }
        // The same key in two different objects is no repeat.
        assert_eq!(
            JsonText::parse(r#"{"x":{"x":1},"y":[{"x":2},{"x":3}]}"#)
                .unwrap()
                .as_str(),
            r#"{"x":{"x":1},"y":[{"x":2},{"x":3}]}"#
        );
    }

    #[test]
    fn nesting_the_value_parser_accepts_keeps_its_depth() {
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert_eq!(JsonText::parse("7").unwrap().depth(), 0);
        for levels in [1, 100, 101, 126, 127] {
            let text = JsonText::parse(&deep(levels)).unwrap();
            assert_eq!(text.as_str(), deep(levels));
            assert_eq!(text.depth(), levels);
        }
        assert_eq!(
            JsonText::parse(r#"{"a":["]]]",{"b":{}}]}"#)
                .unwrap()
                .depth(),
            4
        );
    }

    #[test]
    fn strings_and_values_convert_to_their_canonical_text() {
        assert_eq!(
            JsonText::string("say \"hi\"\n").as_str(),
            r#""say \"hi\"\n""#
        );
        let value = json!({"b": [1, "x"], "a": null});
        assert_eq!(JsonText::from(&value).as_str(), r#"{"b":[1,"x"],"a":null}"#);
        assert_eq!(JsonText::from(&value).to_value(), value);
    }

    proptest! {
        #[test]
        fn any_string_is_quoted_as_serde_quotes_it(s in any::<String>()) {
            prop_assert_eq!(JsonText::string(&s).to_string(), serde_json::to_string(&s).unwrap());
        }

        /// Whatever is typed, valid or not: the same text or the same error as a Value
        /// round trip. The alphabet is JSON's punctuation, escapes, a control character,
        /// DEL, non-ASCII and the letters of literals and exponents.
        #[test]
        fn any_input_parses_as_a_value_round_trip_would(
            input in "[\\[\\]{}\",: 0-9.eE+\\-\\\\/ubnrtfalsu\u{1}\u{7f}é🦀\n]{0,24}"
        ) {
            matches_value_round_trip(&input)?;
        }

        /// Valid JSON with one edit (a character inserted, deleted or replaced): text at
        /// the edge of validity, where a validator and a parser are likeliest to differ.
        #[test]
        fn any_near_valid_input_parses_as_a_value_round_trip_would(
            value in json_value(),
            at in any::<prop::sample::Index>(),
            edit in 0..3u8,
            c in prop::sample::select(vec!['"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'e', '-', '0', '.', 'u', '\u{1}', 'é']),
        ) {
            let mut chars: Vec<char> = serde_json::to_string_pretty(&value).unwrap().chars().collect();
            let i = at.index(chars.len() + 1);
            match edit {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
            let input: String = chars.into_iter().collect();
            matches_value_round_trip(&input)?;
        }

        /// Valid JSON from the generator of the canonicaliser's own tests, written compact
        /// and pretty.
        #[test]
        fn any_value_written_any_way_parses_to_its_canonical_text(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(JsonText::parse(&compact).unwrap().to_string(), compact.clone());
            let parsed = JsonText::parse(&pretty).unwrap();
            // The depth the canonicaliser learnt is the one a scan of the text finds.
            prop_assert_eq!(parsed.depth(), json_scan::depth(&compact));
            prop_assert_eq!(parsed.to_string(), compact);
        }
    }
}

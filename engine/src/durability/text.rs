//! The stored form of a value: its canonical compact JSON text.
//!
//! Every value's text in the map (see [`Map`](super::Map)) is
//! - valid JSON, nested at most [`MAX_TEXT_DEPTH`] deep, so parsing it back into a `Value`
//!   (for `get`) never reaches serde_json's recursion limit and cannot fail;
//! - canonical: byte for byte what `serde_json::to_string` gives for the `Value` it parses
//!   to (with `preserve_order` and `arbitrary_precision`). A `put` stores exactly that, so
//!   what `get` shows is what it showed when the map held `Value`s, and snapshot bytes are
//!   the same as before.
//!
//! Text read from a file (a snapshot written by hand, a log record) is brought to that form
//! by [`Canonicaliser`] without building a `Value`: whitespace is dropped and exponents are
//! spelt as serde_json spells them. The rare text it cannot rewrite alone (an escape serde
//! would not write, a repeated object key) goes through a `Value` as before.

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::json_scan::{self, Scanner, Token};

/// The deepest nesting a stored text may have: one less than serde_json's parser accepts
/// (127), because a snapshot wraps every value in one more object.
pub(crate) const MAX_TEXT_DEPTH: usize = 126;

/// The canonical text of `value`.
pub(crate) fn from_value(value: &Value) -> serde_json::Result<Box<str>> {
    serde_json::to_string(value).map(String::into_boxed_str)
}

/// The value a stored text holds. `None` only if the text broke the module's invariant,
/// which nothing in the crate does.
pub(crate) fn to_value(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// Appends `key` as a JSON string, escaped exactly as serde_json escapes it (so snapshot
/// bytes do not depend on which of the two wrote them).
pub(crate) fn write_key(out: &mut Vec<u8>, key: &str) {
    let bytes = key.as_bytes();
    // Most keys need no escape: one copy (this path is most of a snapshot's keys).
    if !bytes
        .iter()
        .any(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')
    {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&control_escape(byte));
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `\u00XX` with lowercase hex digits, as serde_json writes a control character that has
/// no short escape.
fn control_escape(byte: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        b'0',
        b'0',
        HEX[usize::from(byte >> 4)],
        HEX[usize::from(byte & 0xf)],
    ]
}

/// Why [`Canonicaliser::canonical`] could not produce the text alone.
#[derive(Debug)]
pub(crate) enum Slow<Raw = Box<RawValue>> {
    /// Nested deeper than allowed: the caller must refuse it (with the parser's error).
    TooDeep,
    /// Valid, but only a `Value` round trip gives the canonical form (a `\u` or `\/`
    /// escape, a key repeated in an object). Carries the text back.
    NeedsValue(Raw),
}

/// Brings JSON text that serde_json has already validated to canonical form; holds
/// scratch space reused from one value to the next.
#[derive(Debug, Default)]
pub(crate) struct Canonicaliser {
    /// Byte ranges of the keys of the objects being read, innermost last.
    keys: Vec<(usize, usize)>,
    /// For each open object, where its keys start in `keys`.
    objects: Vec<usize>,
}

impl Canonicaliser {
    /// The canonical form of `raw`, nested at most `max_depth` deep, and how deeply it
    /// nests (`0` for a scalar), which the scan learns on the way. Copies nothing when
    /// `raw` already is canonical (every snapshot and log record this crate writes).
    pub(crate) fn canonical(
        &mut self,
        raw: Box<RawValue>,
        max_depth: usize,
    ) -> Result<(Box<str>, usize), Slow> {
        match self.rewrite(raw.get(), max_depth) {
            Ok(Rewritten { text: None, depth }) => Ok((raw.into(), depth)),
            Ok(Rewritten {
                text: Some(text),
                depth,
            }) => Ok((text.into_boxed_str(), depth)),
            Err(Needs::Depth) => Err(Slow::TooDeep),
            Err(Needs::Value) => Err(Slow::NeedsValue(raw)),
        }
    }

    /// [`canonical`](Self::canonical) for text borrowed from a buffer (a snapshot, a log
    /// record): the text itself when it already is canonical, so a caller that copies it
    /// into the map allocates once per entry, not once more for the value alone.
    pub(crate) fn canonical_borrowed<'a>(
        &mut self,
        raw: &'a str,
        max_depth: usize,
    ) -> Result<Cow<'a, str>, Slow<&'a str>> {
        match self.rewrite(raw, max_depth) {
            Ok(Rewritten { text: None, .. }) => Ok(Cow::Borrowed(raw)),
            Ok(Rewritten {
                text: Some(text), ..
            }) => Ok(Cow::Owned(text)),
            Err(Needs::Depth) => Err(Slow::TooDeep),
            Err(Needs::Value) => Err(Slow::NeedsValue(raw)),
        }
    }

    /// `Ok(None)` if `text` is canonical, else its canonical form; and how deeply it
    /// nests.
    fn rewrite(&mut self, text: &str, max_depth: usize) -> Result<Rewritten, Needs> {
        self.keys.clear();
        self.objects.clear();
        let bytes = text.as_bytes();
        // Built only once the first byte has to change.
        let mut out: Option<Vec<u8>> = None;
        // Bit `d` set: the container at depth `d` is an object (depth is at most 127).
        let mut is_object: u128 = 0;
        let mut depth = 0usize;
        let mut deepest = 0usize;
        let mut expect_key = false;
        let mut string_start = 0;
        // Copies bytes[from..to] to `out` if it exists.
        fn copy(out: &mut Option<Vec<u8>>, bytes: &[u8], from: usize, to: usize) {
            if let Some(out) = out {
                out.extend_from_slice(&bytes[from..to]);
            }
        }
        fn start<'a>(out: &'a mut Option<Vec<u8>>, bytes: &[u8], upto: usize) -> &'a mut Vec<u8> {
            out.get_or_insert_with(|| {
                let mut started = Vec::with_capacity(bytes.len());
                started.extend_from_slice(&bytes[..upto]);
                started
            })
        }
        let mut scanner = Scanner::new();
        for (i, token) in scanner.tokens(bytes) {
            match token {
                Token::Other(b' ' | b'\t' | b'\n' | b'\r') => {
                    start(&mut out, bytes, i);
                }
                Token::StringStart => string_start = i,
                Token::Escape => {
                    if !canonical_escape(&bytes[i + 1..]) {
                        return Err(Needs::Value);
                    }
                }
                Token::StringEnd => {
                    let end = i + 1;
                    if expect_key {
                        self.keys.push((string_start, end));
                        expect_key = false;
                    }
                    copy(&mut out, bytes, string_start, end);
                }
                Token::Open { bracket, depth: d } => {
                    depth = d;
                    if depth > max_depth || depth >= 128 {
                        return Err(Needs::Depth);
                    }
                    deepest = deepest.max(depth);
                    if bracket == b'{' {
                        is_object |= 1 << depth;
                        self.objects.push(self.keys.len());
                        expect_key = true;
                    } else {
                        is_object &= !(1 << depth);
                    }
                    copy(&mut out, bytes, i, i + 1);
                }
                Token::Close { bracket, depth: d } => {
                    if bracket == b'}' {
                        let first = self.objects.pop().unwrap_or(0);
                        let keys = &mut self.keys[first..];
                        if keys.len() > 1 {
                            // With only canonical escapes, equal text means equal keys.
                            keys.sort_unstable_by(|a, b| bytes[a.0..a.1].cmp(&bytes[b.0..b.1]));
                            if keys.windows(2).any(|pair| {
                                bytes[pair[0].0..pair[0].1] == bytes[pair[1].0..pair[1].1]
                            }) {
                                return Err(Needs::Value);
                            }
                        }
                        self.keys.truncate(first);
                    }
                    depth = d;
                    expect_key = false;
                    copy(&mut out, bytes, i, i + 1);
                }
                Token::Other(b',') => {
                    expect_key = is_object & (1 << depth) != 0;
                    copy(&mut out, bytes, i, i + 1);
                }
                Token::Other(e @ (b'e' | b'E')) if is_number_byte(bytes, i) => {
                    // serde_json writes an exponent as `e` and a sign, always.
                    let signed = matches!(bytes.get(i + 1), Some(b'+' | b'-'));
                    if e == b'E' || !signed {
                        let out = start(&mut out, bytes, i);
                        out.push(b'e');
                        if !signed {
                            out.push(b'+');
                        }
                    } else {
                        copy(&mut out, bytes, i, i + 1);
                    }
                }
                Token::Other(_) => {
                    // Digits, signs, points, `:`, and the letters of true/false/null.
                    copy(&mut out, bytes, i, i + 1);
                }
            }
        }
        if scanner.in_string() {
            // Unterminated: not text serde_json validated.
            return Err(Needs::Value);
        }
        let text = out
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| Needs::Value)?;
        Ok(Rewritten {
            text,
            depth: deepest,
        })
    }
}

/// What [`Canonicaliser::rewrite`] gives.
struct Rewritten {
    /// `None` if the text was canonical already.
    text: Option<String>,
    /// How deeply the text nests (`0` for a scalar).
    depth: usize,
}

/// What [`Canonicaliser::rewrite`] cannot do alone.
#[derive(Debug)]
enum Needs {
    Depth,
    Value,
}

/// Whether the `e`/`E` at `i` is inside a number (a digit before it), not in `true`/`false`.
fn is_number_byte(bytes: &[u8], i: usize) -> bool {
    i > 0 && bytes[i - 1].is_ascii_digit()
}

/// Whether the escape whose backslash comes just before `after` is one serde_json writes:
/// a short escape, or `\u00XX` (lowercase hex) for a control character that has none.
fn canonical_escape(after: &[u8]) -> bool {
    match after.first() {
        Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => true,
        Some(b'u') => {
            let Some(hex) = after.get(1..5) else {
                return false;
            };
            let Some(code) = std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            else {
                return false;
            };
            code < 0x20
                && !matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)
                && *hex == control_escape(code as u8)[2..]
        }
        _ => false,
    }
}

/// A key written twice in one object of a JSON text.
///
/// RFC 8259 leaves such an object's meaning to each reader, and readers differ (serde_json
/// and most parsers keep the last value, some the first, PostgreSQL's `json` both). The
/// store promises that a value comes back as it was written, and its canonical text holds
/// each key once, so keeping one of the two would change the value silently: a text with
/// a repeated key is refused, naming the key and where it is, wherever text enters the
/// store (a shell statement, [`JsonText::parse`](crate::JsonText::parse), a snapshot
/// written by hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    /// The key, unescaped.
    pub key: String,
    /// Where the repeat's opening quote is: 1-based line, and column in bytes (as
    /// serde_json counts them).
    pub line: usize,
    pub column: usize,
}

/// The message a repeated key is refused with (before its position): the shell and the
/// library errors build on it.
pub(crate) fn repeated_key_message(key: &str) -> String {
    format!(
        "repeats the key {} in one object",
        serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"))
    )
}

/// The first key repeated within one object of `text`, in text order. `Err` is
/// serde_json's own error for text that is not valid JSON (or nests beyond its limit): the
/// caller's parse reports it. Reads the text once more, so callers run it only where the
/// canonicaliser could not rule a repeat out ([`Slow::NeedsValue`]): the common texts pay
/// nothing.
pub(crate) fn duplicate_key(text: &str) -> serde_json::Result<Option<DuplicateKey>> {
    match walk_for_duplicates(text) {
        (Err(err), Some(key)) => {
            // serde_json stops at or just past the repeat's closing quote (past it when
            // whitespace follows an escaped key); a key holds no raw newline, and no line
            // starts inside a string, so its opening quote is the start of the last string
            // a scan of that line finds.
            let line_start = match err.line() {
                0 | 1 => 0,
                line => text
                    .match_indices('\n')
                    .nth(line - 2)
                    .map_or(0, |(at, _)| at + 1),
            };
            let close = (line_start + err.column().saturating_sub(1)).min(text.len());
            let line = &text.as_bytes()[line_start..close];
            let open = json_scan::last_string_start(line).unwrap_or(line.len());
            Ok(Some(DuplicateKey {
                key,
                line: err.line(),
                column: open + 1,
            }))
        }
        (Err(err), None) => Err(err),
        (Ok(()), _) => Ok(None),
    }
}

/// `Err` with serde_json's error (message [`repeated_key_message`], and the position) if
/// `text` repeats a key in one object; `Ok` otherwise, also for invalid text, whose own
/// error the caller's parse reports.
pub(crate) fn refuse_duplicate_keys(text: &str) -> serde_json::Result<()> {
    match walk_for_duplicates(text) {
        (Err(err), Some(_)) => Err(err),
        _ => Ok(()),
    }
}

/// Reads `text` as JSON, stopping at the first key repeated in one object: the result,
/// and that key if it stopped there.
fn walk_for_duplicates(text: &str) -> (serde_json::Result<()>, Option<String>) {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::fmt;

    /// Walks any value; records the first repeated key and stops there with an error
    /// (serde_json gives the error the position it has reached).
    #[derive(Clone, Copy)]
    struct Walk<'f>(&'f RefCell<Option<String>>);

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(self)?.is_some() {}
            Ok(())
        }
        // (With `arbitrary_precision` a number also arrives as a one-key map.)
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) {
                    let message = repeated_key_message(&key);
                    *self.0.borrow_mut() = Some(key);
                    return Err(de::Error::custom(message));
                }
                map.next_value_seed(self)?;
            }
            Ok(())
        }
    }

    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let walked = Walk(&found)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    (walked, found.into_inner())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the map held before: the text of the `Value` that `raw` parses to.
    fn via_value(raw: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Value>(raw).unwrap()).unwrap()
    }

    /// The canonical form of `raw`, checking that the borrowed variant agrees.
    fn canonical(raw: &str) -> Result<String, &'static str> {
        let boxed = RawValue::from_string(raw.to_string()).unwrap();
        let owned = match Canonicaliser::default().canonical(boxed, MAX_TEXT_DEPTH) {
            Ok((text, depth)) => {
                // The depth learnt on the way is the one a scan of the text finds.
                assert_eq!(depth, json_scan::depth(&text), "{raw}");
                Ok(text.into())
            }
            Err(Slow::TooDeep) => Err("too deep"),
            Err(Slow::NeedsValue(_)) => Err("needs a value"),
        };
        let borrowed = match Canonicaliser::default().canonical_borrowed(raw, MAX_TEXT_DEPTH) {
            Ok(text) => Ok(text.into_owned()),
            Err(Slow::TooDeep) => Err("too deep"),
            Err(Slow::NeedsValue(back)) => {
                assert_eq!(back, raw);
                Err("needs a value")
            }
        };
        assert_eq!(owned, borrowed, "{raw}");
        owned
    }

    #[test]
    fn whitespace_and_exponents_are_rewritten_as_serde_writes_them() {
        for raw in [
            "1",
            "-0",
            "12345678901234567890",
            "0.1",
            "1.0",
            "2.50",
            "1E5",
            "1e5",
            "-2.5E-3",
            "3e+7",
            "true",
            "false",
            "null",
            r#""a b\"c\\d\n\t\u0001\u001f""#,
            r#" { "b" : 1 , "a" : [ 1 , 2.0e3 , { } , [ ] ] , "e" : true } "#,
            "[\n  \"x y\",\r\n\tfalse\n]",
            r#"{"true":"false","nested":{"e":1E2}}"#,
            "\"emoji 🦀 and \u{2028} and \u{7f}\"",
        ] {
            assert_eq!(canonical(raw.trim()), Ok(via_value(raw)), "{raw}");
        }
    }

    /// Leaving the fast path: an escape goes through a `Value`; a repeated key is then
    /// refused by the caller (see `DuplicateKey`).
    #[test]
    fn escapes_serde_would_not_write_and_repeated_keys_leave_the_fast_path() {
        for raw in [
            r#""\u0041""#,
            r#""\/""#,
            r#""\u000A""#,
            r#""\u000a""#,
            r#""\ud83e\udd80""#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"[{"k":1,"k":1}]"#,
        ] {
            assert_eq!(canonical(raw), Err("needs a value"), "{raw}");
        }
        // Keys that only look alike, or repeat in different objects, are fine.
        assert_eq!(
            canonical(r#"{"a":{"a":1},"b":{"a":2},"ab":[{"a":0}]}"#),
            Ok(r#"{"a":{"a":1},"b":{"a":2},"ab":[{"a":0}]}"#.to_string())
        );
    }

    #[test]
    fn a_repeated_key_is_found_with_its_unescaped_name_and_its_opening_quote() {
        let found = |raw: &str| {
            duplicate_key(raw)
                .unwrap()
                .map(|repeat| (repeat.key, repeat.line, repeat.column))
        };
        assert_eq!(found(r#"{"a":1,"b":2,"a":3}"#), Some(("a".into(), 1, 14)));
        assert_eq!(
            found("[1,\n {\"k\": 1,\n  \"\\u006b\": 2}]"),
            Some(("k".into(), 3, 3))
        );
        assert_eq!(found(r#"{"q\"":1,"q\"":2}"#), Some(("q\"".into(), 1, 10)));
        assert_eq!(found(r#"{"":1,"":2}"#), Some(("".into(), 1, 7)));
        assert_eq!(found(r#"{"q\"":1, "q\"" :2}"#), Some(("q\"".into(), 1, 11)));
        assert_eq!(found(r#"{"a":{"a":1},"b":[{"a":2},{"a":3}]}"#), None);
        assert_eq!(found("7"), None);
        // Invalid text is the parser's to report.
        assert!(duplicate_key(r#"{"a":1,"a"#).is_err());
    }

    #[test]
    fn nesting_deeper_than_a_snapshot_can_hold_is_refused() {
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert_eq!(canonical(&deep(MAX_TEXT_DEPTH)), Ok(deep(MAX_TEXT_DEPTH)));
        assert_eq!(canonical(&deep(MAX_TEXT_DEPTH + 1)), Err("too deep"));
        assert_eq!(canonical(&deep(5000)), Err("too deep"));
    }

    #[test]
    fn keys_are_escaped_exactly_as_serde_escapes_them() {
        for key in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "\u{0}\u{1f}\u{8}\u{c}\n\r\t",
            "é🦀\u{7f}",
        ] {
            let mut out = Vec::new();
            write_key(&mut out, key);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(key).unwrap()
            );
        }
    }

    proptest! {
        #[test]
        fn any_key_escapes_as_serde_does(key in any::<String>()) {
            let mut out = Vec::new();
            write_key(&mut out, &key);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&key).unwrap());
        }

        #[test]
        fn canonical_text_is_what_a_value_round_trip_gives(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            // Canonical text stays as it is...
            prop_assert_eq!(canonical(&compact), Ok(compact.clone()));
            // ...and the same value written with whitespace comes back canonical.
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(canonical(&pretty), Ok(compact));
        }
    }

    /// Any JSON value, numbers written in every way serde keeps (shared with other tests).
    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,3})?"
                .prop_map(|number| serde_json::from_str(&number).unwrap()),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }
}

//! `kv import PATH FILE [--format json|jsonl] [--no-overwrite]`: pairs from a file (or
//! stdin) into the database as **one** commit, all or nothing.
//!
//! The whole input is read and checked before the database is even opened, so a bad line,
//! however late, changes nothing (not even a lock file is made): the error names
//! `FILE:LINE:COLUMN`. Only then is the store opened, in the mode the shell would pick,
//! and every pair committed together through a [`Batch`]; the summary is printed after the
//! commit returned, i.e. once the pairs are as durable as the mode promises.
//!
//! [`parse`] and [`apply`] are the two halves, apart so the round trip and the refusals are
//! testable without a process or a terminal.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::shell::database::choose_mode;
use crate::shell::render::{self, Renderer};
use crate::shell::status::Status;
use kv_engine::fs::{Fs, RealFs};
use kv_engine::{Batch, Durability, JsonText, KvStore, Options, json_scan};

/// `kv import PATH FILE [--format FORMAT] [--no-overwrite] [--durability MODE]`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The database file (created if missing).
    pub path: PathBuf,
    /// The file to load, `-` for stdin.
    pub file: PathBuf,
    /// What FILE holds.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = InputFormat::Json)]
    pub format: InputFormat,
    /// Refuse the import, naming the first such key, if any key is already in the
    /// database (without it, existing keys are overwritten and counted as such).
    #[arg(long)]
    pub no_overwrite: bool,
    /// The mode to open the database in (naive, snapshot or wal), as `kv --durability`;
    /// without it the database keeps its own (wal if it has a log, else snapshot). Not
    /// memory, which would save nothing.
    #[arg(long, value_name = "MODE")]
    pub durability: Option<Durability>,
}

/// The formats `kv import` reads: the two that `kv export` writes and reads back exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// One JSON object of KEY: VALUE (`kv export`'s default, the database file's format).
    Json,
    /// One `{"key": KEY, "value": VALUE}` object per line (blank lines are skipped).
    Jsonl,
}

/// From this many bytes of input on, a terminal gets a progress bar.
pub const PROGRESS_FROM_BYTES: usize = 1024 * 1024;

/// A 1-based line and column (in characters) in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why the input was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub position: Option<Position>,
    pub message: String,
}

impl InputError {
    fn at(text: &str, offset: usize, message: impl Into<String>) -> InputError {
        InputError {
            position: Some(position_at(text, offset)),
            message: message.into(),
        }
    }

    /// The error line's text: `FILE:LINE:COLUMN: message`.
    pub fn describe(&self, file: &str) -> String {
        match self.position {
            Some(position) => format!("{file}:{position}: {}", self.message),
            None => format!("{file}: {}", self.message),
        }
    }
}

/// One pair of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: JsonText,
    /// Byte offset of the key in the input (its opening quote), for errors found later.
    pub offset: usize,
}

/// The position of byte `offset` of `text` (clamped to the text and to a character).
pub fn position_at(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    Position {
        line: before.bytes().filter(|&b| b == b'\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// The byte offset of serde_json's (line, byte column) in `text`.
fn serde_offset(text: &str, err: &serde_json::Error) -> usize {
    let mut line_start = 0;
    for _ in 1..err.line() {
        match text[line_start..].find('\n') {
            Some(newline) => line_start += newline + 1,
            None => return text.len(),
        }
    }
    (line_start + err.column().saturating_sub(1)).min(text.len())
}

/// serde_json's reason without its own " at line L column C" (we give the position).
fn serde_reason(err: &serde_json::Error) -> String {
    let reason = err.to_string();
    let reason = reason
        .rsplit_once(" at line ")
        .map_or(reason.as_str(), |(head, _)| head);
    match reason {
        "EOF while parsing a string" => "the string has no closing quote",
        "EOF while parsing a list" => "a list has no closing ]",
        "EOF while parsing an object" => "an object has no closing }",
        "EOF while parsing a value" => "expected a value, found the end of the input",
        "trailing characters" => "unexpected text after the value",
        other => other,
    }
    .to_string()
}

/// A JSON object's members in order, repeats kept, each value borrowed from the input
/// so its offset is known.
struct Members<'de>(Vec<(String, &'de RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// The members of the object `text` (which must start, after whitespace, with `{`), each
/// with the offset of its value in `whole` (of which `text` is a part).
fn members<'a>(
    whole: &str,
    text: &'a str,
    what: &str,
) -> Result<Vec<(String, &'a RawValue, usize)>, InputError> {
    let base = text.as_ptr().addr() - whole.as_ptr().addr();
    let start = text.len() - text.trim_start().len();
    if !text[start..].starts_with('{') {
        return Err(InputError::at(
            whole,
            base + start,
            format!("{what} is not a JSON object"),
        ));
    }
    let parsed: Members<'a> = serde_json::from_str(text).map_err(|err| {
        // serde_json places an unexpected end on the last character; the end is where
        // the missing text belongs.
        let at = match err.classify() {
            serde_json::error::Category::Eof => text.trim_end().len(),
            _ => serde_offset(text, &err),
        };
        InputError::at(whole, base + at, invalid(&err))
    })?;
    Ok(parsed
        .0
        .into_iter()
        .map(|(name, raw)| {
            let offset = raw.get().as_ptr().addr() - whole.as_ptr().addr();
            (name, raw, offset)
        })
        .collect())
}

fn invalid(err: &serde_json::Error) -> String {
    format!("not valid JSON: {}", serde_reason(err))
}

/// The offset of the member name before the value at `value_offset` (its opening quote).
fn name_offset(text: &str, from: usize, value_offset: usize) -> usize {
    json_scan::last_string_start(&text.as_bytes()[from..value_offset])
        .map_or(value_offset, |at| from + at)
}

/// `raw` as the store's canonical text; an error is positioned in `text`.
fn value_text(
    text: &str,
    raw: &RawValue,
    offset: usize,
    key: &str,
) -> Result<JsonText, InputError> {
    JsonText::parse(raw.get()).map_err(|err| {
        let at = offset + serde_offset(raw.get(), &err);
        let shown = JsonText::string(key);
        match err.classify() {
            // Valid JSON the store refuses: an object that repeats a key.
            serde_json::error::Category::Data => InputError::at(
                text,
                name_offset(text, offset, at.max(offset)),
                format!(
                    "the value of {shown} {}: refused, because storing it would keep only \
                     one of its values",
                    serde_reason(&err)
                ),
            ),
            _ => InputError::at(
                text,
                at,
                format!("the value of {shown} is {}", invalid(&err)),
            ),
        }
    })
}

/// Reads every pair of `text` (FILE's contents) as `format` says, checking it all: the
/// first problem is the error, and then nothing is to be imported. `progress` is told the
/// byte offset reached, now and then.
pub fn parse(
    text: &str,
    format: InputFormat,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Entry>, InputError> {
    let entries = match format {
        InputFormat::Json => parse_json(text, progress)?,
        InputFormat::Jsonl => parse_jsonl(text, progress)?,
    };
    refuse_repeats(text, &entries)?;
    Ok(entries)
}

fn parse_json(text: &str, progress: &mut dyn FnMut(usize)) -> Result<Vec<Entry>, InputError> {
    if text.trim().is_empty() {
        return Err(InputError {
            position: None,
            message: "is empty: a json import is one JSON object (an empty database is {})"
                .to_string(),
        });
    }
    let members = members(text, text, "the input").map_err(|mut err| {
        if err.message.ends_with("is not a JSON object") {
            err.message.push_str(
                ": a json import is one object of KEY: VALUE, as `kv export` writes it \
                 (one {\"key\": …, \"value\": …} per line is --format jsonl)",
            );
        }
        err
    })?;
    let mut entries = Vec::with_capacity(members.len());
    let mut previous = 0;
    for (key, raw, offset) in members {
        let value = value_text(text, raw, offset, &key)?;
        // The object's keys follow one another: each name lies after the last value.
        let key_offset = name_offset(text, previous, offset);
        previous = offset + raw.get().len();
        entries.push(Entry {
            key,
            value,
            offset: key_offset,
        });
        progress(previous);
    }
    Ok(entries)
}

fn parse_jsonl(text: &str, progress: &mut dyn FnMut(usize)) -> Result<Vec<Entry>, InputError> {
    let mut entries = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let start = line_start;
        line_start += line.len();
        if line.trim().is_empty() {
            continue;
        }
        let members = members(text, line, "the line")?;
        let (mut key, mut value) = (None, None);
        for (name, raw, offset) in members {
            let name_at = name_offset(text, start, offset);
            let slot = match name.as_str() {
                "key" => &mut key,
                "value" => &mut value,
                other => {
                    return Err(InputError::at(
                        text,
                        name_at,
                        format!(
                            "unexpected field {}: each line is {{\"key\": KEY, \"value\": \
                             VALUE}} and nothing else",
                            JsonText::string(other)
                        ),
                    ));
                }
            };
            if slot.is_some() {
                return Err(InputError::at(
                    text,
                    name_at,
                    format!("the line gives \"{name}\" twice"),
                ));
            }
            *slot = Some((raw, offset, name_at));
        }
        let brace = start + (line.len() - line.trim_start().len());
        let missing = |field: &str| {
            InputError::at(
                text,
                brace,
                format!(
                    "the line has no \"{field}\": each line is {{\"key\": KEY, \"value\": VALUE}}"
                ),
            )
        };
        let (key_raw, key_offset, key_name_at) = key.ok_or_else(|| missing("key"))?;
        let (value_raw, value_offset, _) = value.ok_or_else(|| missing("value"))?;
        let key: String = match key_raw.get().starts_with('"') {
            true => serde_json::from_str(key_raw.get()).map_err(|err| {
                InputError::at(
                    text,
                    key_offset + serde_offset(key_raw.get(), &err),
                    invalid(&err),
                )
            })?,
            false => {
                return Err(InputError::at(
                    text,
                    key_offset,
                    format!("\"key\" must be a JSON string, not {}", kind(key_raw.get())),
                ));
            }
        };
        let value = value_text(text, value_raw, value_offset, &key)?;
        entries.push(Entry {
            key,
            value,
            offset: key_name_at,
        });
        progress(line_start);
    }
    Ok(entries)
}

/// What kind of JSON value `text` is, by its first byte.
fn kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A key given twice would keep only one of its values, without a word: refused.
fn refuse_repeats(text: &str, entries: &[Entry]) -> Result<(), InputError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for entry in entries {
        if let Some(first) = seen.insert(&entry.key, entry.offset) {
            return Err(InputError::at(
                text,
                entry.offset,
                format!(
                    "the key {} is given twice (first at {}): refused, because importing it \
                     would keep only one of its values",
                    JsonText::string(&entry.key),
                    position_at(text, first)
                ),
            ));
        }
    }
    Ok(())
}

/// What an import committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Keys that were not in the database.
    pub new: usize,
    /// Keys whose value was replaced.
    pub overwritten: usize,
}

/// Why [`apply`] committed nothing.
#[derive(Debug)]
pub enum ApplyError {
    /// `--no-overwrite`, and the entry at `offset` has a key already in the database.
    Exists { key: String, offset: usize },
    /// The store refused the value of the entry at `offset` (too deep, too large).
    Refused {
        offset: usize,
        error: Box<kv_engine::Error>,
    },
    /// The commit failed: none of it is stored.
    Commit(Box<kv_engine::Error>),
}

/// Commits every entry into `store` as one commit (nothing if there are none).
pub fn apply(
    store: &mut KvStore,
    entries: Vec<Entry>,
    overwrite: bool,
) -> Result<Imported, ApplyError> {
    let mut imported = Imported {
        new: 0,
        overwritten: 0,
    };
    let mut batch = Batch::new();
    for entry in entries {
        match store.contains_key(&entry.key) {
            true if !overwrite => {
                return Err(ApplyError::Exists {
                    key: entry.key,
                    offset: entry.offset,
                });
            }
            true => imported.overwritten += 1,
            false => imported.new += 1,
        }
        if let Err(error) = batch.put_text(entry.key, entry.value) {
            return Err(ApplyError::Refused {
                offset: entry.offset,
                error: Box::new(error),
            });
        }
    }
    if !batch.is_empty() {
        store
            .commit(batch)
            .map_err(|error| ApplyError::Commit(Box::new(error)))?;
    }
    Ok(imported)
}

/// Runs `kv import`. Exit 0 imported; 1 the input was refused (a bad line, a repeated
/// key, an existing key under `--no-overwrite`) or the commit failed, and nothing was
/// imported; 2 FILE could not be read or the database could not be opened.
pub fn run_import(
    args: &ImportArgs,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
    errors: Renderer,
    stderr_tty: bool,
) -> Status {
    let file = match args.file.as_os_str() == "-" {
        true => "stdin".to_string(),
        false => args.file.display().to_string(),
    };
    let fail = |err: &mut dyn Write, message: &str| {
        let _ = errors.error(err, None, message);
    };
    if args.durability == Some(Durability::Memory) {
        fail(
            err,
            "kv import --durability memory would keep nothing: import writes the database \
             file (choose naive, snapshot or wal)",
        );
        return Status::Fatal;
    }
    let bytes = match read_input(&args.file, stdin) {
        Ok(bytes) => bytes,
        Err(error) => {
            fail(err, &format!("cannot read {file}: {error}"));
            return Status::Fatal;
        }
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(error) => {
            // The valid part is text, so the position of the bad byte can be given.
            let valid = String::from_utf8_lossy(&bytes[..error.valid_up_to()]);
            let at = position_at(&valid, valid.len());
            let byte = bytes.get(error.valid_up_to()).copied().unwrap_or_default();
            fail(
                err,
                &format!("{file}:{at}: not UTF-8 (byte 0x{byte:02x}); nothing was imported"),
            );
            return Status::CommandFailed;
        }
    };

    // A byte-order mark, as some editors write, is no part of the JSON (nor a column).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let bar = progress_bar(text.len(), stderr_tty);
    bar.set_message("checking");
    let parsed = parse(text, args.format, &mut |offset| {
        bar.set_position(offset as u64)
    });
    let entries = match parsed {
        Ok(entries) => entries,
        Err(error) => {
            bar.finish_and_clear();
            fail(
                err,
                &format!("{}; nothing was imported", error.describe(&file)),
            );
            return Status::CommandFailed;
        }
    };

    let (durability, _) = choose_mode(&args.path, args.durability);
    let mut store = match KvStore::open(&args.path, Options::new().durability(durability)) {
        Ok(store) => store,
        Err(error) => {
            bar.finish_and_clear();
            fail(err, &error.to_string());
            return Status::Fatal;
        }
    };
    for warning in store.open_warnings() {
        bar.suspend(|| {
            let _ = errors.warning(err, &warning.to_string());
        });
    }
    let keys = entries.len();
    // The commit is one engine call: a spinner, not a bar, says it is under way.
    bar.set_style(spinner_style());
    bar.set_message(format!(
        "committing {} in one commit",
        kv_engine::human::count(keys as u64, "key")
    ));
    bar.enable_steady_tick(Duration::from_millis(100));
    let applied = apply(&mut store, entries, !args.no_overwrite);
    let closed = store.close();
    bar.finish_and_clear();
    let imported = match applied {
        Ok(imported) => imported,
        Err(ApplyError::Exists { key, offset }) => {
            let at = position_at(text, offset);
            fail(
                err,
                &format!(
                    "{file}:{at}: the key {} is already in {} (--no-overwrite); nothing was \
                     imported",
                    JsonText::string(&key),
                    args.path.display()
                ),
            );
            return Status::CommandFailed;
        }
        Err(ApplyError::Refused { offset, error }) => {
            let at = position_at(text, offset);
            fail(err, &format!("{file}:{at}: {error}; nothing was imported"));
            return Status::CommandFailed;
        }
        Err(ApplyError::Commit(error)) => {
            fail(err, &format!("{error}; nothing was imported"));
            return Status::CommandFailed;
        }
    };
    if let Err(error) = closed {
        fail(err, &error.to_string());
        return Status::CommandFailed;
    }
    let summary = render::imported(keys, imported.new, imported.overwritten, &args.path);
    match writeln!(out, "{summary}") {
        Ok(()) => Status::Success,
        // The import is done and durable; only its report was lost.
        Err(_) => Status::Success,
    }
}

/// FILE's bytes (`-`: stdin's).
fn read_input(file: &Path, stdin: &mut dyn Read) -> io::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        stdin.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    RealFs.read(file)
}

/// A bar over the input's bytes on a terminal, for inputs big enough to wait for; a
/// hidden one (drawing nothing) otherwise, so piped stderr gets not one byte of it.
fn progress_bar(len: usize, stderr_tty: bool) -> ProgressBar {
    if !stderr_tty || len < PROGRESS_FROM_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(text: &str, format: InputFormat) -> Result<Vec<(String, String)>, String> {
        parse(text, format, &mut |_| {})
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|entry| (entry.key, entry.value.as_str().to_string()))
                    .collect()
            })
            .map_err(|err| err.describe("in"))
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_reads_an_object_in_order_with_values_canonical() {
        assert_eq!(
            parsed(
                "{\"b\": [1, 2.50],\n \"a\": {\"y\": 1, \"x\": null}}\n",
                InputFormat::Json
            ),
            Ok(pairs(&[("b", "[1,2.50]"), ("a", r#"{"y":1,"x":null}"#)]))
        );
        assert_eq!(parsed("{}", InputFormat::Json), Ok(vec![]));
    }

    #[test]
    fn json_refusals_name_line_and_column() {
        let cases = [
            (
                "[1]",
                "in:1:1: the input is not a JSON object: a json import is one object",
            ),
            ("\n  7", "in:2:3: the input is not a JSON object"),
            ("", "in: is empty"),
            (
                "{\"a\": 1,\n \"b\": }",
                "in:2:7: not valid JSON: expected value",
            ),
            (
                "{\"a\": 1",
                "in:1:8: not valid JSON: an object has no closing }",
            ),
            (
                "{\"a\": 1,\n  \"a\": 2}",
                "in:2:3: the key \"a\" is given twice (first at 1:2): refused",
            ),
            (
                "{\"k\": {\"x\": 1, \"x\": 2}}",
                "in:1:16: the value of \"k\" repeats the key \"x\" in one object: refused",
            ),
            (
                "{\"a\": 1} x",
                "in:1:10: not valid JSON: unexpected text after the value",
            ),
        ];
        for (text, expected) in cases {
            let got = parsed(text, InputFormat::Json);
            assert!(
                got.as_ref().is_err_and(|err| err.starts_with(expected)),
                "{text:?}: {got:?}"
            );
        }
    }

    #[test]
    fn jsonl_reads_one_pair_per_line_and_skips_blank_lines() {
        let text = "{\"key\": \"a\", \"value\": 1}\n\n{\"value\": \"x\", \"key\": \"\"}\r\n";
        assert_eq!(
            parsed(text, InputFormat::Jsonl),
            Ok(pairs(&[("a", "1"), ("", "\"x\"")]))
        );
        assert_eq!(parsed("", InputFormat::Jsonl), Ok(vec![]));
    }

    #[test]
    fn jsonl_refusals_name_line_and_column() {
        let good = "{\"key\": \"a\", \"value\": 1}\n";
        let cases = [
            (
                "{\"key\": 1, \"value\": 2}",
                "in:2:9: \"key\" must be a JSON string, not a number",
            ),
            ("{\"key\": \"b\"}", "in:2:1: the line has no \"value\""),
            ("  {\"value\": 1}", "in:2:3: the line has no \"key\""),
            (
                "{\"key\": \"b\", \"value\": 1, \"ttl\": 5}",
                "in:2:26: unexpected field \"ttl\"",
            ),
            (
                "{\"key\": \"b\", \"key\": \"c\", \"value\": 1}",
                "in:2:14: the line gives \"key\" twice",
            ),
            ("[\"b\", 1]", "in:2:1: the line is not a JSON object"),
            (
                "{\"key\": \"b\", \"value\": }",
                "in:2:23: not valid JSON: expected value",
            ),
            (
                "{\"key\": \"a\", \"value\": 2}",
                "in:2:2: the key \"a\" is given twice (first at 1:2)",
            ),
            ("{\"key\": \"é\", \"value\": [}", "in:2:24: not valid JSON"),
        ];
        for (line, expected) in cases {
            let text = format!("{good}{line}\n");
            let got = parsed(&text, InputFormat::Jsonl);
            assert!(
                got.as_ref().is_err_and(|err| err.starts_with(expected)),
                "{line:?}: {got:?}"
            );
        }
    }

    #[test]
    fn apply_counts_new_and_overwritten_keys_and_commits_once() {
        let mut store = KvStore::in_memory();
        store.put("a", json!(0)).unwrap();
        let entries = parse(r#"{"a": 1, "b": 2}"#, InputFormat::Json, &mut |_| {}).unwrap();
        let imported = apply(&mut store, entries.clone(), true).unwrap();
        assert_eq!(
            imported,
            Imported {
                new: 1,
                overwritten: 1
            }
        );
        assert_eq!(store.to_json(), r#"{"a":1,"b":2}"#);
        assert_eq!(store.stats().commits, 2, "one put, one import");

        let mut store = KvStore::in_memory();
        store.put("b", json!(0)).unwrap();
        match apply(&mut store, entries, false) {
            Err(ApplyError::Exists { key, offset }) => {
                assert_eq!((key.as_str(), offset), ("b", 9))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(store.to_json(), r#"{"b":0}"#, "nothing was imported");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position_at("ab\ncé\nd", 6), Position { line: 2, column: 3 });
        assert_eq!(position_at("é", 1), Position { line: 1, column: 1 });
        assert_eq!(position_at("", 9), Position { line: 1, column: 1 });
    }
}

//! Stage 2: a crash-safe snapshot of the whole map on every commit.
//!
//! Protocol (see `history/stage-2-snapshot.md` for every crash point):
//! serialise → create `PATH.kv-tmp.*` → write → fsync it → rename over `PATH` → fsync the
//! directory → acknowledge.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::map::Entry;
use super::text::{self, Canonicaliser, MAX_TEXT_DEPTH, Slow};
use super::{CommitFailure, Disk, Map};
use crate::crash::CrashPoint;
use crate::error::{Error, Result};
use crate::files::{self, NEW_FILE_MODE};
use crate::fs::{Fs, FsFile, OpenMode, parent_dir};

#[derive(Debug)]
pub(crate) struct Snapshot {
    pub disk: Disk,
    /// Reused across commits, so a commit allocates nothing once the store has stopped
    /// growing.
    buf: Vec<u8>,
    /// Distinguishes this process's temp files from each other.
    temp_counter: u64,
}

impl Snapshot {
    pub fn new(disk: Disk) -> Self {
        Snapshot {
            disk,
            buf: Vec::new(),
            temp_counter: 0,
        }
    }

    pub fn commit(&mut self, map: &Map) -> Result<(), CommitFailure> {
        serialise(map, &mut self.buf);
        install(&mut self.disk, &self.buf, &mut self.temp_counter)
    }
}

/// Replaces the database file with `bytes`, crash-safely: temp file → write → fsync →
/// rename → fsync the directory. When it returns `Ok` the new contents are durable; a crash
/// at any step leaves the old file or the new one, never a mix. `temp_counter` keeps this
/// process's temp names apart. Also the heart of a write-ahead-log checkpoint.
pub(crate) fn install(
    disk: &mut Disk,
    bytes: &[u8],
    temp_counter: &mut u64,
) -> Result<(), CommitFailure> {
    let target = disk.path.clone();
    install_at(disk, &target, bytes, temp_counter)
}

/// [`install`] of `bytes` as `target`, a file beside the database (an installed log's
/// `PATH.wal.next`): the temp file is the database's, which open removes unread.
pub(crate) fn install_at(
    disk: &mut Disk,
    target: &Path,
    bytes: &[u8],
    temp_counter: &mut u64,
) -> Result<(), CommitFailure> {
    let target = target.to_path_buf();

    // A rename installs the temp file's permission bits, so give it the target's.
    let mode = match disk.fs.metadata(&target) {
        Ok(Some(meta)) => meta.mode,
        Ok(None) => NEW_FILE_MODE,
        Err(err) => return Err(CommitFailure::clean(Error::io("stat", &target, err))),
    };

    let (temp_path, mut temp) =
        create_temp(disk, mode, temp_counter).map_err(CommitFailure::clean)?;

    // Until the rename, the database file is untouched: a failure here only has to
    // clean up the temp file, and the store stays usable, except after a failed
    // fsync, whose aftermath the kernel does not report reliably.
    let written = disk.write_at(temp.as_mut(), &temp_path, 0, bytes);
    if let Err(error) = written {
        drop(temp);
        let _ = disk.fs.remove(&temp_path); // Best effort: open removes strays anyway.
        return Err(CommitFailure::clean(error));
    }
    disk.crash_point(CrashPoint::AfterTempWrite)?;
    if let Err(error) = disk.sync_all(temp.as_mut(), &temp_path) {
        drop(temp);
        let _ = disk.fs.remove(&temp_path);
        return Err(CommitFailure::poisoning(error));
    }
    drop(temp);
    disk.crash_point(CrashPoint::AfterTempSync)?;

    disk.fs.rename(&temp_path, &target).map_err(|err| {
        CommitFailure::poisoning(Error::io(
            format!("rename {} over", temp_path.display()),
            &target,
            err,
        ))
    })?;
    disk.crash_point(CrashPoint::AfterRename)?;
    // The rename is not durable until the directory is: without this a power loss
    // can bring back the old file after we acknowledged the new one.
    disk.sync_dir().map_err(CommitFailure::poisoning)
}

/// Creates a temp file beside the database (`files::temp_path`), with exactly `mode`, for
/// a file that a rename will put in place. `counter` keeps this process's names apart.
pub(crate) fn create_temp(
    disk: &Disk,
    mode: u32,
    counter: &mut u64,
) -> Result<(PathBuf, Box<dyn FsFile>)> {
    // The names are random, so a clash means a leftover of this very name: never reuse
    // it, and never loop forever on a filesystem that says every name exists.
    for _ in 0..16 {
        *counter += 1;
        let candidate = files::temp_path(&disk.path, *counter);
        match disk.fs.open(&candidate, OpenMode::CreateNew { mode }) {
            Ok(file) => return Ok((candidate, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(Error::io("create", candidate, err)),
        }
    }
    Err(Error::NoFreeName {
        path: disk.path.clone(),
        what: "create a temp file",
    })
}

/// Serialises `map` as one compact JSON object and a newline into `buf`, replacing its
/// contents: each key escaped, then its stored text copied as it is (it already is
/// canonical compact JSON), so nothing is parsed or re-serialised.
pub(crate) fn serialise(map: &Map, buf: &mut Vec<u8>) {
    buf.clear();
    buf.push(b'{');
    for (index, (key, value)) in map.iter().enumerate() {
        if index > 0 {
            buf.push(b',');
        }
        text::write_key(buf, key);
        buf.push(b':');
        buf.extend_from_slice(value.as_bytes());
    }
    buf.extend_from_slice(b"}\n");
}

/// Parses the snapshot `bytes` read from `path`. Anything that is not a UTF-8 JSON object
/// is an error naming the file and the position.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Map> {
    let text = std::str::from_utf8(bytes).map_err(|err| Error::NotUtf8 {
        path: path.to_path_buf(),
        offset: err.valid_up_to(),
    })?;
    let syntax = |err: serde_json::Error| {
        let position = format!(" at line {} column {}", err.line(), err.column());
        let message = err.to_string();
        // Two files that are common in practice get their cause named, not only the
        // parser's position: an empty file is what an interrupted naive rewrite leaves,
        // and a byte-order mark is what some Windows editors prepend.
        let reason = if text.trim().is_empty() {
            "the file is empty where a JSON object was expected (an interrupted naive-mode \
             rewrite leaves this)"
                .to_string()
        } else if text.starts_with('\u{feff}') {
            "the file starts with a UTF-8 byte-order mark, which JSON does not allow \
             (remove its first 3 bytes)"
                .to_string()
        } else {
            message
                .strip_suffix(&position)
                .unwrap_or(&message)
                .to_string()
        };
        Error::Syntax {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            reason,
        }
    };
    // The common case parses straight into the map, each value kept as text; anything
    // else is parsed as a value only to say precisely what it is.
    if text.trim_start().starts_with('{') {
        if let Some(map) = parse_texts(text) {
            return Ok(map);
        }
        // A repeated key (at the top or inside a value) is refused with its position
        // before a `Value` parse would keep the last of the two (see `text::DuplicateKey`).
        if let Ok(Some(repeat)) = text::duplicate_key(text) {
            return Err(Error::DuplicateKey {
                path: path.to_path_buf(),
                key: repeat.key,
                line: repeat.line,
                column: repeat.column,
            });
        }
        // Invalid, or too deep for the fast path to judge: parsing into `Value`s gives the
        // parser's own error and position (or, for text the fast path could not bring to
        // canonical form alone, the canonical texts).
        let values = serde_json::from_str::<BTreeMap<String, Value>>(text).map_err(syntax)?;
        return values
            .into_iter()
            .map(|(key, value)| {
                let text = text::from_value(&value).map_err(|err| Error::Unserialisable {
                    key: key.clone(),
                    path: path.to_path_buf(),
                    reason: err.to_string(),
                })?;
                Ok(Entry::new(&key, &text))
            })
            .collect();
    }
    let value: Value = serde_json::from_str(text).map_err(syntax)?;
    Err(Error::NotAnObject {
        path: path.to_path_buf(),
        found: match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        },
    })
}

/// The fast path of [`parse`]: the object's entries with each value kept as its
/// canonical text, or `None` if the text is not a valid object or nests too deeply (the
/// caller then parses it the slow way to report the error).
fn parse_texts(text: &str) -> Option<Map> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut canonicaliser = Canonicaliser::default();
    let entries = (&mut deserializer)
        .deserialize_map(EntriesVisitor {
            canonicaliser: &mut canonicaliser,
        })
        .ok()?;
    deserializer.end().ok()?;
    // Collecting sorts (stably) and builds the tree bottom-up with full nodes, which holds
    // a big store in about half the memory that inserting one key at a time leaves it in.
    let count = entries.len();
    let map: Map = entries.into_iter().collect();
    // Fewer entries than keys read: a key was written twice. The caller's slow path
    // refuses it with its position.
    (map.len() == count).then_some(map)
}

/// Reads a JSON object into map entries in file order. Keys and values are borrowed from
/// the snapshot's text and copied once, into the entry: a key or a value allocated on its
/// own first and freed again would leave the heap full of small holes that the entries,
/// being bigger, cannot reuse.
struct EntriesVisitor<'c> {
    canonicaliser: &'c mut Canonicaliser,
}

impl<'de> Visitor<'de> for EntriesVisitor<'_> {
    type Value = Vec<Entry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Vec<Entry>, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0));
        while let Some(KeyText(key)) = access.next_key()? {
            let raw: &'de RawValue = access.next_value()?;
            let value = match self
                .canonicaliser
                .canonical_borrowed(raw.get(), MAX_TEXT_DEPTH)
            {
                Ok(value) => value,
                Err(Slow::TooDeep) => return Err(de::Error::custom("nested too deeply")),
                // A repeated key inside the value: the caller's slow path reports it.
                Err(Slow::NeedsValue(raw)) => text::refuse_duplicate_keys(raw)
                    .and_then(|()| serde_json::from_str::<Value>(raw))
                    .and_then(|value| text::from_value(&value))
                    .map(|text| Cow::Owned(text.into()))
                    .map_err(de::Error::custom)?,
            };
            entries.push(Entry::new(&key, &value));
        }
        Ok(entries)
    }
}

/// An object key, borrowed from the text unless it holds an escape.
struct KeyText<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Borrowed(key)))
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Owned(key.to_owned())))
            }

            fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
                Ok(KeyText(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Removes the temp files a crash left beside `path`, without reading them, and makes the
/// directory durable; returns the files removed, for open to report. Only files of the
/// exact shape [`files::temp_path`] makes are touched. Only safe while holding the
/// database's lock.
pub(crate) fn remove_stray_temps(fs: &dyn Fs, path: &Path) -> Result<Vec<PathBuf>> {
    let dir = parent_dir(path);
    let Some(db_name) = path.file_name() else {
        return Ok(Vec::new());
    };
    let mut names = fs
        .list_dir(dir)
        .map_err(|err| Error::io("list", dir, err))?;
    // In a stable order, so the report reads the same every time.
    names.sort();
    let mut removed = Vec::new();
    for name in names.iter().filter(|name| files::is_temp_of(db_name, name)) {
        // Beside `path` as the user named it (`db.json.kv-tmp.…`, not `./db.json.kv-tmp.…`).
        let temp = path.with_file_name(name);
        fs.remove(&temp)
            .map_err(|err| Error::io("remove stray temp file", &temp, err))?;
        removed.push(temp);
    }
    // Always, not only after a removal: a kill between a commit's rename and its
    // directory fsync leaves the new name visible but not durable, and what recovery
    // shows must not be taken back by a later power loss.
    fs.sync_dir(dir)
        .map_err(|err| Error::io("fsync directory", dir, err))?;
    Ok(removed)
}

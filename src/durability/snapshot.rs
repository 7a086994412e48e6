//! Stage 2: a crash-safe snapshot of the whole map on every commit.
//!
//! Protocol (see `history/stage-2-snapshot.md` for every crash point):
//! serialise → create `PATH.tmp-*` → write → fsync it → rename over `PATH` → fsync the
//! directory → acknowledge.

use std::io;
use std::path::Path;

use serde_json::Value;

use super::{CommitFailure, Disk, Map};
use crate::crash::CrashPoint;
use crate::error::{Error, Result};
use crate::files::{self, NEW_FILE_MODE};
use crate::fs::{Fs, OpenMode, parent_dir};

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
        serialise(map, &mut self.buf).map_err(CommitFailure::clean)?;
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

    // A rename installs the temp file's permission bits, so give it the target's.
    let mode = match disk.fs.metadata(&target) {
        Ok(Some(meta)) => meta.mode,
        Ok(None) => NEW_FILE_MODE,
        Err(err) => return Err(CommitFailure::clean(Error::io("stat", &target, err))),
    };

    let (temp_path, mut temp) = loop {
        *temp_counter += 1;
        let candidate = files::temp_path(&target, *temp_counter);
        match disk.fs.open(&candidate, OpenMode::CreateNew { mode }) {
            Ok(file) => break (candidate, file),
            // Left by an earlier store of this process id; never reuse it.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(CommitFailure::clean(Error::io("create", candidate, err)));
            }
        }
    };

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

/// Serialises `map` as one compact JSON object and a newline into `buf`, replacing its
/// contents.
pub(crate) fn serialise(map: &Map, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, map)
        .map_err(|err| Error::io("serialise", "the snapshot", io::Error::other(err)))?;
    buf.push(b'\n');
    Ok(())
}

/// Loads the snapshot at `path`: `Ok(None)` if there is no file. Anything that is not a
/// UTF-8 JSON object is an error naming the file and the position; the file is only read.
#[allow(dead_code)] // Open now reads through `wal::recovery`; kept for other readers.
pub(crate) fn load(fs: &dyn Fs, path: &Path) -> Result<Option<Map>> {
    let bytes = match fs.read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io("read", path, err)),
    };
    parse(path, &bytes).map(Some)
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
        Error::Syntax {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            reason: message
                .strip_suffix(&position)
                .unwrap_or(&message)
                .to_string(),
        }
    };
    // The common case parses straight into the map; anything else is parsed as a value
    // only to say precisely what it is.
    if text.trim_start().starts_with('{') {
        return serde_json::from_str::<Map>(text).map_err(syntax);
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

/// Removes the temp files a crash left beside `path`, without reading them, and makes the
/// directory durable. Only safe while holding the database's lock.
pub(crate) fn remove_stray_temps(fs: &dyn Fs, path: &Path) -> Result<usize> {
    let dir = parent_dir(path);
    let Some(db_name) = path.file_name() else {
        return Ok(0);
    };
    let names = fs
        .list_dir(dir)
        .map_err(|err| Error::io("list", dir, err))?;
    let mut removed = 0;
    for name in names.iter().filter(|name| files::is_temp_of(db_name, name)) {
        let temp = dir.join(name);
        fs.remove(&temp)
            .map_err(|err| Error::io("remove stray temp file", temp, err))?;
        removed += 1;
    }
    // Always, not only after a removal: a kill between a commit's rename and its
    // directory fsync leaves the new name visible but not durable, and what recovery
    // shows must not be taken back by a later power loss.
    fs.sync_dir(dir)
        .map_err(|err| Error::io("fsync directory", dir, err))?;
    Ok(removed)
}

//! Helpers shared by the integration tests: stores in every mode, and direct looks at the
//! disk (which the engine itself may only touch through its `Fs` seam).
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kv_engine::{Durability, KvStore, Options};
use tempfile::TempDir;

/// The modes that keep a file.
pub const FILE_MODES: [Durability; 2] = [Durability::Naive, Durability::Snapshot];

/// How a test store was made: the four ways the API offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `KvStore::in_memory()`.
    InMemory,
    /// `KvStore::open(path, Durability::Memory)`.
    MemoryOnPath,
    Naive,
    Snapshot,
    Wal,
}

pub const ALL_FLAVOURS: [Flavour; 5] = [
    Flavour::InMemory,
    Flavour::MemoryOnPath,
    Flavour::Naive,
    Flavour::Snapshot,
    Flavour::Wal,
];

/// A store under test, with the directory it lives in (kept alive as long as it is).
pub struct Fixture {
    pub flavour: Flavour,
    pub dir: TempDir,
    pub path: PathBuf,
    pub store: KvStore,
}

impl Fixture {
    pub fn new(flavour: Flavour) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let store = match flavour {
            Flavour::InMemory => KvStore::in_memory(),
            Flavour::MemoryOnPath => open(&path, Durability::Memory),
            Flavour::Naive => open(&path, Durability::Naive),
            Flavour::Snapshot => open(&path, Durability::Snapshot),
            Flavour::Wal => open(&path, Durability::Wal),
        };
        Fixture {
            flavour,
            dir,
            path,
            store,
        }
    }

    /// Whether the store writes a file that a reopen reads back.
    pub fn persists(&self) -> bool {
        matches!(
            self.flavour,
            Flavour::Naive | Flavour::Snapshot | Flavour::Wal
        )
    }

    /// Drops the store and opens the same database again in the same mode (file modes only).
    pub fn reopen(&mut self) {
        let mode = match self.flavour {
            Flavour::Naive => Durability::Naive,
            Flavour::Snapshot => Durability::Snapshot,
            Flavour::Wal => Durability::Wal,
            other => panic!("{other:?} has nothing to reopen"),
        };
        // Replace first so the old store (and its lock) is gone before the new open.
        self.store = KvStore::in_memory();
        self.store = open(&self.path, mode);
    }
}

/// Opens `path` in `mode` on the real filesystem, panicking with the error on failure.
pub fn open(path: &Path, mode: Durability) -> KvStore {
    KvStore::open(path, Options::new().durability(mode))
        .unwrap_or_else(|err| panic!("open {} in {mode} mode: {err}", path.display()))
}

/// The file's bytes, or `None` if it does not exist.
pub fn bytes(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => panic!("read {}: {err}", path.display()),
    }
}

/// Writes `contents` to `path` (creating or replacing it).
pub fn write(path: &Path, contents: impl AsRef<[u8]>) {
    std::fs::write(path, contents).unwrap();
}

/// The names in `dir`.
pub fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The permission bits of `path` (symlinks followed).
pub fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Sets the permission bits of `path` exactly.
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The value's serialised text, to compare numbers and key order exactly.
pub fn text(value: Option<serde_json::Value>) -> Option<String> {
    value.map(|value| serde_json::to_string(&value).unwrap())
}

/// The entries of `store` with their values parsed, in key order.
#[allow(dead_code)] // Not every test binary uses it.
pub fn parsed_entries(store: &kv_engine::KvStore) -> Vec<(String, serde_json::Value)> {
    store
        .iter()
        .map(|(key, value)| (key.to_string(), json(value)))
        .collect()
}

/// Parses `text` as JSON, keeping the number text and key order.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("bad test JSON {text:?}: {err}"))
}

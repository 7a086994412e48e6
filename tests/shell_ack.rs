#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! `OK` is printed only after the store call returned `Ok`: a commit that fails prints an
//! error, no `OK`, and leaves the store as it was.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kv::shell::session::Session;
use kv::shell::{Layout, Renderer, Theme};
use kv_engine::fs::{Fs, FsFile, FsLock, Metadata, OpenMode, RealFs};
use kv_engine::{Durability, KvStore, Options};

/// The real filesystem, except that opening a file to write fails.
#[derive(Debug)]
struct NoWrites;

impl Fs for NoWrites {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn open(&self, _path: &Path, _mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        Err(io::Error::other("disk full (simulated)"))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        RealFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFs.sync_dir(dir)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        RealFs.list_dir(dir)
    }
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        RealFs.metadata(path)
    }
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        RealFs.resolve(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        RealFs.lock(path)
    }
}

#[test]
fn a_failed_commit_prints_an_error_and_no_ok() {
    for durability in [Durability::Naive, Durability::Snapshot] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::new().durability(durability).fs(Arc::new(NoWrites));
        let store = KvStore::open(dir.path().join("db.json"), options).unwrap();
        let plain = Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        };
        let mut session = Session::new(store, plain, plain);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        session
            .run_script(&mut &b"put a 1\nget a\ncount\n"[..], &mut out, &mut err)
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        assert_eq!(out, "(nil)\n0\n", "{durability}: no OK, nothing stored");
        assert!(
            err.starts_with("error: line 1: cannot "),
            "{durability}: {err}"
        );
        assert!(err.contains("disk full (simulated)"), "{durability}: {err}");
        assert_eq!(session.failures(), 1);
    }
}

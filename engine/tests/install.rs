//! `Installer` as a caller sees it: what it refuses before writing anything, and what a
//! failure part-way leaves. (What a crash at each of its steps leaves is swept in
//! `crash/install.rs`.)
#![allow(clippy::unwrap_used)]

mod simdisk;

use std::sync::Arc;

use kv_engine::fs::sim::{FaultError, Repeat};
use kv_engine::fs::{Fs, SimFs};
use kv_engine::{Durability, Error, Image, Installer, KvStore, files};
use serde_json::json;

use simdisk::{PATH, contents, disk, open};

/// A snapshot-mode database holding `{"a": 1}`, and the image of one holding `{"b": 2}`.
fn old_and_new() -> (SimFs, Vec<u8>) {
    let old = disk();
    open(&old, Durability::Snapshot)
        .unwrap()
        .put("a", json!(1))
        .unwrap();
    let copy = old.fork();
    let mut store = open(&copy, Durability::Snapshot).unwrap();
    store.delete("a").unwrap();
    store.put("b", json!(2)).unwrap();
    (old, copy.contents(PATH).unwrap())
}

fn installer(sim: &SimFs) -> kv_engine::Result<Installer> {
    Installer::lock(PATH, Arc::new(sim.clone()))
}

#[test]
fn an_install_refuses_while_a_store_holds_the_lock() {
    let (old, new) = old_and_new();
    let store = open(&old, Durability::Snapshot).unwrap();
    let err = installer(&old).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { .. }),
        "{err:?}: a store holds the lock"
    );
    drop(store);
    installer(&old)
        .unwrap()
        .install(Image {
            snapshot: Some(&new),
            log: None,
        })
        .unwrap();
    assert_eq!(
        contents(&open(&old, Durability::Snapshot).unwrap()),
        [("b".to_string(), json!(2))].into()
    );
}

#[test]
fn a_store_cannot_open_while_an_installer_holds_the_lock() {
    let (old, _) = old_and_new();
    let held = installer(&old).unwrap();
    assert!(matches!(
        open(&old, Durability::Wal),
        Err(Error::Locked { .. })
    ));
    drop(held);
    assert!(open(&old, Durability::Wal).is_ok());
}

#[test]
fn an_install_refuses_a_log_image_that_does_not_continue_the_snapshot_image() {
    let (old, new) = old_and_new();
    let before = old.files();
    let snapshot_before = old.contents(PATH);
    // A log written on the old snapshot, installed with a new one.
    let copy = old.fork();
    open(&copy, Durability::Wal)
        .unwrap()
        .put("c", json!(3))
        .unwrap();
    let log = copy.contents(files::wal_path(PATH.as_ref())).unwrap();
    let mut installer = installer(&old).unwrap();
    let err = installer
        .install(Image {
            snapshot: Some(&new),
            log: Some(&log),
        })
        .unwrap_err();
    assert!(matches!(&err, Error::BadImage { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot install /data/db.json.wal: the log image does not continue the snapshot \
         image (its header names another snapshot); nothing was written"
    );
    let err = installer
        .install(Image {
            snapshot: None,
            log: Some(b"not a log"),
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot install /data/db.json.wal: the log image has no valid header"),
        "{err}"
    );
    drop(installer);
    assert_eq!(old.files(), before);
    assert_eq!(old.contents(PATH), snapshot_before);
}

#[test]
fn an_install_refuses_a_database_with_a_second_name_before_taking_the_lock() {
    let sim = disk();
    sim.insert_file(PATH, b"{\"a\":1}\n", 0o600);
    sim.hard_link(PATH, "/data/alias.json").unwrap();
    let before = sim.files();
    let err = installer(&sim).unwrap_err();
    assert!(
        matches!(&err, Error::HardLinked { links: 2, .. }),
        "{err:?}"
    );
    assert_eq!(sim.files(), before, "nothing is created before the guard");
    assert_eq!(sim.contents(PATH).as_deref(), Some(&b"{\"a\":1}\n"[..]));
}

/// Disk full or an I/O error at each operation of an install in turn: the database opens
/// as the old one or the new one, and a failure that leaves the files unknown (a failed
/// fsync or rename) refuses every later install of that installer; one that does not lets
/// the same installer install again.
#[test]
fn an_install_that_fails_at_any_step_leaves_the_old_database_or_the_new_one() {
    let (_, new) = old_and_new();
    // A database with a log, replaced by a snapshot: every step of the install runs.
    let base = disk();
    {
        let mut store = open(&base, Durability::Wal).unwrap();
        store.put("a", json!(1)).unwrap();
        store.checkpoint().unwrap();
        store.put("z", json!(26)).unwrap();
    }
    let old_model = contents(&open(&base.fork(), Durability::Wal).unwrap());
    let probe = base.fork();
    let before = probe.total_ops();
    let mut installer = Installer::lock(PATH, Arc::new(probe.clone())).unwrap();
    let locked = probe.total_ops() - before;
    installer
        .install(Image {
            snapshot: Some(&new),
            log: None,
        })
        .unwrap();
    drop(installer);
    let operations = probe.total_ops() - before - locked;
    let new_model = contents(&open(&probe, Durability::Wal).unwrap());
    let (mut clean, mut poisoned) = (0, 0);
    for nth in 1..=operations {
        for error in [FaultError::Enospc, FaultError::Eio] {
            let sim = base.fork();
            let mut installer = Installer::lock(PATH, Arc::new(sim.clone())).unwrap();
            sim.fail(None, nth, error, Repeat::Once);
            let image = Image {
                snapshot: Some(&new),
                log: None,
            };
            let failed = installer.install(image).unwrap_err();
            match installer.install(image) {
                Ok(()) => clean += 1,
                Err(Error::Poisoned { cause, .. }) => {
                    assert_eq!(cause, failed.to_string());
                    poisoned += 1;
                }
                Err(other) => panic!("operation {nth}, {error:?}: {other}"),
            }
            drop(installer);
            let found = contents(&open(&sim, Durability::Wal).unwrap());
            assert!(
                found == old_model || found == new_model,
                "operation {nth}, {error:?}: {found:?}"
            );
        }
    }
    assert!(
        clean > 0 && poisoned > 0,
        "{clean} clean, {poisoned} poisoned"
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // the symlink is made on the real disk
fn an_install_through_a_symlink_replaces_the_file_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let real: Arc<dyn Fs> = Arc::new(kv_engine::fs::RealFs);
    let target = dir.path().join("db.json");
    let link = dir.path().join("link.json");
    KvStore::open(&target, kv_engine::Options::new())
        .unwrap()
        .put("a", json!(1))
        .unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut installer = Installer::lock(&link, Arc::clone(&real)).unwrap();
    assert_eq!(installer.path(), target);
    installer
        .install(Image {
            snapshot: Some(b"{\"b\":2}\n"),
            log: None,
        })
        .unwrap();
    drop(installer);
    assert_eq!(real.read(&target).unwrap(), b"{\"b\":2}\n");
    assert!(real.metadata(&link).unwrap().is_some());
    assert!(
        real.metadata(&files::lock_path(&target)).unwrap().is_some(),
        "the lock beside the file the link names"
    );
}

//! Opening a database safely: files we cannot read are refused and left exactly as they
//! were, stray temp files are removed unread, one writer at a time, permission bits and
//! symlinks survive every snapshot.
#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failing test

mod common;

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};

use common::{FILE_MODES, bytes, entries, mode_of, open, set_mode, write};
use kv_engine::{Durability, Error, KvStore, Options, Warning};
use serde_json::json;

fn try_open(path: &Path, mode: Durability) -> Result<KvStore, Error> {
    KvStore::open(path, Options::new().durability(mode))
}

/// Everything about a file that a refused open must not change.
#[derive(Debug, PartialEq)]
struct Untouched {
    bytes: Vec<u8>,
    inode: u64,
    mode: u32,
    modified: std::time::SystemTime,
}

fn untouched(path: &Path) -> Untouched {
    let meta = std::fs::metadata(path).unwrap();
    Untouched {
        bytes: std::fs::read(path).unwrap(),
        inode: meta.ino(),
        mode: meta.mode() & 0o777,
        modified: meta.modified().unwrap(),
    }
}

/// Opens `contents` in every mode, expects `check` to accept the error, and asserts the
/// file is byte-for-byte and inode-for-inode what it was, with nothing but the lock file
/// beside it, and that the failed open left no lock behind.
fn assert_refused(contents: &[u8], check: impl Fn(&Error) -> bool) {
    for mode in Durability::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        write(&path, contents);
        set_mode(&path, 0o640);
        let before = untouched(&path);

        let err = try_open(&path, mode).unwrap_err();
        assert!(check(&err), "{mode}: unexpected error {err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string()),
            "{mode}: {message}"
        );
        assert!(message.contains("left untouched"), "{mode}: {message}");

        assert_eq!(untouched(&path), before, "{mode}: the file changed");
        let mut expected: Vec<&str> = vec!["db.json"];
        if mode != Durability::Memory {
            expected.push("db.json.lock");
        }
        assert_eq!(
            entries(dir.path()).into_iter().collect::<Vec<_>>(),
            expected,
            "{mode}"
        );

        // The failed open released its lock: once the file is fixed, it opens.
        write(&path, "{}");
        drop(open(&path, mode));
    }
}

fn syntax_at(line: usize, column: usize) -> impl Fn(&Error) -> bool {
    move |err| matches!(err, Error::Syntax { line: l, column: c, .. } if *l == line && *c == column)
}

#[test]
fn corrupt_json_is_refused_with_its_line_and_column() {
    // `}` where a value should be: line 2, column 8.
    assert_refused(b"{\"a\": 1,\n  \"b\": }\n", syntax_at(2, 8));
    // Cut off in the middle: the end of input, line 3 column 4.
    assert_refused(b"{\n  \"a\": [1,\n  2,", syntax_at(3, 4));
    // Something after the object: line 1 column 10.
    assert_refused(b"{\"a\": 1} x", syntax_at(1, 10));
    // A half-written snapshot, as stage 1 can leave it.
    assert_refused(b"{\"A\":0,\"B\":{\"x\":[1,", syntax_at(1, 19));
}

fn repeated_at(key: &'static str, line: usize, column: usize) -> impl Fn(&Error) -> bool {
    move |err| {
        matches!(err, Error::DuplicateKey { key: k, line: l, column: c, .. }
            if k == key && *l == line && *c == column)
    }
}

#[test]
fn a_snapshot_written_by_hand_with_a_repeated_key_is_refused_with_its_position() {
    // A database key written twice: which value is meant cannot be known. (Before: the
    // last one was kept, silently.)
    assert_refused(b"{\"a\": 1,\n \"a\": 2}\n", repeated_at("a", 2, 2));
    // Inside a value, and spelt with an escape: the same refusal, as a `put` gets.
    assert_refused(
        b"{\"a\": {\"x\": 1, \"\\u0078\": 2}}",
        repeated_at("x", 1, 16),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    write(&path, "{\"k\": [{\"y\": 1, \"y\": 2}]}");
    let message = try_open(&path, Durability::Wal).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{} repeats the key \"y\" in one object at line 1 column 17: refusing to choose \
             one of its values (the file was left untouched)",
            path.display()
        )
    );
    // The same key in different objects is no repeat.
    write(&path, "{\"k\": {\"y\": 1}, \"j\": {\"y\": 2}, \"y\": 3}");
    assert_eq!(open(&path, Durability::Snapshot).len(), 3);
}

#[test]
fn the_syntax_error_message_names_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    write(&path, "{\n\n  \"a\" 1}");
    let message = try_open(&path, Durability::Snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!("{} is not valid JSON", path.display())),
        "{message}"
    );
    assert!(message.contains("at line 3 column 7"), "{message}");
}

#[test]
fn an_empty_or_blank_file_is_refused_not_treated_as_empty() {
    assert_refused(b"", syntax_at(1, 0));
    assert_refused(b"  \n", syntax_at(2, 0));
    // The message says why, not only where.
    assert_refused(b"", |err| err.to_string().contains("the file is empty"));
}

#[test]
fn a_byte_order_mark_is_refused_and_named() {
    assert_refused(b"\xef\xbb\xbf{\"a\": 1}", |err| {
        matches!(err, Error::Syntax { line: 1, .. }) && err.to_string().contains("byte-order mark")
    });
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    for (contents, kind) in [
        ("[1, 2]", "array"),
        ("[]", "array"),
        ("\"a string\"", "string"),
        ("42", "number"),
        ("null", "null"),
        ("true", "boolean"),
    ] {
        assert_refused(
            contents.as_bytes(),
            |err| matches!(err, Error::NotAnObject { found, .. } if *found == kind),
        );
    }
}

#[test]
fn a_file_that_is_not_utf8_is_refused_with_the_offset() {
    assert_refused(b"{\"a\": \"\xff\"}", |err| {
        matches!(err, Error::NotUtf8 { offset: 7, .. })
    });
    // Latin-1 text, as an editor might save it.
    assert_refused(b"{\"caf\xe9\": 1}", |err| {
        matches!(err, Error::NotUtf8 { offset: 5, .. })
    });
}

#[test]
fn a_directory_is_refused() {
    for mode in Durability::ALL {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        std::fs::create_dir(&path).unwrap();
        let err = try_open(&path, mode).unwrap_err();
        assert!(
            matches!(&err, Error::IsDirectory { path: p } if *p == path),
            "{mode}: {err:?}"
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(
            entries(&path).is_empty(),
            "{mode}: something was created inside"
        );
        assert_eq!(
            entries(dir.path()).into_iter().collect::<Vec<_>>(),
            ["db.json"],
            "{mode}"
        );
    }
}

/// Temp files of this database (`PATH.kv-tmp.<pid>.<16 hex digits>`) are removed on open,
/// never read (their garbage would fail the parse, their valid JSON would show up as
/// data), and reported by name; every other file in the directory is left alone, including
/// a user's `PATH.tmp-2024-06`, which the old `PATH.tmp-<digits>-<digits>` shape deleted.
#[test]
fn stray_temp_files_are_removed_unread_and_other_files_untouched() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        write(&path, "{\"kept\": 1}");
        let strays = [
            ("db.json.kv-tmp.1.0123456789abcdef", &b"\xff garbage {"[..]),
            ("db.json.kv-tmp.4242.fedcba9876543210", b"{\"ghost\": true}"),
        ];
        let others = [
            ("db.json.tmpx", &b"{\"x\": 1}"[..]),
            ("db.json.tmp", b"tmp without dash"),
            // The old temp shape: a user's dated copy looks just like it.
            ("db.json.tmp-2024-06", b"{\"precious\": 1}"),
            ("db.json.tmp-1-1", b"old shape"),
            (
                "other.json.kv-tmp.1.0123456789abcdef",
                b"another database's temp",
            ),
            ("db.jsonx.kv-tmp.1.0123456789abcdef", b"not ours either"),
            ("xdb.json.kv-tmp.1.0123456789abcdef", b"nor this"),
            // Starts like a temp but is not the shape the engine makes: a user's file.
            ("db.json.kv-tmp.backup", b"{\"precious\": 2}"),
            ("db.json.kv-tmp.1.0123456789abcde", b"15 hex digits"),
            ("db.json.kv-tmp.1.0123456789ABCDEF", b"upper case"),
            ("db.json.kv-tmp.1.2.0123456789abcdef", b"three parts"),
            ("db.json.kv-tmp.x.0123456789abcdef", b"not a number"),
            ("db.json.kv-tmp.", b""),
        ];
        for (name, contents) in strays.iter().chain(&others) {
            write(&dir.path().join(name), contents);
        }

        let store = open(&path, mode);
        assert_eq!(store.keys().collect::<Vec<_>>(), ["kept"], "{mode}");
        assert_eq!(
            store.open_warnings(),
            [Warning::RemovedTempFiles {
                path: path.clone(),
                files: strays
                    .iter()
                    .map(|(name, _)| dir.path().join(name))
                    .collect(),
            }],
            "{mode}"
        );
        for (name, _) in strays {
            assert!(
                !dir.path().join(name).exists(),
                "{mode}: {name} was not removed"
            );
        }
        for (name, contents) in others {
            assert_eq!(
                bytes(&dir.path().join(name)).as_deref(),
                Some(contents),
                "{mode}: {name}"
            );
        }
        assert_eq!(
            bytes(&path).as_deref(),
            Some(&b"{\"kept\": 1}"[..]),
            "{mode}"
        );
    }
}

/// Memory mode never writes: it leaves even stray temp files where they are.
#[test]
fn memory_mode_does_not_remove_stray_temps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    write(&path, "{}");
    let stray = dir.path().join("db.json.kv-tmp.1.0123456789abcdef");
    write(&stray, "garbage");
    let _store = open(&path, Durability::Memory);
    assert_eq!(bytes(&stray).as_deref(), Some(&b"garbage"[..]));
}

/// A store opened in memory mode on a file reads it, and never writes or locks it.
#[test]
fn memory_mode_on_a_path_reads_the_file_and_never_writes_or_locks_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    write(&path, "{\"A\": 0, \"B\": {\"x\": [1, 2]}}");
    let before = untouched(&path);

    let mut store = open(&path, Durability::Memory);
    assert_eq!(store.get("B"), Some(json!({"x": [1, 2]})));
    store.put("A", json!("changed")).unwrap();
    store.put("C", json!(3)).unwrap();
    assert!(store.delete("B").unwrap());
    assert_eq!(store.keys().collect::<Vec<_>>(), ["A", "C"]);

    // A writer can open the same file meanwhile: memory mode holds no lock.
    let writer = open(&path, Durability::Snapshot);
    drop(writer);
    assert_eq!(untouched(&path), before);
    let stats = store.stats();
    assert_eq!((stats.fsyncs, stats.bytes_written), (0, 0));
    assert_eq!(stats.path, None);
    drop(store);
    assert_eq!(untouched(&path), before);
    // Only the writer's lock file appeared; memory mode made nothing.
    assert_eq!(
        entries(dir.path()).into_iter().collect::<Vec<_>>(),
        ["db.json", "db.json.lock"]
    );
}

#[test]
fn memory_mode_on_a_missing_file_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    let mut store = open(&path, Durability::Memory);
    store.put("k", json!(1)).unwrap();
    drop(store);
    assert!(entries(dir.path()).is_empty());
}

/// Opens `path` read-only ([`Options::read_only`]).
fn open_read_only(path: &Path) -> Result<KvStore, Error> {
    KvStore::open(path, Options::new().read_only(true))
}

#[test]
fn a_read_only_open_beside_a_live_writer_takes_no_lock_changes_nothing_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    // A wal database with a snapshot and a log, its writer still open (holding the lock).
    let mut writer = open(&path, Durability::Wal);
    writer.put("a", json!(1)).unwrap();
    writer.checkpoint().unwrap();
    writer.put("b", json!({"x": [1, 2]})).unwrap();
    let files = entries(dir.path());
    let before: Vec<_> = files
        .iter()
        .map(|name| untouched(&dir.path().join(name)))
        .collect();

    let mut reader = open_read_only(&path).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(reader.get("b"), Some(json!({"x": [1, 2]})));
    assert_eq!(reader.path(), Some(path.as_path()));

    // Every mutation is refused, naming the file, and memory is unchanged.
    let refusals = [
        reader.put("c", json!(3)).err(),
        reader.delete("a").err(),
        reader.delete("missing").err(),
        reader
            .apply(vec![kv_engine::Mutation::Delete { key: "b".into() }])
            .err(),
        reader.checkpoint().err(),
    ];
    for refusal in refusals {
        match refusal {
            Some(Error::ReadOnly { path: named }) => assert_eq!(named, path),
            other => panic!("expected ReadOnly, got {other:?}"),
        }
    }
    let message = reader.put("c", json!(3)).unwrap_err().to_string();
    assert!(
        message.contains("is open read-only") && message.contains("nothing was written"),
        "{message}"
    );
    assert_eq!(reader.keys().collect::<Vec<_>>(), ["a", "b"]);
    let stats = reader.stats();
    assert!(stats.read_only);
    assert_eq!(
        (stats.fsyncs, stats.bytes_written, stats.commits),
        (0, 0, 0)
    );
    assert_eq!(stats.path.as_deref(), Some(path.as_path()));

    // The writer was never blocked, and the reader created, changed and removed nothing.
    writer.put("c", json!(3)).unwrap();
    drop(reader);
    drop(writer);
    let files_after = entries(dir.path());
    assert_eq!(files_after, files);
    // (The writer's own commit changed the log; the snapshot is as it was.)
    assert_eq!(untouched(&path), before[0]);
    // A later read-only open sees the writer's later commit.
    assert_eq!(
        open_read_only(&path).unwrap().keys().collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

#[test]
fn a_read_only_open_of_a_missing_database_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    match open_read_only(&path) {
        Err(Error::NoDatabase { path: named }) => assert_eq!(named, path),
        other => panic!("expected NoDatabase, got {other:?}"),
    }
    let message = open_read_only(&path).err().map(|err| err.to_string());
    assert_eq!(
        message,
        Some(format!(
            "there is no database at {} (no such file, and no log beside it): a read-only \
             open creates nothing",
            path.display()
        ))
    );
    assert!(entries(dir.path()).is_empty());
    // A database that is only a log (wal mode before its first checkpoint) is a database.
    let mut writer = open(&path, Durability::Wal);
    writer.put("k", json!(1)).unwrap();
    drop(writer);
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(dir.path().join("db.json.lock")).unwrap();
    let names = entries(dir.path());
    assert!(names.contains("db.json.wal"), "{names:?}");
    let reader = open_read_only(&path).unwrap();
    assert_eq!(reader.get("k"), Some(json!(1)));
    drop(reader);
    assert_eq!(entries(dir.path()), names);
}

fn assert_locked(path: &Path, mode: Durability, db_file: &Path) {
    match try_open(path, mode) {
        Err(err @ Error::Locked { .. }) => {
            let message = err.to_string();
            assert!(message.contains("locked by another process"), "{message}");
            assert!(
                message.contains(&db_file.display().to_string()),
                "{message}"
            );
        }
        Err(err) => panic!(
            "{mode} open of {}: expected Locked, got {err:?}",
            path.display()
        ),
        Ok(_) => panic!("{mode} open of {} succeeded while locked", path.display()),
    }
}

/// One writer at a time, in this process too: a second open of the same database is
/// refused while the first store lives, in either file mode, and succeeds once it is gone.
#[test]
fn a_second_open_is_locked_out_until_the_first_store_is_dropped() {
    for first in FILE_MODES {
        for second in FILE_MODES {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.json");
            let mut holder = open(&path, first);
            holder.put("k", json!(1)).unwrap();

            assert_locked(&path, second, &path);
            // The refused open disturbed nothing: the holder goes on writing.
            holder.put("k", json!(2)).unwrap();
            assert_locked(&path, second, &path);

            drop(holder);
            let reopened = open(&path, second);
            assert_eq!(reopened.get("k"), Some(json!(2)), "{first} then {second}");
        }
    }
}

/// The lock belongs to the file, not to the spelling of its path: `dir/../dir/db.json`,
/// a symlink to the file, and a path through a symlinked directory are all locked out.
#[test]
fn the_lock_holds_through_other_paths_to_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("db.json");
    symlink("sub/db.json", dir.path().join("link.json")).unwrap();
    symlink("sub", dir.path().join("linkdir")).unwrap();
    let others: [PathBuf; 3] = [
        sub.join("..").join("sub").join("db.json"),
        dir.path().join("link.json"),
        dir.path().join("linkdir").join("db.json"),
    ];

    // Each spelling locks out the others, whichever holds the lock.
    let spellings: Vec<PathBuf> = std::iter::once(path.clone()).chain(others).collect();
    for holder_path in &spellings {
        let holder = open(holder_path, Durability::Snapshot);
        for other in &spellings {
            match try_open(other, Durability::Snapshot) {
                Err(Error::Locked { .. }) => {}
                Err(err) => panic!("{}: {err:?}", other.display()),
                Ok(_) => panic!(
                    "{} opened while {} held the lock",
                    other.display(),
                    holder_path.display()
                ),
            }
        }
        drop(holder);
    }
    drop(open(&path, Durability::Snapshot));
}

/// A rename installs the temp file's permission bits: the snapshot must copy the old
/// file's, exactly, whatever the umask (0604 and 0666 lose bits under the usual 022 or 077).
#[test]
fn permission_bits_survive_every_commit() {
    for mode in FILE_MODES {
        // A read-only file can only be rewritten in place by root, so 0444 is checked
        // where the file is replaced by a rename (snapshot), which any user can do.
        let read_only: &[u32] = if mode == Durability::Snapshot {
            &[0o444]
        } else {
            &[]
        };
        for &bits in [0o640, 0o604, 0o666, 0o600].iter().chain(read_only) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.json");
            write(&path, "{}");
            set_mode(&path, bits);
            let mut store = open(&path, mode);
            store.put("a", json!(1)).unwrap();
            assert_eq!(mode_of(&path), bits, "{mode}: {bits:o} after one commit");
            store.put("b", json!(2)).unwrap();
            assert!(store.delete("a").unwrap());
            assert_eq!(mode_of(&path), bits, "{mode}: {bits:o} after three commits");
            drop(store);
            assert_eq!(
                open(&path, mode).keys().collect::<Vec<_>>(),
                ["b"],
                "{mode}"
            );
        }
    }
}

#[test]
fn a_new_database_file_is_created_0600() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.json");
        let mut store = open(&path, mode);
        assert!(
            !path.exists(),
            "{mode}: the file exists before the first commit"
        );
        store.put("k", json!(1)).unwrap();
        assert_eq!(mode_of(&path), 0o600, "{mode}");
    }
}

/// Writing through a symlink replaces the file it points to and keeps the link, for a
/// relative link, an absolute link into another directory, a chain of links, and a link
/// whose target does not exist yet.
#[test]
fn a_symlinked_path_keeps_its_link_and_the_target_gets_the_data() {
    for mode in FILE_MODES {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let links = dir.path().join("links");
        std::fs::create_dir(&data).unwrap();
        std::fs::create_dir(&links).unwrap();
        let target = data.join("db.json");
        write(&target, "{\"old\": 0}");
        set_mode(&target, 0o640);

        let cases: [(PathBuf, PathBuf); 3] = [
            (
                links.join("relative.json"),
                PathBuf::from("../data/db.json"),
            ),
            (links.join("absolute.json"), target.clone()),
            (links.join("chain.json"), PathBuf::from("relative.json")),
        ];
        for (link, points_to) in &cases {
            symlink(points_to, link).unwrap();
        }
        for (i, (link, points_to)) in cases.iter().enumerate() {
            let mut store = open(link, mode);
            // The store names the file it writes (resolved), not the link.
            let named = store.path().unwrap();
            assert!(
                !std::fs::symlink_metadata(named)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(
                std::fs::canonicalize(named).unwrap(),
                std::fs::canonicalize(&target).unwrap()
            );
            store.put(format!("via{i}"), json!(i)).unwrap();
            drop(store);
            assert_eq!(&std::fs::read_link(link).unwrap(), points_to, "{mode}");
            assert!(
                std::fs::symlink_metadata(link)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
            assert_eq!(mode_of(&target), 0o640, "{mode}");
            let on_disk: serde_json::Value =
                serde_json::from_slice(&bytes(&target).unwrap()).unwrap();
            assert_eq!(on_disk.get(format!("via{i}")), Some(&json!(i)), "{mode}");
        }
        // Temp files and the lock live beside the target, never beside the links.
        assert_eq!(
            entries(&links).into_iter().collect::<Vec<_>>(),
            ["absolute.json", "chain.json", "relative.json"],
            "{mode}"
        );
        assert_eq!(
            entries(&data).into_iter().collect::<Vec<_>>(),
            ["db.json", "db.json.lock"],
            "{mode}"
        );

        // A dangling link: the first commit creates the file it names.
        let dangling = links.join("new.json");
        symlink("../data/new.json", &dangling).unwrap();
        let mut store = open(&dangling, mode);
        store.put("fresh", json!(true)).unwrap();
        drop(store);
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            bytes(&data.join("new.json")).as_deref(),
            Some(&b"{\"fresh\":true}\n"[..])
        );
    }
}

/// A path that names no file (empty, `/`) is refused in every mode before anything is
/// created. Before this check, `open("")` succeeded, took a lock file named `.lock` in the
/// working directory, and failed only at the first commit with a confusing rename error.
#[test]
fn a_path_that_names_no_file_is_refused() {
    for mode in Durability::ALL {
        for path in ["", "/"] {
            let err = match try_open(Path::new(path), mode) {
                Err(err) => err,
                Ok(_) => panic!("{mode}: open({path:?}) succeeded"),
            };
            let message = err.to_string();
            assert!(
                message.contains("names no file"),
                "{mode} {path:?}: {message}"
            );
            assert!(
                matches!(&err, Error::NoFileName { .. }),
                "{mode} {path:?}: not an I/O failure but its own error: {err:?}"
            );
        }
    }
}

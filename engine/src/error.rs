//! The library's one error type: every message names the file and the reason.

use std::io;
use std::path::PathBuf;

/// What can go wrong opening or writing a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A crash button was armed in a store whose commit never reaches it (each point
    /// belongs to one mode's protocol; see [`CrashPoint::durability`](crate::CrashPoint::durability)).
    #[error("crash point {point} is not part of the {durability} mode's commit")]
    NotACrashPointOfThisMode {
        /// The point that was armed.
        point: crate::CrashPoint,
        /// The store's mode, whose commit never passes `point`.
        durability: crate::Durability,
    },

    /// A filesystem operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What the engine was doing, as a verb phrase ("read", "fsync", "rename to ...").
        op: String,
        /// The file or directory the operation acted on.
        path: PathBuf,
        /// What the operating system (or the simulated disk) reported.
        #[source]
        source: io::Error,
    },

    /// The path names no file (`""`, `/`): there is nowhere to put the lock or a temp
    /// file beside it. Refused before anything is created.
    #[error("cannot open {}: the path names no file", path.display())]
    NoFileName {
        /// The path as given.
        path: PathBuf,
    },

    /// The directory the database would live in does not exist. Said plainly, before the
    /// first error would be about the lock file beside it.
    #[error("cannot open {}: directory {} does not exist", path.display(), dir.display())]
    NoDirectory {
        /// The database path as given.
        path: PathBuf,
        /// Its parent directory, the one that is missing.
        dir: PathBuf,
    },

    /// A value could not be turned into the JSON text the store keeps (serde_json refused
    /// it). Nothing was written.
    #[error("cannot serialise the value of key {key:?} for {}: {reason}", path.display())]
    Unserialisable {
        /// The key whose value was refused.
        key: String,
        /// The database file (or "the store" for one in memory).
        path: PathBuf,
        /// serde_json's account of what it could not serialise.
        reason: String,
    },

    /// Every name tried for a new file beside the database (a temp file, a backup of the
    /// log) was taken: the names are random, so something keeps creating them.
    #[error("cannot {what} beside {}: every name tried is taken", path.display())]
    NoFreeName {
        /// The database file the new file was to sit beside.
        path: PathBuf,
        /// What was to be created, as a verb phrase ("create a temp file").
        what: &'static str,
    },

    /// `repair` was given a plan made from other bytes than the files hold now (a writer
    /// committed since): nothing was cut.
    #[error(
        "cannot repair {}: the files changed since the repair was planned; check again",
        path.display()
    )]
    StalePlan {
        /// The database file.
        path: PathBuf,
    },

    /// A step of a checkpoint or an install failed (`failure`), and removing the new log
    /// it had made failed too (`cleanup`): what is on disk is not known.
    #[error("cannot clean up after \"{failure}\" by removing {}: {cleanup}", path.display())]
    CleanupFailed {
        /// The new log that could not be removed (`PATH.wal.next`).
        path: PathBuf,
        /// The step that failed first, the reason a cleanup was needed.
        failure: Box<Error>,
        /// Why removing the new log failed.
        #[source]
        cleanup: Box<Error>,
    },

    /// The database file is not valid JSON. The file was not modified.
    #[error(
        "{} is not valid JSON: {reason} at line {line} column {column} (the file was left untouched)",
        path.display()
    )]
    Syntax {
        /// The database file.
        path: PathBuf,
        /// Where the parser stopped: the line, 1-based.
        line: usize,
        /// Where the parser stopped: the column, 1-based, as serde_json counts it.
        column: usize,
        /// The parser's account of what was wrong.
        reason: String,
    },

    /// The database file repeats a key in one object (a file written by hand: the store
    /// never writes one). Which of the two values is meant cannot be known, and keeping
    /// either would change the data silently, so the file is refused, as a `put` of such
    /// a value is. The file was not modified.
    #[error(
        "{} {} at line {line} column {column}: refusing to choose one of its values (the \
         file was left untouched)",
        path.display(),
        crate::durability::text::repeated_key_message(key)
    )]
    DuplicateKey {
        /// The database file.
        path: PathBuf,
        /// The key that appears twice in one object.
        key: String,
        /// Where the repeated key starts (its opening quote; 1-based, the column in
        /// bytes).
        line: usize,
        /// The column of that opening quote (1-based, in bytes).
        column: usize,
    },

    /// The database file is JSON, but not an object of key → value.
    #[error(
        "{} holds a JSON {found}, not an object of key → value (the file was left untouched)",
        path.display()
    )]
    NotAnObject {
        /// The database file.
        path: PathBuf,
        /// What the file holds instead, as JSON names it ("array", "string", ...).
        found: &'static str,
    },

    /// The database file is not UTF-8 text.
    #[error(
        "{} is not UTF-8 text: invalid byte at offset {offset} (the file was left untouched)",
        path.display()
    )]
    NotUtf8 {
        /// The database file.
        path: PathBuf,
        /// The byte offset of the first byte that is not valid UTF-8.
        offset: usize,
    },

    /// The path names a directory.
    #[error("{} is a directory, not a database file", path.display())]
    IsDirectory {
        /// The path as given.
        path: PathBuf,
    },

    /// The database file, or a log beside it, is not a regular file (a named pipe, a
    /// device, a socket, a directory where a log belongs): reading it could block forever
    /// (a FIFO) or never end (`/dev/zero`), so it is refused before anything is created,
    /// locked or read.
    #[error(
        "{} is {}, not a regular file: refusing to use it as {role} (nothing was created or read)",
        path.display(),
        kind.describe()
    )]
    NotARegularFile {
        /// The file that was refused.
        path: PathBuf,
        /// What it is instead.
        kind: crate::fs::FileKind,
        /// What the engine wanted it for: "the database file", "the write-ahead log", ...
        role: &'static str,
    },

    /// A file a writer would change has more than one name (hard link). The lock is taken
    /// by name, so a second writer opening another name would take another lock and the
    /// two would split the data between them; refused before any file is created or
    /// locked. Reading (memory mode, `check`) is harmless and allowed.
    #[error(
        "{} has {links} names (hard links): refusing to open it for writing, because a writer \
         opening another of its names would take a different lock and the two would split \
         the data; keep one name (`find -samefile` lists them), or only read it (`kv --read-only`, memory durability, `kv check`)",
        path.display()
    )]
    HardLinked {
        /// The name the store was opened by.
        path: PathBuf,
        /// How many names the file has.
        links: u64,
    },

    /// Another store, in this process or another, holds the single-writer lock.
    #[error(
        "{} is locked by another process (lock file {})",
        path.display(),
        lock_path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
        /// The lock file beside it (`PATH.lock`), whose advisory lock is held.
        lock_path: PathBuf,
    },

    /// A read-only open ([`crate::Options::read_only`]) of a path where no database exists
    /// (no file, no log): nothing was created.
    #[error(
        "there is no database at {} (no such file, and no log beside it): a read-only open \
         creates nothing",
        path.display()
    )]
    NoDatabase {
        /// The database path as given.
        path: PathBuf,
    },

    /// A mutation on a store opened read-only ([`crate::Options::read_only`]), refused
    /// before anything changed in memory or on disk.
    #[error(
        "{} is open read-only: writes are refused, and nothing was written (open it without \
         read-only to change it)",
        path.display()
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },

    /// An earlier sync or rename failed, so what is on disk is unknown: retrying could
    /// report success while data is lost, so the store accepts no more writes.
    #[error(
        "{} refuses writes after an earlier failure ({cause}); {advice}",
        path.display()
    )]
    Poisoned {
        /// The database file.
        path: PathBuf,
        /// The failure that made the disk's state unknown.
        cause: String,
        /// What the user can do, which depends on what the mode leaves on disk.
        advice: &'static str,
    },

    /// A value nests arrays and objects deeper than [`crate::MAX_VALUE_DEPTH`]: stored, it
    /// would make the database file unreadable (JSON parsers cap nesting), so it is refused.
    #[error(
        "the value for key {key:?} nests deeper than {max} levels of arrays and objects; nothing was written"
    )]
    ValueTooDeep {
        /// The key whose value was refused.
        key: String,
        /// The limit, [`crate::MAX_VALUE_DEPTH`].
        max: usize,
    },

    /// A key and value too big for one log record: its 32-bit length field would wrap,
    /// and the record would be cut as torn on the next open. Refused in every mode, so a
    /// database can always be opened in `wal` mode.
    #[error(
        "the key {key:?} and its value take {bytes} bytes, more than the {max} one entry may \
         hold (a log record's length is 32 bits); nothing was written"
    )]
    EntryTooLarge {
        /// The key whose entry was refused.
        key: String,
        /// How many bytes the key and the value's compact JSON text take together.
        bytes: u64,
        /// The limit, [`crate::MAX_ENTRY_BYTES`].
        max: u64,
    },

    /// A typed value ([`KvStore::put_as`](crate::KvStore::put_as)) that does not serialise
    /// to JSON: for example a map whose keys are not strings.
    #[error("the value for key {key:?} cannot be stored as JSON: {reason}; nothing was written")]
    NotJson {
        /// The key whose value was refused.
        key: String,
        /// serde_json's account of what could not be serialised.
        reason: String,
    },

    /// A stored value that does not deserialise to the type asked for
    /// ([`KvStore::get_as`](crate::KvStore::get_as)).
    #[error("the value of key {key:?} is not a {type_name}: {reason}")]
    WrongType {
        /// The key that was read.
        key: String,
        /// The Rust type asked for.
        type_name: &'static str,
        /// serde's account of what did not fit, with its line and column in the value.
        reason: String,
    },

    /// An armed crash point was reached with [`CrashAction::Halt`](crate::CrashAction):
    /// the commit stopped there as if the process had died.
    #[error("simulated crash at {point} while committing to {}: the commit stopped there", path.display())]
    Crashed {
        /// The database file.
        path: PathBuf,
        /// The point the commit stopped at.
        point: crate::CrashPoint,
    },

    /// What an install was given is not a database that would open (a log image that
    /// does not continue the snapshot image, say): refused before anything was written.
    #[error("cannot install {}: {reason}; nothing was written", path.display())]
    BadImage {
        /// The database file the images were for.
        path: PathBuf,
        /// What is wrong with them.
        reason: String,
    },

    /// A sync the store had delayed ([`crate::SyncPolicy::Within`]) and ran on its own
    /// failed: writes already acknowledged may not be durable, so the store accepts no
    /// more writes. Reported once, by the next call on the store or by its close.
    #[error(
        "background {op} of {} failed: {reason}; up to {} since {since} may not be durable; \
         the store accepts no more writes",
        path.display(),
        crate::human::count(*writes, "acknowledged write")
    )]
    BackgroundSync {
        /// The system call or step that failed (`fdatasync`, `fsync`, `rename ... over`).
        op: String,
        /// The file (or directory) the failed step acted on.
        path: PathBuf,
        /// What the operating system reported.
        reason: String,
        /// The writes acknowledged and not known to be durable.
        writes: u64,
        /// When the oldest of them was acknowledged (`HH:MM:SS.mmm`, UTC).
        since: String,
    },

    /// A write after the store was sealed for the process's exit ([`crate::SyncHandle::seal`]):
    /// the last sync has run, so nothing more may be acknowledged.
    #[error(
        "{} is closing (the process is ending): the write was refused and nothing was written",
        path.display()
    )]
    Sealed {
        /// The database file.
        path: PathBuf,
    },

    /// A delayed sync policy ([`crate::Options::sync_policy`]) asked of a mode that has
    /// no sync to delay (memory, naive): refused at open rather than silently ignored.
    #[error(
        "sync policy {policy} applies only to the snapshot and wal modes: the {durability} mode {}, so there is no sync to delay",
        if *durability == crate::Durability::Memory { "has no file" } else { "never syncs its file" }
    )]
    SyncPolicyNeedsSyncs {
        /// The policy asked for.
        policy: crate::SyncPolicy,
        /// The mode it was asked of.
        durability: crate::Durability,
    },

    /// A file the engine wrote is damaged somewhere other than a torn tail (a log header
    /// or a record in the middle of the log): the store refuses to guess what it held.
    #[error("{} is corrupt at offset {offset}: {reason} (the file was left untouched)", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// The byte offset where the damage was found.
        offset: u64,
        /// What was wrong there.
        reason: String,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `op` on `path`.
    pub fn io(op: impl Into<String>, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }
}

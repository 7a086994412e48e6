//! `check` and `repair`: what the shell's `kv check PATH` and `kv repair PATH` call.
//!
//! `check` only reads. `repair` is split in two so a person can be asked first:
//! [`plan_repair`] says what would be cut and lost, changing nothing; [`repair`] does it,
//! keeping a backup of every byte it removes from the log (`PATH.wal.cut-<n>`).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::durability::lock;
pub use crate::durability::recovery::analyse::LogTail;
use crate::durability::recovery::analyse::{self, Analysis, LogChoice, NextLog};
use crate::durability::recovery::lockfree::{self, Finding};
use crate::durability::wal::record::{self, Frame, Header, Layout, Op, SnapshotId};
use crate::error::{Error, Result};
use crate::files::{self, NEW_FILE_MODE};
use crate::fs::{Fs, OpenMode, parent_dir};
use crate::human::count;

/// The state of a database's files, as [`check`](crate::check) finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// The database file (symlinks resolved).
    pub path: PathBuf,
    /// The database file itself (the snapshot of the map).
    pub snapshot: SnapshotState,
    /// The write-ahead log beside it (`PATH.wal`).
    pub log: LogState,
    /// What an interrupted checkpoint left, if anything.
    pub pending_checkpoint: PendingCheckpoint,
    /// Keys a store opened now would hold, if it would open.
    pub keys: Option<usize>,
}

impl CheckReport {
    /// Whether a store would open these files (a torn tail or an interrupted checkpoint
    /// still opens: open repairs those by itself).
    pub fn opens(&self) -> bool {
        self.keys.is_some()
    }

    /// Whether nothing at all needs attention.
    pub fn is_clean(&self) -> bool {
        self.opens()
            && self.pending_checkpoint == PendingCheckpoint::None
            && matches!(
                &self.log,
                LogState::Absent
                    | LogState::Valid {
                        tail: LogTail::Clean,
                        short_of: None,
                        ..
                    }
            )
    }
}

/// The snapshot file's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotState {
    /// There is no database file.
    Absent,
    /// It parses as a map of key → value.
    Valid {
        /// The file's size.
        bytes: u64,
        /// How many keys it holds.
        keys: usize,
    },
    /// It cannot be parsed: the reason names the position.
    Unreadable {
        /// The parse error, as opening the store would report it.
        reason: String,
    },
}

/// The log's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogState {
    /// There is no log beside the database file.
    Absent,
    /// Not checked, because the snapshot could not be read.
    Unchecked,
    /// The header is damaged or names another snapshot: the log cannot be used at all.
    Unusable {
        /// The log file.
        path: PathBuf,
        /// What is wrong with its header.
        reason: String,
    },
    /// The header is sound and continues the snapshot; `tail` says how the records end.
    Valid {
        /// The log file.
        path: PathBuf,
        /// Which log this is: one more at every checkpoint, and the salt of every
        /// record's checksum (so a record left over from an older log never passes).
        generation: u64,
        /// The last sequence number the snapshot contains.
        base_seq: u64,
        /// Records of complete commits after the snapshot.
        records: u64,
        /// The sequence number of the last complete commit (`base_seq` if there is none).
        last_seq: u64,
        /// Bytes in use (header and records).
        used: u64,
        /// The file's length, preallocated zeros included.
        file_len: u64,
        /// How the written part ends.
        tail: LogTail,
        /// If the file is shorter than the chunks it was grown by, the length it should
        /// have at least: something cut it, and acknowledged commits may be gone.
        short_of: Option<u64>,
    },
}

/// What an interrupted checkpoint left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PendingCheckpoint {
    /// No checkpoint was interrupted.
    None,
    /// Its snapshot was installed: open will switch to its new log.
    WillFinish,
    /// Its snapshot was not installed: open will delete its unused new log.
    WillAbandon,
}

/// Reports the state of the snapshot and the log of the database at `path` without
/// changing anything (no lock is taken, no file is written).
pub(crate) fn check(path: impl AsRef<Path>, fs: Arc<dyn Fs>) -> Result<CheckReport> {
    let given = path.as_ref();
    let path = fs
        .resolve(given)
        .map_err(|err| Error::io("resolve symlink", given, err))?;
    // No lock is taken, so a writer may be checkpointing or appending while the files are
    // read: believe only a report the files settle on.
    lockfree::read_settled(fs.as_ref(), |fs| check_pass(fs, &path), judge_report)
}

/// How far a report can be believed at once (see [`lockfree::read_settled`]).
fn judge_report(result: &Result<CheckReport>) -> Finding {
    match result {
        Err(_) => Finding::Damage,
        Ok(report) if !report.opens() => Finding::Damage,
        // A log cut short is no state a writer passes through (the log only grows, and
        // records go only into space already synced): damage, believed once it holds.
        Ok(CheckReport {
            pending_checkpoint: PendingCheckpoint::None,
            log:
                LogState::Valid {
                    tail: LogTail::Clean,
                    short_of: Some(_),
                    ..
                },
            ..
        }) => Finding::Damage,
        Ok(report) if !report.is_clean() => Finding::InFlight,
        Ok(_) => Finding::Clean,
    }
}

/// One reading of the files for [`check`].
fn check_pass(fs: &dyn Fs, path: &Path) -> Result<CheckReport> {
    let path = path.to_path_buf();
    let analysis = match analyse::analyse(fs, &path) {
        Ok(analysis) => analysis,
        Err(error @ (Error::Syntax { .. } | Error::NotAnObject { .. } | Error::NotUtf8 { .. })) => {
            return Ok(CheckReport {
                path,
                snapshot: SnapshotState::Unreadable {
                    reason: error.to_string(),
                },
                log: LogState::Unchecked,
                pending_checkpoint: PendingCheckpoint::None,
                keys: None,
            });
        }
        Err(error) => return Err(error),
    };
    // The snapshot's own key count: parse it again only for the report.
    let snapshot = match analysis.snapshot_id {
        SnapshotId::Absent => SnapshotState::Absent,
        SnapshotId::Present { len, .. } => {
            let bytes = analyse::read_optional(fs, &path)?.unwrap_or_default();
            match crate::durability::snapshot::parse(&path, &bytes) {
                Ok(map) => SnapshotState::Valid {
                    bytes: len,
                    keys: map.len(),
                },
                Err(error) => SnapshotState::Unreadable {
                    reason: error.to_string(),
                },
            }
        }
    };
    let log = match &analysis.log {
        LogChoice::None => LogState::Absent,
        LogChoice::Unusable(unusable) => LogState::Unusable {
            path: unusable.path.clone(),
            reason: unusable.reason.clone(),
        },
        LogChoice::Log(scan) => LogState::Valid {
            path: scan.path.clone(),
            generation: scan.header.generation,
            base_seq: scan.header.base_seq,
            records: scan.records,
            last_seq: scan.last_seq,
            used: scan.end,
            file_len: scan.file_len,
            short_of: scan.short_of,
            tail: scan.tail.clone(),
        },
    };
    let pending_checkpoint = match analysis.next {
        NextLog::Absent => PendingCheckpoint::None,
        NextLog::Finish => PendingCheckpoint::WillFinish,
        NextLog::Abandon => PendingCheckpoint::WillAbandon,
    };
    let keys = analysis.refusal().is_none().then_some(analysis.map.len());
    Ok(CheckReport {
        path,
        snapshot,
        log,
        pending_checkpoint,
        keys,
    })
}

/// What [`repair`](crate::repair()) would do, and what it would cost. Nothing has been changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairPlan {
    /// The database file (symlinks resolved).
    pub path: PathBuf,
    /// What the repair would change.
    pub action: RepairAction,
    /// The log's checksum when the plan was made: [`repair`] refuses if it changed.
    fingerprint: Option<u32>,
}

/// The one change a repair makes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepairAction {
    /// Nothing needs repairing (a torn tail or an interrupted checkpoint is handled by
    /// open itself).
    Nothing,
    /// Cut the log at `offset`, the end of the last good commit, dropping `bytes` bytes
    /// that hold at least `records_lost` valid records written after the damage.
    CutLog {
        /// The log file.
        log: PathBuf,
        /// Where the cut starts.
        offset: u64,
        /// Where the first damage is, which `reason` describes.
        damage: u64,
        /// How many bytes are cut (copied first to the backup).
        bytes: u64,
        /// Valid records after the damage that the cut drops.
        records_lost: u64,
        /// The keys those records put or delete, sorted: their values go back to what the
        /// records before the cut make them.
        keys_lost: Vec<String>,
        /// What is wrong at `damage`.
        reason: String,
    },
    /// The log is unusable as a whole (damaged header, or it continues another snapshot):
    /// move it aside, keeping the snapshot as the database's state. No cut can keep any of
    /// its records, since nothing says which snapshot they continue.
    SetAsideLog {
        /// The log file.
        log: PathBuf,
        /// Its size: all of it is moved aside.
        bytes: u64,
        /// The records in the log, all dropped: valid ones, or, when `checked` is false,
        /// what look like records by their shape (a header too damaged to give the
        /// generation that salts their checksums).
        records_lost: u64,
        /// The keys those records put or delete, sorted.
        keys_lost: Vec<String>,
        /// Whether each counted record's checksum was verified.
        checked: bool,
        /// Why the log cannot be used.
        reason: String,
    },
}

/// What [`repair`](crate::repair()) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairOutcome {
    /// Where the cut bytes (or the set-aside log) were kept, if anything was cut.
    pub backup: Option<PathBuf>,
}

/// Works out what [`repair`] would do to the database at `path`, changing nothing. Fails
/// if the snapshot itself cannot be read: a repair only ever cuts the log.
pub(crate) fn plan_repair(path: impl AsRef<Path>, fs: Arc<dyn Fs>) -> Result<RepairPlan> {
    let given = path.as_ref();
    let path = fs
        .resolve(given)
        .map_err(|err| Error::io("resolve symlink", given, err))?;
    // Planned without the lock, while a writer may be changing the files: the plan is
    // believed only once the files settle, as `check`'s report is.
    lockfree::read_settled(
        fs.as_ref(),
        |fs| plan_pass(fs, &path),
        |result| match result {
            Ok((finding, _)) => *finding,
            Err(_) => Finding::Damage,
        },
    )
    .map(|(_, plan)| plan)
}

/// One reading of the files for a plan, and how far what it read can be believed.
fn plan_pass(fs: &dyn Fs, path: &Path) -> Result<(Finding, RepairPlan)> {
    let analysis = analyse::analyse(fs, path)?;
    let finding = lockfree::judge(&analysis);
    let plan = plan_from(fs, path.to_path_buf(), &analysis)?;
    Ok((finding, plan))
}

fn plan_from(fs: &dyn Fs, path: PathBuf, analysis: &Analysis) -> Result<RepairPlan> {
    let (action, fingerprint) = match &analysis.log {
        LogChoice::Unusable(unusable) => {
            // Count what setting it aside drops, though its header cannot be trusted.
            let bytes = analyse::read_optional(fs, &unusable.path)?.unwrap_or_default();
            let loss = set_aside_loss(&bytes);
            (
                RepairAction::SetAsideLog {
                    log: unusable.path.clone(),
                    bytes: unusable.file_len,
                    records_lost: loss.records,
                    keys_lost: loss.keys.into_iter().collect(),
                    checked: loss.checked,
                    reason: unusable.reason.clone(),
                },
                None,
            )
        }
        LogChoice::Log(scan) => match &scan.tail {
            LogTail::Corrupt {
                offset,
                reason,
                cut,
                bytes,
                records_after,
            } => {
                let log = analyse::read_optional(fs, &scan.path)?.unwrap_or_default();
                let after = usize::try_from(*cut).unwrap_or(usize::MAX);
                let loss = records_from(
                    &log,
                    after,
                    scan.header.generation,
                    Some(scan.last_seq),
                    scan.header.layout,
                );
                (
                    RepairAction::CutLog {
                        log: scan.path.clone(),
                        offset: *cut,
                        damage: *offset,
                        bytes: *bytes,
                        records_lost: *records_after,
                        keys_lost: loss.keys.into_iter().collect(),
                        reason: reason.clone(),
                    },
                    Some(scan.fingerprint),
                )
            }
            _ => (RepairAction::Nothing, None),
        },
        LogChoice::None => (RepairAction::Nothing, None),
    };
    Ok(RepairPlan {
        path,
        action,
        fingerprint,
    })
}

/// What a log holds that a repair would drop.
#[derive(Debug, Default)]
struct Loss {
    records: u64,
    keys: BTreeSet<String>,
    /// Whether the records' checksums were verified.
    checked: bool,
}

/// The records of a log that is set aside whole. Its header may be damaged, so the
/// generation that salts every record's checksum is taken from the header if it decodes,
/// else from the header's generation field as it is or with any one bit flipped (one
/// flipped bit is the common damage), whichever makes the first record valid. If none
/// does, the records are counted by their shape alone (`checked` is false).
fn set_aside_loss(bytes: &[u8]) -> Loss {
    if let Ok(header) = Header::decode(bytes) {
        let start = header.layout.data_start() as usize;
        return records_from(
            bytes,
            start,
            header.generation,
            Some(header.base_seq),
            header.layout,
        );
    }
    let layout = Layout::guess(bytes);
    let start = layout.data_start() as usize;
    if let Some(field) = bytes.get(16..24) {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(field);
        let raw = u64::from_le_bytes(raw);
        let candidates = std::iter::once(raw).chain((0..64).map(|bit| raw ^ (1 << bit)));
        for generation in candidates {
            if matches!(
                record::decode(bytes, start, generation, layout),
                Frame::Record { .. }
            ) {
                return records_from(bytes, start, generation, None, layout);
            }
        }
    }
    shaped_records(bytes, start, layout)
}

/// The valid records of `generation` in `bytes` from `from` on, as recovery counts the
/// records after damage: walking from one record to the next, and past anything else
/// probing each offset, up to the last non-zero byte; each must carry a higher sequence
/// number than the one before (than `after`, if given).
fn records_from(
    bytes: &[u8],
    from: usize,
    generation: u64,
    after: Option<u64>,
    layout: Layout,
) -> Loss {
    let mut loss = Loss {
        checked: true,
        ..Loss::default()
    };
    let end = bytes
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |last| last + 1);
    let mut last = after;
    let mut pos = from;
    while pos + layout.min_record() <= end {
        let first = last.map_or(0, |seq| seq.saturating_add(1));
        if record::plausible_at(bytes, pos, first..=u64::MAX, layout)
            && let Frame::Record { seq, op, len, .. } =
                record::decode(bytes, pos, generation, layout)
        {
            loss.records += 1;
            loss.keys.insert(op_key(&op).to_string());
            last = Some(seq);
            pos += len;
            continue;
        }
        pos += 1;
    }
    loss
}

fn op_key<'a>(op: &Op<'a>) -> &'a str {
    match op {
        Op::Put { key, .. } | Op::Delete { key } => key,
    }
}

/// Counts what look like records from `from` on, by their shape alone (length, kind,
/// key, sequence numbers one apart), for a log whose checksums cannot be verified.
fn shaped_records(bytes: &[u8], from: usize, layout: Layout) -> Loss {
    let mut loss = Loss::default();
    let mut pos = from;
    let mut expected: Option<u64> = None;
    while let Some(shape) = shaped_at(bytes, pos, layout) {
        if expected.is_some_and(|expected| expected != shape.seq) {
            break;
        }
        loss.records += 1;
        loss.keys.insert(shape.key.to_string());
        expected = Some(shape.seq.wrapping_add(1));
        pos += shape.len;
        if shape.commit {
            // The next commit starts on the next sector.
            pos = layout.align(pos as u64) as usize;
        }
    }
    loss
}

/// What looks like a record, by its shape.
struct Shape<'a> {
    seq: u64,
    key: &'a str,
    len: usize,
    /// Whether it ends its commit.
    commit: bool,
}

/// The sequence number, key and length of what looks like a record at `pos`.
fn shaped_at(bytes: &[u8], pos: usize, layout: Layout) -> Option<Shape<'_>> {
    let u32_at = |at: usize| -> Option<usize> {
        let field = bytes.get(at..at + 4)?;
        let mut raw = [0u8; 4];
        raw.copy_from_slice(field);
        usize::try_from(u32::from_le_bytes(raw)).ok()
    };
    let body = u32_at(pos + 4)?;
    let len = body.checked_add(8)?;
    if body < layout.min_body() || pos.checked_add(len)? > bytes.len() {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(bytes.get(pos + 8..pos + 16)?);
    let kind_byte = *bytes.get(pos + 16)?;
    let kind = kind_byte & 0x7f;
    let key_len = u32_at(pos + layout.key_len_at())?;
    let key_start = pos + layout.key_len_at() + 4;
    let key_end = key_start.checked_add(key_len)?;
    if !(1..=2).contains(&kind) || key_end > pos + len {
        return None;
    }
    let key = std::str::from_utf8(bytes.get(key_start..key_end)?).ok()?;
    Some(Shape {
        seq: u64::from_le_bytes(seq),
        key,
        len,
        commit: kind_byte & 0x80 != 0,
    })
}

/// Carries out `plan`, after checking (under the database's lock) that the files are
/// still as they were when it was made. Every byte removed from the log is first copied to
/// a durable backup `PATH.wal.cut-<n>`.
pub(crate) fn repair(plan: &RepairPlan, fs: Arc<dyn Fs>) -> Result<RepairOutcome> {
    let path = &plan.path;
    if plan.action == RepairAction::Nothing {
        return Ok(RepairOutcome { backup: None });
    }
    let _lock = lock::lock(fs.as_ref(), path)?;
    let analysis = analyse::analyse(fs.as_ref(), path)?;
    let current = plan_from(fs.as_ref(), path.clone(), &analysis)?;
    if current != *plan {
        return Err(Error::StalePlan { path: path.clone() });
    }
    let dir = parent_dir(path);
    match &plan.action {
        RepairAction::Nothing => Ok(RepairOutcome { backup: None }),
        RepairAction::SetAsideLog { log, .. } => {
            let backup = free_backup_path(fs.as_ref(), path)?;
            fs.rename(log, &backup)
                .map_err(|err| Error::io(format!("rename {} to", log.display()), &backup, err))?;
            fs.sync_dir(dir)
                .map_err(|err| Error::io("fsync directory", dir, err))?;
            Ok(RepairOutcome {
                backup: Some(backup),
            })
        }
        RepairAction::CutLog {
            log, offset, bytes, ..
        } => {
            let contents = fs.read(log).map_err(|err| Error::io("read", log, err))?;
            let start = *offset as usize;
            let cut = contents
                .get(start..start + *bytes as usize)
                .unwrap_or_default();
            // The backup is durable before a single byte of the log changes.
            let backup = free_backup_path(fs.as_ref(), path)?;
            let mut file = fs
                .open(
                    &backup,
                    OpenMode::CreateNew {
                        mode: NEW_FILE_MODE,
                    },
                )
                .map_err(|err| Error::io("create", &backup, err))?;
            file.write_all_at(0, cut)
                .map_err(|err| Error::io("write", &backup, err))?;
            file.sync_all()
                .map_err(|err| Error::io("fsync", &backup, err))?;
            fs.sync_dir(dir)
                .map_err(|err| Error::io("fsync directory", dir, err))?;
            let mut file = fs
                .open(log, OpenMode::Existing)
                .map_err(|err| Error::io("open", log, err))?;
            let layout = analysis
                .scan()
                .map_or(Layout::CURRENT, |scan| scan.header.layout);
            analyse::zero_back_to_front(file.as_mut(), *offset, cut.len() as u64, layout)
                .map_err(|err| Error::io("cut", log, err))?;
            Ok(RepairOutcome {
                backup: Some(backup),
            })
        }
    }
}

impl fmt::Display for CheckReport {
    /// A few lines a person can read: the snapshot, the log, and the verdict.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.snapshot {
            SnapshotState::Absent => writeln!(f, "snapshot {}: absent", self.path.display())?,
            SnapshotState::Valid { bytes, keys } => writeln!(
                f,
                "snapshot {}: {}, {}",
                self.path.display(),
                count(*keys as u64, "key"),
                count(*bytes, "byte")
            )?,
            SnapshotState::Unreadable { reason } => writeln!(f, "snapshot: {reason}")?,
        }
        match &self.log {
            LogState::Absent => writeln!(f, "log: absent")?,
            LogState::Unchecked => writeln!(f, "log: not checked")?,
            LogState::Unusable { path, reason } => {
                writeln!(f, "log {}: unusable: {reason}", path.display())?
            }
            LogState::Valid {
                path,
                generation,
                base_seq,
                records,
                last_seq,
                used,
                file_len,
                tail,
                short_of,
            } => {
                writeln!(
                    f,
                    "log {}: generation {generation}, {} after sequence number \
                     {base_seq} (last {last_seq}), {used} of {file_len} bytes used",
                    path.display(),
                    count(*records, "record")
                )?;
                match tail {
                    LogTail::Clean => writeln!(f, "log tail: clean")?,
                    LogTail::Torn {
                        offset,
                        bytes,
                        reason,
                    } => writeln!(
                        f,
                        "log tail: torn at offset {offset}, {} ({reason}); open cuts it off",
                        count(*bytes, "byte")
                    )?,
                    LogTail::Corrupt {
                        offset,
                        reason,
                        cut,
                        bytes,
                        records_after,
                    } => writeln!(
                        f,
                        "log: corrupt at offset {offset}: {reason}; repair would cut {} from \
                         offset {cut}, losing {}",
                        count(*bytes, "byte"),
                        count(*records_after, "valid record")
                    )?,
                }
                if let Some(expected) = short_of {
                    writeln!(
                        f,
                        "log: cut short: {file_len} bytes, but its chunks say at least \
                         {expected}: {} missing from its end, losing any acknowledged commits \
                         held there",
                        count(expected - file_len, "byte")
                    )?;
                }
            }
        }
        match self.pending_checkpoint {
            PendingCheckpoint::None => {}
            PendingCheckpoint::WillFinish => {
                writeln!(f, "an interrupted checkpoint: open will finish it")?
            }
            PendingCheckpoint::WillAbandon => writeln!(
                f,
                "an interrupted checkpoint: open will remove its unused log"
            )?,
        }
        match self.keys {
            Some(keys) => write!(f, "opens with {}", count(keys as u64, "key")),
            None => write!(f, "does not open"),
        }
    }
}

impl fmt::Display for RepairAction {
    /// What the repair would do and lose, for the confirmation question.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepairAction::Nothing => write!(f, "nothing to repair"),
            // Each offset once: the cut, then the damage the reason describes.
            RepairAction::CutLog {
                log,
                offset,
                damage,
                bytes,
                records_lost,
                keys_lost,
                reason,
            } => {
                let damage = match damage == offset {
                    true => "where the damage starts".to_string(),
                    false => format!("before the damage, which starts at offset {damage}"),
                };
                write!(
                    f,
                    "cut {} at offset {offset}, {damage}: {reason}. The cut drops {} holding \
                     {} written after the damage{}; a backup is kept",
                    log.display(),
                    count(*bytes, "byte"),
                    count(*records_lost, "valid record"),
                    changed_keys(*records_lost, keys_lost),
                )
            }
            RepairAction::SetAsideLog {
                log,
                bytes,
                records_lost,
                keys_lost,
                checked,
                reason,
            } => {
                write!(
                    f,
                    "set the whole log {} aside ({}: {reason}); ",
                    log.display(),
                    count(*bytes, "byte")
                )?;
                if *records_lost == 0 {
                    return write!(
                        f,
                        "it holds no record, so nothing logged is lost: the database becomes \
                         the snapshot alone; a backup is kept"
                    );
                }
                if *checked {
                    write!(f, "it holds {}", count(*records_lost, "valid record"))?;
                } else {
                    write!(
                        f,
                        "it holds what look like {} (their checksums cannot be verified \
                         without the damaged header)",
                        count(*records_lost, "record")
                    )?;
                }
                write!(
                    f,
                    "{}; no cut can keep any of them, since the log cannot be used at all: \
                     the database becomes the snapshot alone and loses all {records_lost}; \
                     a backup is kept",
                    changed_keys(*records_lost, keys_lost)
                )
            }
        }
    }
}

/// `", which change 3 keys: "a", "b", "c"`, naming at most a few of them (`changes`
/// after a single record).
fn changed_keys(records: u64, keys: &[String]) -> String {
    const SHOWN: usize = 5;
    if keys.is_empty() {
        return String::new();
    }
    let names: Vec<String> = keys
        .iter()
        .take(SHOWN)
        .map(|key| format!("{key:?}"))
        .collect();
    let more = match keys.len().saturating_sub(SHOWN) {
        0 => String::new(),
        more => format!(" and {more} more"),
    };
    let verb = if records == 1 { "changes" } else { "change" };
    format!(
        ", which {verb} {}: {}{more}",
        count(keys.len() as u64, "key"),
        names.join(", ")
    )
}

/// The first `PATH.wal.cut-<n>` that does not exist yet.
fn free_backup_path(fs: &dyn Fs, path: &Path) -> Result<PathBuf> {
    for n in 1.. {
        let candidate = files::wal_cut_path(path, n);
        match fs.metadata(&candidate) {
            Ok(None) => return Ok(candidate),
            Ok(Some(_)) => continue,
            Err(err) => return Err(Error::io("stat", candidate, err)),
        }
    }
    Err(Error::NoFreeName {
        path: path.to_path_buf(),
        what: "name a backup of the log",
    })
}

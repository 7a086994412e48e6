//! [`SimFs`]: a simulated disk behind the [`Fs`] seam, where a test or a classroom demo
//! can cut the power between any two system calls and see what a reboot would find.
//!
//! # The model
//!
//! The disk holds directories, directory entries (name → inode) and inodes (file data).
//!
//! - **Data.** Each inode keeps two images: the bytes the process wrote (what `read`
//!   returns, as the page cache would) and the bytes that are durable, plus the log of the
//!   data operations (`write_all_at`, `set_len`, the truncation of `OpenMode::Truncate`)
//!   issued since the last successful sync, in order. `sync_data` and `sync_all` replay
//!   that log onto the durable image; the two are the same here, since the sim keeps no
//!   metadata but the size and the permission bits, which are fixed at creation.
//! - **Names.** The visible entries change at once; the durable entries change only when
//!   a directory is synced. Each creation, rename and removal is logged with the
//!   directories it touches; `sync_dir(d)` replays onto the durable entries, in order,
//!   every logged operation touching `d`. A rename is logged as "`to` now names the inode
//!   `from` named, and `from` no longer does", so replaying it is all or nothing. A file's
//!   own fsync does not make its name durable (fsync(2)).
//! - **Directories** are created by the harness ([`SimFs::create_dir_all`]) and are always
//!   durable; the engine never creates one. Symbolic links are not simulated:
//!   [`Fs::resolve`] returns the path as given.
//! - **Locks** live in memory: a second [`Fs::lock`] of a path while the first guard lives
//!   is `WouldBlock`; dropping the guard releases it; a crash releases all of them.
//! - **Permission bits** are exactly the `mode` a file was created with: the sim has no
//!   umask.
//! - **Paths** are normalised lexically (`.` and `..` folded); a relative path is taken
//!   from the root `/`, so `db.json` and `/db.json` are the same file.
//!
//! # Crashes
//!
//! [`SimFs::crash`] builds a new, independent disk as a reboot would find it
//! ([`SimFs::reboot`] does it in place, for the shell's `powercut`), in one of six
//! [`CrashMode`]s: a process kill keeps everything written (the kernel survives);
//! a clean power loss keeps only what is durable; a random power loss replays onto the
//! durable state each logged operation independently with probability ½, keeping their
//! order; a torn power loss does the same, and a kept write may land only as a prefix of
//! the 512-byte sectors it spans, and a write that extended the file but did not fully
//! land may leave the file at its new length with the missing tail read as zeros or
//! garbage (SQLite's assumption about appends).
//!
//! The two harshest modes model writeback as the kernel and the drive really do it:
//! the pages of one `fdatasync` reach the medium in any order, and a drive may persist
//! some sectors of a page and not others.
//!
//! - **`reorder`**: each 4 KiB page of a file is written back at a moment of its own, so
//!   it holds the page cache's contents after some number k of the file's unsynced
//!   operations (k drawn anew per page, from none to all of them); half the pages (at
//!   random) are torn, and then each of their 512-byte sectors draws its own k. So a
//!   write lands as any subset of its pages and sectors, not only a prefix: page 5 of a
//!   write can be on the disk while page 1 is not. The file's length is its length after
//!   its own k (metadata is written back on its own too); a byte inside that length that
//!   its sector's moment did not yet hold reads as zero.
//!   Seeds 0 and 1 are fixed shapes rather than draws (see
//!   [`CrashMode::ReorderPowerLoss`]), so that a sweep of three seeds always tries
//!   "nothing landed" and "all but the first page landed".
//! - **`garbage`** (no power-safe overwrite, SQLite's `SQLITE_IOCAP_POWERSAFE_OVERWRITE`
//!   turned off): as `reorder`, and then every sector that an unsynced write touched but
//!   whose chosen moment is before that sector's last write (the sector was in flight
//!   when the power went) reads as random bytes: **the whole sector**, including the
//!   bytes of it that the write did not cover, which may have been durable for a long
//!   time. A write into a partly used sector can thus destroy older, synced data that
//!   shares the sector. Sectors no unsynced write touched keep their durable contents
//!   (as in `reorder`), and a sector that holds its last write is intact.
//!
//! Assumptions, in every mode: a sync that returned `Ok` made its data durable, and
//! directory operations are atomic (the random modes keep a random subset of the
//! unsynced ones, in order). A sector is written atomically, old or new, never a mix:
//! bytes nobody wrote come back only past the end of an unfinished append (`torn`'s
//! padding) and in a sector that was in flight (`garbage`). The kernel's own writeback happens only when the
//! harness calls [`SimFs::writeback`] (or, in the random modes, as the random subset of
//! what was kept), so a mode that never syncs loses everything to a clean power loss:
//! the worst case the kernel allows within its flush interval. Sync granularity is the
//! file and the directory; a cross-directory rename becomes durable when either
//! directory is synced.
//!
//! # Hard links
//!
//! [`SimFs::hard_link`] gives a file a second name, as `ln` in another process would (the
//! engine itself never makes links, so it is not part of [`Fs`]). Both names reach the
//! same inode: [`Metadata::nlink`] counts them, a write through one is read through the
//! other, and renaming or removing one leaves the other. The new name is durable only
//! once its directory is synced, exactly like a creation.
//!
//! # Failures
//!
//! Every operation through the seam is counted ([`SimFs::count`], [`SimFs::total_ops`]).
//! [`SimFs::fail`] makes the n-th next operation of a kind (or of any kind) fail with
//! `EIO` or `ENOSPC`, once or from then on; a failed operation has no effect, except a
//! failed file sync, which throws the file's unsynced operations away for good, as Linux
//! does (fsyncgate): a later sync can succeed while that data never reaches the disk.
//! [`SimFs::kill_after`] lets k more operations through and then fails every further one,
//! as if the process had died there; take the disk as it was at that instant with
//! [`SimFs::crash`]. Everything is deterministic given the operations and the seed.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{FileKind, Fs, FsFile, FsLock, Metadata, OpenMode, parent_dir};
use crate::files;

/// The unit a disk writes atomically; a torn write lands as a prefix of these (or, in the
/// reorder and garbage modes, as any subset).
pub const SECTOR: u64 = 512;
/// The unit the kernel writes back: the reorder and garbage modes keep any subset of a
/// write's pages.
pub const PAGE: u64 = 4096;
/// `EIO` and `ENOSPC` as Linux (and every Unix the engine targets) numbers them.
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
/// Permission bits the sim reports for every directory.
const DIR_MODE: u32 = 0o755;

/// The operations the sim counts and can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// [`Fs::read`]: a whole file read.
    Read,
    /// [`Fs::open`].
    Open,
    /// [`FsFile::write_all_at`].
    Write,
    /// [`FsFile::set_len`].
    SetLen,
    /// [`FsFile::size`].
    Size,
    /// `sync_data` or `sync_all` on a file.
    SyncFile,
    /// [`Fs::sync_dir`].
    SyncDir,
    /// [`Fs::rename`].
    Rename,
    /// [`Fs::remove`].
    Remove,
    /// [`Fs::list_dir`].
    ListDir,
    /// [`Fs::metadata`].
    Metadata,
    /// [`Fs::resolve`]: following symlinks.
    Resolve,
    /// [`Fs::lock`].
    Lock,
}

impl OpKind {
    /// Every kind.
    pub const ALL: [OpKind; 13] = [
        OpKind::Read,
        OpKind::Open,
        OpKind::Write,
        OpKind::SetLen,
        OpKind::Size,
        OpKind::SyncFile,
        OpKind::SyncDir,
        OpKind::Rename,
        OpKind::Remove,
        OpKind::ListDir,
        OpKind::Metadata,
        OpKind::Resolve,
        OpKind::Lock,
    ];
}

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// `EIO`: the device failed.
    Eio,
    /// `ENOSPC`: the disk is full.
    Enospc,
}

impl FaultError {
    fn to_io(self) -> io::Error {
        io::Error::from_raw_os_error(match self {
            FaultError::Eio => EIO,
            FaultError::Enospc => ENOSPC,
        })
    }
}

/// How often an injected fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Only the n-th operation fails.
    Once,
    /// The n-th and every later operation fail (a disk that stays full or broken).
    Always,
}

/// What survives a crash; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrashMode {
    /// The process dies, the kernel lives: everything written survives, and what was
    /// not yet durable stays not durable (a later power loss can still take it).
    ProcessKill,
    /// The power goes: only durable state survives.
    CleanPowerLoss,
    /// The power goes mid-writeback: each unsynced operation is kept or dropped.
    RandomPowerLoss,
    /// As random, and kept writes may land as a prefix of their sectors, and appends may
    /// leave zeros or garbage.
    TornPowerLoss,
    /// The power goes while pages are written back in no particular order: each page
    /// (or, in a torn page, each sector) of a file holds its contents after its own
    /// number of the unsynced operations, so a write lands as any subset of its pages
    /// and sectors (see the module doc).
    ///
    /// Seeds 0 and 1 do not draw the data: they are the two outcomes a sweep that tries
    /// only a few seeds must not miss. Seed 0 lands no unsynced data, at the file's last
    /// length (zeros, or in `garbage` mode garbage, wherever a write was in flight); seed
    /// 1 lands everything except the first page of each file's last write (its later
    /// pages are on the disk, its first is not). Directory operations still draw, as in
    /// `random`.
    ReorderPowerLoss,
    /// As reorder, on a medium without power-safe overwrite: every sector an unsynced
    /// write touched that does not hold that write comes back as garbage, whole, bytes
    /// outside the write included (see the module doc).
    GarbagePowerLoss,
}

impl CrashMode {
    /// Every mode, mildest first.
    pub const ALL: [CrashMode; 6] = [
        CrashMode::ProcessKill,
        CrashMode::CleanPowerLoss,
        CrashMode::RandomPowerLoss,
        CrashMode::TornPowerLoss,
        CrashMode::ReorderPowerLoss,
        CrashMode::GarbagePowerLoss,
    ];

    /// The mode's name, as `powercut` takes it.
    pub fn name(self) -> &'static str {
        match self {
            CrashMode::ProcessKill => "kill",
            CrashMode::CleanPowerLoss => "clean",
            CrashMode::RandomPowerLoss => "random",
            CrashMode::TornPowerLoss => "torn",
            CrashMode::ReorderPowerLoss => "reorder",
            CrashMode::GarbagePowerLoss => "garbage",
        }
    }

    /// Whether the seed changes the outcome.
    pub fn is_random(self) -> bool {
        !matches!(self, CrashMode::ProcessKill | CrashMode::CleanPowerLoss)
    }
}

known_by_name!(CrashMode);

impl FromStr for CrashMode {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        CrashMode::by_name(name)
            .ok_or_else(|| format!("unknown crash mode {name:?} ({})", CrashMode::names()))
    }
}

/// A simulated disk. Cloning gives another handle on the same disk, so a test can keep
/// one while a store owns another; [`SimFs::fork`] copies the disk itself.
#[derive(Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Clone)]
struct Fault {
    kind: Option<OpKind>,
    /// The count (of `kind`, or of all operations) at which it fires.
    at: u64,
    error: FaultError,
    repeat: Repeat,
}

#[derive(Debug, Clone)]
enum DataOp {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone)]
struct Inode {
    written: Vec<u8>,
    durable: Vec<u8>,
    /// Data operations since the last sync, in order.
    unsynced: Vec<DataOp>,
    mode: u32,
    /// Open handles, so the inode of a removed but open file is kept.
    handles: usize,
}

impl Inode {
    fn new(mode: u32) -> Self {
        Inode {
            written: Vec::new(),
            durable: Vec::new(),
            unsynced: Vec::new(),
            mode,
            handles: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum NameOp {
    Link {
        path: PathBuf,
        ino: u64,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: u64,
    },
    Unlink {
        path: PathBuf,
        ino: u64,
    },
}

impl NameOp {
    fn touches(&self, dir: &Path) -> bool {
        match self {
            NameOp::Link { path, .. } | NameOp::Unlink { path, .. } => parent_dir(path) == dir,
            NameOp::Rename { from, to, .. } => parent_dir(from) == dir || parent_dir(to) == dir,
        }
    }

    fn replay(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            NameOp::Link { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            NameOp::Rename { from, to, ino } => {
                if names.get(from) == Some(ino) {
                    names.remove(from);
                }
                names.insert(to.clone(), *ino);
            }
            NameOp::Unlink { path, ino } => {
                if names.get(path) == Some(ino) {
                    names.remove(path);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    dirs: BTreeSet<PathBuf>,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    unsynced_names: Vec<NameOp>,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    locks: BTreeSet<PathBuf>,
    counts: BTreeMap<OpKind, u64>,
    total: u64,
    faults: Vec<Fault>,
    /// Operations allowed before the process is dead.
    kill_at: Option<u64>,
    dead: bool,
    /// Bumped by [`SimFs::reboot`]: handles of an older generation are dead.
    generation: u64,
}

/// Why an operation was refused.
enum Refusal {
    /// The process is dead: nothing happens any more.
    Dead(io::Error),
    /// An injected fault.
    Fault(io::Error),
}

impl From<Refusal> for io::Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Dead(err) | Refusal::Fault(err) => err,
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{}: no such file or directory (simulated disk)",
            path.display()
        ),
    )
}

fn is_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("{}: is a directory (simulated disk)", path.display()),
    )
}

fn not_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{}: not a directory (simulated disk)", path.display()),
    )
}

/// `path` made absolute from `/` with `.` and `..` folded.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

impl State {
    fn new() -> Self {
        State {
            dirs: BTreeSet::from([PathBuf::from("/")]),
            next_ino: 1,
            ..State::default()
        }
    }

    /// Counts an operation of `kind`, or refuses it.
    fn begin(&mut self, kind: OpKind) -> Result<(), Refusal> {
        if let Some(limit) = self.kill_at
            && self.total >= limit
        {
            self.dead = true;
        }
        if self.dead {
            return Err(Refusal::Dead(io::Error::other(format!(
                "simulated crash: the process died after operation {}",
                self.total
            ))));
        }
        self.total += 1;
        let count = self.counts.entry(kind).or_insert(0);
        *count += 1;
        let count = *count;
        for fault in &self.faults {
            let reached = match fault.kind {
                Some(fault_kind) if fault_kind == kind => count,
                Some(_) => continue,
                None => self.total,
            };
            let fires = match fault.repeat {
                Repeat::Once => reached == fault.at,
                Repeat::Always => reached >= fault.at,
            };
            if fires {
                return Err(Refusal::Fault(fault.error.to_io()));
            }
        }
        Ok(())
    }

    fn inode(&mut self, ino: u64) -> &mut Inode {
        self.inodes.entry(ino).or_insert_with(|| Inode::new(0o600))
    }

    /// Creates an empty file at `path` (normalised, parent checked) and logs the name.
    fn create(&mut self, path: &Path, mode: u32) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, Inode::new(mode));
        self.names.insert(path.to_path_buf(), ino);
        self.unsynced_names.push(NameOp::Link {
            path: path.to_path_buf(),
            ino,
        });
        ino
    }

    fn check_parent(&self, path: &Path) -> io::Result<()> {
        let parent = parent_dir(path);
        if self.dirs.contains(parent) {
            Ok(())
        } else if self.names.contains_key(parent) {
            Err(not_a_directory(parent))
        } else {
            Err(not_found(parent))
        }
    }

    fn data_op(&mut self, ino: u64, op: DataOp) {
        let inode = self.inode(ino);
        apply(&mut inode.written, &op);
        inode.unsynced.push(op);
    }

    /// Drops inodes nothing can reach any more: no name, no durable name, no logged
    /// operation, no open handle.
    fn collect_garbage(&mut self) {
        let mut live: BTreeSet<u64> = self.names.values().copied().collect();
        live.extend(self.durable_names.values().copied());
        for op in &self.unsynced_names {
            live.insert(match op {
                NameOp::Link { ino, .. }
                | NameOp::Rename { ino, .. }
                | NameOp::Unlink { ino, .. } => *ino,
            });
        }
        self.inodes
            .retain(|ino, inode| inode.handles > 0 || live.contains(ino));
    }
}

fn apply(image: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write { offset, bytes } => write_at(image, *offset, bytes),
        DataOp::SetLen(len) => image.resize(*len as usize, 0),
    }
}

fn write_at(image: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    let end = start + bytes.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(bytes);
}

/// splitmix64: a few lines of well-known, well-mixed, seeded randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How many bytes of a write of `len` bytes at `offset` land when it is torn: a strict
/// prefix of the sectors it spans, at least one (a single-sector write is never torn).
fn torn_length(offset: u64, len: u64, rng: &mut Rng) -> u64 {
    let end = offset + len;
    let mut boundaries = Vec::new();
    let mut boundary = (offset / SECTOR + 1) * SECTOR;
    while boundary < end {
        boundaries.push(boundary);
        boundary += SECTOR;
    }
    if boundaries.is_empty() {
        return len;
    }
    boundaries[rng.below(boundaries.len() as u64) as usize] - offset
}

/// The durable image with each unsynced operation kept or dropped at random (and, if
/// `torn`, writes torn and appends padded).
fn replay_random(durable: &[u8], unsynced: &[DataOp], rng: &mut Rng, torn: bool) -> Vec<u8> {
    let mut image = durable.to_vec();
    for op in unsynced {
        let keep = rng.coin();
        match op {
            DataOp::SetLen(_) => {
                if keep {
                    apply(&mut image, op);
                }
            }
            DataOp::Write { offset, bytes } => {
                let len = bytes.len() as u64;
                let landed = match (keep, torn) {
                    (false, _) => 0,
                    (true, true) if rng.coin() => torn_length(*offset, len, rng),
                    (true, _) => len,
                };
                if landed > 0 {
                    write_at(&mut image, *offset, &bytes[..landed as usize]);
                }
                let end = (*offset + len) as usize;
                if torn && landed < len && end > image.len() && rng.coin() {
                    // The new size reached the disk, the data did not: the tail reads as
                    // zeros or as whatever the blocks held before.
                    let start = image.len();
                    image.resize(end, 0);
                    if rng.coin() {
                        for byte in &mut image[start..] {
                            *byte = rng.next() as u8;
                        }
                    }
                }
            }
        }
    }
    image
}

/// The file's lengths as the operations of `unsynced` replay onto `durable`: `lens[k]` is
/// its length after the first k of them.
fn lengths(durable: &[u8], unsynced: &[DataOp]) -> Vec<u64> {
    let mut len = durable.len() as u64;
    let mut lens = Vec::with_capacity(unsynced.len() + 1);
    lens.push(len);
    for op in unsynced {
        len = match op {
            DataOp::Write { offset, bytes } => len.max(offset + bytes.len() as u64),
            DataOp::SetLen(new) => *new,
        };
        lens.push(len);
    }
    lens
}

/// The file a reorder (or, with `garbage`, a no-power-safe-overwrite) power loss leaves:
/// see the module doc. Each sector is captured at its own moment k (after the first k
/// unsynced operations) while the operations are replayed once, in order.
fn replay_reordered(
    durable: &[u8],
    unsynced: &[DataOp],
    rng: &mut Rng,
    seed: u64,
    garbage: bool,
) -> Vec<u8> {
    if unsynced.is_empty() {
        return durable.to_vec();
    }
    let all = unsynced.len();
    let moments = all as u64 + 1;
    let lens = lengths(durable, unsynced);
    let max_len = lens.iter().copied().max().unwrap_or(0);
    let sectors = max_len.div_ceil(SECTOR) as usize;
    let per_page = (PAGE / SECTOR) as usize;

    // The moment each sector was written back: one per page, or one per sector of a
    // torn page. Seeds 0 and 1 are the two shapes a sweep with few seeds must not miss
    // (see `CrashMode::ReorderPowerLoss`); the others draw.
    let mut moment = vec![0usize; sectors];
    let final_len = match seed {
        0 => lens[all],
        1 => {
            moment.fill(all);
            let last_write = unsynced
                .iter()
                .enumerate()
                .rev()
                .find_map(|(index, op)| match op {
                    DataOp::Write { offset, bytes } if !bytes.is_empty() => Some((index, *offset)),
                    _ => None,
                });
            if let Some((index, offset)) = last_write {
                let first = (offset / PAGE * (PAGE / SECTOR)) as usize;
                let end = (first + per_page).min(sectors);
                moment[first..end].fill(index);
            }
            lens[all]
        }
        _ => {
            for page in moment.chunks_mut(per_page) {
                let torn = rng.coin();
                let page_moment = rng.below(moments) as usize;
                for sector in page {
                    *sector = if torn {
                        rng.below(moments) as usize
                    } else {
                        page_moment
                    };
                }
            }
            lens[rng.below(moments) as usize]
        }
    } as usize;
    // The moment each sector's last unsynced write is in (1-based; 0 = none touched it).
    let mut last_write = vec![0usize; sectors];
    for (index, op) in unsynced.iter().enumerate() {
        if let DataOp::Write { offset, bytes } = op
            && !bytes.is_empty()
        {
            let first = (offset / SECTOR) as usize;
            let end = (offset + bytes.len() as u64).div_ceil(SECTOR) as usize;
            for sector in &mut last_write[first..end] {
                *sector = index + 1;
            }
        }
    }

    let mut by_moment: Vec<Vec<usize>> = vec![Vec::new(); unsynced.len() + 1];
    for (sector, &at) in moment.iter().enumerate() {
        if sector * (SECTOR as usize) < final_len {
            by_moment[at].push(sector);
        }
    }
    let mut image = durable.to_vec();
    let mut out = vec![0u8; final_len];
    for (at, captured) in by_moment.iter().enumerate() {
        for &sector in captured {
            let start = sector * SECTOR as usize;
            let end = (start + SECTOR as usize).min(final_len);
            let held = end.min(image.len());
            if held > start {
                out[start..held].copy_from_slice(&image[start..held]);
            }
            // Past the image's length at that moment: zeros, as `out` already holds.
        }
        if let Some(op) = unsynced.get(at) {
            apply(&mut image, op);
        }
    }
    if garbage {
        for (sector, (&at, &last)) in moment.iter().zip(&last_write).enumerate() {
            let start = sector * SECTOR as usize;
            if at < last && start < final_len {
                let end = (start + SECTOR as usize).min(final_len);
                for byte in &mut out[start..end] {
                    *byte = rng.next() as u8;
                }
            }
        }
    }
    out
}

impl SimFs {
    /// An empty disk holding only the root directory `/`.
    pub fn new() -> Self {
        SimFs {
            state: Arc::new(Mutex::new(State::new())),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the model consistent enough to inspect.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates `dir` and its ancestors, durably.
    pub fn create_dir_all(&self, dir: impl AsRef<Path>) {
        let mut state = self.state();
        let mut current = Some(normalise(dir.as_ref()));
        while let Some(dir) = current {
            current = dir.parent().map(Path::to_path_buf);
            state.dirs.insert(dir);
        }
    }

    /// Puts a durable file at `path` with `bytes` and permission bits `mode`, creating its
    /// directories, replacing any file there. Not counted: this is the harness's hand.
    pub fn insert_file(&self, path: impl AsRef<Path>, bytes: &[u8], mode: u32) {
        let path = normalise(path.as_ref());
        self.create_dir_all(parent_dir(&path));
        let mut state = self.state();
        let ino = state.next_ino;
        state.next_ino += 1;
        let mut inode = Inode::new(mode);
        inode.written = bytes.to_vec();
        inode.durable = bytes.to_vec();
        state.inodes.insert(ino, inode);
        state.names.insert(path.clone(), ino);
        state.durable_names.insert(path, ino);
    }

    /// Gives the file at `from` a second name `to`, as `ln from to` run by another process
    /// would: both names reach the same inode (its data, its permission bits), and
    /// renaming or removing either leaves the other. The new name is durable only once its
    /// directory is synced, like a creation. Not counted, and not part of [`Fs`]: the
    /// engine never makes links; this is the harness's hand.
    ///
    /// Fails as `link(2)` does: `NotFound` if `from` or `to`'s directory is missing,
    /// `IsADirectory` for a directory, `AlreadyExists` if `to` exists.
    pub fn hard_link(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
        let (from, to) = (normalise(from.as_ref()), normalise(to.as_ref()));
        let mut state = self.state();
        if state.dirs.contains(&from) {
            return Err(is_a_directory(&from));
        }
        let ino = *state.names.get(&from).ok_or_else(|| not_found(&from))?;
        if state.dirs.contains(&to) || state.names.contains_key(&to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: file exists (simulated disk)", to.display()),
            ));
        }
        state.check_parent(&to)?;
        state.names.insert(to.clone(), ino);
        state.unsynced_names.push(NameOp::Link { path: to, ino });
        Ok(())
    }

    /// The bytes the process would read at `path` now, or `None` if no file is there.
    pub fn contents(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let state = self.state();
        let ino = state.names.get(&normalise(path.as_ref()))?;
        state.inodes.get(ino).map(|inode| inode.written.clone())
    }

    /// The visible files, in path order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.state().names.keys().cloned().collect()
    }

    /// Copies the file at `path` on `from` (the real disk, say) into the sim at the same
    /// path, durably, with its permission bits. Creates the sim's directories either way;
    /// `Ok(false)` if `from` has no file there.
    pub fn load_file(&self, from: &dyn Fs, path: impl AsRef<Path>) -> io::Result<bool> {
        let path = path.as_ref();
        self.create_dir_all(parent_dir(&normalise(path)));
        let Some(meta) = from.metadata(path)? else {
            return Ok(false);
        };
        if meta.is_dir {
            return Err(is_a_directory(path));
        }
        let bytes = from.read(path)?;
        self.insert_file(path, &bytes, meta.mode);
        Ok(true)
    }

    /// Writes everything back, as the kernel's periodic flush would: all data and all
    /// directory entries become durable. Not counted: the process does not ask for it.
    pub fn writeback(&self) {
        let mut state = self.state();
        for inode in state.inodes.values_mut() {
            for op in std::mem::take(&mut inode.unsynced) {
                apply(&mut inode.durable, &op);
            }
        }
        for op in std::mem::take(&mut state.unsynced_names) {
            op.replay(&mut state.durable_names);
        }
        state.collect_garbage();
    }

    /// Operations of `kind` so far.
    pub fn count(&self, kind: OpKind) -> u64 {
        self.state().counts.get(&kind).copied().unwrap_or(0)
    }

    /// Operations of every kind so far.
    pub fn total_ops(&self) -> u64 {
        self.state().total
    }

    /// Makes the `nth` next operation of `kind` (1 = the very next one; `None` = of any
    /// kind) fail with `error`, and with [`Repeat::Always`] every one after it too.
    pub fn fail(&self, kind: Option<OpKind>, nth: u64, error: FaultError, repeat: Repeat) {
        let mut state = self.state();
        let so_far = match kind {
            Some(kind) => state.counts.get(&kind).copied().unwrap_or(0),
            None => state.total,
        };
        state.faults.push(Fault {
            kind,
            at: so_far + nth.max(1),
            error,
            repeat,
        });
    }

    /// Forgets every injected fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Lets `k` more operations through, then the process is dead: every later operation
    /// fails and changes nothing.
    pub fn kill_after(&self, k: u64) {
        let mut state = self.state();
        state.kill_at = Some(state.total + k);
    }

    /// Kills the process now (see [`SimFs::kill_after`]).
    pub fn kill(&self) {
        self.kill_after(0);
        self.state().dead = true;
    }

    /// Whether the process is dead: an operation was refused after [`SimFs::kill_after`].
    pub fn is_dead(&self) -> bool {
        self.state().dead
    }

    /// An independent copy of this disk, its unsynced state included (but no locks: they
    /// belong to guards of this one).
    pub fn fork(&self) -> SimFs {
        let mut copy = self.state().clone();
        copy.locks.clear();
        for inode in copy.inodes.values_mut() {
            inode.handles = 0;
        }
        SimFs {
            state: Arc::new(Mutex::new(copy)),
        }
    }

    /// The disk a reboot finds after a crash of kind `mode` now, as a new, independent,
    /// fully durable disk with no locks, faults or counts. `seed` drives the random modes.
    pub fn crash(&self, mode: CrashMode, seed: u64) -> SimFs {
        SimFs {
            state: Arc::new(Mutex::new(self.state().crashed(mode, seed))),
        }
    }

    /// Crashes this disk in place: as [`SimFs::crash`], but every handle on it (a store's
    /// `Arc`, a [`TraceFs`](super::TraceFs) around it) now sees the rebooted disk. Files
    /// and locks opened before are dead: their operations fail, and dropping them does
    /// nothing. Drop the store first, then reboot, then reopen.
    pub fn reboot(&self, mode: CrashMode, seed: u64) {
        let mut state = self.state();
        let generation = state.generation + 1;
        *state = state.crashed(mode, seed);
        state.generation = generation;
    }
}

impl State {
    /// `dir`, normalised, if it is a directory: else the error a system call on it gives
    /// (`ENOTDIR` for a file, `ENOENT` for nothing).
    fn existing_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        let dir = normalise(dir);
        match (self.dirs.contains(&dir), self.names.contains_key(&dir)) {
            (true, _) => Ok(dir),
            (false, true) => Err(not_a_directory(&dir)),
            (false, false) => Err(not_found(&dir)),
        }
    }

    /// The state a reboot finds after a crash of kind `mode` now.
    fn crashed(&self, mode: CrashMode, seed: u64) -> State {
        let state = self;
        if mode == CrashMode::ProcessKill {
            // The kernel outlives the process: what was written stays visible, and what
            // was not yet durable is still not durable, so a power loss after the kill
            // can still take it. Only the process's handles and locks die with it.
            let mut inodes = state.inodes.clone();
            for inode in inodes.values_mut() {
                inode.handles = 0;
            }
            return State {
                dirs: state.dirs.clone(),
                names: state.names.clone(),
                durable_names: state.durable_names.clone(),
                unsynced_names: state.unsynced_names.clone(),
                inodes,
                next_ino: state.next_ino,
                ..State::default()
            };
        }
        let mut rng = Rng(seed);
        let names = match mode {
            CrashMode::ProcessKill => unreachable!("a process kill returned above"),
            CrashMode::CleanPowerLoss => state.durable_names.clone(),
            CrashMode::RandomPowerLoss
            | CrashMode::TornPowerLoss
            | CrashMode::ReorderPowerLoss
            | CrashMode::GarbagePowerLoss => {
                let mut names = state.durable_names.clone();
                for op in &state.unsynced_names {
                    if rng.coin() {
                        op.replay(&mut names);
                    }
                }
                names
            }
        };
        let reachable: BTreeSet<u64> = names.values().copied().collect();
        let mut inodes = BTreeMap::new();
        for ino in reachable {
            let Some(inode) = state.inodes.get(&ino) else {
                continue;
            };
            let image = match mode {
                CrashMode::ProcessKill => unreachable!("a process kill returned above"),
                CrashMode::CleanPowerLoss => inode.durable.clone(),
                CrashMode::RandomPowerLoss => {
                    replay_random(&inode.durable, &inode.unsynced, &mut rng, false)
                }
                CrashMode::TornPowerLoss => {
                    replay_random(&inode.durable, &inode.unsynced, &mut rng, true)
                }
                CrashMode::ReorderPowerLoss => {
                    replay_reordered(&inode.durable, &inode.unsynced, &mut rng, seed, false)
                }
                CrashMode::GarbagePowerLoss => {
                    replay_reordered(&inode.durable, &inode.unsynced, &mut rng, seed, true)
                }
            };
            let mut rebooted = Inode::new(inode.mode);
            rebooted.written = image.clone();
            rebooted.durable = image;
            inodes.insert(ino, rebooted);
        }
        State {
            dirs: state.dirs.clone(),
            names: names.clone(),
            durable_names: names,
            inodes,
            next_ino: state.next_ino,
            ..State::default()
        }
    }
}

impl Default for SimFs {
    fn default() -> Self {
        SimFs::new()
    }
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("SimFs")
            .field("files", &state.names.len())
            .field("operations", &state.total)
            .field("dead", &state.dead)
            .finish()
    }
}

impl Fs for SimFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut state = self.state();
        state.begin(OpKind::Read)?;
        let path = normalise(path);
        if state.dirs.contains(&path) {
            return Err(is_a_directory(&path));
        }
        let ino = *state.names.get(&path).ok_or_else(|| not_found(&path))?;
        Ok(state.inode(ino).written.clone())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let mut state = self.state();
        state.begin(OpKind::Open)?;
        let path = normalise(path);
        if state.dirs.contains(&path) {
            return Err(match mode {
                OpenMode::CreateNew { .. } => io::ErrorKind::AlreadyExists.into(),
                _ => is_a_directory(&path),
            });
        }
        let ino = match (state.names.get(&path).copied(), mode) {
            (Some(_), OpenMode::CreateNew { .. }) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: file exists (simulated disk)", path.display()),
                ));
            }
            (Some(ino), OpenMode::Truncate { .. }) => {
                state.data_op(ino, DataOp::SetLen(0));
                ino
            }
            (Some(ino), OpenMode::Existing | OpenMode::CreateOrOpen { .. }) => ino,
            (None, OpenMode::Existing) => return Err(not_found(&path)),
            (
                None,
                OpenMode::CreateNew { mode }
                | OpenMode::Truncate { mode }
                | OpenMode::CreateOrOpen { mode },
            ) => {
                state.check_parent(&path)?;
                state.create(&path, mode)
            }
        };
        state.inode(ino).handles += 1;
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            ino,
            generation: state.generation,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.begin(OpKind::Rename)?;
        let (from, to) = (normalise(from), normalise(to));
        if state.dirs.contains(&from) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the simulated disk does not rename directories",
            ));
        }
        let ino = *state.names.get(&from).ok_or_else(|| not_found(&from))?;
        if state.dirs.contains(&to) {
            return Err(is_a_directory(&to));
        }
        state.check_parent(&to)?;
        if state.names.get(&to) == Some(&ino) {
            // rename(2): two names of the same file are left as they are.
            return Ok(());
        }
        state.names.remove(&from);
        state.names.insert(to.clone(), ino);
        state.unsynced_names.push(NameOp::Rename { from, to, ino });
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.begin(OpKind::Remove)?;
        let path = normalise(path);
        if state.dirs.contains(&path) {
            return Err(is_a_directory(&path));
        }
        let ino = state.names.remove(&path).ok_or_else(|| not_found(&path))?;
        state.unsynced_names.push(NameOp::Unlink { path, ino });
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        // A failed directory sync leaves its operations logged: they may or may not
        // survive a power loss.
        state.begin(OpKind::SyncDir)?;
        let dir = state.existing_dir(dir)?;
        let logged = std::mem::take(&mut state.unsynced_names);
        let (synced, rest): (Vec<_>, Vec<_>) = logged.into_iter().partition(|op| op.touches(&dir));
        for op in &synced {
            op.replay(&mut state.durable_names);
        }
        state.unsynced_names = rest;
        state.collect_garbage();
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut state = self.state();
        state.begin(OpKind::ListDir)?;
        let dir = state.existing_dir(dir)?;
        let in_dir = |path: &&PathBuf| path.parent() == Some(dir.as_path());
        let files = state.names.keys().filter(in_dir);
        let dirs = state.dirs.iter().filter(in_dir);
        Ok(files
            .chain(dirs)
            .filter_map(|path| path.file_name().map(OsString::from))
            .collect())
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        let mut state = self.state();
        state.begin(OpKind::Metadata)?;
        let path = normalise(path);
        if state.dirs.contains(&path) {
            return Ok(Some(Metadata {
                is_dir: true,
                kind: FileKind::Directory,
                len: 0,
                mode: DIR_MODE,
                nlink: 1,
            }));
        }
        let Some(ino) = state.names.get(&path).copied() else {
            return Ok(None);
        };
        let nlink = state.names.values().filter(|&&other| other == ino).count() as u64;
        let inode = state.inode(ino);
        Ok(Some(Metadata {
            is_dir: false,
            kind: FileKind::Regular,
            len: inode.written.len() as u64,
            mode: inode.mode,
            nlink,
        }))
    }

    /// The sim has no symbolic links: the path is returned as given.
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        self.state().begin(OpKind::Resolve)?;
        Ok(path.to_path_buf())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FsLock>> {
        let mut state = self.state();
        state.begin(OpKind::Lock)?;
        let path = normalise(path);
        if state.dirs.contains(&path) {
            return Err(is_a_directory(&path));
        }
        if !state.names.contains_key(&path) {
            state.check_parent(&path)?;
            state.create(&path, files::NEW_FILE_MODE);
        }
        if !state.locks.insert(path.clone()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Box::new(SimLock {
            state: Arc::clone(&self.state),
            path,
            generation: state.generation,
        }))
    }
}

/// An open file of a [`SimFs`]: a handle on an inode, so it keeps working after a rename
/// or a removal, as on Unix.
struct SimFile {
    state: Arc<Mutex<State>>,
    ino: u64,
    generation: u64,
}

impl SimFile {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The disk, unless it was rebooted since this file was opened.
    fn live_state(&self) -> io::Result<MutexGuard<'_, State>> {
        let state = self.state();
        if state.generation == self.generation {
            Ok(state)
        } else {
            Err(io::Error::new(
                io::ErrorKind::StaleNetworkFileHandle,
                "the simulated disk was rebooted since this file was opened",
            ))
        }
    }
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile").field("ino", &self.ino).finish()
    }
}

impl FsFile for SimFile {
    fn write_all_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut state = self.live_state()?;
        state.begin(OpKind::Write)?;
        state.data_op(
            self.ino,
            DataOp::Write {
                offset,
                bytes: buf.to_vec(),
            },
        );
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.live_state()?;
        match state.begin(OpKind::SyncFile) {
            Ok(()) => {
                let inode = state.inode(self.ino);
                for op in std::mem::take(&mut inode.unsynced) {
                    apply(&mut inode.durable, &op);
                }
                Ok(())
            }
            Err(Refusal::Fault(err)) => {
                // fsyncgate: the kernel reports the writeback error once and marks the
                // pages clean; what was not yet durable never will be.
                state.inode(self.ino).unsynced.clear();
                Err(err)
            }
            Err(Refusal::Dead(err)) => Err(err),
        }
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut state = self.live_state()?;
        state.begin(OpKind::SetLen)?;
        state.data_op(self.ino, DataOp::SetLen(len));
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let mut state = self.live_state()?;
        state.begin(OpKind::Size)?;
        Ok(state.inode(self.ino).written.len() as u64)
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut state = self.state();
        if state.generation != self.generation {
            return;
        }
        if let Some(inode) = state.inodes.get_mut(&self.ino) {
            inode.handles = inode.handles.saturating_sub(1);
        }
    }
}

/// A lock held on a [`SimFs`] path; dropping it releases the lock.
struct SimLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    generation: u64,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLock").field("path", &self.path).finish()
    }
}

impl FsLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.generation == self.generation {
            state.locks.remove(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "/d/db";

    fn disk() -> SimFs {
        let sim = SimFs::new();
        sim.create_dir_all("/d");
        sim
    }

    fn create(sim: &SimFs, path: &str, bytes: &[u8]) -> Box<dyn FsFile> {
        let mut file = sim
            .open(Path::new(path), OpenMode::CreateNew { mode: 0o640 })
            .unwrap();
        file.write_all_at(0, bytes).unwrap();
        file
    }

    fn read(sim: &SimFs, path: &str) -> Option<Vec<u8>> {
        match sim.read(Path::new(path)) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => panic!("read {path}: {err}"),
        }
    }

    #[test]
    fn writes_are_visible_at_once_and_durable_only_after_both_syncs() {
        let sim = disk();
        let mut file = create(&sim, DB, b"hello");
        assert_eq!(read(&sim, DB).as_deref(), Some(&b"hello"[..]));
        assert_eq!(
            read(&sim.crash(CrashMode::ProcessKill, 0), DB).as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(read(&sim.crash(CrashMode::CleanPowerLoss, 0), DB), None);

        file.sync_all().unwrap();
        // The data is durable but the name is not: the file is gone after a power loss.
        assert_eq!(read(&sim.crash(CrashMode::CleanPowerLoss, 0), DB), None);
        sim.sync_dir(Path::new("/d")).unwrap();
        assert_eq!(
            read(&sim.crash(CrashMode::CleanPowerLoss, 0), DB).as_deref(),
            Some(&b"hello"[..])
        );
    }

    #[test]
    fn a_name_synced_before_its_data_comes_back_empty() {
        let sim = disk();
        let _file = create(&sim, DB, b"data");
        sim.sync_dir(Path::new("/d")).unwrap();
        assert_eq!(
            read(&sim.crash(CrashMode::CleanPowerLoss, 0), DB).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn a_directory_sync_makes_only_its_own_entries_durable() {
        let sim = disk();
        sim.create_dir_all("/e");
        drop(create(&sim, "/d/a", b""));
        drop(create(&sim, "/e/b", b""));
        sim.sync_dir(Path::new("/e")).unwrap();
        let after = sim.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(after.files(), vec![PathBuf::from("/e/b")]);
    }

    #[test]
    fn an_unsynced_rename_is_old_or_new_never_neither() {
        let sim = disk();
        sim.insert_file(DB, b"old", 0o600);
        let mut temp = create(&sim, "/d/tmp", b"new");
        temp.sync_all().unwrap();
        sim.rename(Path::new("/d/tmp"), Path::new(DB)).unwrap();
        assert_eq!(read(&sim, DB).as_deref(), Some(&b"new"[..]));
        assert_eq!(
            read(&sim.crash(CrashMode::CleanPowerLoss, 0), DB).as_deref(),
            Some(&b"old"[..])
        );
        let mut seen = BTreeSet::new();
        for seed in 0..64 {
            for mode in CrashMode::ALL.into_iter().filter(|mode| mode.is_random()) {
                let content = read(&sim.crash(mode, seed), DB);
                assert!(
                    content.is_some(),
                    "{mode} seed {seed}: the rename lost both names"
                );
                seen.insert(content);
            }
        }
        assert_eq!(
            seen,
            BTreeSet::from([Some(b"old".to_vec()), Some(b"new".to_vec())])
        );
    }

    #[test]
    fn random_power_loss_keeps_a_subset_of_the_writes_in_order() {
        let sim = disk();
        sim.insert_file(DB, b"....", 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        for (offset, byte) in [(0, b"a"), (1, b"b"), (2, b"c"), (0, b"d")] {
            file.write_all_at(offset, byte).unwrap();
        }
        let mut seen = BTreeSet::new();
        for seed in 0..200 {
            let content = read(&sim.crash(CrashMode::RandomPowerLoss, seed), DB).unwrap();
            assert_eq!(content.len(), 4);
            assert!(matches!(content[0], b'.' | b'a' | b'd'));
            assert!(matches!(content[1], b'.' | b'b'));
            assert!(matches!(content[2], b'.' | b'c'));
            assert_eq!(content[3], b'.');
            seen.insert(content);
        }
        // 3 × 2 × 2 outcomes for the first three bytes; 200 seeds find them all.
        assert_eq!(seen.len(), 12);
        // And the same seed always builds the same disk.
        for seed in 0..10 {
            assert_eq!(
                read(&sim.crash(CrashMode::RandomPowerLoss, seed), DB),
                read(&sim.crash(CrashMode::RandomPowerLoss, seed), DB)
            );
        }
    }

    #[test]
    fn torn_power_loss_lands_sector_prefixes_and_pads_appends() {
        let sim = disk();
        sim.insert_file(DB, b"", 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        let new = vec![b'x'; 3 * SECTOR as usize];
        file.write_all_at(0, &new).unwrap();
        let (mut torn, mut padded_zeros, mut padded_garbage) = (false, false, false);
        for seed in 0..300 {
            let content = read(&sim.crash(CrashMode::TornPowerLoss, seed), DB).unwrap();
            let landed = content.iter().take_while(|&&byte| byte == b'x').count();
            assert!(
                landed % SECTOR as usize == 0,
                "seed {seed}: {landed} bytes landed, not a whole number of sectors"
            );
            assert!(
                content.len() == landed || content.len() == new.len(),
                "seed {seed}"
            );
            torn |= landed == SECTOR as usize || landed == 2 * SECTOR as usize;
            let tail = &content[landed..];
            padded_zeros |= !tail.is_empty() && tail.iter().all(|&byte| byte == 0);
            padded_garbage |= !tail.is_empty() && tail.iter().any(|&byte| byte != 0);
        }
        assert!(torn && padded_zeros && padded_garbage);
        // Random power loss never tears.
        for seed in 0..50 {
            let content = read(&sim.crash(CrashMode::RandomPowerLoss, seed), DB).unwrap();
            assert!(content.is_empty() || content == new, "seed {seed}");
        }
    }

    /// Which of `content`'s sectors hold `new` in full, checking that every other one
    /// holds `old` in full (a sector is written whole or not at all).
    fn landed_sectors(content: &[u8], old: u8, new: u8, seed: u64) -> Vec<bool> {
        content
            .chunks(SECTOR as usize)
            .enumerate()
            .map(|(index, sector)| {
                let landed = sector.iter().all(|&byte| byte == new);
                assert!(
                    landed || sector.iter().all(|&byte| byte == old),
                    "seed {seed}: sector {index} is neither old nor new: {sector:?}"
                );
                landed
            })
            .collect()
    }

    #[test]
    fn reorder_power_loss_lands_any_subset_of_a_writes_pages_and_sectors() {
        let sim = disk();
        let pages = 8;
        let len = pages * PAGE as usize;
        sim.insert_file(DB, &vec![b'.'; len], 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        file.write_all_at(0, &vec![b'x'; len]).unwrap();
        let per_page = (PAGE / SECTOR) as usize;
        let (mut later_page_alone, mut sector_hole, mut all, mut none) =
            (false, false, false, false);
        // Seeds 0 and 1 are fixed shapes: nothing, and all but the write's first page.
        let landed_at = |seed| {
            let content = read(&sim.crash(CrashMode::ReorderPowerLoss, seed), DB).unwrap();
            landed_sectors(&content, b'.', b'x', seed)
        };
        assert!(landed_at(0).iter().all(|&kept| !kept));
        let one = landed_at(1);
        assert!(one[..per_page].iter().all(|&kept| !kept) && one[per_page..].iter().all(|&k| k));
        for seed in 2..200 {
            let content = read(&sim.crash(CrashMode::ReorderPowerLoss, seed), DB).unwrap();
            assert_eq!(content.len(), len, "seed {seed}: the length did not change");
            let landed = landed_sectors(&content, b'.', b'x', seed);
            let page = |index: usize| &landed[index * per_page..(index + 1) * per_page];
            // Page 5 on the disk, page 1 not: no prefix of the write looks like that.
            later_page_alone |=
                page(5).iter().all(|&kept| kept) && page(1).iter().all(|&kept| !kept);
            // Inside one page: a later sector landed, an earlier one did not.
            sector_hole |= (0..pages).any(|index| {
                let sectors = page(index);
                (1..per_page).any(|later| sectors[later] && !sectors[..later].iter().all(|&k| k))
            });
            all |= landed.iter().all(|&kept| kept);
            none |= landed.iter().all(|&kept| !kept);
        }
        assert!(later_page_alone, "no seed kept page 5 without page 1");
        assert!(
            sector_hole,
            "no seed kept a sector of a page without an earlier one"
        );
        assert!(
            !all && !none,
            "with 64 sectors, 200 seeds should find neither extreme"
        );
        for seed in 0..10 {
            assert_eq!(
                read(&sim.crash(CrashMode::ReorderPowerLoss, seed), DB),
                read(&sim.crash(CrashMode::ReorderPowerLoss, seed), DB),
                "the same seed builds the same disk"
            );
        }
    }

    #[test]
    fn reorder_power_loss_of_an_append_leaves_either_length_and_zeros_where_nothing_landed() {
        let sim = disk();
        sim.insert_file(DB, &[b'.'; SECTOR as usize], 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        let new = vec![b'x'; 4 * SECTOR as usize];
        file.write_all_at(SECTOR, &new).unwrap();
        let (mut short, mut zero_hole) = (0, false);
        for seed in 0..100 {
            let content = read(&sim.crash(CrashMode::ReorderPowerLoss, seed), DB).unwrap();
            assert_eq!(&content[..SECTOR as usize], &[b'.'; SECTOR as usize][..]);
            match content.len() {
                512 => short += 1,
                2560 => {
                    let landed = landed_sectors(&content[SECTOR as usize..], 0, b'x', seed);
                    zero_hole |= (1..landed.len()).any(|i| landed[i] && !landed[i - 1]);
                }
                other => panic!("seed {seed}: length {other}"),
            }
        }
        assert!(
            short > 0 && zero_hole,
            "short {short}, zero hole {zero_hole}"
        );
    }

    #[test]
    fn garbage_power_loss_destroys_the_whole_sector_under_a_write_older_bytes_included() {
        let sim = disk();
        // Two sectors of synced 'A's; an unsynced write of 100 'B's inside the first.
        let old = vec![b'A'; 2 * SECTOR as usize];
        sim.insert_file(DB, &old, 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        file.write_all_at(300, &[b'B'; 100]).unwrap();
        let mut kept = old.clone();
        kept[300..400].fill(b'B');
        let (mut landed, mut destroyed) = (0, 0);
        for seed in 0..100 {
            let content = read(&sim.crash(CrashMode::GarbagePowerLoss, seed), DB).unwrap();
            assert_eq!(content.len(), old.len(), "seed {seed}");
            assert_eq!(
                &content[SECTOR as usize..],
                &old[SECTOR as usize..],
                "seed {seed}: the sector no write touched changed"
            );
            let first = &content[..SECTOR as usize];
            if first == &kept[..SECTOR as usize] {
                landed += 1;
            } else {
                // Garbage, not the old sector: and the synced bytes before the write,
                // which it never covered, are gone with it.
                assert_ne!(first, &old[..SECTOR as usize], "seed {seed}");
                assert_ne!(&first[..300], &old[..300], "seed {seed}");
                destroyed += 1;
            }
        }
        assert!(
            landed > 0 && destroyed > 0,
            "{landed} landed, {destroyed} destroyed"
        );
        // The same disk after a reorder power loss: the sector is old or new, never garbage.
        for seed in 0..100 {
            let content = read(&sim.crash(CrashMode::ReorderPowerLoss, seed), DB).unwrap();
            assert!(content == old || content == kept, "seed {seed}");
        }
        // And a synced write is safe from all of it.
        file.sync_data().unwrap();
        for seed in 0..20 {
            assert_eq!(
                read(&sim.crash(CrashMode::GarbagePowerLoss, seed), DB),
                Some(kept.clone())
            );
        }
    }

    #[test]
    fn garbage_power_loss_keeps_sectors_no_write_touched_and_lands_subsets_like_reorder() {
        let sim = disk();
        let len = 4 * PAGE as usize;
        sim.insert_file(DB, &vec![b'.'; len], 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        // Page-aligned writes to pages 1 and 3: pages 0 and 2 are never touched.
        file.write_all_at(PAGE, &vec![b'x'; PAGE as usize]).unwrap();
        file.write_all_at(3 * PAGE, &vec![b'x'; PAGE as usize])
            .unwrap();
        let mut later_alone = false;
        for seed in 0..100 {
            let content = read(&sim.crash(CrashMode::GarbagePowerLoss, seed), DB).unwrap();
            let page =
                |index: u64| &content[(index * PAGE) as usize..((index + 1) * PAGE) as usize];
            assert!(page(0).iter().all(|&byte| byte == b'.'), "seed {seed}");
            assert!(page(2).iter().all(|&byte| byte == b'.'), "seed {seed}");
            for index in [1, 3] {
                for sector in page(index).chunks(SECTOR as usize) {
                    // Each touched sector is new, or garbage: never the old dots.
                    assert!(
                        sector.iter().all(|&byte| byte == b'x')
                            || sector.iter().any(|&byte| byte != b'.' && byte != b'x'),
                        "seed {seed}: a touched sector came back old"
                    );
                }
            }
            let landed = |index: u64| {
                page(index)
                    .chunks(SECTOR as usize)
                    .map(|sector| sector.iter().all(|&byte| byte == b'x'))
                    .collect::<Vec<_>>()
            };
            later_alone |=
                landed(3).iter().all(|&kept| kept) && landed(1).iter().all(|&kept| !kept);
        }
        assert!(
            later_alone,
            "no seed landed the later write without the earlier one"
        );
    }

    #[test]
    fn truncation_is_an_unsynced_operation_too() {
        let sim = disk();
        sim.insert_file(DB, b"old contents", 0o600);
        let mut file = sim
            .open(Path::new(DB), OpenMode::Truncate { mode: 0o600 })
            .unwrap();
        file.write_all_at(0, b"new").unwrap();
        let mut seen = BTreeSet::new();
        for seed in 0..100 {
            seen.insert(read(&sim.crash(CrashMode::RandomPowerLoss, seed), DB).unwrap());
        }
        let expected: BTreeSet<Vec<u8>> = [&b"old contents"[..], b"", b"new", b"new contents"]
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn after_a_failed_fsync_the_data_never_becomes_durable() {
        let sim = disk();
        sim.insert_file(DB, b"old", 0o600);
        let mut file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        file.write_all_at(0, b"new").unwrap();
        sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
        let err = file.sync_data().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EIO));
        // The retry succeeds, and the data is still not on the disk.
        file.sync_data().unwrap();
        assert_eq!(read(&sim, DB).as_deref(), Some(&b"new"[..]));
        for seed in 0..20 {
            for mode in CrashMode::ALL
                .into_iter()
                .filter(|&mode| mode != CrashMode::ProcessKill)
            {
                assert_eq!(
                    read(&sim.crash(mode, seed), DB).as_deref(),
                    Some(&b"old"[..])
                );
            }
        }
        // Writes after the failure can still be made durable.
        file.write_all_at(3, b"!").unwrap();
        file.sync_data().unwrap();
        assert_eq!(
            read(&sim.crash(CrashMode::CleanPowerLoss, 0), DB).as_deref(),
            Some(&b"old!"[..])
        );
    }

    #[test]
    fn faults_hit_the_nth_operation_of_their_kind_or_of_any() {
        let sim = disk();
        sim.fail(Some(OpKind::Write), 2, FaultError::Enospc, Repeat::Once);
        let mut file = create(&sim, DB, b"a");
        let err = file.write_all_at(1, b"b").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(
            read(&sim, DB).as_deref(),
            Some(&b"a"[..]),
            "a failed write changes nothing"
        );
        file.write_all_at(1, b"c").unwrap();

        sim.fail(None, 2, FaultError::Eio, Repeat::Always);
        sim.metadata(Path::new(DB)).unwrap();
        assert_eq!(
            sim.read(Path::new(DB)).unwrap_err().raw_os_error(),
            Some(EIO)
        );
        assert_eq!(
            sim.rename(Path::new(DB), Path::new("/d/x"))
                .unwrap_err()
                .raw_os_error(),
            Some(EIO)
        );
        sim.clear_faults();
        assert_eq!(read(&sim, DB).as_deref(), Some(&b"ac"[..]));
        assert_eq!(sim.count(OpKind::Write), 3);
        assert_eq!(sim.count(OpKind::Read), 3);
        assert_eq!(sim.total_ops(), 9);
    }

    #[test]
    fn a_killed_process_does_nothing_more() {
        let sim = disk();
        sim.kill_after(2);
        let mut file = create(&sim, DB, b"first");
        assert!(!sim.is_dead());
        let err = file.write_all_at(5, b" second").unwrap_err();
        assert!(err.to_string().contains("simulated crash"), "{err}");
        assert!(sim.is_dead());
        assert!(sim.metadata(Path::new(DB)).is_err());
        assert_eq!(sim.total_ops(), 2);
        assert_eq!(
            read(&sim.crash(CrashMode::ProcessKill, 0), DB).as_deref(),
            Some(&b"first"[..])
        );
    }

    #[test]
    fn locks_conflict_until_the_guard_is_dropped_and_vanish_in_a_crash() {
        let sim = disk();
        let lock_path = Path::new("/d/db.lock");
        let guard = sim.lock(lock_path).unwrap();
        assert_eq!(
            sim.lock(lock_path).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let rebooted = sim.crash(CrashMode::ProcessKill, 0);
        drop(rebooted.lock(lock_path).unwrap());
        drop(guard);
        drop(sim.lock(lock_path).unwrap());
    }

    #[test]
    fn the_namespace_behaves_like_a_unix_directory() {
        let sim = disk();
        assert_eq!(
            sim.metadata(Path::new("/d")).unwrap().map(|m| m.is_dir),
            Some(true)
        );
        assert_eq!(sim.metadata(Path::new(DB)).unwrap(), None);
        let file = create(&sim, DB, b"12345");
        assert_eq!(
            sim.metadata(Path::new(DB)).unwrap(),
            Some(Metadata {
                is_dir: false,
                kind: FileKind::Regular,
                len: 5,
                mode: 0o640,
                nlink: 1,
            })
        );
        assert_eq!(
            sim.open(Path::new(DB), OpenMode::CreateNew { mode: 0o600 })
                .unwrap_err()
                .kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            sim.open(Path::new("/nowhere/x"), OpenMode::CreateNew { mode: 0o600 })
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            sim.read(Path::new("/d")).unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        // An open file survives the removal of its name.
        sim.remove(Path::new(DB)).unwrap();
        assert_eq!(file.size().unwrap(), 5);
        assert_eq!(read(&sim, DB), None);
        assert!(sim.list_dir(Path::new("/d")).unwrap().is_empty());
        // Relative paths start at the root, and resolve returns its argument.
        drop(create(&sim, "d/../d/./rel", b""));
        assert_eq!(
            sim.list_dir(Path::new("/d")).unwrap(),
            vec![OsString::from("rel")]
        );
        assert_eq!(
            sim.resolve(Path::new("d/rel")).unwrap(),
            PathBuf::from("d/rel")
        );
    }

    #[test]
    fn load_copies_a_real_file_onto_the_sim_and_never_writes_it_back() {
        use crate::fs::RealFs;
        let dir = tempfile::tempdir().unwrap();
        let real_path = dir.path().join("db.json");
        let mut real_file = RealFs
            .open(&real_path, OpenMode::CreateNew { mode: 0o640 })
            .unwrap();
        real_file.write_all_at(0, b"{\"a\":1}\n").unwrap();
        drop(real_file);

        let sim = SimFs::new();
        assert!(sim.load_file(&RealFs, &real_path).unwrap());
        assert!(!sim.load_file(&RealFs, dir.path().join("missing")).unwrap());
        assert_eq!(
            sim.contents(&real_path).as_deref(),
            Some(&b"{\"a\":1}\n"[..])
        );
        // Loaded files are durable: a power loss keeps them.
        let after = sim.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(
            after.metadata(&real_path).unwrap().map(|m| m.mode),
            Some(0o640)
        );

        let mut file = sim
            .open(&real_path, OpenMode::Truncate { mode: 0o600 })
            .unwrap();
        file.write_all_at(0, b"{}\n").unwrap();
        drop(file);
        assert_eq!(
            RealFs.read(&real_path).unwrap(),
            b"{\"a\":1}\n",
            "the sim never touches the real file"
        );
    }

    #[test]
    fn writeback_makes_everything_durable() {
        let sim = disk();
        let mut file = create(&sim, DB, b"data");
        sim.rename(Path::new(DB), Path::new("/d/renamed")).unwrap();
        file.set_len(2).unwrap();
        sim.writeback();
        let after = sim.crash(CrashMode::TornPowerLoss, 1);
        assert_eq!(after.files(), vec![PathBuf::from("/d/renamed")]);
        assert_eq!(read(&after, "/d/renamed").as_deref(), Some(&b"da"[..]));
    }

    #[test]
    fn a_reboot_in_place_is_seen_by_every_handle_and_kills_old_files_and_locks() {
        let sim = disk();
        sim.insert_file(DB, b"old", 0o600);
        let handle = sim.clone();
        let old_lock = sim.lock(Path::new("/d/db.lock")).unwrap();
        let mut old_file = sim.open(Path::new(DB), OpenMode::Existing).unwrap();
        old_file.write_all_at(0, b"new").unwrap();
        sim.reboot(CrashMode::CleanPowerLoss, 0);
        assert_eq!(read(&handle, DB).as_deref(), Some(&b"old"[..]));
        assert_eq!(
            old_file.write_all_at(0, b"late").unwrap_err().kind(),
            io::ErrorKind::StaleNetworkFileHandle
        );
        let new_lock = handle.lock(Path::new("/d/db.lock")).unwrap();
        drop(old_lock);
        drop(old_file);
        assert_eq!(
            sim.lock(Path::new("/d/db.lock")).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "dropping a lock from before the reboot must not release the new one"
        );
        drop(new_lock);
        assert_eq!(read(&sim, DB).as_deref(), Some(&b"old"[..]));
    }

    #[test]
    fn a_default_disk_is_a_new_disk_with_its_root() {
        let sim = SimFs::default();
        assert_eq!(
            sim.metadata(Path::new("/")).unwrap().map(|m| m.is_dir),
            Some(true)
        );
        drop(create(&sim, "/file", b""));
        assert_eq!(sim.files(), vec![PathBuf::from("/file")]);
    }

    #[test]
    fn crash_modes_parse_from_their_names() {
        for mode in CrashMode::ALL {
            assert_eq!(mode.name().parse::<CrashMode>(), Ok(mode));
        }
        let err = "gentle".parse::<CrashMode>().unwrap_err();
        assert!(
            err.contains("gentle") && err.contains("torn") && err.contains("garbage"),
            "{err}"
        );
    }

    #[test]
    fn a_hard_link_is_a_second_name_for_the_same_file() {
        let sim = disk();
        let mut file = create(&sim, DB, b"data");
        let before = sim.total_ops();
        sim.hard_link(DB, "/d/alias").unwrap();
        assert_eq!(
            sim.total_ops(),
            before,
            "a link is the harness's hand, not counted"
        );
        let nlink = |path: &str| sim.metadata(Path::new(path)).unwrap().map(|m| m.nlink);
        assert_eq!((nlink(DB), nlink("/d/alias")), (Some(2), Some(2)));
        assert_eq!(
            sim.metadata(Path::new("/d/alias")).unwrap().map(|m| m.mode),
            Some(0o640)
        );
        file.write_all_at(4, b"!").unwrap();
        assert_eq!(read(&sim, "/d/alias").as_deref(), Some(&b"data!"[..]));

        // Renaming a name over the other name of the same file changes nothing.
        sim.rename(Path::new("/d/alias"), Path::new(DB)).unwrap();
        assert_eq!((nlink(DB), nlink("/d/alias")), (Some(2), Some(2)));
        // Renaming or removing one name leaves the other.
        sim.rename(Path::new("/d/alias"), Path::new("/d/moved"))
            .unwrap();
        assert_eq!((nlink(DB), nlink("/d/moved")), (Some(2), Some(2)));
        sim.remove(Path::new(DB)).unwrap();
        assert_eq!((nlink(DB), nlink("/d/moved")), (None, Some(1)));
        assert_eq!(read(&sim, "/d/moved").as_deref(), Some(&b"data!"[..]));

        let kind = |result: io::Result<()>| result.unwrap_err().kind();
        assert_eq!(
            kind(sim.hard_link("/d/missing", "/d/x")),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(sim.hard_link("/d/moved", "/nowhere/x")),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(sim.hard_link("/d", "/d/x")),
            io::ErrorKind::IsADirectory
        );
        drop(create(&sim, "/d/other", b""));
        assert_eq!(
            kind(sim.hard_link("/d/moved", "/d/other")),
            io::ErrorKind::AlreadyExists
        );
    }

    #[test]
    fn a_hard_link_is_durable_once_its_directory_is_synced() {
        let sim = disk();
        sim.create_dir_all("/e");
        sim.insert_file(DB, b"data", 0o600);
        sim.hard_link(DB, "/e/alias").unwrap();
        // Not yet durable: a power loss finds one name.
        let after = sim.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(after.files(), vec![PathBuf::from(DB)]);
        // The link's directory is /e: syncing /d does not make it durable.
        sim.sync_dir(Path::new("/d")).unwrap();
        assert_eq!(
            sim.crash(CrashMode::CleanPowerLoss, 0).files(),
            vec![PathBuf::from(DB)]
        );
        sim.sync_dir(Path::new("/e")).unwrap();
        let after = sim.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(
            after.files(),
            vec![PathBuf::from(DB), PathBuf::from("/e/alias")]
        );
        // Still one file with two names after the reboot.
        assert_eq!(
            after
                .metadata(Path::new("/e/alias"))
                .unwrap()
                .map(|m| m.nlink),
            Some(2)
        );
        let mut file = after.open(Path::new(DB), OpenMode::Existing).unwrap();
        file.write_all_at(0, b"DATA").unwrap();
        assert_eq!(read(&after, "/e/alias").as_deref(), Some(&b"DATA"[..]));
        // A removal of one name, unsynced, may or may not survive; the other name stays.
        after.remove(Path::new(DB)).unwrap();
        let rebooted = after.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(
            rebooted.metadata(Path::new(DB)).unwrap().map(|m| m.nlink),
            Some(2)
        );
        after.sync_dir(Path::new("/d")).unwrap();
        let rebooted = after.crash(CrashMode::CleanPowerLoss, 0);
        assert_eq!(rebooted.files(), vec![PathBuf::from("/e/alias")]);
        assert_eq!(
            rebooted
                .metadata(Path::new("/e/alias"))
                .unwrap()
                .map(|m| m.nlink),
            Some(1)
        );
    }

    #[test]
    fn forks_and_crashes_are_independent_disks() {
        let sim = disk();
        sim.insert_file(DB, b"a", 0o600);
        let fork = sim.fork();
        let rebooted = sim.crash(CrashMode::ProcessKill, 0);
        sim.remove(Path::new(DB)).unwrap();
        assert_eq!(read(&fork, DB).as_deref(), Some(&b"a"[..]));
        assert_eq!(read(&rebooted, DB).as_deref(), Some(&b"a"[..]));
    }
}

//! `check`, `plan_repair` and `repair`: the library's entry points for inspecting and
//! mending a database, over the same [`Options`] a store opens with. Each first refuses,
//! reading nothing, files that are not regular files (`durability::guard`), then hands the
//! filesystem down to `maintenance/repair.rs`, which never reaches up for `Options`.

use std::path::Path;
use std::sync::Arc;

use crate::durability::guard::{Access, admit};
pub(crate) mod repair;

use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::options::Options;
use repair::{CheckReport, RepairOutcome, RepairPlan};

/// The filesystem of `options`, once the files of the database `path` names (symlinks
/// resolved) are known to be safe to read.
fn readable(path: impl AsRef<Path>, options: &Options) -> Result<Arc<dyn Fs>> {
    let fs = options.filesystem();
    let given = path.as_ref();
    let resolved = fs
        .resolve(given)
        .map_err(|err| Error::io("resolve symlink", given, err))?;
    admit_reader(fs.as_ref(), &resolved)?;
    Ok(fs)
}

/// Refuses, reading nothing, the database at `path` (symlinks resolved) if its file or a
/// log beside it is not a regular file, as [`check`] does before it reads: for a program
/// that reads a database's files itself (`kv --simulate` copies them onto a simulated
/// disk). A file with several names is allowed: reading it is harmless.
pub fn admit_reader(fs: &dyn Fs, path: &Path) -> Result<()> {
    admit(fs, path, Access::Read)
}

/// Reports the state of the snapshot and the log of the database at `path` without
/// changing anything (no lock is taken, no file is written). Refuses, reading nothing, a
/// database file or log that is not a regular file; a file with several names is read.
pub fn check(path: impl AsRef<Path>, options: &Options) -> Result<CheckReport> {
    repair::check(&path, readable(&path, options)?)
}

/// Works out what [`repair()`] would do to the database at `path`, changing nothing. Fails
/// if the snapshot itself cannot be read (a repair only ever cuts the log), or, reading
/// nothing, if a file is not a regular file.
pub fn plan_repair(path: impl AsRef<Path>, options: &Options) -> Result<RepairPlan> {
    repair::plan_repair(&path, readable(&path, options)?)
}

/// Carries out `plan`, after checking (under the database's lock) that the files are
/// still as they were when it was made. Every byte removed from the log is first copied to
/// a durable backup `PATH.wal.cut-<n>`. Refuses, before taking the lock, files that became
/// something other than regular files since the plan was made.
pub fn repair(plan: &RepairPlan, options: &Options) -> Result<RepairOutcome> {
    let fs = options.filesystem();
    admit(fs.as_ref(), &plan.path, Access::Read)?;
    repair::repair(plan, fs)
}

//! `kv check PATH` and `kv repair PATH [--yes]`: the subcommands that look at a database's
//! files (snapshot and log) without opening it as a store.
//!
//! Both take their input, output and the answer to "is stdin a terminal" as arguments, so
//! the confirmation dialogue is tested without a terminal.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::shell::status::Status;
use kv_engine::{CheckReport, LogState, LogTail, Options, RepairAction, SnapshotState};

/// `kv check PATH`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The database file (its log, PATH.wal, is found beside it).
    pub path: PathBuf,
}

/// `kv repair PATH [--yes]`.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The database file (its log, PATH.wal, is found beside it).
    pub path: PathBuf,
    /// Cut without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What `check` concluded, which is also its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing needs attention: exit 0.
    Healthy,
    /// A torn tail, an interrupted checkpoint, or damage: exit 1.
    Damaged,
    /// The files cannot be read at all, or there is no database: exit 2.
    Unreadable,
}

impl Verdict {
    /// The exit status `kv check` gives for this verdict.
    pub fn status(self) -> Status {
        match self {
            Verdict::Healthy => Status::Success,
            Verdict::Damaged => Status::CommandFailed,
            Verdict::Unreadable => Status::Fatal,
        }
    }
}

/// The verdict on a report, and the line that says what to do about it.
pub fn verdict(report: &CheckReport, path: &Path) -> (Verdict, String) {
    if let SnapshotState::Unreadable { .. } = report.snapshot {
        return (
            Verdict::Unreadable,
            "verdict: UNREADABLE: the snapshot cannot be parsed; kv repair only cuts the log, \
             so restore the snapshot from a backup"
                .to_string(),
        );
    }
    if report.snapshot == SnapshotState::Absent && report.log == LogState::Absent {
        return (
            Verdict::Unreadable,
            format!(
                "verdict: no database at {} (neither the file nor its log exists)",
                path.display()
            ),
        );
    }
    if report.is_clean() {
        return (Verdict::Healthy, "verdict: healthy".to_string());
    }
    let what = match &report.log {
        LogState::Valid {
            tail: LogTail::Corrupt { .. },
            ..
        }
        | LogState::Unusable { .. } => format!(
            "DAMAGED: the database does not open; `kv repair {}` shows what it would cut",
            path.display()
        ),
        LogState::Valid {
            short_of: Some(_), ..
        } => "DAMAGED: the log was cut short and acknowledged writes may be lost; it opens \
              with what is left, and says so"
            .to_string(),
        _ => "opens, after the repair that opening makes by itself (shown above)".to_string(),
    };
    (Verdict::Damaged, format!("verdict: {what}"))
}

/// Runs `kv check`: prints the report and the verdict, changes nothing.
pub fn run_check(args: &CheckArgs, out: &mut dyn Write, err: &mut dyn Write) -> Status {
    let report = match kv_engine::check(&args.path, &Options::new()) {
        Ok(report) => report,
        Err(error) => {
            let _ = writeln!(err, "kv check: {error}");
            return Status::Fatal;
        }
    };
    let (verdict, line) = verdict(&report, &args.path);
    let written = writeln!(out, "{report}").and_then(|()| writeln!(out, "{line}"));
    if written.is_err() {
        return Status::Fatal;
    }
    verdict.status()
}

/// Runs `kv repair`: shows what would be cut and lost, asks on a terminal (or takes
/// `--yes`), cuts, keeps the backup and says where it is. Exit 0 repaired or nothing to
/// do; 1 the user declined; 2 an error, or no terminal to ask and no `--yes`.
pub fn run_repair(
    args: &RepairArgs,
    stdin_tty: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Status {
    match repair_dialogue(args, stdin_tty, input, out, err) {
        Ok(status) => status,
        Err(message) => {
            let _ = writeln!(err, "kv repair: {message}");
            Status::Fatal
        }
    }
}

fn repair_dialogue(
    args: &RepairArgs,
    stdin_tty: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, String> {
    let options = Options::new();
    let io_error = |error: io::Error| format!("cannot write output: {error}");
    let plan = kv_engine::plan_repair(&args.path, &options).map_err(|error| error.to_string())?;
    if plan.action == RepairAction::Nothing {
        writeln!(
            out,
            "nothing to repair in {} (a torn tail or an interrupted checkpoint is fixed by \
             opening it; `kv check` shows the details)",
            args.path.display()
        )
        .map_err(io_error)?;
        return Ok(Status::Success);
    }
    writeln!(out, "repair would {}", plan.action).map_err(io_error)?;
    out.flush().map_err(io_error)?;
    if !args.yes {
        if !stdin_tty {
            return Err(
                "refusing to cut the log without confirmation: stdin is not a terminal to ask \
                 on; pass --yes to repair (nothing was changed)"
                    .to_string(),
            );
        }
        let question = match &plan.action {
            RepairAction::SetAsideLog { records_lost, .. } if *records_lost > 0 => {
                format!(
                    "Set the whole log aside, losing its {}? [y/N] ",
                    kv_engine::human::count(*records_lost, "record")
                )
            }
            RepairAction::SetAsideLog { .. } => "Set the whole log aside? [y/N] ".to_string(),
            _ => "Cut the log? [y/N] ".to_string(),
        };
        write!(err, "{question}").map_err(io_error)?;
        err.flush().map_err(io_error)?;
        let mut answer = String::new();
        input
            .read_line(&mut answer)
            .map_err(|error| format!("cannot read the answer: {error}"))?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            writeln!(out, "repair cancelled: nothing was changed").map_err(io_error)?;
            return Ok(Status::CommandFailed);
        }
    }
    let outcome = kv_engine::repair(&plan, &options).map_err(|error| error.to_string())?;
    if let Some(backup) = &outcome.backup {
        writeln!(
            out,
            "repaired; what was cut is kept in {}",
            backup.display()
        )
        .map_err(io_error)?;
    }
    // Say what the database is now, from the files themselves.
    let report = kv_engine::check(&args.path, &options).map_err(|error| error.to_string())?;
    let (line, status) = match report.keys {
        Some(keys) => (
            format!(
                "{} now opens with {}",
                args.path.display(),
                kv_engine::human::count(keys as u64, "key")
            ),
            Status::Success,
        ),
        None => (
            format!("{} still does not open: {report}", args.path.display()),
            Status::CommandFailed,
        ),
    };
    writeln!(out, "{line}").map_err(io_error)?;
    Ok(status)
}

//! The piped-input path with `--group-commit`: `docs/targets.md`'s peer workload (N puts of new
//! keys, then N gets, then N/100 deletes, each phase a command file piped to the shell) run
//! through the shell's own [`Session::run_script`], so parsing, batching, committing and
//! printing the results are all in the figure, as they are for `kv db --group-commit < f`.
//!
//! Each script reaches the session through a real OS pipe, fed by a thread and read through
//! a buffer of the shell's [`INPUT_BUFFER`] size, so a batch holds what a pipe really has
//! waiting, no more. Every result line is checked: a run that stored nothing cannot look
//! fast.

use std::io::{self, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::BenchError;
use super::engine::{key, put_value, remove_with_prefix};
use super::timing::nanos;
use crate::shell::script::INPUT_BUFFER;
use crate::shell::session::GroupCommit;
use crate::shell::{Layout, Renderer, Session, Theme};
use kv_engine::Durability;
use kv_engine::fs::Fs;
use kv_engine::{KvStore, Options, SyncPolicy};

/// The three phases of the workload, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PipedPhase {
    /// `put KEY VALUE` of `n` new keys into an empty store.
    Put,
    /// `get KEY` of every key.
    Get,
    /// `delete KEY` of `n / 100` keys (at least one).
    Delete,
}

impl PipedPhase {
    /// Every phase, in workload order.
    pub const ALL: [PipedPhase; 3] = [PipedPhase::Put, PipedPhase::Get, PipedPhase::Delete];

    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            PipedPhase::Put => "put",
            PipedPhase::Get => "get",
            PipedPhase::Delete => "delete",
        }
    }

    /// How many statements the phase's script holds at `n` keys.
    pub fn statements(self, n: usize) -> usize {
        match self {
            PipedPhase::Put | PipedPhase::Get => n,
            PipedPhase::Delete => (n / 100).max(1),
        }
    }

    /// The script: one statement per line.
    pub(crate) fn script(self, n: usize) -> Vec<u8> {
        let value = put_value().to_string();
        let mut script = Vec::with_capacity(self.statements(n) * (value.len() + 16));
        for i in 0..self.statements(n) {
            // Writing into a Vec cannot fail.
            let _ = match self {
                PipedPhase::Put => writeln!(script, "put {} {value}", key(i)),
                PipedPhase::Get => writeln!(script, "get {}", key(i)),
                PipedPhase::Delete => writeln!(script, "delete {}", key(i)),
            };
        }
        script
    }

    /// What each statement must print.
    pub(crate) fn expected_line(self) -> String {
        match self {
            PipedPhase::Put | PipedPhase::Delete => "OK".to_string(),
            PipedPhase::Get => put_value().to_string(),
        }
    }
}

/// One phase of one repetition: how long the script took and what the store's counters
/// say it cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PhaseRun {
    pub statements: usize,
    /// From the first byte read to the last result flushed.
    pub ns: u64,
    pub commits: u64,
    pub fsyncs: u64,
    /// Bytes of data: what was written less the zeros that preallocated log space.
    pub bytes_written: u64,
}

impl PhaseRun {
    pub fn ops_per_sec(&self) -> f64 {
        self.statements as f64 * 1e9 / self.ns.max(1) as f64
    }
}

/// Runs the three scripts, in order, on a fresh store of `mode` in `dir`, with group
/// commit on, and removes the store's files.
pub(crate) fn run(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    mode: Durability,
    n: usize,
) -> Result<Vec<PhaseRun>, BenchError> {
    run_phases(
        fs,
        dir,
        "piped",
        mode,
        SyncPolicy::Always,
        GroupCommit::On,
        n,
    )
}

/// Runs the three scripts, in order, on a fresh store of `mode` in `dir` (its file named
/// `{prefix}-{mode}-{n}.json`) committing as `sync` and `group_commit` say, and removes
/// the store's files.
pub(crate) fn run_phases(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    prefix: &str,
    mode: Durability,
    sync: SyncPolicy,
    group_commit: GroupCommit,
    n: usize,
) -> Result<Vec<PhaseRun>, BenchError> {
    let name = format!("{prefix}-{}-{n}.json", mode.name());
    let result = (|| {
        let mut session = session(fs, &dir.join(&name), mode, sync)?;
        session.group_commit = group_commit;
        PipedPhase::ALL
            .iter()
            .map(|&phase| run_phase(&mut session, phase, n, mode))
            .collect::<Result<Vec<PhaseRun>, BenchError>>()
    })();
    // Remove the files even when the workload failed, then report the first error.
    let removed = remove_with_prefix(fs.as_ref(), dir, &name);
    let runs = result?;
    removed?;
    Ok(runs)
}

/// The put script alone, without `--group-commit` (with a delayed sync the session appends
/// the puts already waiting on the pipe together, as Redis does), on a fresh
/// store of `mode` committing as `sync` says: stage 5's asynchronous commit beside memory
/// mode. Removes the store's files.
pub(crate) fn run_puts(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    mode: Durability,
    sync: SyncPolicy,
    n: usize,
) -> Result<PhaseRun, BenchError> {
    let name = format!("async-{}-{n}.json", mode.name());
    let result = session(fs, &dir.join(&name), mode, sync)
        .and_then(|mut session| run_phase(&mut session, PipedPhase::Put, n, mode));
    let removed = remove_with_prefix(fs.as_ref(), dir, &name);
    let run = result?;
    removed?;
    Ok(run)
}

/// A plain-text session on a fresh store of `mode` at `path` (in memory for memory mode),
/// committing as `sync` says, with group commit off.
fn session(
    fs: &Arc<dyn Fs>,
    path: &Path,
    mode: Durability,
    sync: SyncPolicy,
) -> Result<Session, BenchError> {
    let store = match mode {
        Durability::Memory => KvStore::in_memory(),
        _ => {
            let options = Options::new()
                .durability(mode)
                .sync_policy(sync)
                .fs(Arc::clone(fs));
            KvStore::open(path, options)?
        }
    };
    let renderer = Renderer {
        theme: Theme::plain(),
        layout: Layout::Compact,
    };
    Ok(Session::new(store, renderer, renderer))
}

/// Pipes one phase's script into `session` and checks every line it printed.
fn run_phase(
    session: &mut Session,
    phase: PipedPhase,
    n: usize,
    mode: Durability,
) -> Result<PhaseRun, BenchError> {
    let failed = |reason: String| BenchError::Workload {
        what: format!("the piped {} script in {mode} mode", phase.name()),
        reason,
    };
    let statements = phase.statements(n);
    let script = phase.script(n);
    let mut out = Vec::with_capacity(statements * (phase.expected_line().len() + 1));
    let mut err = Vec::new();
    let before = counters(session);

    let (reader, mut writer) = io::pipe().map_err(|error| failed(error.to_string()))?;
    // The writer ends when the script is written, which closes the pipe: end of input.
    let feeder = std::thread::spawn(move || writer.write_all(&script));
    let mut input = BufReader::with_capacity(INPUT_BUFFER, reader);
    let started = Instant::now();
    let ran = session.run_script(&mut input, &mut out, &mut err);
    let ns = nanos(started);
    let fed = feeder
        .join()
        .map_err(|_| failed("the thread feeding the pipe panicked".into()))?;
    ran.map_err(|error| failed(error.to_string()))?;
    fed.map_err(|error| failed(format!("cannot write to the pipe: {error}")))?;

    if let Some(first) = String::from_utf8_lossy(&err).lines().next() {
        return Err(failed(first.to_string()));
    }
    let expected = phase.expected_line();
    let printed = String::from_utf8_lossy(&out);
    let right = printed.lines().filter(|line| *line == expected).count();
    if right != statements {
        return Err(failed(format!(
            "{right} of {statements} statements printed {expected}"
        )));
    }
    let after = counters(session);
    Ok(PhaseRun {
        statements,
        ns,
        commits: after.0 - before.0,
        fsyncs: after.1 - before.1,
        bytes_written: after.2 - before.2,
    })
}

/// Commits, fsyncs and bytes of data written by the session's store so far. The zeros
/// that preallocate log space are left out, as `stats` leaves them out of write
/// amplification: the first script would otherwise carry a whole log chunk.
fn counters(session: &Session) -> (u64, u64, u64) {
    session.db.store().map_or((0, 0, 0), |store| {
        let stats = store.stats();
        (
            stats.commits,
            stats.fsyncs,
            stats.bytes_written - stats.zero_filled_bytes,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_hold_the_targets_md_workload() {
        let puts = String::from_utf8(PipedPhase::Put.script(3)).unwrap();
        assert_eq!(
            puts,
            "put k000000 {\"n\":123,\"s\":\"abc\"}\nput k000001 {\"n\":123,\"s\":\"abc\"}\n\
             put k000002 {\"n\":123,\"s\":\"abc\"}\n"
        );
        let gets = String::from_utf8(PipedPhase::Get.script(2)).unwrap();
        assert_eq!(gets, "get k000000\nget k000001\n");
        assert_eq!(PipedPhase::Delete.statements(250), 2);
        assert_eq!(PipedPhase::Delete.statements(50), 1);
        let deletes = String::from_utf8(PipedPhase::Delete.script(250)).unwrap();
        assert_eq!(deletes, "delete k000000\ndelete k000001\n");
    }

    #[test]
    fn asynchronous_puts_are_appended_together_with_almost_no_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(kv_engine::fs::RealFs);
        let window = SyncPolicy::Within(std::time::Duration::from_secs(3600));
        let run = run_puts(&fs, dir.path(), Durability::Wal, window, 300).unwrap();
        assert_eq!(run.statements, 300);
        // The puts waiting on the pipe are appended together, without --group-commit.
        assert!(run.commits >= 1 && run.commits < 300, "{run:?}");
        // The log's creation and its sync at the close: none per put.
        assert!(run.fsyncs <= 3, "{run:?}");
        assert_eq!(
            fs.list_dir(dir.path()).unwrap(),
            Vec::<std::ffi::OsString>::new()
        );
    }

    #[test]
    fn a_run_in_memory_checks_every_result() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(kv_engine::fs::RealFs);
        let runs = run(&fs, dir.path(), Durability::Memory, 500).unwrap();
        let statements: Vec<usize> = runs.iter().map(|run| run.statements).collect();
        assert_eq!(statements, vec![500, 500, 5]);
        assert!(runs.iter().all(|run| run.fsyncs == 0 && run.ns > 0));
    }
}

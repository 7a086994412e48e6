//! `kv bench --peers` (issue 16): `docs/targets.md`'s workload (N puts of small JSON
//! values, N gets, N/100 deletes, each phase a script piped to the program, every mutation
//! durable before it is acknowledged) through the `sqlite3` shell and Redis, in the same
//! directory and the same run as kv's own modes, and kv's ratio to each.
//!
//! Each peer is paired with the kv mode that makes the same promise, run on the same
//! scripts just before it in the same repetition:
//!
//! | peer | kv |
//! | --- | --- |
//! | sqlite3 WAL / rollback journal, `synchronous=FULL` | `wal`, one fsync per statement |
//! | `redis-cli` + `appendfsync always` (a round trip per command) | `wal`, one fsync per statement |
//! | `redis-cli --pipe` + `appendfsync always` (one fsync per batch) | `wal --group-commit` |
//! | `redis-cli` / `--pipe` + `appendfsync everysec` | `wal --sync 1s` |
//!
//! A peer whose program is not on the `PATH` is reported as skipped, with the command that
//! installs it, never left out. Redis servers listen on loopback only, each in a directory
//! of its own, and are stopped by PID however the run ends.

mod program;
mod redis;
mod sqlite;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::BenchError;
use super::async_commit;
use super::piped::{self, PipedPhase};
use super::report::{PeerCase, PeerResult, Peers, SkippedPeer};
use super::stats::median;
use crate::shell::session::GroupCommit;
use kv_engine::fs::Fs;
use kv_engine::{Durability, SyncPolicy};

pub(crate) use program::Program;
use redis::{AppendFsync, Client};
use sqlite::Journal;

/// One phase of a peer's workload: its statements and how long the program took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timed {
    pub statements: usize,
    pub ns: u64,
}

impl Timed {
    fn ops_per_sec(&self) -> f64 {
        self.statements as f64 * 1e9 / self.ns.max(1) as f64
    }
}

/// A peer: a program and how it is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    Sqlite(Journal),
    Redis(AppendFsync, Client),
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 6] = [
        Peer::Sqlite(Journal::Wal),
        Peer::Sqlite(Journal::Rollback),
        Peer::Redis(AppendFsync::Always, Client::Lines),
        Peer::Redis(AppendFsync::Always, Client::Pipe),
        Peer::Redis(AppendFsync::Everysec, Client::Lines),
        Peer::Redis(AppendFsync::Everysec, Client::Pipe),
    ];

    /// The short name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Sqlite(Journal::Wal) => SQLITE_WAL,
            Peer::Sqlite(Journal::Rollback) => "sqlite3 rollback",
            Peer::Redis(AppendFsync::Always, Client::Lines) => REDIS_ALWAYS,
            Peer::Redis(AppendFsync::Always, Client::Pipe) => REDIS_ALWAYS_PIPE,
            Peer::Redis(AppendFsync::Everysec, Client::Lines) => "redis everysec",
            Peer::Redis(AppendFsync::Everysec, Client::Pipe) => "redis everysec --pipe",
        }
    }

    /// What exactly runs.
    pub fn description(self) -> &'static str {
        match self {
            Peer::Sqlite(Journal::Wal) => {
                "sqlite3 FILE < script; journal_mode=WAL, synchronous=FULL, each statement \
                 its own transaction"
            }
            Peer::Sqlite(Journal::Rollback) => {
                "sqlite3 FILE < script; the default rollback journal, synchronous=FULL, each \
                 statement its own transaction"
            }
            Peer::Redis(AppendFsync::Always, Client::Lines) => {
                "redis-cli < script (a round trip per command); appendfsync always"
            }
            Peer::Redis(AppendFsync::Always, Client::Pipe) => {
                "redis-cli --pipe < script (RESP); appendfsync always (one fsync per batch)"
            }
            Peer::Redis(AppendFsync::Everysec, Client::Lines) => {
                "redis-cli < script (a round trip per command); appendfsync everysec"
            }
            Peer::Redis(AppendFsync::Everysec, Client::Pipe) => {
                "redis-cli --pipe < script (RESP); appendfsync everysec"
            }
        }
    }

    /// The programs it needs.
    fn programs(self) -> &'static [Program] {
        match self {
            Peer::Sqlite(_) => &[Program::Sqlite3],
            Peer::Redis(..) => &[Program::RedisServer, Program::RedisCli],
        }
    }

    /// The kv mode that makes the same promise.
    fn counterpart(self) -> Counterpart {
        match self {
            Peer::Sqlite(_) | Peer::Redis(AppendFsync::Always, Client::Lines) => {
                Counterpart::EachSynced
            }
            Peer::Redis(AppendFsync::Always, Client::Pipe) => Counterpart::GroupCommit,
            Peer::Redis(AppendFsync::Everysec, _) => Counterpart::Delayed,
        }
    }
}

/// The peers the targets name.
pub const SQLITE_WAL: &str = "sqlite3 WAL";
pub const REDIS_ALWAYS: &str = "redis always";
pub const REDIS_ALWAYS_PIPE: &str = "redis always --pipe";

/// kv, piping the same scripts through its shell, as a peer would be compared with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counterpart {
    /// `wal`, `--sync always`, no group commit: each put and delete its own fsync.
    EachSynced,
    /// `wal --group-commit`: one fsync per batch the pipe holds.
    GroupCommit,
    /// `wal --sync 1s`: acknowledged before the sync, durable within the second.
    Delayed,
}

impl Counterpart {
    const ALL: [Counterpart; 3] = [
        Counterpart::EachSynced,
        Counterpart::GroupCommit,
        Counterpart::Delayed,
    ];

    fn name(self) -> String {
        match self {
            Counterpart::EachSynced => Durability::Wal.name().into(),
            Counterpart::GroupCommit => "wal --group-commit".into(),
            Counterpart::Delayed => format!("wal --sync {}", async_commit::POLICY),
        }
    }

    fn policy(self) -> (SyncPolicy, GroupCommit) {
        match self {
            Counterpart::EachSynced => (SyncPolicy::Always, GroupCommit::Off),
            Counterpart::GroupCommit => (SyncPolicy::Always, GroupCommit::On),
            Counterpart::Delayed => (async_commit::POLICY, GroupCommit::Off),
        }
    }

    /// The three scripts on a fresh `wal` store in `dir`: through the `kv` binary `kv`
    /// (each phase a process reading its script from a pipe, as each peer's is), else
    /// through the shell's script loop in this process.
    fn run(
        self,
        fs: &Arc<dyn Fs>,
        dir: &Path,
        kv: Option<&Path>,
        n: usize,
    ) -> Result<Vec<Timed>, BenchError> {
        let (sync, group_commit) = self.policy();
        let Some(kv) = kv else {
            let runs =
                piped::run_phases(fs, dir, "peer-kv", Durability::Wal, sync, group_commit, n)?;
            return Ok(runs
                .iter()
                .map(|run| Timed {
                    statements: run.statements,
                    ns: run.ns,
                })
                .collect());
        };
        let name = format!("peer-kv-{n}.json");
        let path = dir.join(&name);
        let result = PipedPhase::ALL
            .iter()
            .map(|&phase| {
                let mut command = std::process::Command::new(kv);
                command
                    .args(["--durability", Durability::Wal.name(), "--sync"])
                    .arg(sync.to_string());
                if group_commit == GroupCommit::On {
                    command.arg("--group-commit");
                }
                command.arg(&path);
                let what = format!("kv {} ({} script)", self.name(), phase.name());
                let failed = |reason: String| BenchError::Workload {
                    what: what.clone(),
                    reason,
                };
                let ran = program::pipe_through(&mut command, phase.script(n)).map_err(failed)?;
                ran.check_clean(&what).map_err(failed)?;
                let expected = phase.expected_line();
                let stdout = ran.stdout();
                let right = stdout.lines().filter(|line| *line == expected).count();
                let statements = phase.statements(n);
                if right != statements || stdout.lines().count() != statements {
                    return Err(failed(format!(
                        "{right} of {statements} statements printed {expected}"
                    )));
                }
                Ok(Timed {
                    statements,
                    ns: ran.ns,
                })
            })
            .collect::<Result<Vec<Timed>, BenchError>>();
        // Remove the store's files even when the workload failed, then report the first
        // error.
        let removed = super::engine::remove_with_prefix(fs.as_ref(), dir, &name);
        let runs = result?;
        removed?;
        Ok(runs)
    }
}

/// Which peers can run here, with the programs they run, and which cannot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lineup {
    runnable: Vec<(Peer, Vec<PathBuf>)>,
    skipped: Vec<SkippedPeer>,
}

impl Lineup {
    /// Looks every peer's programs up on `search_path` (a `PATH` value).
    pub fn find(fs: &dyn Fs, search_path: Option<&OsStr>) -> Lineup {
        let mut lineup = Lineup {
            runnable: Vec::new(),
            skipped: Vec::new(),
        };
        for peer in Peer::ALL {
            let found: Result<Vec<PathBuf>, Program> = peer
                .programs()
                .iter()
                .map(|&program| program.find(fs, search_path).ok_or(program))
                .collect();
            match found {
                Ok(paths) => lineup.runnable.push((peer, paths)),
                Err(missing) => lineup.skipped.push(SkippedPeer {
                    peer: peer.name().to_string(),
                    reason: format!(
                        "{} not installed ({})",
                        missing.name(),
                        missing.install_hint()
                    ),
                }),
            }
        }
        lineup
    }

    /// The kv modes the runnable peers are compared with.
    fn counterparts(&self) -> Vec<Counterpart> {
        Counterpart::ALL
            .into_iter()
            .filter(|&c| {
                self.runnable
                    .iter()
                    .any(|(peer, _)| peer.counterpart() == c)
            })
            .collect()
    }

    /// Progress steps per size and repetition: the kv modes the peers need, then each
    /// peer.
    pub fn steps(&self) -> usize {
        self.counterparts().len() + self.runnable.len()
    }
}

/// One repetition at one size: kv's runs per [`Counterpart`], then each runnable peer's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rep {
    kv: Vec<Vec<Timed>>,
    peers: Vec<Vec<Timed>>,
}

/// Runs kv's three modes (through the binary `kv` if given, see [`Counterpart::run`])
/// and then every runnable peer on the workload of `n` keys in `dir`, calling `step` as
/// each starts.
pub(crate) fn run(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    kv: Option<&Path>,
    n: usize,
    lineup: &Lineup,
    step: &mut dyn FnMut(&str),
) -> Result<Rep, BenchError> {
    let needed = lineup.counterparts();
    let mut kv_runs = Vec::with_capacity(Counterpart::ALL.len());
    for counterpart in Counterpart::ALL {
        kv_runs.push(if needed.contains(&counterpart) {
            step(&format!("kv {} piped, for the peers", counterpart.name()));
            counterpart.run(fs, dir, kv, n)?
        } else {
            Vec::new()
        });
    }
    let mut peers = Vec::with_capacity(lineup.runnable.len());
    for (peer, programs) in &lineup.runnable {
        step(&format!("peer {}", peer.name()));
        let failed = |reason: String| BenchError::Workload {
            what: format!("the {} peer at {n} keys", peer.name()),
            reason,
        };
        // A directory of its own, removed afterwards (after the server has stopped:
        // `own` is dropped last).
        let own = tempfile::Builder::new()
            .prefix("peer-")
            .tempdir_in(dir)
            .map_err(|err| {
                failed(format!(
                    "cannot make a directory in {}: {err}",
                    dir.display()
                ))
            })?;
        let runs = match (peer, programs.as_slice()) {
            (Peer::Sqlite(journal), [sqlite3]) => sqlite::run(sqlite3, own.path(), *journal, n),
            (Peer::Redis(fsync, client), [server, cli]) => {
                redis::Server::start(server, own.path(), *fsync).and_then(|server| {
                    let runs = server.run(cli, *client, n);
                    server.stop();
                    runs
                })
            }
            _ => Err("its programs were not found".into()),
        }
        .map_err(failed)?;
        own.close()
            .map_err(|err| failed(format!("cannot remove its directory: {err}")))?;
        peers.push(runs);
    }
    Ok(Rep { kv: kv_runs, peers })
}

/// The medians of every peer at every size (`reps[size][rep]`), each phase beside kv's
/// run of the same script in the same repetition.
pub(crate) fn summarise(
    lineup: &Lineup,
    sizes: &[usize],
    kv: Option<&Path>,
    reps: &[Vec<Rep>],
) -> Result<Peers, BenchError> {
    let none = || BenchError::Config("no repetitions".into());
    let mut cases = Vec::new();
    for (peer_index, (peer, _)) in lineup.runnable.iter().enumerate() {
        let counterpart = Counterpart::ALL
            .iter()
            .position(|&c| c == peer.counterpart())
            .ok_or_else(none)?;
        for (&n, size_reps) in sizes.iter().zip(reps) {
            let mut phases = Vec::with_capacity(PipedPhase::ALL.len());
            for (index, phase) in PipedPhase::ALL.into_iter().enumerate() {
                let mut rates = Vec::new();
                let mut kv_rates = Vec::new();
                for rep in size_reps {
                    let peer_run = rep.peers.get(peer_index).and_then(|runs| runs.get(index));
                    let kv_run = rep.kv.get(counterpart).and_then(|runs| runs.get(index));
                    if let (Some(peer_run), Some(kv_run)) = (peer_run, kv_run) {
                        rates.push(peer_run.ops_per_sec());
                        kv_rates.push(kv_run.ops_per_sec());
                    }
                }
                let ratios: Vec<f64> = kv_rates
                    .iter()
                    .zip(&rates)
                    .map(|(kv, peer)| kv / peer)
                    .collect();
                phases.push(PeerResult {
                    phase,
                    statements: phase.statements(n),
                    reps: rates.len(),
                    ops_per_sec: median(&rates).ok_or_else(none)?,
                    min_ops_per_sec: rates.iter().copied().fold(f64::INFINITY, f64::min),
                    max_ops_per_sec: rates.iter().copied().fold(0.0, f64::max),
                    kv_ops_per_sec: median(&kv_rates).ok_or_else(none)?,
                    kv_ratio: median(&ratios).ok_or_else(none)?,
                });
            }
            cases.push(PeerCase {
                peer: peer.name().to_string(),
                description: peer.description().to_string(),
                kv_mode: peer.counterpart().name(),
                n,
                phases,
            });
        }
    }
    Ok(Peers {
        kv_runs_as: match kv {
            Some(_) => {
                "the kv binary, kv --durability wal [--group-commit | --sync 1s] FILE < script"
            }
            None => "the shell's script loop in this process, reading the script from a pipe",
        }
        .to_string(),
        cases,
        skipped: lineup.skipped.clone(),
    })
}

/// That `stdout` is the put value on each of `n` lines, and nothing else.
fn expected_value(stdout: &str, n: usize) -> Result<(), String> {
    let value = super::engine::put_value().to_string();
    let right = stdout.lines().filter(|line| *line == value).count();
    if right == n && stdout.lines().count() == n {
        Ok(())
    } else {
        Err(format!("{right} of {n} gets printed {value}"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kv_engine::fs::RealFs;

    /// The peers' programs on this machine's PATH; `None` (the test skips, and says so)
    /// only with `KV_SKIP_PEERS=1`, else a missing program fails the test: a peer test
    /// that quietly passes without its peer would prove nothing.
    pub(crate) fn programs<const N: usize>(
        test: &str,
        programs: [Program; N],
    ) -> Option<[PathBuf; N]> {
        let path = std::env::var_os("PATH");
        let found = programs.map(|program| program.find(&RealFs, path.as_deref()).ok_or(program));
        if let Some(Err(missing)) = found.iter().find(|found| found.is_err()) {
            let problem = format!(
                "{} not installed ({})",
                missing.name(),
                missing.install_hint()
            );
            if std::env::var("KV_SKIP_PEERS").is_ok_and(|value| value == "1") {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "{test}: SKIPPED because KV_SKIP_PEERS=1: {problem}"
                );
                return None;
            }
            panic!("{problem}; or set KV_SKIP_PEERS=1 to skip the peer tests");
        }
        Some(found.map(|found| found.unwrap_or_default()))
    }

    #[test]
    fn a_path_without_the_programs_skips_every_peer_with_its_install_hint() {
        let empty = tempfile::tempdir().unwrap();
        let lineup = Lineup::find(&RealFs, Some(empty.path().as_os_str()));
        assert!(lineup.runnable.is_empty());
        let skipped: Vec<(&str, &str)> = lineup
            .skipped
            .iter()
            .map(|s| (s.peer.as_str(), s.reason.as_str()))
            .collect();
        let sqlite = "sqlite3 not installed (apt install sqlite3)";
        let redis = "redis-server not installed (apt install redis-server)";
        assert_eq!(
            skipped,
            [
                ("sqlite3 WAL", sqlite),
                ("sqlite3 rollback", sqlite),
                ("redis always", redis),
                ("redis always --pipe", redis),
                ("redis everysec", redis),
                ("redis everysec --pipe", redis),
            ]
        );
        // No peer to compare with: kv's side does not run either.
        assert_eq!(lineup.steps(), 0);
    }

    #[test]
    fn without_the_binary_kvs_side_runs_in_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        for counterpart in Counterpart::ALL {
            let runs = counterpart.run(&fs, dir.path(), None, 120).unwrap();
            let statements: Vec<usize> = runs.iter().map(|run| run.statements).collect();
            assert_eq!(statements, [120, 120, 1], "{counterpart:?}");
            assert!(runs.iter().all(|run| run.ns > 0));
        }
        assert_eq!(
            fs.list_dir(dir.path()).unwrap(),
            Vec::<std::ffi::OsString>::new()
        );
    }

    #[test]
    fn each_peer_is_paired_with_the_kv_mode_making_the_same_promise() {
        let pairs: Vec<(&str, String)> = Peer::ALL
            .iter()
            .map(|peer| (peer.name(), peer.counterpart().name()))
            .collect();
        let wal = "wal".to_string();
        assert_eq!(
            pairs,
            [
                ("sqlite3 WAL", wal.clone()),
                ("sqlite3 rollback", wal.clone()),
                ("redis always", wal),
                ("redis always --pipe", "wal --group-commit".to_string()),
                ("redis everysec", "wal --sync 1s".to_string()),
                ("redis everysec --pipe", "wal --sync 1s".to_string()),
            ]
        );
    }
}

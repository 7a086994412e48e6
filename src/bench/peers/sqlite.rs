//! The workload through the `sqlite3` shell: each phase a script of SQL statements piped to
//! `sqlite3 FILE`, every statement its own autocommit transaction, so each put is durable
//! (with `synchronous=FULL`) before the shell reads the next line.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::program::{Ran, pipe_through, shown};
use super::{Timed, expected_value};
use crate::bench::engine::{key, put_value};
use crate::bench::piped::PipedPhase;

/// How SQLite keeps a commit atomic: the two journals a user can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Journal {
    /// `journal_mode=WAL`: one append to the write-ahead log and one fsync per commit.
    Wal,
    /// The default rollback journal (`journal_mode=DELETE`): the old pages to a journal
    /// file, the new ones to the database, and several fsyncs per commit.
    Rollback,
}

impl Journal {
    fn pragma(self) -> &'static str {
        match self {
            Journal::Wal => "WAL",
            Journal::Rollback => "DELETE",
        }
    }
}

/// Runs the three phases on a fresh database in `dir` with `journal`, each a `sqlite3`
/// process reading its script from a pipe; every result is checked.
pub(crate) fn run(
    sqlite3: &Path,
    dir: &Path,
    journal: Journal,
    n: usize,
) -> Result<Vec<Timed>, String> {
    let db = dir.join("peer.sqlite");
    let sql = |script: Vec<u8>| pipe_through(Command::new(sqlite3).arg("-bail").arg(&db), script);
    // The schema and the journal mode, untimed (WAL mode is stored in the file).
    let setup = format!(
        "PRAGMA journal_mode={};\nCREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT);\n",
        journal.pragma()
    );
    let ran = sql(setup.into_bytes())?;
    ran.check_clean(&format!("sqlite3 {} (creating the table)", shown(&db)))?;
    let mode = ran.stdout().trim().to_lowercase();
    if mode != journal.pragma().to_lowercase() {
        return Err(format!(
            "sqlite3 {} is in journal mode {mode:?}, not {}",
            shown(&db),
            journal.pragma()
        ));
    }

    let mut runs = Vec::with_capacity(PipedPhase::ALL.len());
    for phase in PipedPhase::ALL {
        let ran = sql(script(phase, n))?;
        let what = format!("sqlite3 {} ({} script)", shown(&db), phase.name());
        ran.check_clean(&what)?;
        check(&ran, phase, n).map_err(|reason| format!("{what}: {reason}"))?;
        runs.push(Timed {
            statements: phase.statements(n),
            ns: ran.ns,
        });
    }
    // What is left, untimed: the puts less the deletes.
    let ran = sql(b"SELECT count(*) FROM kv;\n".to_vec())?;
    ran.check_clean(&format!("sqlite3 {} (counting the rows)", shown(&db)))?;
    let left = n - PipedPhase::Delete.statements(n);
    if ran.stdout().trim() != left.to_string() {
        return Err(format!(
            "sqlite3 {} holds {} rows after the deletes, not {left}",
            shown(&db),
            ran.stdout().trim()
        ));
    }
    Ok(runs)
}

/// The phase's SQL: `synchronous=FULL` (a setting of the connection, so in every script),
/// then one statement per line, each its own transaction.
fn script(phase: PipedPhase, n: usize) -> Vec<u8> {
    let value = put_value().to_string();
    let mut script = Vec::with_capacity(phase.statements(n) * (value.len() + 56));
    script.extend_from_slice(b"PRAGMA synchronous=FULL;\n");
    for i in 0..phase.statements(n) {
        // Writing into a Vec cannot fail. Keys and the value hold no quote to escape.
        let _ = match phase {
            PipedPhase::Put => writeln!(
                script,
                "INSERT OR REPLACE INTO kv VALUES('{}','{value}');",
                key(i)
            ),
            PipedPhase::Get => writeln!(script, "SELECT value FROM kv WHERE key='{}';", key(i)),
            PipedPhase::Delete => writeln!(script, "DELETE FROM kv WHERE key='{}';", key(i)),
        };
    }
    script
}

/// Gets print every value; puts and deletes print nothing.
fn check(ran: &Ran, phase: PipedPhase, n: usize) -> Result<(), String> {
    let stdout = ran.stdout();
    match phase {
        PipedPhase::Get => expected_value(&stdout, n),
        PipedPhase::Put | PipedPhase::Delete => match stdout.lines().next() {
            None => Ok(()),
            Some(line) => Err(format!("printed {line:?}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_hold_the_workload_one_transaction_per_statement() {
        let puts = String::from_utf8(script(PipedPhase::Put, 2)).unwrap();
        assert_eq!(
            puts,
            "PRAGMA synchronous=FULL;\n\
             INSERT OR REPLACE INTO kv VALUES('k000000','{\"n\":123,\"s\":\"abc\"}');\n\
             INSERT OR REPLACE INTO kv VALUES('k000001','{\"n\":123,\"s\":\"abc\"}');\n"
        );
        let deletes = String::from_utf8(script(PipedPhase::Delete, 250)).unwrap();
        assert_eq!(
            deletes,
            "PRAGMA synchronous=FULL;\nDELETE FROM kv WHERE key='k000000';\n\
             DELETE FROM kv WHERE key='k000001';\n"
        );
        assert!(!puts.contains("BEGIN"));
    }
}

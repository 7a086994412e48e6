//! Other programs, as the peers need them: found on the `PATH` as a shell would find
//! them, and fed a script on stdin, timed from the spawn to the exit.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::super::timing::nanos;
use kv_engine::fs::{FileKind, Fs};

/// The programs the peers run, each with the package that installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Program {
    Sqlite3,
    RedisServer,
    RedisCli,
}

impl Program {
    /// The program's name, as looked up on the `PATH`.
    pub fn name(self) -> &'static str {
        match self {
            Program::Sqlite3 => "sqlite3",
            Program::RedisServer => "redis-server",
            Program::RedisCli => "redis-cli",
        }
    }

    /// How to install it (Debian and Ubuntu: the machines this project runs on).
    pub fn install_hint(self) -> &'static str {
        match self {
            Program::Sqlite3 => "apt install sqlite3",
            Program::RedisServer => "apt install redis-server",
            // redis-server depends on it, so this shows only if it was removed alone.
            Program::RedisCli => "apt install redis-tools",
        }
    }

    /// Where `search_path` (a `PATH` value) finds the program: the first directory of it
    /// holding an executable file of that name, as `execvp` would pick. Empty entries,
    /// which a shell reads as the current directory, are skipped: a benchmark should not
    /// run whatever `sqlite3` happens to be in the directory it was started from.
    pub fn find(self, fs: &dyn Fs, search_path: Option<&OsStr>) -> Option<PathBuf> {
        std::env::split_paths(search_path?)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(self.name()))
            .find(|candidate| {
                fs.metadata(candidate)
                    .ok()
                    .flatten()
                    .is_some_and(|meta| meta.kind == FileKind::Regular && meta.mode & 0o111 != 0)
            })
    }
}

/// What a program printed for a script, and how long it took.
#[derive(Debug)]
pub(crate) struct Ran {
    pub output: Output,
    /// From just before the spawn to the exit: the program's start-up (a few
    /// milliseconds) is in the figure, as it is when a user pipes a file to it.
    pub ns: u64,
}

impl Ran {
    pub fn stdout(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.output.stdout)
    }

    /// `Err` naming `what` unless the program exited with 0 and printed nothing on stderr.
    pub fn check_clean(&self, what: &str) -> Result<(), String> {
        let stderr = String::from_utf8_lossy(&self.output.stderr);
        if !self.output.status.success() || !stderr.trim().is_empty() {
            return Err(format!(
                "{what} ended with {}: {}",
                self.output.status,
                first_lines(&stderr)
            ));
        }
        Ok(())
    }
}

/// Runs `command` with `script` written to its stdin by a thread (so a program that
/// prints as it reads can never block on a full pipe) and its output collected.
pub(crate) fn pipe_through(command: &mut Command, script: Vec<u8>) -> Result<Ran, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    let feeder = child.stdin.take().map(|mut stdin| {
        // Dropping stdin at the end closes the pipe: the program's end of input.
        std::thread::spawn(move || stdin.write_all(&script))
    });
    let output = child
        .wait_with_output()
        .map_err(|err| format!("cannot read what {program} printed: {err}"))?;
    let ns = nanos(started);
    if let Some(feeder) = feeder {
        let fed = feeder
            .join()
            .map_err(|_| "the thread feeding the pipe panicked".to_string())?;
        // A program that failed early closes its stdin: its own error says more.
        if let Err(err) = fed
            && output.status.success()
        {
            return Err(format!("cannot write the script to {program}: {err}"));
        }
    }
    Ok(Ran { output, ns })
}

/// At most the first three lines of a program's complaint, for an error message.
pub(crate) fn first_lines(text: &str) -> String {
    let lines: Vec<&str> = text.trim().lines().take(3).collect();
    if lines.is_empty() {
        "(nothing on stderr)".into()
    } else {
        lines.join(" / ")
    }
}

/// `path` for a message.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // the tests make a fake program on disk

    use super::*;
    use kv_engine::fs::RealFs;

    #[test]
    fn programs_are_found_on_the_path_only_where_executable() {
        use std::os::unix::fs::PermissionsExt;
        let fs = RealFs;
        let (empty, bin) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let fake = bin.path().join("sqlite3");
        std::fs::write(&fake, "#!/bin/sh\n").unwrap();
        let path = std::env::join_paths([empty.path(), bin.path()]).unwrap();
        let set_mode = |mode| std::fs::set_permissions(&fake, PermissionsExt::from_mode(mode));

        set_mode(0o644).unwrap();
        assert_eq!(Program::Sqlite3.find(&fs, Some(&path)), None);
        set_mode(0o755).unwrap();
        assert_eq!(Program::Sqlite3.find(&fs, Some(&path)), Some(fake.clone()));
        assert_eq!(Program::Sqlite3.find(&fs, None), None);
        // A directory of that name is not the program: the search goes on past it.
        std::fs::create_dir(empty.path().join("sqlite3")).unwrap();
        assert_eq!(Program::Sqlite3.find(&fs, Some(&path)), Some(fake));
        let only_dir = std::env::join_paths([empty.path()]).unwrap();
        assert_eq!(Program::Sqlite3.find(&fs, Some(&only_dir)), None);
    }

    #[test]
    fn a_script_is_piped_through_and_its_output_kept() {
        let ran = pipe_through(
            Command::new("sh").arg("-c").arg("tr a-z A-Z"),
            b"put k v\n".to_vec(),
        )
        .unwrap();
        assert_eq!(ran.stdout(), "PUT K V\n");
        assert_eq!(ran.check_clean("tr"), Ok(()));
        assert!(ran.ns > 0);

        let failed = pipe_through(
            Command::new("sh").arg("-c").arg("echo oops >&2; exit 3"),
            Vec::new(),
        )
        .unwrap();
        let err = failed.check_clean("the script").unwrap_err();
        assert!(
            err.starts_with("the script ended with exit status: 3"),
            "{err}"
        );
        assert!(err.ends_with(": oops"), "{err}");
    }
}

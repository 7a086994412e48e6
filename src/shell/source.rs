//! What `source FILE` and `pause` need besides the session's script loop: reading a
//! command file (refusing what would hang, never end or recurse forever) and waiting for
//! Enter at a terminal.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use kv_engine::fs::{FileKind, Fs, RealFs};

/// How deep `source` may nest. A file that sources itself under another name (`./a.kv`
/// inside `a.kv`) is caught here rather than by name; real demos nest one or two deep.
pub const MAX_DEPTH: usize = 8;

/// The largest command file `source` reads: it is read whole, and a larger one is more
/// likely a database or a log given by mistake than a script.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A command file being run by `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    /// As typed: errors inside it say `NAME:LINE`.
    pub name: String,
    /// With symlinks resolved: the same file sourced again while it runs is a loop.
    resolved: PathBuf,
}

/// Reads the command file `name` to run it inside `running` (outermost first). `Err`
/// says, in a sentence naming the file, why it is not run.
pub fn load(name: &str, running: &[Sourced]) -> Result<(Sourced, Vec<u8>), String> {
    let chain = || {
        running
            .iter()
            .map(|file| file.name.as_str())
            .chain(std::iter::once(name))
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    let fs = RealFs;
    let path = Path::new(name);
    let resolved = fs
        .resolve(path)
        .map_err(|err| format!("cannot source {name}: {err}"))?;
    if running.iter().any(|file| file.resolved == resolved) {
        return Err(format!(
            "{name} is already being run ({}): a file that sources itself would never \
             end; not run again",
            chain()
        ));
    }
    if running.len() >= MAX_DEPTH {
        return Err(format!(
            "source files nest more than {MAX_DEPTH} deep ({}); {name} not run",
            chain()
        ));
    }
    // A FIFO would block the read forever, a device would never end it.
    let meta = match fs.metadata(path) {
        Ok(Some(meta)) => meta,
        Ok(None) => return Err(format!("cannot source {name}: no such file")),
        Err(err) => return Err(format!("cannot source {name}: {err}")),
    };
    if meta.kind != FileKind::Regular {
        return Err(format!(
            "cannot source {name}: it is {}, not a command file",
            meta.kind.describe()
        ));
    }
    if meta.len > MAX_FILE_BYTES {
        return Err(format!(
            "cannot source {name}: {} bytes is more than a command file may hold ({} MiB)",
            meta.len,
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    let bytes = fs
        .read(path)
        .map_err(|err| format!("cannot source {name}: {err}"))?;
    Ok((
        Sourced {
            name: name.to_string(),
            resolved,
        },
        bytes,
    ))
}

/// Where `pause` and `source --step` wait for Enter.
#[derive(Default)]
pub enum Pauses {
    /// Nowhere: input is not a terminal (a pipe or a file), so nobody would press Enter.
    #[default]
    Skip,
    /// On lines read from this reader (the terminal).
    Wait(Box<dyn BufRead>),
}

impl fmt::Debug for Pauses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pauses::Skip => f.write_str("Skip"),
            Pauses::Wait(_) => f.write_str("Wait"),
        }
    }
}

/// What the person at a pause chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Enter: go on.
    Go,
    /// `q` and Enter, or Ctrl-D: stop running the file (and the files that sourced it).
    Stop,
}

/// The line a pause shows, without its end: the Enter typed ends it on the screen.
pub const PAUSE_PROMPT: &str = "-- paused: Enter goes on, q Enter stops --";

/// What `source --step` shows under each statement before running it.
pub const STEP_PROMPT: &str = "-- Enter runs it, q Enter stops --";

impl Pauses {
    /// Whether a pause would wait.
    pub fn waits(&self) -> bool {
        matches!(self, Pauses::Wait(_))
    }

    /// Shows [`PAUSE_PROMPT`] on `out` and waits for a line; without a terminal, goes on
    /// at once, showing nothing.
    pub fn wait(&mut self, prompt: &str, out: &mut dyn Write) -> io::Result<Resume> {
        let Pauses::Wait(input) = self else {
            return Ok(Resume::Go);
        };
        write!(out, "{prompt} ")?;
        out.flush()?;
        let mut line = String::new();
        match input.read_line(&mut line)? {
            // Ctrl-D: the terminal echoed no newline, so end the prompt's line here.
            0 => {
                writeln!(out)?;
                Ok(Resume::Stop)
            }
            _ if line.trim().eq_ignore_ascii_case("q") => Ok(Resume::Stop),
            _ => Ok(Resume::Go),
        }
    }
}

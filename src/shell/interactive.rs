//! Interactive mode: the rustyline loop around a [`Session`]. The only part of the shell
//! that needs a terminal; everything it calls is tested without one.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustyline::Editor;
use rustyline::config::{ColorMode, CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;

use crate::shell::command::needs_more_input;
use crate::shell::editor::{CtrlC, KvHelper, ctrl_c_column};
use crate::shell::exec::Outcome;
use crate::shell::session::{Flow, Ran, Session};

/// Where (and whether) interactive history is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum History {
    /// Not loaded, not saved (`--no-history`).
    Off,
    /// Loaded at start; each entry appended as it is entered, with mode 0600.
    File(PathBuf),
}

/// Why the interactive loop stopped early.
#[derive(Debug, thiserror::Error)]
pub enum InteractiveError {
    #[error("line editor: {0}")]
    Editor(#[from] ReadlineError),
    #[error("cannot write to the terminal: {0}")]
    Io(#[from] io::Error),
}

/// Reads statements from the terminal until `exit` or Ctrl-D. Ctrl-C abandons the line
/// being typed. Each history entry is appended to the file as it is entered; a failure to
/// save is only a warning.
pub fn run(
    session: &mut Session,
    history: &History,
    color: bool,
    db_name: &str,
    banner: &str,
) -> Result<(), InteractiveError> {
    let config = Config::builder()
        .history_ignore_space(true)
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .color_mode(if color {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .build();
    let mut editor: Editor<KvHelper, FileHistory> = Editor::with_config(config)?;
    let mut helper = KvHelper::new(session.out_renderer.theme);
    helper.set_keys(session.db.keys());
    helper.set_simulated(session.db.is_simulated());
    editor.set_helper(Some(helper));
    let ctrl_c = CtrlC::default();
    ctrl_c.bind(&mut editor);

    // While a command runs the terminal is not in raw mode, so Ctrl-C is a SIGINT, which
    // by default would kill the shell (and end a crash demo mid-lesson). Caught, it stops
    // the command's output at its next write; the command itself has run to completion
    // (execution never writes to the terminal), so a commit is never cut short.
    let interrupted = Arc::new(AtomicBool::new(false));
    if let Err(err) =
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted))
    {
        let message =
            format!("cannot catch Ctrl-C ({err}): it will end the shell while a command runs");
        session.err_renderer.warning(&mut io::stderr(), &message)?;
    }
    let mut stdout = StopOnInterrupt {
        inner: io::stdout(),
        interrupted: &interrupted,
    };
    let mut stderr = io::stderr();
    // Where each entry is appended; `None` once appending failed (warned about once). A
    // file that cannot be read or written is found now, and said once, before the banner
    // rather than in the middle of the first command's output.
    let mut history_file = None;
    if let History::File(path) = history {
        let problem = match editor.load_history(path) {
            Ok(()) => None,
            Err(ReadlineError::Io(err)) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => Some(format!("cannot read history {}: {err}", path.display())),
        };
        let problem = problem.or_else(|| {
            let err = writable(path).err()?;
            Some(format!("cannot save history to {}: {err}", path.display()))
        });
        match problem {
            None => history_file = Some(path),
            Some(problem) => {
                let message = format!("{problem} (history is off for this session)");
                session.err_renderer.warning(&mut stderr, &message)?;
            }
        }
    }
    writeln!(stdout, "{banner}")?;

    // The lines of a statement whose JSON value is still open, each ended by a newline.
    let mut pending = String::new();
    loop {
        // A Ctrl-C at the prompt is a key that rustyline reads, not a signal; one that
        // came after the last output stopped has nothing left to stop.
        interrupted.store(false, Ordering::SeqCst);
        let prompt = prompt(db_name, session.transaction_size());
        // Lines after the first of an open value, aligned under the prompt as sqlite3 does.
        let continuation = format!("{:>width$}", "...> ", width = prompt.chars().count());
        let shown = if pending.is_empty() {
            &prompt
        } else {
            &continuation
        };
        match editor.readline(shown) {
            Ok(line) => {
                pending.push_str(&line);
                if needs_more_input(&pending) {
                    pending.push('\n');
                    continue;
                }
                let line = std::mem::take(&mut pending);
                if !line.trim().is_empty() {
                    editor.add_history_entry(line.as_str())?;
                    // Appended at once, before the statement runs, not saved at exit: a
                    // crash demo or a kill ends the process without an exit, and a second
                    // session appends to the file rather than overwriting this one's lines.
                    if let Some(path) = history_file
                        && let Err(err) = editor.append_history(path)
                    {
                        let message = format!(
                            "cannot save history to {}: {err} (history is off for this session)",
                            path.display()
                        );
                        session.err_renderer.error(&mut stderr, None, &message)?;
                        history_file = None;
                    }
                }
                let ran = run_entry(
                    session,
                    editor.helper_mut(),
                    &line,
                    &mut stdout,
                    &mut stderr,
                )
                .and_then(|flow| stdout.flush().map(|()| flow));
                match ran {
                    Ok(Flow::Stop) => break,
                    Ok(Flow::Continue) => {}
                    Err(_) if interrupted.load(Ordering::SeqCst) => {
                        writeln!(stderr)?;
                        let message = "interrupted: output stopped (what the command did is \
                                       done: a commit is never cut short)";
                        session.err_renderer.warning(&mut stderr, message)?;
                        // The statement may have changed keys before its output stopped.
                        if let Some(helper) = editor.helper_mut() {
                            helper.set_keys(session.db.keys());
                        }
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            // Ctrl-C: the half-typed line (and any statement it continued) is dropped,
            // marked `^C` where it was abandoned; the shell goes on.
            Err(ReadlineError::Interrupted) => {
                if let (Some(line), Some((columns, _))) = (ctrl_c.take(), editor.dimensions()) {
                    let column = ctrl_c_column(shown, &line, usize::from(columns));
                    // Up to the row the input ended on, to the column after it.
                    writeln!(stdout, "\x1b[A\x1b[{column}G^C")?;
                    stdout.flush()?;
                }
                pending.clear();
            }
            // Ctrl-D on an empty continuation line: the statement is given up, not run
            // half-typed, and not taken for "leave" either.
            Err(ReadlineError::Eof) if !pending.is_empty() => {
                pending.clear();
                let message = "Ctrl-D: the unfinished statement was abandoned and nothing \
                               was stored (Ctrl-D again leaves)";
                session.err_renderer.warning(&mut stderr, message)?;
            }
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(err.into()),
        }
    }
    // Leaving (Ctrl-D or `exit`) ends the process that holds the transaction.
    if let Some(dropped) = session.roll_back() {
        let message = format!(
            "the open transaction was rolled back: none of its {} was stored",
            kv_engine::human::count(dropped as u64, "queued mutation")
        );
        session.err_renderer.warning(&mut stderr, &message)?;
    }
    Ok(())
}

/// The prompt: the database, and the open transaction with its size (`[tx: 2]`), so
/// that queued writes are never taken for committed ones.
fn prompt(db_name: &str, transaction: Option<usize>) -> String {
    match transaction {
        Some(queued) => format!("kv {db_name} [tx: {queued}]> "),
        None => format!("kv {db_name}> "),
    }
}

/// Whether the history file can be appended to: opened (created, empty, if missing) as
/// the first entry would open it.
fn writable(path: &std::path::Path) -> io::Result<()> {
    use kv_engine::fs::{Fs, OpenMode, RealFs};
    RealFs
        .open(path, OpenMode::CreateOrOpen { mode: 0o600 })
        .map(drop)
}

/// Runs what the editor returned, and keeps the completion list in step with the store.
/// `Err` only if writing to `out` or `err` failed (or Ctrl-C stopped the output).
fn run_entry(
    session: &mut Session,
    helper: Option<&mut KvHelper>,
    line: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Flow> {
    if line.contains('\n') {
        // Several lines pasted at once (bracketed paste hands them over as one buffer), or
        // a JSON value continued over lines: read exactly as the same lines in a piped
        // script would be, statement by statement.
        let flow = session.run_script(&mut line.as_bytes(), out, err)?;
        if let Some(helper) = helper {
            helper.set_keys(session.db.keys());
        }
        return Ok(flow);
    }
    let (flow, ran) = session.run_statement(line, None, out, err)?;
    if let (Ran::Outcome(outcome), Some(helper)) = (&ran, helper) {
        // One put or delete changed the one key its outcome names: patch the completion
        // list rather than copy every key of a large store.
        match outcome {
            Outcome::Stored(key) => helper.add_key(key.clone()),
            Outcome::Deleted(key) => helper.remove_key(key),
            outcome if outcome.changed_keys() => helper.set_keys(session.db.keys()),
            _ => {}
        }
    }
    Ok(flow)
}

/// The terminal's stdout, refusing every write once Ctrl-C was pressed: the statement's
/// output stops there and the loop reports it.
struct StopOnInterrupt<'a> {
    inner: io::Stdout,
    interrupted: &'a AtomicBool,
}

impl StopOnInterrupt<'_> {
    fn check(&self) -> io::Result<()> {
        // Not `ErrorKind::Interrupted`: `write_all` retries that one forever.
        match self.interrupted.load(Ordering::SeqCst) {
            true => Err(io::Error::other("interrupted by Ctrl-C")),
            false => Ok(()),
        }
    }
}

impl Write for StopOnInterrupt<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        self.inner.flush()
    }
}

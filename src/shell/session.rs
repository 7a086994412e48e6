//! [`Session`]: the loop body shared by every mode. It takes statements (one at a time
//! from the terminal or `-c`, or a whole script from a reader) and writes results and
//! errors to the writers it is given, so piped mode is tested without a process. Reading
//! a script is [`script`](crate::shell::script)'s; running statements is the executor's
//! ([`exec::run_next`]); what the session adds is the order of things: echo, grouping,
//! results and errors, `source` and `pause`.

use std::collections::VecDeque;
use std::io::{self, Write};

use crate::shell::command::{Command, ParseError, parse};
use crate::shell::database::Database;
use crate::shell::exec::{self, ExecError, Outcome};
use crate::shell::render::Renderer;
use crate::shell::script::{Read, ScriptInput, ScriptReader, locate};
use crate::shell::source::{self, Pauses, Resume, Sourced};
use crate::shell::wrap::{WIDTH, Wrap};
use kv_engine::{Batch, SyncPolicy};

/// Whether to go on reading statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// `exit`/`quit`, or a failure under `--bail`.
    Stop,
}

/// Whether a failing statement stops the run (`--bail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    #[default]
    Continue,
    Bail,
}

/// Whether each statement is printed before its result (`--echo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Echo {
    #[default]
    Off,
    On,
}

/// Whether a parse error is followed by the line it is on, with a caret under the column
/// (as sqlite3 does at its prompt). Scripts get the one-line form, which greps well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Excerpt {
    #[default]
    Off,
    On,
}

/// Whether piped `put`/`delete` statements that are already waiting on the input are
/// committed together (`--group-commit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupCommit {
    #[default]
    Off,
    /// A run of `put`/`delete` statements whose lines are already buffered goes to the
    /// executor as one batch, which commits it as one
    /// [`KvStore::apply`](kv_engine::KvStore::apply): one commit (one fsync in wal mode, one
    /// snapshot in snapshot mode). Their results are printed only after it returns, in
    /// order. The batch ends before any other statement (so a read sees every earlier
    /// write), before a read that would wait for more input, and at [`MAX_BATCH`].
    On,
}

/// The most statements one group commit takes: bounds the memory a batch holds and the
/// wait before the first of its results is printed.
pub const MAX_BATCH: usize = 10_000;

/// What the session keeps of a statement handed to the executor, to report its result.
#[derive(Debug)]
struct Pending {
    /// Where it starts in the script, for errors.
    line: Option<usize>,
    /// The statement as typed, if it is still to be echoed (`--echo`, under group commit,
    /// where it is shown with its result).
    echo: Option<String>,
}

/// Statements parsed and waiting for the executor, with what is kept to report each
/// (apart, so the commands move into the executor without a copy).
#[derive(Debug, Default)]
struct Statements {
    commands: VecDeque<Command>,
    statements: VecDeque<Pending>,
}

impl Statements {
    fn push(&mut self, command: Command, pending: Pending) {
        self.commands.push_back(command);
        self.statements.push_back(pending);
    }
}

/// A store plus how to talk about it.
#[derive(Debug)]
pub struct Session {
    /// The store, where it lives, and the demo buttons around it.
    pub db: Database,
    /// How results are written to stdout.
    pub out_renderer: Renderer,
    /// How errors are written to stderr (coloured only if stderr is a terminal).
    pub err_renderer: Renderer,
    pub on_error: OnError,
    pub echo: Echo,
    pub excerpt: Excerpt,
    pub group_commit: GroupCommit,
    /// Where `pause` and `source --step` wait for Enter (only at a terminal).
    pub pauses: Pauses,
    failures: usize,
    batch: Statements,
    /// The open transaction (`begin`): its puts and deletes, queued until `commit`.
    transaction: Option<Batch>,
    /// The script line the open transaction began on.
    transaction_line: Option<usize>,
    /// The last line the outermost script read (where its end is reported).
    last_line: usize,
    /// The command files `source` is running, outermost first.
    sources: Vec<Sourced>,
    /// Whether the files being run wait before each statement (`source --step`).
    stepping: bool,
    /// `q` at a pause: every file being run stops, back to where the first was sourced.
    abandoned: bool,
}

/// What one statement did, for callers that react to it (the editor refreshes its keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    Nothing,
    Outcome(Outcome),
    Failed,
}

impl Session {
    /// A session on `db` (a [`KvStore`](kv_engine::KvStore) converts into one).
    pub fn new(db: impl Into<Database>, out_renderer: Renderer, err_renderer: Renderer) -> Self {
        Session {
            db: db.into(),
            out_renderer,
            err_renderer,
            on_error: OnError::Continue,
            echo: Echo::Off,
            excerpt: Excerpt::Off,
            group_commit: GroupCommit::Off,
            pauses: Pauses::Skip,
            failures: 0,
            batch: Statements::default(),
            transaction: None,
            transaction_line: None,
            last_line: 0,
            sources: Vec::new(),
            stepping: false,
            abandoned: false,
        }
    }

    /// How many statements failed so far (the exit status is 1 if any did).
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// How many mutations the open transaction holds; `None` if none is open.
    pub fn transaction_size(&self) -> Option<usize> {
        self.transaction.as_ref().map(Batch::len)
    }

    /// Rolls back the open transaction, if any, and says how many mutations it dropped.
    pub fn roll_back(&mut self) -> Option<usize> {
        self.transaction_line = None;
        self.transaction.take().map(|open| open.len())
    }

    /// Runs a whole script that is the shell's input (stdin): as
    /// [`run_script`](Self::run_script), and then a transaction still open (the input
    /// ended, `exit`, or a `--bail` failure stopped it) is rolled back and reported as a
    /// failure: what it queued was never committed.
    pub fn run_input(
        &mut self,
        input: &mut dyn ScriptInput,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let flow = self.run_script(input, out, err)?;
        let last = self.last_line;
        self.end_input(Some(last), out, err)?;
        Ok(flow)
    }

    /// The input is over (piped input at `last`, or the `-c` commands): an open
    /// transaction is rolled back and reported as a failure.
    pub fn end_input(
        &mut self,
        last: Option<usize>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        let began = self.transaction_line;
        let Some(dropped) = self.roll_back() else {
            return Ok(());
        };
        let began = match began {
            Some(line) => format!("transaction begun on line {line}"),
            None => "transaction".to_string(),
        };
        let message = format!(
            "{began} was not committed; rolled back {}",
            kv_engine::human::count(dropped as u64, "mutation")
        );
        self.fail(out, err, last, &message)?;
        Ok(())
    }

    /// Parses, runs and renders one statement. `line` is where it starts in a script
    /// (errors then say `line N`). `Err` only if writing to `out` or `err` failed.
    pub fn run_statement(
        &mut self,
        text: &str,
        line: Option<usize>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<(Flow, Ran)> {
        self.run_parsed(text, parse(text), line, out, err)
    }

    /// [`run_statement`](Self::run_statement) of a statement already parsed.
    fn run_parsed(
        &mut self,
        text: &str,
        parsed: Result<Option<Command>, ParseError>,
        line: Option<usize>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<(Flow, Ran)> {
        // A pause is a stage direction for whoever runs the file, not a command to show.
        let is_pause = matches!(parsed, Ok(Some(Command::Pause)));
        if self.echo == Echo::On && !text.trim().is_empty() && !is_pause {
            // A comment is narration (a demo's, read aloud): shown as it is, not as a
            // command.
            match text.trim_start().starts_with('#') {
                true => writeln!(out, "{text}")?,
                false => writeln!(out, "> {text}")?,
            }
        }
        // `source --step`: the statement is on screen; it runs when Enter is pressed.
        if self.stepping
            && !self.sources.is_empty()
            && !is_pause
            && matches!(parsed, Ok(Some(_)))
            && self.pauses.wait(source::STEP_PROMPT, out)? == Resume::Stop
        {
            self.abandoned = true;
            return Ok((Flow::Stop, Ran::Nothing));
        }
        let command = match parsed {
            Ok(Some(command)) => command,
            Ok(None) => return Ok((Flow::Continue, Ran::Nothing)),
            Err(parse_error) => {
                let (line, message) = locate(&parse_error, line);
                let failed = self.fail(out, err, line, &message)?;
                if let (Excerpt::On, Some(position)) = (self.excerpt, parse_error.position) {
                    self.err_renderer.excerpt(err, text, position)?;
                }
                return Ok(failed);
            }
        };
        // Already shown above.
        let pending = Pending { line, echo: None };
        self.batch.push(command, pending);
        self.commit_batch(out, err)
    }

    /// Hands the gathered statements to the executor, a round at a time (what it runs
    /// together), and reports each result in order: an `OK` only after the commit that
    /// holds it returned. A `--bail` failure or `exit` ends the run there: the rounds after
    /// it are not run. Returns how the last statement reported went.
    fn commit_batch(
        &mut self,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<(Flow, Ran)> {
        // Taken, so a file that a statement sources runs with a batch of its own.
        let mut batch = std::mem::take(&mut self.batch);
        let mut last = (Flow::Continue, Ran::Nothing);
        while let Some(first) = batch.commands.front() {
            // A round is a run of writes or one other statement: the trace of a write is
            // shown even when it has no filesystem operations (memory mode's lesson), and
            // `trace` itself shows none.
            let writes = matches!(first, Command::Put { .. } | Command::Delete { .. });
            let is_trace_switch = matches!(first, Command::Trace { .. });
            let is_power_cut = matches!(first, Command::PowerCut(_));
            let open = self.transaction_size();
            if self.db.may_abort() {
                // The next commit may abort the process: whatever was printed, and the
                // statement about to run, must not die in a buffer with it.
                if let Some(text) = batch.statements.front_mut().and_then(|p| p.echo.take()) {
                    writeln!(out, "> {text}")?;
                }
                out.flush()?;
            }
            let results = exec::run_next(&mut self.db, &mut self.transaction, &mut batch.commands);
            let mut flow = Flow::Continue;
            for result in results {
                let Some(pending) = batch.statements.pop_front() else {
                    break;
                };
                let line = pending.line;
                let (reported, ran) = self.report(pending, result, out, err)?;
                match &ran {
                    Ran::Outcome(Outcome::Begun) => self.transaction_line = line,
                    _ if self.transaction.is_none() => self.transaction_line = None,
                    _ => {}
                }
                if reported == Flow::Stop {
                    flow = Flow::Stop;
                }
                last = (flow, ran);
            }
            if let (true, Some(queued), None) = (is_power_cut, open, &self.transaction) {
                writeln!(
                    out,
                    "the open transaction was lost with the process: none of its {} was \
                     committed",
                    kv_engine::human::count(queued as u64, "queued mutation")
                )?;
            }
            if self.db.tracing() && !is_trace_switch {
                let entries = self.db.take_trace();
                if writes || !entries.is_empty() {
                    self.out_renderer
                        .trace(out, &entries, self.db.is_simulated())?;
                }
            }
            // An OK is an acknowledgement that a driving process may be waiting for (and
            // the kill test reads): it must not sit in a buffer. One write per round, as
            // redis-cli does; a commit costs far more than that.
            out.flush()?;
            if flow == Flow::Stop {
                break;
            }
        }
        // Handed back, emptied, so the next batch grows into the space this one took.
        if self.batch.commands.is_empty() {
            batch.commands.clear();
            batch.statements.clear();
            self.batch = batch;
        }
        Ok(last)
    }

    /// Reports what one statement did: its echo (if still due), its result or error, and
    /// what the session carries out for it (`source`, `pause`, `exit`).
    fn report(
        &mut self,
        pending: Pending,
        result: Result<Outcome, ExecError>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<(Flow, Ran)> {
        if let Some(text) = pending.echo {
            writeln!(out, "> {text}")?;
        }
        let line = pending.line;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => return self.fail(out, err, line, &error.to_string()),
        };
        match outcome {
            Outcome::Source { path, step } => {
                let flow = self.source(&path, step, line, out, err)?;
                Ok((flow, Ran::Outcome(Outcome::Source { path, step })))
            }
            Outcome::Pause => Ok((self.pause(out)?, Ran::Nothing)),
            outcome => {
                self.out_renderer.outcome(out, &outcome)?;
                if let Some(message) = outcome.failure() {
                    let message = message.to_string();
                    return Ok((
                        self.fail(out, err, line, &message)?.0,
                        Ran::Outcome(outcome),
                    ));
                }
                let flow = match outcome {
                    Outcome::Exit => Flow::Stop,
                    _ => Flow::Continue,
                };
                Ok((flow, Ran::Outcome(outcome)))
            }
        }
    }

    /// `source FILE`: runs the file's statements here, shown as `--echo` shows them, one
    /// at a time (no group commit: a demo shows each commit). The store, the disk and the
    /// armed buttons stay as the file leaves them. `exit` and a `--bail` failure inside
    /// stop the whole run, as they would in the file's place; `q` at a pause stops only
    /// the files, back to where the first was sourced.
    fn source(
        &mut self,
        name: &str,
        step: bool,
        line: Option<usize>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let (file, bytes) = match source::load(name, &self.sources) {
            Ok(loaded) => loaded,
            Err(message) => return Ok(self.fail(out, err, line, &message)?.0),
        };
        let saved = (self.echo, self.group_commit, self.stepping);
        self.echo = Echo::On;
        self.group_commit = GroupCommit::Off;
        self.stepping |= step;
        self.sources.push(file);
        // A transcript to read, as under --echo: folded to fit the screen.
        let (mut out, mut err) = (Wrap::new(out, WIDTH), Wrap::new(err, WIDTH));
        let ran = self
            .run_script(&mut &bytes[..], &mut out, &mut err)
            .and_then(|flow| out.flush().and(err.flush()).map(|()| flow));
        // Restored even if the output failed (Ctrl-C at the prompt stops it there).
        self.sources.pop();
        (self.echo, self.group_commit, self.stepping) = saved;
        let abandoned = self.abandoned;
        if self.sources.is_empty() {
            // Back where the first file was sourced, even if the output failed.
            self.abandoned = false;
        }
        let flow = ran?;
        match (abandoned, self.sources.is_empty()) {
            (true, true) => {
                writeln!(out, "(stopped {name})")?;
                Ok(Flow::Continue)
            }
            (true, false) => Ok(Flow::Stop),
            (false, _) => Ok(flow),
        }
    }

    /// `pause`: inside a file run by `source`, waits for Enter at a terminal; without a
    /// terminal it does nothing. Typed at the prompt it only says what it is for.
    fn pause(&mut self, out: &mut dyn Write) -> io::Result<Flow> {
        if self.sources.is_empty() {
            if self.pauses.waits() {
                writeln!(
                    out,
                    "(nothing to pause: pause waits for Enter in a file run by source)"
                )?;
            }
            return Ok(Flow::Continue);
        }
        // Stepping already waits before the statement that follows.
        if self.stepping {
            return Ok(Flow::Continue);
        }
        match self.pauses.wait(source::PAUSE_PROMPT, out)? {
            Resume::Go => Ok(Flow::Continue),
            Resume::Stop => {
                self.abandoned = true;
                Ok(Flow::Stop)
            }
        }
    }

    fn fail(
        &mut self,
        out: &mut dyn Write,
        err: &mut dyn Write,
        line: Option<usize>,
        message: &str,
    ) -> io::Result<(Flow, Ran)> {
        self.failures += 1;
        // Results written so far must appear before the error when both go to one file.
        out.flush()?;
        match self.sources.last() {
            Some(file) => self.err_renderer.error_in(err, &file.name, line, message)?,
            None => self.err_renderer.error(err, line, message)?,
        }
        let flow = match self.on_error {
            OnError::Bail => Flow::Stop,
            OnError::Continue => Flow::Continue,
        };
        Ok((flow, Ran::Failed))
    }

    /// Runs every statement read from `input` (piped mode): a statement continues over
    /// lines while its JSON value is an unfinished but valid prefix. A line that breaks
    /// the value ends the statement with an error and is then read afresh, so one typo
    /// does not swallow the rest of the script. Lines that are not UTF-8 or longer than
    /// [`MAX_LINE_BYTES`](crate::shell::script::MAX_LINE_BYTES) are reported and skipped,
    /// as is a statement they interrupt.
    pub fn run_script(
        &mut self,
        input: &mut dyn ScriptInput,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let mut reader = ScriptReader::new(input);
        let flow = self.read_script(&mut reader, out, err);
        self.last_line = reader.lines_read();
        flow
    }

    /// The loop of [`run_script`](Self::run_script).
    fn read_script(
        &mut self,
        reader: &mut ScriptReader<'_>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        loop {
            // A batch takes only what is already waiting: commit it before a read that
            // may block, so no result waits on input that may never come.
            if reader.may_wait() && self.commit_batch(out, err)?.0 == Flow::Stop {
                return Ok(Flow::Stop);
            }
            let read = reader.next_read();
            let flow = match read {
                Read::Pending => continue,
                Read::Statement { text, line } => self.script_statement(&text, line, out, err)?,
                Read::End => return Ok(self.commit_batch(out, err)?.0),
                // What is reported comes after the results of every statement before it.
                _ if self.commit_batch(out, err)?.0 == Flow::Stop => return Ok(Flow::Stop),
                Read::Broken {
                    text,
                    line,
                    message,
                } => {
                    if self.echo == Echo::On {
                        writeln!(out, "> {text}")?;
                    }
                    self.fail(out, err, line, &message)?.0
                }
                Read::Problem { line, message } => self.fail(out, err, Some(line), &message)?.0,
                Read::Failed { line, message } => {
                    self.fail(out, err, Some(line), &message)?;
                    return Ok(Flow::Stop);
                }
            };
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
    }

    /// Whether a run of `put`/`delete` statements already waiting on the input goes to the
    /// executor as one batch: under `--group-commit`, and with a delayed sync (`--sync
    /// DURATION|never`) outside sourced files, as Redis appends its pipelined commands once
    /// per event loop. Each OK still follows its own record into the kernel, so a kill
    /// loses none of them, and the output is what one commit each prints; only the number
    /// of write calls drops, which a delayed sync, with no fsync to share, would otherwise
    /// pay one per statement.
    fn gathers(&self) -> bool {
        self.group_commit == GroupCommit::On
            || (self.sources.is_empty() && self.db.sync_policy() != SyncPolicy::Always)
    }

    /// Runs one statement of a script, or, under group commit, adds a `put`/`delete` to
    /// the batch (committing the batch first before anything else).
    fn script_statement(
        &mut self,
        text: &str,
        line: usize,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let parsed = parse(text);
        if self.gathers() {
            match parsed {
                Ok(Some(command @ (Command::Put { .. } | Command::Delete { .. }))) => {
                    let echo = (self.echo == Echo::On).then(|| text.to_string());
                    let line = Some(line);
                    self.batch.push(command, Pending { line, echo });
                    if self.batch.commands.len() >= MAX_BATCH {
                        return Ok(self.commit_batch(out, err)?.0);
                    }
                    return Ok(Flow::Continue);
                }
                // Silent lines need not end a batch; anything that prints or reads must
                // see the batch committed and its results printed first.
                Ok(None) if self.echo == Echo::Off || text.trim().is_empty() => {
                    return Ok(Flow::Continue);
                }
                _ => {}
            }
        }
        if self.commit_batch(out, err)?.0 == Flow::Stop {
            return Ok(Flow::Stop);
        }
        Ok(self.run_parsed(text, parsed, Some(line), out, err)?.0)
    }
}

/// Runs `input` as a piped script on `session`; what it printed on stdout and on stderr.
/// For the unit tests of the modules a session drives (the database, the sync window).
#[cfg(test)]
pub(crate) fn run_text(session: &mut Session, input: &str) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    session
        .run_script(&mut input.as_bytes(), &mut out, &mut err)
        .unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::render::{Layout, Theme};

    fn session() -> Session {
        let renderer = Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        };
        Session::new(kv_engine::KvStore::in_memory(), renderer, renderer)
    }

    fn store(session: &Session) -> &kv_engine::KvStore {
        session.db.store().unwrap()
    }

    fn script(session: &mut Session, input: &[u8]) -> (Flow, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let flow = session
            .run_script(&mut &input[..], &mut out, &mut err)
            .unwrap();
        (
            flow,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn a_script_runs_every_statement_and_numbers_errors() {
        let mut s = session();
        let (flow, out, err) = script(
            &mut s,
            b"# setup\nput a 1\r\n\nput b {\"x\":\n  [1,\n 2]}\nget b\nbogus\nget a\n",
        );
        assert_eq!(flow, Flow::Continue);
        assert_eq!(out, "OK\nOK\n{\"x\":[1,2]}\n1\n");
        assert_eq!(
            err,
            "error: line 8: unknown command \"bogus\" (type help for the list)\n"
        );
        assert_eq!(s.failures(), 1);
    }

    #[test]
    fn bail_stops_at_the_first_failure_and_exit_stops_quietly() {
        let mut s = session();
        s.on_error = OnError::Bail;
        let (flow, out, _) = script(&mut s, b"put a 1\nget\nput b 2\n");
        assert_eq!((flow, out.as_str()), (Flow::Stop, "OK\n"));
        let mut s = session();
        let (flow, out, err) = script(&mut s, b"put a 1\nexit\nput b 2\n");
        assert_eq!((flow, out.as_str(), err.as_str()), (Flow::Stop, "OK\n", ""));
    }

    #[test]
    fn bad_lines_are_reported_and_skipped() {
        let mut s = session();
        let (_, out, err) = script(&mut s, b"put a \"x\xffy\"\nput b {\"v\":\n\xfe\nput c 1\n");
        assert_eq!(out, "OK\n");
        assert_eq!(
            err,
            "error: line 1: invalid UTF-8 at byte 9 of the line; line skipped\n\
             error: line 3: invalid UTF-8 at byte 1 of the line; line skipped \
             (and the statement started on line 2 with it)\n"
        );
        assert_eq!(store(&s).keys().collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn an_open_value_at_the_end_of_input_is_an_error_and_stores_nothing() {
        let mut s = session();
        let (_, out, err) = script(&mut s, b"put a 1\nput b [1,\n2,\n");
        assert_eq!(out, "OK\n");
        assert_eq!(
            err,
            "error: line 2: input ended inside a multi-line value (an unclosed bracket) \
             started on line 2; nothing was stored\n"
        );
        assert_eq!(store(&s).get("b"), None);
    }

    #[test]
    fn parse_errors_in_a_continued_value_name_the_right_line() {
        let mut s = session();
        let (_, _, err) = script(&mut s, b"get a\nput b {\"v\":\n  oops}\n");
        assert_eq!(
            err,
            "error: line 3: column 3: VALUE is not valid JSON: expected value \
             (the statement begun on line 2 stored nothing; line 3 is read as a new statement)\n\
             error: line 3: unknown command \"oops}\" (type help for the list)\n"
        );
        assert_eq!(store(&s).get("b"), None);
    }

    #[test]
    fn an_unclosed_value_does_not_swallow_the_lines_after_it() {
        let mut s = session();
        let (flow, out, err) = script(&mut s, b"put x {\"a\":\nput k v\nget k\nget x\n");
        assert_eq!(flow, Flow::Continue);
        assert_eq!(out, "OK\n\"v\"\n(nil)\n");
        assert_eq!(
            err,
            "error: line 2: column 1: VALUE is not valid JSON: expected value \
             (the statement begun on line 1 stored nothing; line 2 is read as a new statement)\n"
        );
        assert_eq!(s.failures(), 1);
        assert_eq!(store(&s).keys().collect::<Vec<_>>(), ["k"]);
    }

    #[test]
    fn the_line_read_afresh_may_itself_open_a_multi_line_value() {
        let mut s = session();
        let (_, out, err) = script(
            &mut s,
            b"put x [1,\n  2,\nput y {\"b\":\n  [true]}\nget y\nput z [\n",
        );
        assert_eq!(out, "OK\n{\"b\":[true]}\n");
        assert_eq!(
            err,
            "error: line 3: column 1: VALUE is not valid JSON: expected value \
             (the statement begun on line 1 stored nothing; line 3 is read as a new statement)\n\
             error: line 6: input ended inside a multi-line value (an unclosed bracket) \
             started on line 6; nothing was stored\n"
        );
        assert_eq!(store(&s).keys().collect::<Vec<_>>(), ["y"]);
    }

    #[test]
    fn a_break_found_late_is_reported_in_line_order() {
        // A long first line, so the break on line 2 is only noticed by the unreadable
        // line 3 (or the end of input): the errors still come in line order.
        let long = format!("put x [\"{}\",", "a".repeat(200));
        let mut s = session();
        let mut bytes = format!("{long}\noops\n").into_bytes();
        bytes.extend_from_slice(b"\xfe\nput c 1\n");
        let (_, out, err) = script(&mut s, &bytes);
        assert_eq!(out, "OK\n");
        assert_eq!(
            err,
            "error: line 2: column 1: VALUE is not valid JSON: expected value \
             (the statement begun on line 1 stored nothing; line 2 is read as a new statement)\n\
             error: line 2: unknown command \"oops\" (type help for the list)\n\
             error: line 3: invalid UTF-8 at byte 1 of the line; line skipped\n"
        );
        let mut s = session();
        let (_, out, err) = script(&mut s, format!("{long}\n  1,\noops\n").as_bytes());
        assert_eq!(out, "");
        assert_eq!(
            err,
            "error: line 3: column 1: VALUE is not valid JSON: expected value \
             (the statement begun on line 1 stored nothing; line 3 is read as a new statement)\n\
             error: line 3: unknown command \"oops\" (type help for the list)\n"
        );
    }

    #[test]
    fn a_broken_continuation_is_one_failure_for_bail_and_is_echoed() {
        let mut s = session();
        s.on_error = OnError::Bail;
        let (flow, out, err) = script(&mut s, b"put x {\"a\":\nput k v\n");
        assert_eq!((flow, out.as_str()), (Flow::Stop, ""));
        assert!(err.starts_with("error: line 2: column 1: "), "{err}");
        assert_eq!(
            store(&s).len(),
            0,
            "--bail stops before the line is read afresh"
        );
        let mut s = session();
        s.echo = Echo::On;
        let (_, out, _) = script(&mut s, b"put x {\"a\":\nput k v\n");
        assert_eq!(out, "> put x {\"a\":\nput k v\n> put k v\nOK\n");
    }

    /// A reader that yields `data`, then fails.
    struct Failing<'a> {
        data: &'a [u8],
    }

    impl io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::other("device gone"));
            }
            let n = self.data.len().min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_is_reported_as_a_failure_and_stops() {
        let mut s = session();
        let mut input = io::BufReader::new(Failing {
            data: b"put a 1
",
        });
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let flow = s.run_script(&mut input, &mut out, &mut err).unwrap();
        assert_eq!(flow, Flow::Stop);
        assert_eq!(out, b"OK\n");
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: line 2: cannot read input: device gone\n"
        );
        assert_eq!(s.failures(), 1);
    }

    /// A writer that only keeps what was flushed, so unflushed output is visible as lost.
    #[derive(Default)]
    struct FlushedOnly {
        pending: Vec<u8>,
        flushed: Vec<u8>,
    }

    impl Write for FlushedOnly {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.pending.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.flushed.append(&mut self.pending);
            Ok(())
        }
    }

    #[test]
    fn each_result_is_flushed_as_soon_as_it_is_written() {
        let mut s = session();
        let (mut out, mut err) = (FlushedOnly::default(), Vec::new());
        for (statement, flushed) in [
            ("put a 1", "OK\n"),
            ("get a", "OK\n1\n"),
            ("delete a", "OK\n1\nOK\n"),
            ("keys", "OK\n1\nOK\n"),
        ] {
            s.run_statement(statement, None, &mut out, &mut err)
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.flushed),
                flushed,
                "{statement}"
            );
            assert!(out.pending.is_empty(), "{statement}");
        }
    }

    #[test]
    fn an_excerpt_shows_where_a_statement_went_wrong() {
        let mut s = session();
        s.excerpt = Excerpt::On;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for statement in ["put x {\"a\": }", "put x [1,\n\t2 3]", "gte a"] {
            s.run_statement(statement, None, &mut out, &mut err)
                .unwrap();
        }
        let expected = [
            "error: column 13: VALUE is not valid JSON: expected value",
            "  put x {\"a\": }",
            "              ^",
            "error: line 2 column 4: VALUE is not valid JSON: expected `,` or `]`",
            "   2 3]",
            "     ^",
            "error: unknown command \"gte\"; did you mean \"get\"? (type help for the list)",
        ];
        assert_eq!(String::from_utf8(err).unwrap(), expected.join("\n") + "\n");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the command files are put on the real disk
    fn q_at_a_pause_stops_every_file_being_run_and_the_prompt_carries_on() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner.kv");
        let outer = dir.path().join("outer.kv");
        std::fs::write(&inner, "put a 1\npause\nput b 2\n").unwrap();
        std::fs::write(&outer, format!("source {}\nput c 3\n", inner.display())).unwrap();
        for answer in [&b"q\n"[..], b""] {
            let mut s = session();
            s.pauses = Pauses::Wait(Box::new(answer));
            let statement = format!("source {}", outer.display());
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (flow, _) = s
                .run_statement(&statement, None, &mut out, &mut err)
                .unwrap();
            assert_eq!(flow, Flow::Continue, "the prompt carries on");
            let out = String::from_utf8(out).unwrap();
            assert!(
                out.contains(source::PAUSE_PROMPT)
                    && out.ends_with(&format!("(stopped {})\n", outer.display())),
                "{out}"
            );
            assert_eq!(store(&s).keys().collect::<Vec<_>>(), ["a"], "{out}");
            // The next file starts afresh: nothing is left stopped.
            s.pauses = Pauses::Wait(Box::new(&b"\n"[..]));
            let statement = format!("source {}", inner.display());
            let (mut out, mut err) = (Vec::new(), Vec::new());
            s.run_statement(&statement, None, &mut out, &mut err)
                .unwrap();
            assert_eq!(store(&s).keys().collect::<Vec<_>>(), ["a", "b"]);
        }
    }

    #[test]
    fn echo_prints_each_statement_before_its_result() {
        let mut s = session();
        s.echo = Echo::On;
        let (_, out, _) = script(&mut s, b"put a 1\n\n# narration\nget a\n");
        assert_eq!(out, "> put a 1\nOK\n# narration\n> get a\n1\n");
    }
}

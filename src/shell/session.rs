//! [`Session`]: the loop body shared by every mode. It takes statements (one at a time
//! from the terminal or `-c`, or a whole script from a reader) and writes results and
//! errors to the writers it is given, so piped mode is tested without a process.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};

use crate::shell::command::{Command, ParseError, parse};
use crate::shell::continuation::{Continuation, Skip};
use crate::shell::database::Database;
use crate::shell::exec::{ExecError, Outcome, execute};
use crate::shell::render::Renderer;
use crate::shell::source::{self, Pauses, Resume, Sourced};
use crate::shell::wrap::{WIDTH, Wrap};
use kv_engine::{Error, Mutation};

/// The longest line a script may hold, and the longest statement, over all the lines a
/// multi-line value continues on. Longer lines and statements are reported and skipped
/// rather than buffered without bound (1 MiB lines once carried a 30 MB value in).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

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
    /// A run of `put`/`delete` statements whose lines are already buffered becomes one
    /// [`KvStore::apply`](kv_engine::KvStore::apply): one commit (one fsync in wal mode, one
    /// snapshot in snapshot mode). Their results are printed only after it returns, in
    /// order. The batch ends before any other statement (so a read sees every earlier
    /// write), before a read that would wait for more input, and at [`MAX_BATCH`].
    On,
}

/// How much of piped input is read at once: what a group commit can take in one go. The
/// shell reads stdin through a buffer this size, and so does `kv bench`'s piped workload.
pub const INPUT_BUFFER: usize = 256 * 1024;

/// The most statements one group commit takes: bounds the memory a batch holds and the
/// wait before the first of its results is printed.
pub const MAX_BATCH: usize = 10_000;

/// The input of a script: a reader that can tell, without blocking, whether a whole line
/// is already waiting in its buffer (group commit takes only what is already there).
pub trait ScriptInput: BufRead {
    /// Whether a complete line is buffered, so reading it will not wait.
    fn line_buffered(&self) -> bool;
}

impl ScriptInput for &[u8] {
    /// All of a byte slice is already there.
    fn line_buffered(&self) -> bool {
        true
    }
}

impl<R: Read> ScriptInput for BufReader<R> {
    fn line_buffered(&self) -> bool {
        self.buffer().contains(&b'\n')
    }
}

/// A `put` or `delete` statement waiting for its batch's commit.
#[derive(Debug)]
struct Pending {
    text: String,
    line: Option<usize>,
}

/// The statements of the group commit being gathered, and their mutations (kept apart
/// so they move into the commit without a copy).
#[derive(Debug, Default)]
struct Batch {
    statements: Vec<Pending>,
    mutations: Vec<Mutation>,
}

/// What each statement of a batch prints once it is committed: `OK`, or `(nil)` for the
/// delete of a key that will not be there, as it would print if run alone. Worked out
/// before the commit, on the store as it was (`None`: there is no store, the commit fails).
fn batch_outcomes(store: Option<&kv_engine::KvStore>, mutations: &[Mutation]) -> Vec<Outcome> {
    let has_delete = mutations
        .iter()
        .any(|mutation| matches!(mutation, Mutation::Delete { .. }));
    let Some(store) = store.filter(|_| has_delete) else {
        return vec![Outcome::Done; mutations.len()];
    };
    let mut present: HashMap<&str, bool> = HashMap::new();
    mutations
        .iter()
        .map(|mutation| {
            let key = mutation.key();
            let was = match present.get(key) {
                Some(&was) => was,
                None => store.contains_key(key),
            };
            match mutation {
                Mutation::Put { .. } | Mutation::PutText { .. } => {
                    present.insert(key, true);
                    Outcome::Done
                }
                Mutation::Delete { .. } => {
                    present.insert(key, false);
                    if was { Outcome::Done } else { Outcome::Missing }
                }
            }
        })
        .collect()
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
    batch: Batch,
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
            batch: Batch::default(),
            sources: Vec::new(),
            stepping: false,
            abandoned: false,
        }
    }

    /// How many statements failed so far (the exit status is 1 if any did).
    pub fn failures(&self) -> usize {
        self.failures
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
        let parsed = parse(text);
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
        if self.db.may_abort() {
            // The next commit may abort the process: whatever was printed must not die
            // in a buffer with it.
            out.flush()?;
        }
        let is_trace_switch = matches!(command, Command::Trace { .. });
        let writes = matches!(command, Command::Put { .. } | Command::Delete { .. });
        let result = match execute(&mut self.db, command) {
            Ok(Outcome::Source { path, step }) => {
                let flow = self.source(&path, step, line, out, err)?;
                (flow, Ran::Outcome(Outcome::Source { path, step }))
            }
            Ok(Outcome::Pause) => (self.pause(out)?, Ran::Nothing),
            Ok(outcome) => {
                self.out_renderer.outcome(out, &outcome)?;
                let flow = if outcome == Outcome::Exit {
                    Flow::Stop
                } else {
                    Flow::Continue
                };
                match outcome.failure() {
                    Some(message) => {
                        let message = message.to_string();
                        (
                            self.fail(out, err, line, &message)?.0,
                            Ran::Outcome(outcome),
                        )
                    }
                    None => (flow, Ran::Outcome(outcome)),
                }
            }
            Err(error) => self.fail(out, err, line, &error.to_string())?,
        };
        if self.db.tracing() && !is_trace_switch {
            let entries = self.db.take_trace();
            // "No filesystem operations" is news only for a write (memory mode's lesson).
            if writes || !entries.is_empty() {
                self.out_renderer
                    .trace(out, &entries, self.db.is_simulated())?;
            }
        }
        // An OK is an acknowledgement that a driving process may be waiting for (and the
        // kill test reads): it must not sit in a buffer. One write per statement, as
        // redis-cli does; a commit costs far more than that.
        out.flush()?;
        Ok(result)
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

    /// Reports a statement begun on line `start` that line `line_no` made invalid.
    fn broken_continuation(
        &mut self,
        text: &str,
        start: usize,
        line_no: usize,
        parse_error: &ParseError,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        if self.echo == Echo::On {
            writeln!(out, "> {text}")?;
        }
        let (line, message) = locate(parse_error, Some(start));
        let message = format!(
            "{message} (the statement begun on line {start} stored nothing; \
             line {line_no} is read as a new statement)"
        );
        Ok(self.fail(out, err, line, &message)?.0)
    }

    /// Runs every statement read from `input` (piped mode): a statement continues over
    /// lines while its JSON value is an unfinished but valid prefix. A line that breaks
    /// the value ends the statement with an error and is then read afresh, so one typo
    /// does not swallow the rest of the script. Lines that are not UTF-8 or longer than
    /// [`MAX_LINE_BYTES`] are reported and skipped, as is a statement they interrupt.
    pub fn run_script(
        &mut self,
        input: &mut dyn ScriptInput,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let mut buf = Vec::new();
        let mut line_no = 0;
        let mut lines = ScriptLines::default();
        loop {
            // A batch takes only what is already waiting: commit it before a read that
            // may block, so no result waits on input that may never come.
            if lines.again.is_empty()
                && !input.line_buffered()
                && self.commit_batch(out, err)? == Flow::Stop
            {
                return Ok(Flow::Stop);
            }
            let (number, line) = match lines.again.pop_front() {
                Some(queued) => queued,
                None => match read_line(input, &mut buf, MAX_LINE_BYTES) {
                    Err(read_error) => {
                        if self.commit_batch(out, err)? == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                        let message = format!("cannot read input: {read_error}");
                        self.fail(out, err, Some(line_no + 1), &message)?;
                        return Ok(Flow::Stop);
                    }
                    Ok(LineRead::Eof) => {
                        if self.commit_batch(out, err)? == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                        let Some(continuation) = lines.pending.take() else {
                            return Ok(Flow::Continue);
                        };
                        let flow = self.input_ended(continuation, &mut lines, out, err)?;
                        // Lines queued again after a statement that ended early still run.
                        if flow == Flow::Stop || lines.again.is_empty() {
                            return Ok(flow);
                        }
                        continue;
                    }
                    Ok(read) => {
                        line_no += 1;
                        // A byte-order mark (some Windows editors start a file with one)
                        // is not part of the first verb, as in the sqlite3 shell.
                        let bytes = match line_no {
                            1 => buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf),
                            _ => &buf,
                        };
                        (line_no, Line::read(read, bytes))
                    }
                },
            };
            let flow = match line {
                Line::Text(text) => self.script_line(number, text, &mut lines, out, err)?,
                // Part of a statement already reported too long: dropped with it.
                Line::Unreadable(_) if lines.skipping.is_some() => Flow::Continue,
                Line::Unreadable(problem) => {
                    if self.commit_batch(out, err)? == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                    self.unreadable_line(number, problem, &mut lines, out, err)?
                }
            };
            if flow == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
    }

    /// A readable line of a script: the next line of a pending statement, the start of
    /// one, or a statement of its own.
    fn script_line(
        &mut self,
        number: usize,
        text: String,
        lines: &mut ScriptLines,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        // Otherwise the skipped statement ended before this line: read it as usual.
        if let Some(mut skip) = lines.skipping.take()
            && skip.swallows(&text)
        {
            if skip.open() {
                lines.skipping = Some(skip);
            }
            return Ok(Flow::Continue);
        }
        if let Some(mut continuation) = lines.pending.take() {
            if continuation.text_len() + 1 + text.len() > MAX_LINE_BYTES {
                // The statement may have ended on an earlier line (found lazily): end it
                // there, and read this line again after it.
                if let Some(end) = continuation.finish() {
                    lines.again.push_front((number, Line::Text(text)));
                    return self.end_continuation(continuation, end, lines, out, err);
                }
                return self.statement_too_long(continuation, number, text, lines, out, err);
            }
            return match continuation.push(text) {
                None => {
                    lines.pending = Some(continuation);
                    Ok(Flow::Continue)
                }
                Some(end) => self.end_continuation(continuation, end, lines, out, err),
            };
        }
        match Continuation::begin(number, &text) {
            Some(continuation) => {
                lines.pending = Some(continuation);
                Ok(Flow::Continue)
            }
            None => self.script_statement(&text, Some(number), out, err),
        }
    }

    /// Runs one statement of a script, or, under group commit, adds a `put`/`delete` to
    /// the batch (committing the batch first before anything else).
    fn script_statement(
        &mut self,
        text: &str,
        line: Option<usize>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        // An armed crash point must hit exactly the next write, alone.
        if self.group_commit == GroupCommit::Off || self.db.is_armed() {
            if self.commit_batch(out, err)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            return Ok(self.run_statement(text, line, out, err)?.0);
        }
        let mutation = match parse(text) {
            Ok(Some(Command::Put { key, value })) => Mutation::PutText { key, text: value },
            Ok(Some(Command::Delete { key })) => Mutation::Delete { key },
            // Silent lines need not end a batch; anything that prints or reads must see
            // the batch committed and its results printed first.
            Ok(None) if self.echo == Echo::Off || text.trim().is_empty() => {
                return Ok(Flow::Continue);
            }
            _ => {
                if self.commit_batch(out, err)? == Flow::Stop {
                    return Ok(Flow::Stop);
                }
                return Ok(self.run_statement(text, line, out, err)?.0);
            }
        };
        if self.db.store().is_none() {
            // No store (a reopen failed): the statement reports that as usual.
            if self.commit_batch(out, err)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
            return Ok(self.run_statement(text, line, out, err)?.0);
        }
        self.batch.mutations.push(mutation);
        self.batch.statements.push(Pending {
            text: text.to_string(),
            line,
        });
        if self.batch.mutations.len() >= MAX_BATCH {
            return self.commit_batch(out, err);
        }
        Ok(Flow::Continue)
    }

    /// Commits the gathered batch as one [`KvStore::apply`](kv_engine::KvStore::apply), then
    /// prints each statement's result in order: `OK` only after the commit returned. If
    /// the commit fails, nothing of the batch was stored and every statement reports the
    /// error.
    fn commit_batch(&mut self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<Flow> {
        if self.batch.statements.is_empty() {
            return Ok(Flow::Continue);
        }
        let Batch {
            statements,
            mutations,
        } = std::mem::take(&mut self.batch);
        let outcomes = batch_outcomes(self.db.store(), &mutations);
        let result = match self.db.store_mut() {
            Ok(store) => store.apply(mutations).map_err(ExecError::from),
            Err(error) => Err(error),
        };
        let mut flow = Flow::Continue;
        match result {
            Ok(()) => {
                for (item, outcome) in statements.iter().zip(&outcomes) {
                    self.echo_statement(&item.text, out)?;
                    self.out_renderer.outcome(out, outcome)?;
                }
            }
            // A value refused before anything was written: the batch is replayed one
            // statement at a time, so each reports exactly as it would alone.
            Err(ExecError::Store(Error::ValueTooDeep { .. } | Error::EntryTooLarge { .. })) => {
                for item in &statements {
                    if self.run_statement(&item.text, item.line, out, err)?.0 == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                return Ok(Flow::Continue);
            }
            Err(error) => {
                let message =
                    format!("{error} (the whole group commit failed: nothing of it was stored)");
                for item in &statements {
                    self.echo_statement(&item.text, out)?;
                    if self.fail(out, err, item.line, &message)?.0 == Flow::Stop {
                        flow = Flow::Stop;
                    }
                }
            }
        }
        if self.db.tracing() {
            let entries = self.db.take_trace();
            self.out_renderer
                .trace(out, &entries, self.db.is_simulated())?;
        }
        out.flush()?;
        Ok(flow)
    }

    fn echo_statement(&self, text: &str, out: &mut dyn Write) -> io::Result<()> {
        if self.echo == Echo::On {
            writeln!(out, "> {text}")?;
        }
        Ok(())
    }

    /// A line that is not UTF-8 or too long: reported and skipped, with the statement it
    /// interrupts.
    fn unreadable_line(
        &mut self,
        number: usize,
        problem: String,
        lines: &mut ScriptLines,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let Some(mut continuation) = lines.pending.take() else {
            return Ok(self.fail(out, err, Some(number), &problem)?.0);
        };
        // If the statement ended on an earlier line, end it there as reading line by line
        // would have: the lines after its end are read again, and this line's problem is
        // reported after them.
        if let Some(end) = continuation.finish() {
            lines.again.push_front((number, Line::Unreadable(problem)));
            return self.end_continuation(continuation, end, lines, out, err);
        }
        let message = format!(
            "{problem} (and the statement started on line {} with it)",
            continuation.start_line()
        );
        Ok(self.fail(out, err, Some(number), &message)?.0)
    }

    /// A statement that would pass [`MAX_LINE_BYTES`] with its line `number`: reported
    /// and dropped, with the rest of its value's lines, so that memory stays bounded.
    fn statement_too_long(
        &mut self,
        continuation: Continuation,
        number: usize,
        text: String,
        lines: &mut ScriptLines,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        if self.commit_batch(out, err)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        let start = continuation.start_line();
        let (skip, swallowed) = continuation.give_up(&text);
        if !swallowed {
            lines.again.push_front((number, Line::Text(text)));
        }
        let rest = match &skip {
            Some(_) => "; the rest of its value is skipped too",
            None => "",
        };
        lines.skipping = skip;
        let message = format!(
            "the statement begun on line {start} is longer than {} MiB over its lines (the \
             limit of one statement, as of one line); skipped, nothing of it was stored{rest}",
            MAX_LINE_BYTES / (1024 * 1024)
        );
        Ok(self.fail(out, err, Some(number), &message)?.0)
    }

    /// The input ended with a statement pending: it ended on an earlier line, or its
    /// value is still open.
    fn input_ended(
        &mut self,
        mut continuation: Continuation,
        lines: &mut ScriptLines,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        if let Some(end) = continuation.finish() {
            return self.end_continuation(continuation, end, lines, out, err);
        }
        let start = continuation.start_line();
        let message = format!(
            "input ended inside a multi-line value (an unclosed bracket) started on line \
             {start}; nothing was stored"
        );
        Ok(self.fail(out, err, Some(start), &message)?.0)
    }

    /// Runs or reports a continued statement that ended at its line `end`, and queues
    /// the lines after it to be read again (from the line that broke it, if it broke).
    fn end_continuation(
        &mut self,
        continuation: Continuation,
        end: usize,
        lines: &mut ScriptLines,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<Flow> {
        let start = continuation.start_line();
        let text = continuation.text_through(end).to_string();
        let (flow, first_again) = match parse(&text) {
            // The value is complete: run it like any statement.
            Ok(_) => (
                self.script_statement(&text, Some(start), out, err)?,
                end + 1,
            ),
            // The value was a valid JSON prefix until line `end`, so the error is in that
            // line: most likely the value was never closed and the line is the next
            // statement. Report the broken statement, then read the line afresh.
            Err(parse_error) => {
                if self.commit_batch(out, err)? == Flow::Stop {
                    return Ok(Flow::Stop);
                }
                let flow =
                    self.broken_continuation(&text, start, start + end, &parse_error, out, err)?;
                (flow, end)
            }
        };
        let statement_lines = continuation.into_lines();
        for (i, line) in statement_lines
            .into_iter()
            .enumerate()
            .skip(first_again)
            .rev()
        {
            lines.again.push_front((start + i, Line::Text(line)));
        }
        Ok(flow)
    }
}

/// What a script being run holds between lines.
#[derive(Debug, Default)]
struct ScriptLines {
    /// A statement whose value is still open.
    pending: Option<Continuation>,
    /// Lines to read again, in order, before reading more: those after the end of a
    /// statement that was found to have ended before the line that revealed it.
    again: VecDeque<(usize, Line)>,
    /// The rest of a statement that grew too long, being read and dropped.
    skipping: Option<Skip>,
}

/// One line of a script, as read.
#[derive(Debug)]
enum Line {
    Text(String),
    /// Not UTF-8, or too long: why, to report in its place.
    Unreadable(String),
}

impl Line {
    fn read(read: LineRead, buf: &[u8]) -> Line {
        if read == LineRead::TooLong {
            return Line::Unreadable(format!(
                "line is longer than {} MiB; skipped",
                MAX_LINE_BYTES / (1024 * 1024)
            ));
        }
        match std::str::from_utf8(buf) {
            Ok(text) => Line::Text(text.to_string()),
            Err(utf8) => Line::Unreadable(format!(
                "invalid UTF-8 at byte {} of the line; line skipped",
                utf8.valid_up_to() + 1
            )),
        }
    }
}

/// Where a parse error is in the script, and its message with the column.
fn locate(error: &ParseError, start: Option<usize>) -> (Option<usize>, String) {
    match (start, error.position) {
        (Some(start), Some(position)) => (
            Some(start + position.line - 1),
            format!("column {}: {}", position.column, error.message),
        ),
        (start, _) => (start, error.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineRead {
    Eof,
    Line,
    TooLong,
}

/// Reads one line into `buf` without its `\n` or `\r\n`, holding at most `limit` bytes:
/// the rest of a longer line is read and dropped.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<LineRead> {
    buf.clear();
    let mut seen = false;
    let mut too_long = false;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            break;
        }
        seen = true;
        let (chunk, ends_line) = match available.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (&available[..newline], true),
            None => (available, false),
        };
        let used = chunk.len() + usize::from(ends_line);
        if !too_long {
            if buf.len() + chunk.len() > limit {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        input.consume(used);
        if ends_line {
            break;
        }
    }
    if !seen {
        return Ok(LineRead::Eof);
    }
    if too_long {
        return Ok(LineRead::TooLong);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(LineRead::Line)
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

    #[test]
    fn overlong_lines_are_skipped_whole() {
        let mut input = b"put a ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\nput b 2\n");
        let mut buf = Vec::new();
        let mut reader = &input[..];
        assert_eq!(
            read_line(&mut reader, &mut buf, 50).unwrap(),
            LineRead::TooLong
        );
        assert_eq!(
            read_line(&mut reader, &mut buf, 50).unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"put b 2");
        assert_eq!(read_line(&mut reader, &mut buf, 50).unwrap(), LineRead::Eof);
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

//! Script input: the statements of piped input (or of a file run by `source`), read line
//! by line through a byte-limited line reader. A byte-order mark before the first line is
//! dropped; a statement whose JSON value is left open continues over the lines after it
//! (see [`Continuation`]); lines that are not UTF-8 or too long are reported in their
//! place. Nothing here runs or prints: [`ScriptReader`] hands the session what it read,
//! one [`Read`] at a time.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};

use crate::shell::command::{ParseError, parse};
use crate::shell::continuation::{Continuation, Skip};

/// The longest line a script may hold, and the longest statement, over all the lines a
/// multi-line value continues on. Longer lines and statements are reported and skipped
/// rather than buffered without bound (1 MiB lines once carried a 30 MB value in).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// How much of piped input is read at once: what a group commit can take in one go. The
/// shell reads stdin through a buffer this size, and so does `kv bench`'s piped workload.
pub const INPUT_BUFFER: usize = 256 * 1024;

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

impl<R: io::Read> ScriptInput for BufReader<R> {
    fn line_buffered(&self) -> bool {
        self.buffer().contains(&b'\n')
    }
}

/// What one step of reading a script gave.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// The input is over (or failed, as [`Read::Failed`] said).
    End,
    /// A line was taken into a statement still open, or dropped with one being skipped:
    /// nothing to run yet.
    Pending,
    /// A whole statement, over one line or several, beginning on script line `line`.
    Statement { text: String, line: usize },
    /// A statement whose multi-line value a later line broke: it stored nothing, and the
    /// line that broke it is read again as a new statement. `text` is the statement as
    /// far as it went (shown under `--echo`); `message` says where and why.
    Broken {
        text: String,
        line: Option<usize>,
        message: String,
    },
    /// A line, or the statement it was part of, that cannot run, and why: reported in its
    /// place, and reading goes on.
    Problem { line: usize, message: String },
    /// Reading the input failed: reported, and nothing more is read.
    Failed { line: usize, message: String },
}

/// Reads a script's statements, line by line.
pub struct ScriptReader<'a> {
    input: &'a mut dyn ScriptInput,
    /// The line being read, reused from one line to the next.
    buf: Vec<u8>,
    /// The number of the last line read from the input.
    line_no: usize,
    /// A statement whose value is still open.
    pending: Option<Continuation>,
    /// Lines to read again, in order, before reading more: those after the end of a
    /// statement that was found to have ended before the line that revealed it.
    again: VecDeque<(usize, Line)>,
    /// The rest of a statement that grew too long, being read and dropped.
    skipping: Option<Skip>,
    /// Reading failed: nothing more is read.
    failed: bool,
}

impl<'a> ScriptReader<'a> {
    /// A reader of the statements of `input`, from its first line.
    pub fn new(input: &'a mut dyn ScriptInput) -> Self {
        ScriptReader {
            input,
            buf: Vec::new(),
            line_no: 0,
            pending: None,
            again: VecDeque::new(),
            skipping: None,
            failed: false,
        }
    }

    /// How many lines were read from the input so far.
    pub fn lines_read(&self) -> usize {
        self.line_no
    }

    /// Whether the next step may wait for input that is not there yet (so what is
    /// gathered for a group commit must be committed first).
    pub fn may_wait(&self) -> bool {
        self.again.is_empty() && !self.failed && !self.input.line_buffered()
    }

    /// Takes one line (from the input, or one read again) and says what it gave.
    pub fn next_read(&mut self) -> Read {
        let (number, line) = match self.again.pop_front() {
            Some(queued) => queued,
            None if self.failed => return Read::End,
            None => match read_line(self.input, &mut self.buf, MAX_LINE_BYTES) {
                Err(read_error) => {
                    self.failed = true;
                    return Read::Failed {
                        line: self.line_no + 1,
                        message: format!("cannot read input: {read_error}"),
                    };
                }
                Ok(LineRead::Eof) => return self.input_ended(),
                Ok(read) => {
                    self.line_no += 1;
                    // A byte-order mark (some Windows editors start a file with one) is
                    // not part of the first verb, as in the sqlite3 shell.
                    let bytes = match self.line_no {
                        1 => self.buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&self.buf),
                        _ => &self.buf,
                    };
                    (self.line_no, Line::read(read, bytes))
                }
            },
        };
        match line {
            Line::Text(text) => self.text_line(number, text),
            // Part of a statement already reported too long: dropped with it.
            Line::Unreadable(_) if self.skipping.is_some() => Read::Pending,
            Line::Unreadable(problem) => self.unreadable_line(number, problem),
        }
    }

    /// A readable line: the next line of a pending statement, the start of one, or a
    /// statement of its own.
    fn text_line(&mut self, number: usize, text: String) -> Read {
        // Otherwise the skipped statement ended before this line: read it as usual.
        if let Some(mut skip) = self.skipping.take()
            && skip.swallows(&text)
        {
            if skip.open() {
                self.skipping = Some(skip);
            }
            return Read::Pending;
        }
        if let Some(mut continuation) = self.pending.take() {
            if continuation.text_len() + 1 + text.len() > MAX_LINE_BYTES {
                // The statement may have ended on an earlier line (found lazily): end it
                // there, and read this line again after it.
                if let Some(end) = continuation.finish() {
                    self.again.push_front((number, Line::Text(text)));
                    return self.end_continuation(continuation, end);
                }
                return self.statement_too_long(continuation, number, text);
            }
            return match continuation.push(text) {
                None => {
                    self.pending = Some(continuation);
                    Read::Pending
                }
                Some(end) => self.end_continuation(continuation, end),
            };
        }
        match Continuation::begin(number, &text) {
            Some(continuation) => {
                self.pending = Some(continuation);
                Read::Pending
            }
            None => Read::Statement { text, line: number },
        }
    }

    /// A line that is not UTF-8 or too long: reported and skipped, with the statement it
    /// interrupts.
    fn unreadable_line(&mut self, number: usize, problem: String) -> Read {
        let Some(mut continuation) = self.pending.take() else {
            return Read::Problem {
                line: number,
                message: problem,
            };
        };
        // If the statement ended on an earlier line, end it there as reading line by line
        // would have: the lines after its end are read again, and this line's problem is
        // reported after them.
        if let Some(end) = continuation.finish() {
            self.again.push_front((number, Line::Unreadable(problem)));
            return self.end_continuation(continuation, end);
        }
        Read::Problem {
            line: number,
            message: format!(
                "{problem} (and the statement started on line {} with it)",
                continuation.start_line()
            ),
        }
    }

    /// A statement that would pass [`MAX_LINE_BYTES`] with its line `number`: reported
    /// and dropped, with the rest of its value's lines, so that memory stays bounded.
    fn statement_too_long(
        &mut self,
        continuation: Continuation,
        number: usize,
        text: String,
    ) -> Read {
        let start = continuation.start_line();
        let (skip, swallowed) = continuation.give_up(&text);
        if !swallowed {
            self.again.push_front((number, Line::Text(text)));
        }
        let rest = match &skip {
            Some(_) => "; the rest of its value is skipped too",
            None => "",
        };
        self.skipping = skip;
        Read::Problem {
            line: number,
            message: format!(
                "the statement begun on line {start} is longer than {} MiB over its lines (the \
                 limit of one statement, as of one line); skipped, nothing of it was stored{rest}",
                MAX_LINE_BYTES / (1024 * 1024)
            ),
        }
    }

    /// The input ended: a statement still pending ended on an earlier line, or its value
    /// is still open.
    fn input_ended(&mut self) -> Read {
        let Some(mut continuation) = self.pending.take() else {
            return Read::End;
        };
        if let Some(end) = continuation.finish() {
            return self.end_continuation(continuation, end);
        }
        let start = continuation.start_line();
        Read::Problem {
            line: start,
            message: format!(
                "input ended inside a multi-line value (an unclosed bracket) started on line \
                 {start}; nothing was stored"
            ),
        }
    }

    /// A continued statement that ended at its line `end`: whole, or broken by that line.
    /// The lines after it are queued to be read again (from the line that broke it, if it
    /// broke).
    fn end_continuation(&mut self, continuation: Continuation, end: usize) -> Read {
        let start = continuation.start_line();
        let text = continuation.text_through(end).to_string();
        let (read, first_again) = match parse(&text) {
            // The value is complete: run it like any statement.
            Ok(_) => (Read::Statement { text, line: start }, end + 1),
            // The value was a valid JSON prefix until line `end`, so the error is in that
            // line: most likely the value was never closed and the line is the next
            // statement. Report the broken statement, then read the line afresh.
            Err(parse_error) => {
                let (line, message) = locate(&parse_error, Some(start));
                let message = format!(
                    "{message} (the statement begun on line {start} stored nothing; \
                     line {} is read as a new statement)",
                    start + end
                );
                (
                    Read::Broken {
                        text,
                        line,
                        message,
                    },
                    end,
                )
            }
        };
        let statement_lines = continuation.into_lines();
        for (i, line) in statement_lines
            .into_iter()
            .enumerate()
            .skip(first_again)
            .rev()
        {
            self.again.push_front((start + i, Line::Text(line)));
        }
        read
    }
}

/// Where a parse error is in the script, and its message with the column.
pub fn locate(error: &ParseError, start: Option<usize>) -> (Option<usize>, String) {
    match (start, error.position) {
        (Some(start), Some(position)) => (
            Some(start + position.line - 1),
            format!("column {}: {}", position.column, error.message),
        ),
        (start, _) => (start, error.to_string()),
    }
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

    /// Every step of reading `input`, up to the end.
    fn reads(input: &[u8]) -> Vec<Read> {
        let mut input = input;
        let mut reader = ScriptReader::new(&mut input);
        let mut reads = Vec::new();
        loop {
            match reader.next_read() {
                Read::End => return reads,
                Read::Pending => {}
                read => reads.push(read),
            }
        }
    }

    fn statement(text: &str, line: usize) -> Read {
        Read::Statement {
            text: text.to_string(),
            line,
        }
    }

    #[test]
    fn statements_come_whole_with_the_line_they_begin_on() {
        assert_eq!(
            reads(b"\xef\xbb\xbfput a 1\r\n\nput b [1,\n 2]\nget b"),
            [
                statement("put a 1", 1),
                statement("", 2),
                statement("put b [1,\n 2]", 3),
                statement("get b", 5),
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_dropped_only_before_the_first_line() {
        assert_eq!(
            reads(b"get a\n\xef\xbb\xbfget b\n"),
            [statement("get a", 1), statement("\u{feff}get b", 2)]
        );
    }

    #[test]
    fn a_broken_value_is_reported_and_its_breaking_line_read_again() {
        assert_eq!(
            reads(b"put x {\"a\":\nput k v\n"),
            [
                Read::Broken {
                    text: "put x {\"a\":\nput k v".to_string(),
                    line: Some(2),
                    message: "column 1: VALUE is not valid JSON: expected value (the \
                              statement begun on line 1 stored nothing; line 2 is read as \
                              a new statement)"
                        .to_string(),
                },
                statement("put k v", 2),
            ]
        );
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

    #[test]
    fn only_a_line_not_yet_buffered_may_wait() {
        let mut input = BufReader::new(&b"put a 1\nput b 2\nput c"[..]);
        let mut reader = ScriptReader::new(&mut input);
        // Nothing is buffered before the first read.
        assert!(reader.may_wait());
        assert_eq!(reader.next_read(), statement("put a 1", 1));
        assert!(!reader.may_wait(), "a whole line is in the buffer");
        assert_eq!(reader.next_read(), statement("put b 2", 2));
        assert!(reader.may_wait(), "only part of a line is");
    }
}

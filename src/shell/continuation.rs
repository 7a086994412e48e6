//! [`Continuation`]: a piped statement whose JSON value goes on over several lines.
//!
//! A line belongs to the statement while the value so far is a valid, unfinished JSON
//! prefix ([`needs_more_input`]). Asking that of the whole text at every line parses it
//! again each time: quadratic in the number of lines, minutes for a 16,000-line value. So
//! the full question is asked only when a line may have finished or broken the value (its
//! outermost bracket closed, or it ended inside a string) or the text has doubled since
//! the last time; when the answer is no, bisection finds the first line that ended it.
//! Once a prefix is finished or broken, every longer one is too, so the answers are the
//! same as asking at every line, and a value is seen finished at the line that finishes it.

use kv_engine::json_scan::{Scanner, Token};

use crate::shell::command::{bracket_value_start, needs_more_input};

/// The lines of a statement whose value is still open.
#[derive(Debug)]
pub struct Continuation {
    /// The script line the statement began on.
    start_line: usize,
    lines: Vec<String>,
    /// The lines joined with `\n`, as the statement is parsed.
    text: String,
    /// Where each line ends in `text`.
    ends: Vec<usize>,
    brackets: Brackets,
    /// How many lines are known to leave the value open.
    known_open: usize,
    /// The length of `text` when that was last established.
    checked_len: usize,
}

impl Continuation {
    /// A continuation begun by `line` (script line `line_no`), if `line` leaves a value
    /// open; `None` if it is a statement of its own.
    pub fn begin(line_no: usize, line: &str) -> Option<Self> {
        if !needs_more_input(line) {
            return None;
        }
        let value_start = bracket_value_start(line)?;
        let mut brackets = Brackets::default();
        brackets.feed(&line[value_start..]);
        Some(Continuation {
            start_line: line_no,
            lines: vec![line.to_string()],
            text: line.to_string(),
            ends: vec![line.len()],
            brackets,
            known_open: 1,
            checked_len: line.len(),
        })
    }

    /// The script line the statement began on.
    pub fn start_line(&self) -> usize {
        self.start_line
    }

    /// Adds the next line. `Some(i)`: the statement ended at its line `i` (0-based), which
    /// finished or broke its value; lines after `i` are not part of it.
    pub fn push(&mut self, line: String) -> Option<usize> {
        self.text.push('\n');
        self.text.push_str(&line);
        self.ends.push(self.text.len());
        let suspicious = self.brackets.feed("\n") | self.brackets.feed(&line);
        self.lines.push(line);
        if !suspicious && self.text.len() < 2 * self.checked_len {
            return None;
        }
        self.find_end()
    }

    /// At the end of the input: `Some(i)` if the statement ended at its line `i`, `None`
    /// if its value is still open.
    pub fn finish(&mut self) -> Option<usize> {
        self.find_end()
    }

    /// The statement's text through its line `i`.
    pub fn text_through(&self, i: usize) -> &str {
        &self.text[..self.ends[i]]
    }

    /// The statement's length so far in bytes (its lines joined with `\n`).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Gives up the statement (it grew too long) at `line`, its next line: `Some` skip
    /// that swallows the lines up to the end of its value, or `None` if `line` is already
    /// past it (it closed the value, or a string left open across a line ended it, in
    /// which case `line` is not part of the statement; see [`Skip::swallows`]).
    pub fn give_up(self, line: &str) -> (Option<Skip>, bool) {
        let mut skip = Skip {
            brackets: self.brackets,
        };
        if !skip.swallows(line) {
            return (None, false);
        }
        (skip.open().then_some(skip), true)
    }

    /// The statement's lines, to read again those after its end.
    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }

    fn find_end(&mut self) -> Option<usize> {
        let last = self.lines.len() - 1;
        if needs_more_input(&self.text) {
            self.known_open = self.lines.len();
            self.checked_len = self.text.len();
            return None;
        }
        // Bisect between the last line known to leave the value open and the last line.
        let (mut open, mut ended) = (self.known_open - 1, last);
        while ended - open > 1 {
            let middle = open + (ended - open) / 2;
            if needs_more_input(self.text_through(middle)) {
                open = middle;
            } else {
                ended = middle;
            }
        }
        Some(ended)
    }
}

/// The rest of a statement that was given up (it passed the size limit): its lines are
/// read and dropped, holding nothing, until its value's outermost bracket closes. Found by
/// the bracket scan alone, which is exact for a well-formed value; a broken one is
/// dropped up to where its brackets balance (or a string left open across a line ends it).
#[derive(Debug)]
pub struct Skip {
    brackets: Brackets,
}

impl Skip {
    /// Whether `line` belongs to the skipped statement (then it is scanned). A string
    /// still open at the end of the previous line ends the statement there, as it does
    /// for a statement read in full (a JSON string cannot hold a line break): `line` is
    /// then a statement of its own.
    pub fn swallows(&mut self, line: &str) -> bool {
        if self.brackets.scanner.in_string() {
            return false;
        }
        self.brackets.feed(line);
        true
    }

    /// Whether the value is still open after the lines swallowed so far.
    pub fn open(&self) -> bool {
        self.brackets.scanner.depth() > 0
    }
}

/// A cheap scan of the value's brackets and strings, to tell which lines are worth a
/// full parse. Being wrong only costs time: [`Continuation::push`] bisects anyway.
#[derive(Debug, Default)]
struct Brackets {
    scanner: Scanner,
}

impl Brackets {
    /// Scans `chunk`; true if it closed the outermost bracket (or one never opened), or
    /// ended inside a string (which a newline breaks).
    fn feed(&mut self, chunk: &str) -> bool {
        let closed = self
            .scanner
            .tokens(chunk.as_bytes())
            .fold(false, |closed, (_, token)| {
                closed | matches!(token, Token::Close { depth: 0, .. })
            });
        closed || self.scanner.in_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the statement begun by `lines[0]` ends, asking at every line as the
    /// definition says.
    fn eager_end(lines: &[&str]) -> Option<usize> {
        let mut text = lines[0].to_string();
        for (i, line) in lines.iter().enumerate().skip(1) {
            text.push('\n');
            text.push_str(line);
            if !needs_more_input(&text) {
                return Some(i);
            }
        }
        None
    }

    fn lazy_end(lines: &[&str]) -> Option<usize> {
        let mut continuation = Continuation::begin(1, lines[0]).unwrap();
        for line in &lines[1..] {
            if let Some(end) = continuation.push(line.to_string()) {
                return Some(end);
            }
        }
        continuation.finish()
    }

    #[test]
    fn ends_where_asking_at_every_line_would() {
        let cases: &[&[&str]] = &[
            &["put x [1,", "2]", "get x"],
            &["put x {\"a\":", "put k v", "get k"],
            &["put x {\"a\": [", "1,", "2", "]", "}", "", "get x"],
            &["put x [", "\"open string", "]"],
            &["put x [", "1] extra", "get x"],
            &["put x [", "1}", "get x"],
            &["put x [", "tru", "e]"],
            &["put x [", "1,", "2,"],
            &["put \"k[\" [", "\"]\"", "]"],
            &["put x [\"a\\\\\",", "\"}\"]"],
        ];
        for lines in cases {
            assert_eq!(lazy_end(lines), eager_end(lines), "{lines:?}");
        }
    }

    #[test]
    fn a_long_value_ends_where_it_ends_and_a_late_typo_is_found_on_its_line() {
        let mut lines = vec!["put big [".to_string()];
        lines.extend((0..5000).map(|i| format!("  {i},")));
        lines.push("  5000]".to_string());
        lines.push("get big".to_string());
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(lazy_end(&refs), Some(5001));

        lines[3000] = "  oops,".to_string();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(lazy_end(&refs), Some(3000));
    }

    #[test]
    fn a_statement_given_up_skips_to_the_end_of_its_value_and_no_further() {
        let mut continuation = Continuation::begin(1, "put x [").unwrap();
        assert_eq!(continuation.push("  [1,".to_string()), None);
        let (skip, swallowed) = continuation.give_up("  2],");
        assert!(swallowed);
        let mut skip = skip.unwrap();
        assert!(
            skip.swallows("  \"]\","),
            "a bracket in a string does not close it"
        );
        assert!(skip.open());
        assert!(skip.swallows("  3]"));
        assert!(!skip.open(), "the outermost bracket closed");

        // The line that closes the value is the last one skipped.
        let continuation = Continuation::begin(1, "put x {\"a\":").unwrap();
        let (skip, swallowed) = continuation.give_up("  1}");
        assert!(swallowed && skip.is_none());

        // A string open at the end of a skipped line ends the statement there (a JSON
        // string cannot hold a line break): the next line is not part of it.
        let continuation = Continuation::begin(1, "put x [").unwrap();
        let (skip, swallowed) = continuation.give_up("  1,");
        let mut skip = skip.unwrap();
        assert!(swallowed);
        assert!(skip.swallows("  \"open"));
        assert!(!skip.swallows("put y 1"));
    }

    #[test]
    fn a_line_that_closes_the_value_ends_it_at_once() {
        // A process driving kv through a pipe waits for the OK of a finished statement
        // before it sends more: the end must be seen without another line.
        let mut continuation = Continuation::begin(1, "put x [").unwrap();
        for _ in 0..100 {
            assert_eq!(continuation.push("  {\"a\": [1, 2]},".to_string()), None);
        }
        assert_eq!(continuation.push("  3]".to_string()), Some(101));
        assert!(continuation.text_through(101).ends_with("},\n  3]"));
    }
}

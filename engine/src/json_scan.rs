//! One scanner of JSON text's structure: which bytes are brackets, which open, escape
//! and close strings, and how deeply the text nests. It checks nothing else (validation is
//! serde_json's), which is what makes it cheap enough for the paths that use it: the
//! value canonicaliser (every `put` of text), the shell's statement parser, and the
//! continuation reader that asks whether a piped line leaves a value open.
//!
//! A [`Scanner`] is resumable: it keeps whether it stands inside a string, after a
//! backslash, and how many brackets are open, so text can be fed in chunks (one line at a
//! time) and a string or bracket left open at the end of one chunk goes on in the next.
//!
//! ```
//! use kv_engine::json_scan::{self, Scanner, Token};
//!
//! // Brackets inside strings, and escaped quotes, are not structure.
//! assert_eq!(json_scan::depth(r#"{"a":["]]\"[",{"b":{}}]}"#), 4);
//!
//! let mut scanner = Scanner::new();
//! let closes: Vec<usize> = scanner
//!     .tokens(br#"[1, "]"]"#)
//!     .filter_map(|(at, token)| matches!(token, Token::Close { .. }).then_some(at))
//!     .collect();
//! assert_eq!(closes, [7]);
//! assert_eq!((scanner.depth(), scanner.in_string()), (0, false));
//! ```

/// One structural byte of JSON text, as [`Scanner::tokens`] reports it with its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// `{` or `[` outside a string; `depth` is how many brackets are open after it (1 for
    /// the outermost).
    Open {
        /// The byte: `b'{'` or `b'['`.
        bracket: u8,
        /// Brackets open after it.
        depth: usize,
    },
    /// `}` or `]` outside a string; `depth` is how many brackets are open after it (0 when
    /// it closed the outermost, or closed one that was never opened: the scanner does not
    /// match brackets).
    Close {
        /// The byte: `b'}'` or `b']'`.
        bracket: u8,
        /// Brackets open after it.
        depth: usize,
    },
    /// The quote that opens a string.
    StringStart,
    /// A backslash inside a string. The byte after it is part of the escape and is not
    /// reported (an escaped quote does not close the string); for `\u` the four hex digits
    /// are ordinary string bytes.
    Escape,
    /// The quote that closes a string.
    StringEnd,
    /// Any other byte outside a string: whitespace, `,`, `:`, and the bytes of numbers
    /// and literals. (Bytes inside strings are skipped, not reported.)
    Other(u8),
}

/// Where a scan stands between two bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Place {
    #[default]
    Outside,
    InString,
    /// Inside a string, just after a backslash: the next byte is escaped.
    AfterBackslash,
}

/// A resumable scan of JSON text's brackets and strings (see the [module](self) docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanner {
    depth: usize,
    place: Place,
}

impl Scanner {
    /// A scanner at the start of a text: outside any string, no bracket open.
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// How many brackets are open in what was fed so far (a close with none open counts
    /// as nothing).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether what was fed so far ends inside a string (an unterminated string).
    pub fn in_string(&self) -> bool {
        self.place != Place::Outside
    }

    /// The structural bytes of `chunk`, with their offsets in it, read from where the
    /// previous chunk left the scan. Bytes the iterator is not driven to are not scanned.
    pub fn tokens<'s, 't>(&'s mut self, chunk: &'t [u8]) -> Tokens<'s, 't> {
        Tokens {
            scanner: self,
            bytes: chunk,
            at: 0,
        }
    }

    /// Scans all of `chunk`, for the state it leaves ([`depth`](Self::depth),
    /// [`in_string`](Self::in_string)).
    pub fn feed(&mut self, chunk: &[u8]) {
        self.tokens(chunk).for_each(drop);
    }
}

/// The iterator of [`Scanner::tokens`]: `(offset in the chunk, token)`.
#[derive(Debug)]
pub struct Tokens<'s, 't> {
    scanner: &'s mut Scanner,
    bytes: &'t [u8],
    at: usize,
}

impl Iterator for Tokens<'_, '_> {
    type Item = (usize, Token);

    #[inline]
    fn next(&mut self) -> Option<(usize, Token)> {
        let scanner = &mut *self.scanner;
        loop {
            let at = self.at;
            let &byte = self.bytes.get(at)?;
            match scanner.place {
                Place::AfterBackslash => {
                    scanner.place = Place::InString;
                    self.at += 1;
                }
                Place::InString => {
                    // Most of a value's bytes are string contents: skip to the next byte
                    // that matters in one pass.
                    match self.bytes[at..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\')
                    {
                        None => {
                            self.at = self.bytes.len();
                            return None;
                        }
                        Some(skip) => {
                            let at = at + skip;
                            self.at = at + 1;
                            return Some(if self.bytes[at] == b'"' {
                                scanner.place = Place::Outside;
                                (at, Token::StringEnd)
                            } else {
                                scanner.place = Place::AfterBackslash;
                                (at, Token::Escape)
                            });
                        }
                    }
                }
                Place::Outside => {
                    self.at += 1;
                    let token = match byte {
                        b'"' => {
                            scanner.place = Place::InString;
                            Token::StringStart
                        }
                        b'{' | b'[' => {
                            scanner.depth += 1;
                            Token::Open {
                                bracket: byte,
                                depth: scanner.depth,
                            }
                        }
                        b'}' | b']' => {
                            scanner.depth = scanner.depth.saturating_sub(1);
                            Token::Close {
                                bracket: byte,
                                depth: scanner.depth,
                            }
                        }
                        other => Token::Other(other),
                    };
                    return Some((at, token));
                }
            }
        }
    }
}

/// How deeply arrays and objects nest in `text` (`0` for a scalar), counting brackets
/// outside strings.
pub fn depth(text: &str) -> usize {
    let mut scanner = Scanner::new();
    scanner
        .tokens(text.as_bytes())
        .filter_map(|(_, token)| match token {
            Token::Open { depth, .. } => Some(depth),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Whether the byte at `at` of `text` is escaped: preceded by an odd number of
/// backslashes. (Exact inside a string; a backslash cannot stand outside one in JSON.)
pub fn is_escaped(text: &[u8], at: usize) -> bool {
    text[..at.min(text.len())]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count()
        % 2
        == 1
}

/// The offset of the quote that opens the last string that starts in `text` (which
/// must start outside a string): the string `text` ends inside, or else the last one it
/// holds. Where serde_json stops at a string (a repeated key) this finds the string's
/// start whether it stopped before or after its closing quote, and for the empty
/// string `""` too.
pub fn last_string_start(text: &[u8]) -> Option<usize> {
    Scanner::new()
        .tokens(text)
        .filter(|(_, token)| *token == Token::StringStart)
        .last()
        .map(|(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(usize, Token)> {
        Scanner::new().tokens(text.as_bytes()).collect()
    }

    #[test]
    fn brackets_and_strings_are_reported_with_their_offsets_and_depths() {
        use Token::*;
        assert_eq!(
            tokens(r#"{"a": [1]}"#),
            [
                (
                    0,
                    Open {
                        bracket: b'{',
                        depth: 1
                    }
                ),
                (1, StringStart),
                (3, StringEnd),
                (4, Other(b':')),
                (5, Other(b' ')),
                (
                    6,
                    Open {
                        bracket: b'[',
                        depth: 2
                    }
                ),
                (7, Other(b'1')),
                (
                    8,
                    Close {
                        bracket: b']',
                        depth: 1
                    }
                ),
                (
                    9,
                    Close {
                        bracket: b'}',
                        depth: 0
                    }
                ),
            ]
        );
    }

    #[test]
    fn escaped_quotes_and_brackets_inside_strings_are_not_structure() {
        use Token::*;
        // "\"]" then ] : the escaped quote neither closes the string nor is reported.
        assert_eq!(
            tokens(r#"["\"]\\",1]"#),
            [
                (
                    0,
                    Open {
                        bracket: b'[',
                        depth: 1
                    }
                ),
                (1, StringStart),
                (2, Escape),
                (5, Escape),
                (7, StringEnd),
                (8, Other(b',')),
                (9, Other(b'1')),
                (
                    10,
                    Close {
                        bracket: b']',
                        depth: 0
                    }
                ),
            ]
        );
        assert_eq!(depth(r#"["[[[{", {"}": ["\"["]}]"#), 3);
        // \u escapes: the hex digits are string bytes, `\u0022` is no quote.
        assert_eq!(depth(r#"["\u0022[", []]"#), 2);
    }

    #[test]
    fn unicode_is_skipped_as_string_or_other_bytes() {
        let text = "{\"🦀é\": [\"\u{2028}]\"], \"k\": \"ü\"}";
        assert_eq!(depth(text), 2);
        let mut scanner = Scanner::new();
        scanner.feed(text.as_bytes());
        assert_eq!((scanner.depth(), scanner.in_string()), (0, false));
        // Offsets are in bytes: the `[` after a four-byte crab and a two-byte é.
        assert!(tokens(text).contains(&(
            11,
            Token::Open {
                bracket: b'[',
                depth: 2
            }
        )));
    }

    #[test]
    fn unterminated_input_leaves_the_scan_open_and_resumes_in_the_next_chunk() {
        let mut scanner = Scanner::new();
        scanner.feed(br#"{"a": ["x"#);
        assert_eq!((scanner.depth(), scanner.in_string()), (2, true));
        // A backslash at the end of one chunk escapes the first byte of the next.
        scanner.feed(br#"y\"#);
        assert!(scanner.in_string());
        let next: Vec<_> = scanner.tokens(br#""]"]"#).collect();
        assert_eq!(
            next,
            [
                (2, Token::StringEnd),
                (
                    3,
                    Token::Close {
                        bracket: b']',
                        depth: 1
                    }
                )
            ]
        );
        assert_eq!((scanner.depth(), scanner.in_string()), (1, false));
        // A close with nothing open stays at depth 0.
        scanner.feed(b"}]]");
        assert_eq!(scanner.depth(), 0);
        assert_eq!(depth(""), 0);
        assert_eq!(depth("\"[unterminated"), 0);
        assert_eq!(depth("[[[["), 4);
    }

    #[test]
    fn an_odd_run_of_backslashes_escapes_and_the_last_string_is_found_from_its_start() {
        assert!(!is_escaped(br#"a""#, 1));
        assert!(is_escaped(br#"a\""#, 2));
        assert!(!is_escaped(br#"a\\""#, 3));
        assert!(is_escaped(br#"\\\""#, 3));
        assert_eq!(last_string_start(br#"{"q\"":1,"q\""#), Some(9));
        assert_eq!(last_string_start(br#"{"q\"":1,"q\"""#), Some(9));
        assert_eq!(last_string_start(br#"{"":1,""#), Some(6));
        assert_eq!(last_string_start(br#"{"":1,"""#), Some(6));
        assert_eq!(last_string_start(br#"{"a\\"#), Some(1));
        assert_eq!(last_string_start(b"[1, 2]"), None);
        assert_eq!(last_string_start(b""), None);
    }
}

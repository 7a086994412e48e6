//! [`Wrap`]: a writer that folds lines wider than a screen at a space, for transcripts
//! meant to be read (`--echo`, `source`): a demo shown in front of a class fits a
//! 100-column terminal without the terminal cutting words in half.

use std::io::{self, Write};

use unicode_width::UnicodeWidthChar;

/// The width transcripts are folded to: a terminal a class can read from the back.
pub const WIDTH: usize = 100;

/// Folds each line longer than `width` columns at the last space that fits, continuing
/// it indented two more than the line. A word longer than the width is cut. Colour
/// escapes take no column. A line still open at a flush (a pause's prompt) goes out as is.
pub struct Wrap<'a> {
    inner: &'a mut dyn Write,
    width: usize,
    line: Vec<u8>,
}

impl<'a> Wrap<'a> {
    /// Folds what is written to `inner` at `width` columns.
    pub fn new(inner: &'a mut dyn Write, width: usize) -> Self {
        Wrap {
            inner,
            width,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, newline: bool) -> io::Result<()> {
        let line = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&line);
        let folded = fold(&text, self.width);
        self.inner.write_all(folded.as_bytes())?;
        if newline {
            self.inner.write_all(b"\n")?;
        }
        Ok(())
    }
}

impl Write for Wrap<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            self.emit(true)?;
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            self.emit(false)?;
        }
        self.inner.flush()
    }
}

/// The columns `text` takes in a terminal: its characters' widths (two for an emoji or a
/// CJK character, none for a combining mark, one for a control character), escape
/// sequences (`ESC [ ... letter`) aside.
pub fn columns(text: &str) -> usize {
    let mut count = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            count += c.width().unwrap_or(1);
        }
    }
    count
}

/// `line` folded at `width` columns, its pieces joined by newlines.
fn fold(line: &str, width: usize) -> String {
    if line.len() <= width || columns(line) <= width {
        return line.to_string();
    }
    let lead = line.len() - line.trim_start_matches(' ').len();
    let indent = " ".repeat(lead + 2);
    let mut out = String::new();
    let mut rest = line;
    let mut prefix = "";
    loop {
        let room = width.saturating_sub(columns(prefix)).max(1);
        if columns(rest) <= room {
            out.push_str(prefix);
            out.push_str(rest);
            return out;
        }
        // The byte where column `room` ends, then the last space before it.
        let mut seen = 0;
        let mut cut = rest.len();
        let mut escape = false;
        for (at, c) in rest.char_indices() {
            match c {
                '\x1b' => escape = true,
                c if escape => escape = !c.is_ascii_alphabetic(),
                _ => {
                    let width = c.width().unwrap_or(1);
                    if seen + width > room && seen > 0 {
                        cut = at;
                        break;
                    }
                    seen += width;
                }
            }
        }
        // A space right at the edge is as good a place to fold as one before it.
        let window = match rest[cut..].starts_with(' ') {
            true => cut + 1,
            false => cut,
        };
        let (head, tail) = match rest[..window].rfind(' ') {
            Some(space) if !rest[..space].trim().is_empty() => (&rest[..space], &rest[space + 1..]),
            _ => (&rest[..cut], &rest[cut..]),
        };
        out.push_str(prefix);
        out.push_str(head.trim_end());
        out.push('\n');
        rest = tail.trim_start();
        prefix = &indent;
        if rest.is_empty() {
            // Only spaces were left: the line ends at the fold.
            out.pop();
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(input: &str, width: usize) -> String {
        let mut out = Vec::new();
        let mut wrap = Wrap::new(&mut out, width);
        wrap.write_all(input.as_bytes()).unwrap();
        wrap.flush().unwrap();
        drop(wrap);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn long_lines_fold_at_a_space_and_continue_indented() {
        assert_eq!(wrapped("short\n", 10), "short\n");
        assert_eq!(
            wrapped("one two three four\n", 10),
            "one two\n  three\n  four\n"
        );
        assert_eq!(
            wrapped("  trace: aaa bbb ccc\n", 12),
            "  trace: aaa\n    bbb ccc\n"
        );
        assert_eq!(wrapped("abcdefghijkl\n", 5), "abcde\n  fgh\n  ijk\n  l\n");
        // Colour takes no column; a line open at a flush goes out as is.
        assert_eq!(wrapped("\x1b[2mab cd\x1b[0m\n", 5), "\x1b[2mab cd\x1b[0m\n");
        assert_eq!(wrapped("a prompt --", 20), "a prompt --");
        for line in wrapped(&"word ".repeat(100), 30).lines() {
            assert!(columns(line) <= 30, "{line:?}");
        }
        // Wide characters take two columns each: a line of them folds at half as many.
        assert_eq!(columns("✅ 漢字"), 7);
        assert_eq!(wrapped("✅✅✅ ✅✅\n", 7), "✅✅✅\n  ✅✅\n");
        for line in wrapped(&"漢字 ✅ ".repeat(40), 30).lines() {
            assert!(columns(line) <= 30, "{line:?}");
        }
    }
}

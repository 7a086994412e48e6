//! Progress of a run, for a progress bar: the library reports, the caller draws.

use std::io::{self, Write};

/// Where a run is: `done` of `total` steps finished, and what is running now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// Steps finished.
    pub done: usize,
    /// Steps in the whole run (constant during a run).
    pub total: usize,
    /// What is running now, e.g. `rep 2/3: snapshot, 10,000 keys: overwrites`; `done` at
    /// the end.
    pub label: &'a str,
}

impl Progress<'_> {
    /// The finished fraction, 0.0 to 1.0.
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0)
        }
    }
}

/// Draws `progress` as one terminal line of at most `width` columns, overwriting the
/// previous one: `\r[#####-----]  42% label` and an erase-to-end-of-line. Meant for
/// stderr on a terminal; call [`clear_progress_line`] when the run ends.
pub fn render_progress_line(
    progress: &Progress<'_>,
    width: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    const BAR: usize = 20;
    let filled = (progress.fraction() * BAR as f64).round() as usize;
    let percent = (progress.fraction() * 100.0).floor() as u32;
    let mut line = format!(
        "[{}{}] {percent:>3}% {}",
        "#".repeat(filled),
        "-".repeat(BAR - filled),
        progress.label
    );
    if let Some((cut, _)) = line.char_indices().nth(width.max(BAR + 7)) {
        line.truncate(cut);
    }
    write!(out, "\r{line}\x1b[K")?;
    out.flush()
}

/// Erases the progress line.
pub fn clear_progress_line(out: &mut dyn Write) -> io::Result<()> {
    write!(out, "\r\x1b[K")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_shows_fraction_and_label_within_width() {
        let mut out = Vec::new();
        let progress = Progress {
            done: 1,
            total: 4,
            label: "snapshot, 1,000 keys: puts",
        };
        render_progress_line(&progress, 80, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\r[#####---------------]  25% snapshot, 1,000 keys: puts\x1b[K"
        );

        let mut out = Vec::new();
        render_progress_line(&progress, 30, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\r[#####---------------]  25% sn\x1b[K"
        );

        let done = Progress {
            done: 9,
            total: 9,
            label: "done",
        };
        assert_eq!(done.fraction(), 1.0);
        let mut out = Vec::new();
        clear_progress_line(&mut out).unwrap();
        assert_eq!(out, b"\r\x1b[K");
    }
}

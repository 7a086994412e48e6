//! All formatting and colour: [`Outcome`]s, errors and help become text in any
//! `io::Write`. With [`Theme::plain`] not one escape code is written.

use std::io::{self, Write};
use std::time::Duration;

use nu_ansi_term::{Color, Style};
use serde_json::Value;

use crate::shell::command::{Position, VERBS, Verb, examples, key_syntax};
use crate::shell::database::{
    Armed, Cut, Diff, ModeSource, Reboot, RebootCause, Saved, TraceEntry,
};
use crate::shell::exec::{Checkpointed, Outcome, StatsReport};
use crate::shell::sync_window;
use kv_engine::CrashPoint;
use kv_engine::Durability;
use kv_engine::fs::CrashMode;
use kv_engine::fs::trace::TraceOp;

/// The styles used for each kind of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub string: Style,
    pub number: Style,
    pub literal: Style,
    pub nil: Style,
    pub ok: Style,
    pub error: Style,
    pub label: Style,
    pub verb: Style,
    pub unknown_verb: Style,
    pub hint: Style,
    pub prompt: Style,
}

impl Theme {
    /// No styling at all: for pipes, `--color never` and `NO_COLOR`.
    pub fn plain() -> Self {
        let none = Style::new();
        Theme {
            string: none,
            number: none,
            literal: none,
            nil: none,
            ok: none,
            error: none,
            label: none,
            verb: none,
            unknown_verb: none,
            hint: none,
            prompt: none,
        }
    }

    /// The colours used on a terminal.
    pub fn colored() -> Self {
        Theme {
            string: Color::Green.normal(),
            number: Color::Cyan.normal(),
            literal: Color::Yellow.normal(),
            nil: Style::new().dimmed().italic(),
            ok: Color::Green.bold(),
            error: Color::Red.bold(),
            label: Color::Blue.normal(),
            verb: Color::Blue.bold(),
            unknown_verb: Color::Red.normal(),
            hint: Style::new().dimmed(),
            prompt: Color::Green.bold(),
        }
    }

    /// `plain` or `colored`.
    pub fn new(color: bool) -> Self {
        if color {
            Theme::colored()
        } else {
            Theme::plain()
        }
    }

    /// The style for a JSON value, by its type.
    pub fn value_style(&self, value: &Value) -> Style {
        match value {
            Value::String(_) => self.string,
            Value::Number(_) => self.number,
            Value::Bool(_) | Value::Null => self.literal,
            Value::Array(_) | Value::Object(_) => Style::new(),
        }
    }

    /// The style for a value given as JSON text, by its type (read from its first byte,
    /// so printing a stored value needs no parse).
    pub fn text_style(&self, json: &str) -> Style {
        match json.as_bytes().first() {
            Some(b'"') => self.string,
            Some(b'-' | b'0'..=b'9') => self.number,
            Some(b't' | b'f' | b'n') => self.literal,
            _ => Style::new(),
        }
    }
}

/// How JSON values are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One line per value: pipes and scripts.
    Compact,
    /// For a person at a terminal: `dump` indented, `(no keys)` for an empty `keys`.
    Pretty,
    /// `--raw`, for scripts that capture one value (`$(kv db.json --raw get name)`), as
    /// redis-cli's `--raw`: as `Compact`, but a string value is printed as its text,
    /// without quotes or escapes, and `keys` prints each key as it is rather than as it
    /// would be typed. `dump` stays one JSON object, whose strings must stay JSON.
    Raw,
}

/// A theme and a layout: everything rendering needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renderer {
    pub theme: Theme,
    pub layout: Layout,
}

impl Renderer {
    /// Writes `outcome`, ending with a newline (nothing at all for `exit`).
    pub fn outcome(&self, w: &mut dyn Write, outcome: &Outcome) -> io::Result<()> {
        let theme = &self.theme;
        match outcome {
            Outcome::Value(json) if self.layout == Layout::Raw && json.starts_with('"') => {
                // The store's own JSON text, so it decodes; if it somehow did not, the JSON
                // is still the value.
                let text = serde_json::from_str::<String>(json).unwrap_or_else(|_| json.clone());
                writeln!(w, "{}", theme.string.paint(text))
            }
            Outcome::Value(json) => writeln!(w, "{}", theme.text_style(json).paint(json.as_str())),
            Outcome::Missing => writeln!(w, "{}", theme.nil.paint("(nil)")),
            Outcome::Stored(_) | Outcome::Deleted(_) | Outcome::Begun => {
                writeln!(w, "{}", theme.ok.paint("OK"))
            }
            // Not OK: nothing is durable until the commit (redis-cli prints the same).
            Outcome::Queued => writeln!(w, "{}", theme.nil.paint("QUEUED")),
            Outcome::Committed(mutations) => writeln!(
                w,
                "{} ({})",
                theme.ok.paint("OK"),
                kv_engine::human::count(*mutations as u64, "mutation")
            ),
            Outcome::RolledBack(mutations) => writeln!(
                w,
                "{} (rolled back {}: nothing of them was stored)",
                theme.ok.paint("OK"),
                kv_engine::human::count(*mutations as u64, "mutation")
            ),
            Outcome::Bool(yes) => writeln!(w, "{}", theme.literal.paint(yes.to_string())),
            // A person at a terminal is told there are none; a script gets no lines.
            Outcome::Keys(keys) if keys.is_empty() && self.layout == Layout::Pretty => {
                writeln!(w, "{}", theme.nil.paint("(no keys)"))
            }
            Outcome::Keys(keys) if self.layout == Layout::Raw => {
                for key in keys {
                    writeln!(w, "{key}")?;
                }
                Ok(())
            }
            Outcome::Keys(keys) => {
                for key in keys {
                    writeln!(w, "{}", key_syntax(key))?;
                }
                Ok(())
            }
            Outcome::Count(count) => writeln!(w, "{}", theme.number.paint(count.to_string())),
            Outcome::Dump(json) => match self.layout {
                Layout::Compact | Layout::Raw => writeln!(w, "{json}"),
                // Only a person at a terminal gets the indented form, so only they pay for
                // the parse. The text is the store's own JSON, so the parse cannot fail;
                // if it somehow did, the compact text is still right.
                Layout::Pretty => {
                    let pretty = serde_json::from_str::<Value>(json)
                        .and_then(|value| serde_json::to_string_pretty(&value));
                    match pretty {
                        Ok(pretty) => writeln!(w, "{pretty}"),
                        Err(_) => writeln!(w, "{json}"),
                    }
                }
            },
            Outcome::Stats(report) => self.stats(w, report),
            Outcome::Checkpointed(Checkpointed::NoLog(mode)) => writeln!(
                w,
                "nothing to checkpoint: {mode} mode keeps no log (only wal mode has one)"
            ),
            Outcome::Checkpointed(Checkpointed::Empty) => writeln!(
                w,
                "nothing to checkpoint: the log holds no record since the last checkpoint"
            ),
            Outcome::Checkpointed(Checkpointed::Folded {
                records,
                log_before,
                log_after,
                snapshot,
            }) => {
                let records = match records {
                    1 => "1 logged record".to_string(),
                    n => format!("{n} logged records"),
                };
                let snapshot =
                    snapshot.map_or(String::new(), |bytes| format!(" ({})", byte_count(bytes)));
                writeln!(
                    w,
                    "{} folded {records} into a new snapshot{snapshot}; the log went from \
                     {} to {}",
                    theme.ok.paint("checkpoint:"),
                    byte_count(*log_before),
                    byte_count(*log_after)
                )
            }
            Outcome::CrashPoints {
                mode,
                points,
                simulated,
            } => {
                if points.is_empty() {
                    return writeln!(
                        w,
                        "{mode} mode has no disk: nothing to crash (every key is lost when the process ends)"
                    );
                }
                let how = match simulated {
                    // `help crash` lists the modes: the header stays one line.
                    true => "crash POINT [MODE [SEED]] arms one",
                    false => "crash POINT arms one",
                };
                writeln!(w, "crash points of {mode} mode, in commit order ({how}):")?;
                let width = points
                    .iter()
                    .map(|point| point.name().len())
                    .max()
                    .unwrap_or(0);
                for point in points {
                    let name = format!("{:<width$}", point.name());
                    writeln!(
                        w,
                        "  {}  {}",
                        self.theme.verb.paint(name),
                        point.description()
                    )?;
                }
                Ok(())
            }
            Outcome::Armed(armed) => self.armed(w, armed),
            Outcome::Rebooted(reboot) => self.reboot(w, reboot),
            Outcome::Saved(saved) => self.saved(w, saved),
            Outcome::Synced(0) => writeln!(
                w,
                "synced: nothing was waiting (every acknowledged write was already durable)"
            ),
            Outcome::Synced(writes) => writeln!(
                w,
                "synced: {} made durable",
                kv_engine::human::count(*writes, "acknowledged write")
            ),
            Outcome::Slept { duration, syncs } => writeln!(
                w,
                "slept {} on the simulated clock: {} ran",
                kv_engine::human::duration(*duration),
                match syncs {
                    0 => "no delayed sync".to_string(),
                    n => kv_engine::human::count(*n, "delayed sync"),
                }
            ),
            Outcome::WrittenBack => writeln!(
                w,
                "writeback: the kernel wrote its cache to the disk; everything written so far is durable"
            ),
            Outcome::Tracing(true) => writeln!(
                w,
                "trace on: each command is followed by the filesystem operations it performed"
            ),
            Outcome::Tracing(false) => writeln!(w, "trace off"),
            Outcome::CrashHelp {
                verb,
                mode,
                points,
                simulated,
            } => {
                self.verb_help(w, verb)?;
                let points = Outcome::CrashPoints {
                    mode: *mode,
                    points: points.clone(),
                    simulated: *simulated,
                };
                self.outcome(w, &points)?;
                let only = match simulated {
                    true => "",
                    false => " (on a simulated disk: kv --simulate PATH)",
                };
                writeln!(
                    w,
                    "crash modes{only}; random ones take a SEED that replays them:"
                )?;
                for mode in CrashMode::ALL {
                    let name = format!("{:<7}", mode.name());
                    writeln!(
                        w,
                        "  {}  {}",
                        self.theme.verb.paint(name),
                        crash_mode_summary(mode)
                    )?;
                }
                Ok(())
            }
            Outcome::Help(None) => self.help(w),
            Outcome::Help(Some(verb)) => self.verb_help(w, verb),
            // The session prints what a file's statements print, and what a pause says.
            Outcome::Exit | Outcome::Source { .. } | Outcome::Pause => Ok(()),
        }
    }

    fn armed(&self, w: &mut dyn Write, armed: &Armed) -> io::Result<()> {
        let point = self.theme.verb.paint(armed.point.name());
        let what = armed.point.description();
        let next = reaches(armed.point);
        match armed.cut {
            None => writeln!(
                w,
                "armed {point} ({what}): {next} aborts the process there, as kill -9 \
                 would; run kv again to see what survived"
            ),
            Some(cut) => {
                let how = match cut.mode {
                    kv_engine::fs::CrashMode::ProcessKill => "as if the process died".to_string(),
                    _ => format!("and the power goes ({})", describe_cut(cut)),
                };
                writeln!(
                    w,
                    "armed {point} ({what}): {next} stops there {how}; \
                     then the simulated disk reboots and the store reopens"
                )
            }
        }
    }

    fn reboot(&self, w: &mut dyn Write, reboot: &Reboot) -> io::Result<()> {
        let theme = &self.theme;
        writeln!(w, "{}", theme.error.paint(describe_cause(&reboot.cause)))?;
        let files: Vec<String> = reboot
            .files
            .iter()
            .map(|(name, size)| format!("{name} ({size} B)"))
            .collect();
        let files = match files.is_empty() {
            true => "no files".to_string(),
            false => files.join(", "),
        };
        writeln!(w, "disk after the reboot: {files}")?;
        let Ok(reopened) = &reboot.reopened else {
            // The session reports the error itself, on the error stream.
            return Ok(());
        };
        let removed = match reopened.removed_temps {
            0 => String::new(),
            1 => " (removed 1 leftover temp file)".to_string(),
            n => format!(" (removed {n} leftover temp files)"),
        };
        let keys = match reopened.keys {
            1 => "1 key".to_string(),
            n => format!("{n} keys"),
        };
        writeln!(w, "reopened {}: {keys}{removed}", reboot.path.display())?;
        for warning in &reopened.warnings {
            self.warning(w, &warning.to_string())?;
        }
        if let Some(diff) = &reopened.diff {
            self.diff(w, diff)?;
        }
        Ok(())
    }

    fn diff(&self, w: &mut dyn Write, diff: &Diff) -> io::Result<()> {
        let theme = &self.theme;
        if diff.is_empty() {
            return writeln!(
                w,
                "{}",
                theme
                    .ok
                    .paint("every acknowledged write survived, and nothing else")
            );
        }
        /// At most this many keys per line: a demo shows the pattern, not the data.
        const SHOWN: usize = 10;
        let more = |total: usize| match total > SHOWN {
            true => format!(" and {} more", total - SHOWN),
            false => String::new(),
        };
        let keys = |keys: &[String]| -> String {
            let shown: Vec<String> = keys.iter().take(SHOWN).map(|k| key_syntax(k)).collect();
            format!("{}{}", shown.join(", "), more(keys.len()))
        };
        if !diff.within_window.is_empty() {
            writeln!(
                w,
                "lost (within the --sync window, as promised): {}",
                keys(&diff.within_window)
            )?;
        }
        if !diff.lost.is_empty() {
            let what = match diff.window {
                Some(_) => "LOST (acknowledged and older than the window)",
                None => "LOST (acknowledged with OK, gone now)",
            };
            let line = format!("{what}: {}", keys(&diff.lost));
            writeln!(w, "{}", theme.error.paint(line))?;
        }
        if !diff.changed.is_empty() {
            let changes: Vec<String> = diff
                .changed
                .iter()
                .take(SHOWN)
                .map(|(key, acknowledged, found)| {
                    format!(
                        "{} = {found} (acknowledged: {acknowledged})",
                        key_syntax(key)
                    )
                })
                .collect();
            writeln!(
                w,
                "not the acknowledged value: {}{}",
                changes.join(", "),
                more(diff.changed.len())
            )?;
        }
        if let Some(policy @ kv_engine::SyncPolicy::Within(_)) = diff.window
            && diff.lost.is_empty()
            && diff.changed.is_empty()
            && diff.appeared.is_empty()
        {
            let line = format!("every write acknowledged more than {policy} before survived");
            writeln!(w, "{}", theme.ok.paint(line))?;
        }
        if !diff.appeared.is_empty() {
            let found: Vec<String> = diff
                .appeared
                .iter()
                .take(SHOWN)
                .map(|(key, value)| format!("{} = {value}", key_syntax(key)))
                .collect();
            writeln!(
                w,
                "never acknowledged, yet there: {}{}",
                found.join(", "),
                more(diff.appeared.len())
            )?;
        }
        Ok(())
    }

    fn saved(&self, w: &mut dyn Write, saved: &Saved) -> io::Result<()> {
        let label = self.theme.ok.paint("saved");
        match saved.log_bytes {
            None => writeln!(
                w,
                "{label} {}: {} B, {} (temp file, fsync, rename, directory fsync)",
                saved.path.display(),
                saved.bytes,
                kv_engine::human::count(saved.keys as u64, "key")
            ),
            Some(log) => writeln!(
                w,
                "{label} {}: {} B snapshot and {log} B log, {} (in a checkpoint's \
                 order: the log as .wal.next, the snapshot, then the log renamed into place)",
                saved.path.display(),
                saved.bytes,
                kv_engine::human::count(saved.keys as u64, "key")
            ),
        }
    }

    /// Writes the filesystem operations of one command, dimmed, then a total: what the
    /// command cost the disk. Durations on a simulated disk are not real I/O, and say so.
    pub fn trace(
        &self,
        w: &mut dyn Write,
        entries: &[TraceEntry],
        simulated: bool,
    ) -> io::Result<()> {
        let style = self.theme.hint;
        let (mut ops, mut written, mut syncs) = (0u64, 0u64, 0u64);
        let mut spent = Duration::ZERO;
        // Operations `save` made on the real disk, beside a simulated one: real time.
        let mut real_ops = false;
        for entry in entries {
            let line = match entry {
                TraceEntry::Op(event) | TraceEntry::Real(event) => {
                    ops += 1;
                    spent += event.duration;
                    match event.op {
                        TraceOp::Write { .. } => written += event.bytes.unwrap_or(0),
                        TraceOp::SyncAll | TraceOp::SyncData | TraceOp::SyncDir => syncs += 1,
                        _ => {}
                    }
                    match (entry, simulated) {
                        (TraceEntry::Real(_), _) => {
                            real_ops = true;
                            format!("  trace: real disk: {event}")
                        }
                        // A simulated operation takes no I/O time: none is shown.
                        (_, true) => format!("  trace: {}", event.untimed()),
                        (_, false) => format!("  trace: {event}"),
                    }
                }
                TraceEntry::Reboot(mode) => {
                    let after = match mode {
                        CrashMode::ProcessKill => "the process died",
                        _ => "the power went",
                    };
                    format!("  trace: --- {after}; reboot and reopen ---")
                }
            };
            writeln!(w, "{}", style.paint(line))?;
        }
        let total = match ops {
            0 => "  trace: no filesystem operations".to_string(),
            _ => {
                let time = match (simulated, real_ops) {
                    (true, false) => "simulated disk, no real I/O time".to_string(),
                    (true, true) => {
                        format!("{} on the real disk", kv_engine::human::duration(spent))
                    }
                    (false, _) => kv_engine::human::duration(spent),
                };
                format!(
                    "  trace: {ops} operation{}, {written} B written, {syncs} sync{}, {time}",
                    if ops == 1 { "" } else { "s" },
                    if syncs == 1 { "" } else { "s" },
                )
            }
        };
        writeln!(w, "{}", style.paint(total))
    }

    fn stats(&self, w: &mut dyn Write, report: &StatsReport) -> io::Result<()> {
        let StatsReport {
            stats,
            source,
            reboots,
            transaction,
        } = report;
        let file = match &stats.path {
            Some(path) => path.display().to_string(),
            None => "(none: in memory)".to_string(),
        };
        // In wal mode the database is the snapshot and the log together: counting the
        // snapshot alone would show "(no file)" for a database holding every key.
        let size = match (stats.file_size, stats.log_file_size) {
            (snapshot, Some(log)) => format!(
                "{}: snapshot {} + log {}",
                byte_count(snapshot.unwrap_or(0) + log),
                snapshot.map_or("(none yet)".to_string(), short_bytes),
                short_bytes(log)
            ),
            (Some(bytes), None) => byte_count(bytes),
            (None, None) => "(no file)".to_string(),
        };
        let mode = match (stats.read_only, stats.durability, source) {
            (true, _, _) => "read-only (--read-only: no lock is taken, writes are refused)".into(),
            (_, Durability::Memory, ModeSource::Given) => {
                "memory (--durability): the file is only read; writes are not saved".into()
            }
            (_, durability, source) => format!("{durability} ({})", mode_source(*source)),
        };
        // The log's preallocated zeros are I/O but no data: shown apart, so a class sees
        // about one record per put, not a mebibyte for the first one.
        let data = stats.bytes_written - stats.zero_filled_bytes;
        let written = match stats.zero_filled_bytes {
            0 => byte_count(stats.bytes_written),
            zeros => format!(
                "{}: {} of data + {} of preallocated zeros",
                byte_count(stats.bytes_written),
                short_bytes(data),
                short_bytes(zeros)
            ),
        };
        let mut rows = vec![
            ("mode", mode),
            ("file", file),
            ("size on disk", size),
            ("keys", stats.keys.to_string()),
        ];
        if let Some(queued) = transaction {
            rows.push((
                "transaction",
                format!(
                    "open: {} queued, not committed (the keys above do not count them)",
                    kv_engine::human::count(*queued as u64, "mutation")
                ),
            ));
        }
        // The counters are the store's, and a reboot reopens a new one, as a real
        // restart would start a new process: said, so nobody reads "0 commits" as lost.
        if *reboots > 0 {
            rows.push((
                "counters",
                "restarted at the reopen after the last reboot (a new process counts from 0)"
                    .to_string(),
            ));
        }
        rows.extend([
            ("commits", stats.commits.to_string()),
            ("fsyncs", stats.fsyncs.to_string()),
            ("bytes written", written),
            (
                "last commit",
                stats.last_commit.map_or("(none)".to_string(), |took| {
                    format!("took {}", duration(took))
                }),
            ),
        ]);
        rows.push((
            "mutations",
            format!("{} (puts and deletes committed)", stats.mutations),
        ));
        let per_mutation = match stats.zero_filled_bytes {
            0 => "bytes written (write amplification)",
            _ => {
                "bytes of data written (write amplification: records, log headers, checkpoints; not the zeros)"
            }
        };
        rows.push((
            "per mutation",
            stats
                .bytes_per_mutation
                .map_or("(no mutation yet)".to_string(), |bytes| {
                    format!("{bytes:.1} {per_mutation}")
                }),
        ));
        // The log's rows only in the mode that has one.
        if let Some(log_size) = stats.log_size {
            let in_use = match stats.log_file_size {
                Some(file) if file > log_size => format!(
                    "{} in use of a {} file; the rest is preallocated zeros",
                    byte_count(log_size),
                    short_bytes(file)
                ),
                _ => byte_count(log_size),
            };
            rows.push(("log size", in_use));
            let records = stats.log_records.unwrap_or(0);
            rows.push((
                "log records",
                format!("{records} since the last checkpoint"),
            ));
            rows.push(("checkpoints", stats.checkpoints.to_string()));
        }
        rows.extend(sync_window::stats_rows(stats));
        if let Some(error) = &stats.checkpoint_error {
            rows.push((
                "checkpoint",
                format!("the last one FAILED ({error}); the commits are durable in the log"),
            ));
        }
        // Only when it matters: a store that stopped accepting writes must say so here,
        // not only in the error of the next write.
        if let Some(cause) = &stats.poisoned {
            rows.push(("writes", format!("REFUSED until reopened: {cause}")));
        }
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0) + 1;
        for (name, value) in rows {
            let label = format!("{name}:");
            writeln!(
                w,
                "{} {value}",
                self.theme.label.paint(format!("{label:<width$}"))
            )?;
        }
        Ok(())
    }

    fn help(&self, w: &mut dyn Write) -> io::Result<()> {
        let width = VERBS.iter().map(|verb| verb.usage.len()).max().unwrap_or(0);
        writeln!(w, "Commands (case-insensitive):")?;
        for verb in VERBS {
            let usage = format!("{:<width$}", verb.usage);
            writeln!(w, "  {}  {}", self.theme.verb.paint(usage), verb.summary)?;
        }
        let aliases: Vec<String> = VERBS
            .iter()
            .flat_map(|verb| {
                verb.aliases
                    .iter()
                    .map(move |alias| format!("{alias} for {}", verb.name))
            })
            .collect();
        if !aliases.is_empty() {
            writeln!(w, "Also accepted: {}.", aliases.join(", "))?;
        }
        writeln!(w)?;
        writeln!(
            w,
            "KEY    a bare word (user:1) or a JSON string (\"key with spaces\")"
        )?;
        writeln!(
            w,
            "VALUE  the rest of the line as JSON: 42, true, null, \"text\", [1, 2], {{\"a\": 1}}"
        )?;
        writeln!(
            w,
            "       one bare word that is not JSON is a string: put name alice"
        )?;
        writeln!(
            w,
            "       a {{ or [ value continues on the next line while it is unfinished JSON"
        )?;
        writeln!(
            w,
            "Lines starting with # are comments. Type help COMMAND for one command."
        )
    }

    fn verb_help(&self, w: &mut dyn Write, verb: &Verb) -> io::Result<()> {
        writeln!(w, "{}", self.theme.verb.paint(verb.usage))?;
        writeln!(w, "  {}", verb.summary)?;
        if !verb.aliases.is_empty() {
            writeln!(w, "  also: {}", verb.aliases.join(", "))?;
        }
        let examples = examples(verb.id);
        if !examples.is_empty() {
            writeln!(w, "  examples:")?;
            for example in examples {
                writeln!(w, "    {example}")?;
            }
        }
        Ok(())
    }

    /// Writes a warning line: `warning: message`.
    pub fn warning(&self, w: &mut dyn Write, message: &str) -> io::Result<()> {
        let label = self.theme.literal.paint("warning:");
        writeln!(w, "{label} {message}")
    }

    /// Writes an error line: `error: line N: message` when the input has line numbers.
    pub fn error(&self, w: &mut dyn Write, line: Option<usize>, message: &str) -> io::Result<()> {
        let label = self.theme.error.paint("error:");
        match line {
            Some(line) => writeln!(w, "{label} line {line}: {message}"),
            None => writeln!(w, "{label} {message}"),
        }
    }

    /// Writes an error in a command file run by `source`: `error: FILE:LINE: message`.
    pub fn error_in(
        &self,
        w: &mut dyn Write,
        file: &str,
        line: Option<usize>,
        message: &str,
    ) -> io::Result<()> {
        let label = self.theme.error.paint("error:");
        match line {
            Some(line) => writeln!(w, "{label} {file}:{line}: {message}"),
            None => writeln!(w, "{label} {file}: {message}"),
        }
    }
}

/// The widest excerpt shown under an error: longer lines are cut around the column.
const EXCERPT_WIDTH: usize = 76;

impl Renderer {
    /// Writes the line of `statement` that `position` is on, indented, and a caret under
    /// its column. A long line is cut to a window around the column, marked with `...`.
    pub fn excerpt(
        &self,
        w: &mut dyn Write,
        statement: &str,
        position: Position,
    ) -> io::Result<()> {
        let Some(line) = statement.lines().nth(position.line.saturating_sub(1)) else {
            return Ok(());
        };
        // Tabs would move the caret by an amount only the terminal knows.
        let chars: Vec<char> = line
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let column = position.column.saturating_sub(1).min(chars.len());
        let start = column.saturating_sub(EXCERPT_WIDTH / 2);
        let end = (start + EXCERPT_WIDTH).min(chars.len());
        let (before, after) = (
            if start > 0 { "..." } else { "" },
            if end < chars.len() { "..." } else { "" },
        );
        let shown: String = chars[start..end].iter().collect();
        let pad = " ".repeat(before.len() + column - start);
        writeln!(w, "  {before}{shown}{after}")?;
        writeln!(w, "  {pad}{}", self.theme.error.paint("^"))
    }
}

/// What runs into an armed `point`: a commit for every point but the checkpoint's.
fn reaches(point: CrashPoint) -> &'static str {
    match point {
        CrashPoint::MidCheckpoint => {
            "the next checkpoint (`checkpoint`, or the one a write starts when the log is full)"
        }
        _ => "the next write",
    }
}

/// What each crash mode keeps, in a line (`help crash`).
fn crash_mode_summary(mode: CrashMode) -> &'static str {
    match mode {
        CrashMode::ProcessKill => "the process dies, the kernel lives: all written survives",
        CrashMode::CleanPowerLoss => "the power goes: only what was fsynced survives",
        CrashMode::RandomPowerLoss => "each operation not yet synced is kept or dropped",
        CrashMode::TornPowerLoss => {
            "as random, and a kept write may land as a prefix of its sectors"
        }
        CrashMode::ReorderPowerLoss => "each page of an unsynced write lands or not, in any order",
        CrashMode::GarbagePowerLoss => {
            "as reorder, and a sector caught mid-write reads back as garbage"
        }
    }
}

/// A size inside a longer line: [`kv_engine::human::size`] ("1.0 MiB"), but spelt out in
/// bytes under 1 KiB ("600 bytes"), as the shell words exact counts.
fn short_bytes(bytes: u64) -> String {
    match bytes {
        0..1024 => kv_engine::human::count(bytes, "byte"),
        _ => kv_engine::human::size(bytes as f64),
    }
}

/// `812 bytes`, or with the size for a person beside it: `20480 bytes (20.0 KiB)`.
fn byte_count(bytes: u64) -> String {
    match bytes {
        0..1024 => kv_engine::human::count(bytes, "byte"),
        _ => format!("{bytes} bytes ({})", kv_engine::human::size(bytes as f64)),
    }
}

/// One line saying what took the disk down.
fn describe_cause(cause: &RebootCause) -> String {
    match cause {
        RebootCause::Crash { point, cut, verb } => {
            let how = match cut.mode {
                CrashMode::ProcessKill => "the process died there".to_string(),
                _ => format!("the power went there ({})", describe_cut(*cut)),
            };
            let replay = match cut.mode.is_random() {
                true => format!(" (replay: crash {point} {} {})", cut.mode, cut.seed),
                false => String::new(),
            };
            format!("crash at {point}: {how}; the {verb} was not acknowledged{replay}")
        }
        RebootCause::PowerCut(cut) => {
            let replay = match cut.mode.is_random() {
                true => format!(" (replay: powercut {} {})", cut.mode, cut.seed),
                false => String::new(),
            };
            format!("power cut, {}{replay}", describe_cut(*cut))
        }
    }
}

/// What a crash mode keeps, with the seed of a random one; once explained, only its name
/// (and seed).
fn describe_cut(cut: Cut) -> String {
    if !cut.explain {
        return match cut.mode.is_random() {
            true => format!("{}, seed {}", cut.mode, cut.seed),
            false => cut.mode.to_string(),
        };
    }
    match cut.mode {
        CrashMode::ProcessKill => {
            "process kill: everything written survives, synced or not (the kernel lives on)"
                .to_string()
        }
        CrashMode::CleanPowerLoss => {
            "clean: only what was fsynced, and directory entries whose directory was fsynced, survive"
                .to_string()
        }
        CrashMode::RandomPowerLoss => format!(
            "random, seed {}: each operation not yet synced is kept or dropped",
            cut.seed
        ),
        CrashMode::TornPowerLoss => format!(
            "torn, seed {}: as random, and a kept write may land as a prefix of its sectors",
            cut.seed
        ),
        CrashMode::ReorderPowerLoss => format!(
            "reorder, seed {}: each page (or sector) of an unsynced write is kept or lost on \
             its own, in any order",
            cut.seed
        ),
        CrashMode::GarbagePowerLoss => format!(
            "garbage, seed {}: as reorder, and a sector mid-write comes back as garbage, \
             older bytes in it included",
            cut.seed
        ),
    }
}

/// Why the store is in its mode, as the banner and `stats` show it after the mode's name.
pub fn mode_source(source: ModeSource) -> &'static str {
    match source {
        ModeSource::Given => "--durability",
        ModeSource::HasLog => "the database has a log",
        ModeSource::HasJournal => "the database has a snapshot journal",
        ModeSource::Default => "default",
        ModeSource::ReadOnly => "--read-only",
        ModeSource::NoFile => "no file",
    }
}

/// What `kv import` says once its commit returned: `imported 3 keys into db.json (2 new,
/// 1 overwritten)`.
pub fn imported(keys: usize, new: usize, overwritten: usize, path: &std::path::Path) -> String {
    format!(
        "imported {} into {} ({new} new, {overwritten} overwritten)",
        kv_engine::human::count(keys as u64, "key"),
        path.display()
    )
}

/// A duration as everything else prints one (`kv_engine::human`).
fn duration(elapsed: Duration) -> String {
    kv_engine::human::duration(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_engine::{KvStore, Stats};

    fn report(stats: Stats) -> StatsReport {
        StatsReport {
            stats,
            source: ModeSource::NoFile,
            reboots: 0,
            transaction: None,
        }
    }
    use serde_json::json;

    fn render(outcome: &Outcome, color: bool, layout: Layout) -> String {
        let renderer = Renderer {
            theme: Theme::new(color),
            layout,
        };
        let mut out = Vec::new();
        renderer.outcome(&mut out, outcome).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn plain(outcome: &Outcome) -> String {
        render(outcome, false, Layout::Compact)
    }

    #[test]
    fn values_render_as_compact_json_and_missing_as_nil() {
        assert_eq!(
            plain(&Outcome::Value(json!("alice").to_string())),
            "\"alice\"\n"
        );
        assert_eq!(plain(&Outcome::Value(json!("").to_string())), "\"\"\n");
        assert_eq!(plain(&Outcome::Value(Value::Null.to_string())), "null\n");
        assert_eq!(plain(&Outcome::Missing), "(nil)\n");
        assert_eq!(
            plain(&Outcome::Value(json!({"a": [1, 2]}).to_string())),
            "{\"a\":[1,2]}\n"
        );
        assert_eq!(plain(&Outcome::Stored("k".into())), "OK\n");
        assert_eq!(plain(&Outcome::Deleted("k".into())), "OK\n");
        assert_eq!(plain(&Outcome::Bool(false)), "false\n");
        assert_eq!(plain(&Outcome::Count(3)), "3\n");
        assert_eq!(plain(&Outcome::Exit), "");
    }

    #[test]
    fn keys_render_as_typeable_keys() {
        let keys = Outcome::Keys(vec!["a".into(), "with space".into(), "q\"".into()]);
        assert_eq!(plain(&keys), "a\n\"with space\"\n\"q\\\"\"\n");
    }

    #[test]
    fn raw_prints_strings_and_keys_as_their_text_and_the_rest_unchanged() {
        let raw = |outcome: &Outcome| render(outcome, false, Layout::Raw);
        let value = |json: Value| Outcome::Value(json.to_string());
        assert_eq!(raw(&value(json!("alice"))), "alice\n");
        assert_eq!(raw(&value(json!("say \"hi\"\ttab"))), "say \"hi\"\ttab\n");
        assert_eq!(raw(&value(json!("two\nlines"))), "two\nlines\n");
        assert_eq!(raw(&value(json!(""))), "\n");
        assert_eq!(raw(&value(json!("é\u{1F600}"))), "é\u{1F600}\n");
        assert_eq!(raw(&value(json!(42))), "42\n");
        assert_eq!(raw(&value(json!(null))), "null\n");
        assert_eq!(raw(&value(json!({"a": "b"}))), "{\"a\":\"b\"}\n");
        assert_eq!(raw(&value(json!(["x"]))), "[\"x\"]\n");
        assert_eq!(raw(&Outcome::Missing), "(nil)\n");
        let keys = Outcome::Keys(vec!["a".into(), "with space".into(), "q\"".into()]);
        assert_eq!(raw(&keys), "a\nwith space\nq\"\n");
        assert_eq!(raw(&Outcome::Keys(Vec::new())), "");
        let dump = Outcome::Dump(json!({"a": "x"}).to_string());
        assert_eq!(raw(&dump), "{\"a\":\"x\"}\n");
    }

    #[test]
    fn byte_counts_add_a_binary_size_from_1_kib() {
        assert_eq!(byte_count(0), "0 bytes");
        assert_eq!(byte_count(1023), "1023 bytes");
        assert_eq!(byte_count(1024), "1024 bytes (1.0 KiB)");
        assert_eq!(byte_count(20_480), "20480 bytes (20.0 KiB)");
        assert_eq!(byte_count(5 << 30), "5368709120 bytes (5.0 GiB)");
    }

    #[test]
    fn no_keys_is_said_on_a_terminal_and_silent_in_a_pipe() {
        let none = Outcome::Keys(Vec::new());
        assert_eq!(plain(&none), "");
        assert_eq!(render(&none, false, Layout::Pretty), "(no keys)\n");
        let one = Outcome::Keys(vec!["a".into()]);
        assert_eq!(render(&one, false, Layout::Pretty), "a\n");
    }

    #[test]
    fn dump_is_compact_in_pipes_and_pretty_on_a_terminal() {
        let dump = Outcome::Dump(json!({"a": 1}).to_string());
        assert_eq!(plain(&dump), "{\"a\":1}\n");
        assert_eq!(render(&dump, false, Layout::Pretty), "{\n  \"a\": 1\n}\n");
    }

    #[test]
    fn colour_is_used_only_when_asked_for() {
        let outcomes = [
            Outcome::Value(json!("x").to_string()),
            Outcome::Missing,
            Outcome::Stored("k".into()),
            Outcome::Stats(Box::new(report(KvStore::in_memory().stats()))),
            Outcome::Help(None),
        ];
        for outcome in &outcomes {
            assert!(!plain(outcome).contains('\x1b'), "{outcome:?}");
            let colored = render(outcome, true, Layout::Compact);
            assert!(colored.contains('\x1b'), "{outcome:?}");
        }
        assert_eq!(
            render(
                &Outcome::Value(json!("x").to_string()),
                true,
                Layout::Compact
            ),
            "\x1b[32m\"x\"\x1b[0m\n"
        );
        let mut err = Vec::new();
        Renderer {
            theme: Theme::colored(),
            layout: Layout::Compact,
        }
        .error(&mut err, Some(3), "boom")
        .unwrap();
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "\x1b[1;31merror:\x1b[0m line 3: boom\n"
        );
    }

    #[test]
    fn a_long_line_is_cut_around_the_caret() {
        let renderer = Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        };
        let line = format!("put x [{}oops]", "1,".repeat(100));
        let mut err = Vec::new();
        let column = line.find("oops").unwrap() + 1;
        renderer
            .excerpt(&mut err, &line, Position { line: 1, column })
            .unwrap();
        let text = String::from_utf8(err).unwrap();
        let (shown, caret) = text.split_once('\n').unwrap();
        assert!(
            shown.starts_with("  ...1,1,") && shown.ends_with("oops]"),
            "{text}"
        );
        assert_eq!(caret.find('^'), shown.find("oops"), "{text}");
        assert!(shown.len() <= 2 + 3 + EXCERPT_WIDTH + 3, "{text}");
    }

    #[test]
    fn errors_name_the_line_when_there_is_one() {
        let renderer = Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        };
        let mut err = Vec::new();
        renderer.error(&mut err, Some(7), "boom").unwrap();
        renderer.error(&mut err, None, "bang").unwrap();
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: line 7: boom\nerror: bang\n"
        );
    }

    #[test]
    fn stats_are_aligned_name_value_lines() {
        let text = plain(&Outcome::Stats(Box::new(report(
            KvStore::in_memory().stats(),
        ))));
        assert_eq!(
            text,
            "mode:          memory (no file)\n\
             file:          (none: in memory)\n\
             size on disk:  (no file)\n\
             keys:          0\n\
             commits:       0\n\
             fsyncs:        0\n\
             bytes written: 0 bytes\n\
             last commit:   (none)\n\
             mutations:     0 (puts and deletes committed)\n\
             per mutation:  (no mutation yet)\n"
        );
    }

    #[test]
    fn wal_stats_add_the_log_to_the_size_and_keep_its_zeros_apart() {
        let mut stats = KvStore::in_memory().stats();
        stats.durability = Durability::Wal;
        stats.path = Some("db.json".into());
        stats.file_size = Some(2048);
        stats.log_file_size = Some(1 << 20);
        stats.log_size = Some(600);
        stats.log_records = Some(3);
        stats.bytes_written = (1 << 20) + 150;
        stats.zero_filled_bytes = 1 << 20;
        stats.mutations = 3;
        stats.bytes_per_mutation = Some(50.0);
        let text = plain(&Outcome::Stats(Box::new(StatsReport {
            stats,
            source: ModeSource::HasLog,
            reboots: 1,
            transaction: None,
        })));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "mode:          wal (the database has a log)");
        assert_eq!(
            lines[2],
            "size on disk:  1050624 bytes (1.0 MiB): snapshot 2.0 KiB + log 1.0 MiB"
        );
        assert_eq!(
            lines[4],
            "counters:      restarted at the reopen after the last reboot (a new process counts from 0)"
        );
        assert_eq!(
            lines[7],
            "bytes written: 1048726 bytes (1.0 MiB): 150 bytes of data + 1.0 MiB of preallocated zeros"
        );
        assert_eq!(
            lines[10],
            "per mutation:  50.0 bytes of data written (write amplification: records, log headers, \
             checkpoints; not the zeros)"
        );
        assert_eq!(
            lines[11],
            "log size:      600 bytes in use of a 1.0 MiB file; the rest is preallocated zeros"
        );
    }

    #[test]
    fn stats_say_when_a_store_refuses_writes() {
        let mut stats = KvStore::in_memory().stats();
        stats.poisoned = Some("cannot fsync db.json: Input/output error".to_string());
        let text = plain(&Outcome::Stats(Box::new(report(stats))));
        assert!(
            text.ends_with(
                "writes:        REFUSED until reopened: cannot fsync db.json: Input/output error\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn help_lists_every_verb_and_describes_one() {
        let text = plain(&Outcome::Help(None));
        for verb in VERBS {
            assert!(text.contains(verb.usage), "{}", verb.name);
            for alias in verb.aliases {
                assert!(
                    text.contains(&format!("{alias} for {}", verb.name)),
                    "{alias}"
                );
            }
        }
        let put = crate::shell::command::find_verb("set").unwrap();
        let text = plain(&Outcome::Help(Some(put)));
        assert!(
            text.starts_with(&format!(
                "put KEY VALUE\n  {}\n  also: set\n  examples:\n    put name alice\n",
                put.summary
            )),
            "{text}"
        );
        let count = crate::shell::command::find_verb("count").unwrap();
        assert_eq!(
            plain(&Outcome::Help(Some(count))),
            format!("count\n  {}\n", count.summary)
        );
    }

    #[test]
    fn a_trace_lists_each_operation_dimmed_then_what_it_cost() {
        use kv_engine::fs::OpenMode;
        use kv_engine::fs::trace::TraceEvent;
        use std::path::PathBuf;
        let event = |op, bytes, micros| {
            TraceEntry::Op(TraceEvent {
                op,
                path: PathBuf::from("db.json.tmp-1-1"),
                bytes,
                duration: Duration::from_micros(micros),
                error: None,
            })
        };
        let entries = [
            event(TraceOp::Open(OpenMode::CreateNew { mode: 0o600 }), None, 10),
            event(TraceOp::Write { offset: 0 }, Some(412), 30),
            event(TraceOp::SyncAll, None, 2_000),
            TraceEntry::Reboot(CrashMode::CleanPowerLoss),
            event(TraceOp::SyncDir, None, 1_000),
        ];
        let render = |color: bool, simulated: bool| {
            let mut out = Vec::new();
            Renderer {
                theme: Theme::new(color),
                layout: Layout::Compact,
            }
            .trace(&mut out, &entries, simulated)
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            render(false, false),
            "  trace: create db.json.tmp-1-1 (10.0 µs)\n\
             \x20 trace: write 412 B db.json.tmp-1-1 at 0 (30.0 µs)\n\
             \x20 trace: fsync db.json.tmp-1-1 (2.00 ms)\n\
             \x20 trace: --- the power went; reboot and reopen ---\n\
             \x20 trace: directory fsync db.json.tmp-1-1 (1.00 ms)\n\
             \x20 trace: 4 operations, 412 B written, 2 syncs, 3.04 ms\n"
        );
        // On the simulated disk no operation shows a time: none of it is I/O time.
        assert_eq!(
            render(false, true),
            "  trace: create db.json.tmp-1-1\n\
             \x20 trace: write 412 B db.json.tmp-1-1 at 0\n\
             \x20 trace: fsync db.json.tmp-1-1\n\
             \x20 trace: --- the power went; reboot and reopen ---\n\
             \x20 trace: directory fsync db.json.tmp-1-1\n\
             \x20 trace: 4 operations, 412 B written, 2 syncs, simulated disk, no real I/O time\n"
        );
        let colored = render(true, false);
        assert_eq!(colored.lines().count(), 6);
        for line in colored.lines() {
            assert!(
                line.starts_with("\x1b[2m") && line.ends_with("\x1b[0m"),
                "{line:?}"
            );
        }
        let mut out = Vec::new();
        Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        }
        .trace(&mut out, &[], false)
        .unwrap();
        assert_eq!(out, b"  trace: no filesystem operations\n");
    }

    #[test]
    fn a_reboot_names_what_was_lost_changed_and_appeared() {
        use crate::shell::database::{Cut, RebootCause, Reopened};
        use crate::shell::exec_error::NoStore;
        use kv_engine::fs::CrashMode;
        let lost: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
        let reboot = Reboot {
            cause: RebootCause::PowerCut(Cut {
                mode: CrashMode::RandomPowerLoss,
                seed: 4,
                explain: true,
            }),
            path: "db.json".into(),
            files: vec![("db.json".into(), 40), ("db.json.lock".into(), 0)],
            reopened: Ok(Reopened {
                keys: 2,
                removed_temps: 0,
                diff: Some(Diff {
                    lost,
                    changed: vec![("a".into(), json!(1), json!(2))],
                    appeared: vec![("with space".into(), json!("x"))],
                    ..Diff::default()
                }),
                warnings: vec![kv_engine::Warning::FinishedCheckpoint {
                    path: "db.json".into(),
                }],
            }),
        };
        assert_eq!(
            plain(&Outcome::Rebooted(Box::new(reboot.clone()))),
            "power cut, random, seed 4: each operation not yet synced is kept or dropped \
             (replay: powercut random 4)\n\
             disk after the reboot: db.json (40 B), db.json.lock (0 B)\n\
             reopened db.json: 2 keys\n\
             warning: db.json: finished a checkpoint that was interrupted after writing its \
             snapshot\n\
             LOST (acknowledged with OK, gone now): k00, k01, k02, k03, k04, k05, k06, k07, \
             k08, k09 and 2 more\n\
             not the acknowledged value: a = 2 (acknowledged: 1)\n\
             never acknowledged, yet there: \"with space\" = \"x\"\n"
        );
        let failed = Reboot {
            reopened: Err(NoStore::ReopenFailed {
                path: "db.json".into(),
                error: std::sync::Arc::new(kv_engine::Error::NoDatabase {
                    path: "db.json".into(),
                }),
            }),
            ..reboot
        };
        let outcome = Outcome::Rebooted(Box::new(failed));
        assert_eq!(
            outcome.failure().map(ToString::to_string),
            Some(format!(
                "after the reboot, db.json cannot be opened: {}",
                kv_engine::Error::NoDatabase {
                    path: "db.json".into()
                }
            ))
        );
        assert!(
            plain(&outcome)
                .ends_with("disk after the reboot: db.json (40 B), db.json.lock (0 B)\n"),
            "the error itself goes to the error stream"
        );
    }

    #[test]
    fn transactions_say_what_is_queued_committed_or_rolled_back() {
        assert_eq!(plain(&Outcome::Begun), "OK\n");
        assert_eq!(plain(&Outcome::Queued), "QUEUED\n");
        assert_eq!(plain(&Outcome::Committed(3)), "OK (3 mutations)\n");
        assert_eq!(plain(&Outcome::Committed(1)), "OK (1 mutation)\n");
        assert_eq!(
            plain(&Outcome::RolledBack(2)),
            "OK (rolled back 2 mutations: nothing of them was stored)\n"
        );
        let mut report = report(KvStore::in_memory().stats());
        assert!(!plain(&Outcome::Stats(Box::new(report.clone()))).contains("transaction"));
        report.transaction = Some(2);
        let text = plain(&Outcome::Stats(Box::new(report)));
        assert!(
            text.contains(
                "\ntransaction:   open: 2 mutations queued, not committed (the keys above do \
                 not count them)\n"
            ),
            "{text}"
        );
    }
}

//! The rustyline helper: completion of verbs and live keys, a greyed usage hint,
//! highlighting (an unknown verb in red), and the Ctrl-C binding that notes the line it
//! abandons. A JSON value left open continues on the next line, read by
//! `shell::interactive` under a continuation prompt.
//! The logic lives in plain methods so it is tested without a terminal.

use std::borrow::Cow;

use nu_ansi_term::Style;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use std::sync::{Arc, Mutex};

use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Event, EventContext, EventHandler, Helper, KeyEvent,
    RepeatCount,
};

use crate::shell::command::{Args, VERBS, find_verb, key_syntax, needs_simulate};
use crate::shell::render::Theme;

/// Everything the line editor asks the shell about.
#[derive(Debug, Helper)]
pub struct KvHelper {
    /// The store's keys, refreshed by the loop after each mutation.
    keys: Vec<String>,
    theme: Theme,
    /// Whether the store is on a simulated disk: only then are `powercut`, `writeback`
    /// and `save` offered (elsewhere they only say they need one).
    simulated: bool,
}

impl KvHelper {
    /// A helper that styles with `theme` (the prompt too: the main one and the
    /// continuation prompt alike).
    pub fn new(theme: Theme) -> Self {
        KvHelper {
            keys: Vec::new(),
            theme,
            simulated: false,
        }
    }

    /// Offers the verbs that need a simulated disk (`kv --simulate`).
    pub fn set_simulated(&mut self, simulated: bool) {
        self.simulated = simulated;
    }

    /// Replaces the keys offered for completion (in the store's order: sorted).
    pub fn set_keys(&mut self, keys: Vec<String>) {
        self.keys = keys;
    }

    /// Offers `key` too, keeping the list sorted.
    pub fn add_key(&mut self, key: String) {
        if let Err(at) = self.keys.binary_search(&key) {
            self.keys.insert(at, key);
        }
    }

    /// Stops offering `key`.
    pub fn remove_key(&mut self, key: &str) {
        if let Ok(at) = self.keys.binary_search_by(|k| k.as_str().cmp(key)) {
            self.keys.remove(at);
        }
    }

    /// Completions for `line` with the cursor at byte `pos`: where the replaced word
    /// starts, and the candidates (verbs for the first word, keys or verbs after).
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let mut start = before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        // A key being typed as a JSON string may hold spaces: it starts at its quote.
        let after_verb = before.trim_start().find(char::is_whitespace).map(|end| {
            let verb_end = before.len() - before.trim_start().len() + end;
            verb_end + (before[verb_end..].len() - before[verb_end..].trim_start().len())
        });
        if let Some(arg_start) = after_verb
            && before[arg_start..].starts_with('"')
            && serde_json::from_str::<String>(&before[arg_start..]).is_err()
        {
            start = arg_start;
        }
        let word = &before[start..];
        let previous: Vec<&str> = before[..start].split_whitespace().collect();
        let names = |prefix: &str| -> Vec<String> {
            let prefix = prefix.to_ascii_lowercase();
            VERBS
                .iter()
                .filter(|verb| self.simulated || !needs_simulate(verb.id))
                .flat_map(|verb| std::iter::once(verb.name).chain(verb.aliases.iter().copied()))
                .filter(|name| name.starts_with(&prefix))
                .map(|name| format!("{name} "))
                .collect()
        };
        let found = match previous.as_slice() {
            [] => names(word),
            [verb] => match find_verb(verb).map(|verb| verb.args) {
                Some(Args::Key | Args::KeyValue | Args::OptionalKey) => {
                    // A key being typed as a JSON string matches on what is inside it.
                    let typed = word.strip_prefix('"').unwrap_or(word);
                    self.keys
                        .iter()
                        .filter(|key| key.starts_with(typed))
                        .map(|key| format!("{} ", key_syntax(key)))
                        .collect()
                }
                Some(Args::OptionalVerb) => names(word),
                Some(Args::Words(choices)) => choices
                    .names()
                    .into_iter()
                    .filter(|name| name.starts_with(&word.to_ascii_lowercase()))
                    .map(|name| format!("{name} "))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        (start, found)
    }

    /// The greyed text shown after the cursor: the rest of the verb's usage.
    pub fn usage_hint(&self, line: &str, pos: usize) -> Option<String> {
        if pos < line.len() || line.trim().is_empty() {
            return None;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let typing_verb = words.len() == 1 && !line.ends_with(char::is_whitespace);
        if typing_verb {
            let lower = words[0].to_ascii_lowercase();
            let mut matching = VERBS.iter().filter(|verb| {
                verb.name.starts_with(&lower) && (self.simulated || !needs_simulate(verb.id))
            });
            let verb = matching.next()?;
            if matching.next().is_some() && verb.name != lower {
                return None;
            }
            let args = verb.usage_args();
            let space = if args.is_empty() { "" } else { " " };
            return Some(format!("{}{space}{args}", &verb.name[lower.len()..]));
        }
        let verb = find_verb(words.first()?)?;
        // Hint only while the arguments are plain words; a quoted key or JSON value may
        // hold spaces that make counting words meaningless.
        if line.contains(['"', '{', '[']) {
            return None;
        }
        let typed_args = words.len() - 1;
        let complete_args = if line.ends_with(char::is_whitespace) {
            typed_args
        } else {
            typed_args.saturating_sub(1)
        };
        let remaining: Vec<&str> = verb
            .usage_args()
            .split_whitespace()
            .skip(complete_args)
            .collect();
        if remaining.is_empty() || !line.ends_with(char::is_whitespace) {
            return None;
        }
        Some(remaining.join(" "))
    }

    /// `line` with the verb styled (red if unknown) and a `put` value styled as JSON.
    pub fn highlighted(&self, line: &str) -> String {
        let start = line.len() - line.trim_start().len();
        let rest = &line[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        if word.is_empty() || word.starts_with('#') {
            return self.theme.hint.paint(line).to_string();
        }
        let verb = find_verb(word);
        let verb_style = if verb.is_some() {
            self.theme.verb
        } else {
            self.theme.unknown_verb
        };
        let mut out = format!("{}{}", &line[..start], verb_style.paint(word));
        if verb.is_some_and(|verb| verb.args == Args::KeyValue) {
            // Style the value, which starts after the key (a bare word or a JSON string).
            let trimmed = after.trim_start();
            let key_end = if trimmed.starts_with('"') {
                let mut stream =
                    serde_json::Deserializer::from_str(trimmed).into_iter::<serde_json::Value>();
                match stream.next() {
                    Some(Ok(_)) => stream.byte_offset(),
                    _ => trimmed.len(),
                }
            } else {
                trimmed.find(char::is_whitespace).unwrap_or(trimmed.len())
            };
            let key_end = after.len() - trimmed.len() + key_end;
            let (key, value) = after.split_at(key_end);
            out.push_str(key);
            let style = match value.trim_start().chars().next() {
                Some('"') => self.theme.string,
                Some('0'..='9' | '-') => self.theme.number,
                Some('{' | '[') => nu_ansi_term::Style::new(),
                _ => self.theme.literal,
            };
            out.push_str(&style.paint(value).to_string());
        } else {
            out.push_str(after);
        }
        out
    }
}

impl Completer for KvHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = self.candidates(line, pos);
        let pairs = found
            .into_iter()
            .map(|text| Pair {
                display: text.trim_end().to_string(),
                replacement: text,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for KvHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        // Unstyled, a hint looks exactly like typed text: `pu` would read as `put KEY
        // VALUE` already typed. Without colour the usage stays one `help` away.
        if self.theme.hint == Style::new() {
            return None;
        }
        self.usage_hint(line, pos)
    }
}

impl Highlighter for KvHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Owned(self.highlighted(line))
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if default {
            Cow::Owned(self.theme.prompt.paint(prompt).to_string())
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(self.theme.hint.paint(hint).to_string())
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        // The verb's colour can change with any keystroke (`ge` is red, `get` is not).
        true
    }
}

/// Every line is accepted at Enter. A value left open does not keep the line editor going
/// (rustyline would continue it without any prompt): the loop reads the next line itself,
/// under a continuation prompt, where Ctrl-D and Ctrl-C can abandon the statement.
impl Validator for KvHelper {}

/// Ctrl-C at the prompt: does what it always did (rustyline abandons the line), after
/// noting the line and the prompt width, so the loop can show `^C` after what was typed,
/// as bash and redis-cli do (rustyline ends the line with no mark).
#[derive(Debug, Clone, Default)]
pub struct CtrlC {
    abandoned: Arc<Mutex<Option<String>>>,
}

impl CtrlC {
    /// Binds Ctrl-C in `editor` to this handler.
    pub fn bind<H: Helper, I: rustyline::history::History>(
        &self,
        editor: &mut rustyline::Editor<H, I>,
    ) {
        editor.bind_sequence(
            KeyEvent::ctrl('C'),
            EventHandler::Conditional(Box::new(self.clone())),
        );
    }

    /// The line Ctrl-C abandoned last, if any (taken: the next call says `None`).
    pub fn take(&self) -> Option<String> {
        self.abandoned.lock().ok().and_then(|mut line| line.take())
    }
}

impl ConditionalEventHandler for CtrlC {
    fn handle(
        &self,
        _event: &Event,
        _count: RepeatCount,
        _positive: bool,
        ctx: &EventContext,
    ) -> Option<Cmd> {
        if let Ok(mut line) = self.abandoned.lock() {
            *line = Some(ctx.line().to_string());
        }
        // The default: abandon the line.
        None
    }
}

/// Where `^C` goes after a Ctrl-C: the 1-based column just past what was typed, given the
/// prompt, the abandoned line and the terminal's width. The editor has moved the cursor to
/// the end of the input and then to a new line, so the loop goes up one row to that
/// column. A line that filled its last row exactly left the cursor on a fresh row: the
/// column is then 1. Widths count characters (a double-width character shifts the mark).
pub fn ctrl_c_column(prompt: &str, line: &str, columns: usize) -> usize {
    let end = match line.rsplit_once('\n') {
        Some((_, last)) => last.chars().count(),
        None => prompt.chars().count() + line.chars().count(),
    };
    end % columns.max(1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> KvHelper {
        let mut helper = KvHelper::new(Theme::colored());
        helper.set_keys(vec!["alice".into(), "alpha".into(), "with space".into()]);
        helper
    }

    #[test]
    fn ctrl_c_marks_the_column_after_the_abandoned_input() {
        // "kv> " + "put a" ends at column 9 (1-based: the mark goes in column 10).
        assert_eq!(ctrl_c_column("kv> ", "put a", 80), 10);
        assert_eq!(ctrl_c_column("kv> ", "", 80), 5);
        // Wrapped onto a second row of a 10-column terminal: 4 + 9 = 13 → column 4.
        assert_eq!(ctrl_c_column("kv> ", "put a 123", 10), 4);
        // Exactly filled: the cursor already sits on a fresh row.
        assert_eq!(ctrl_c_column("kv> ", "put a ", 10), 1);
        // Pasted lines: the last one starts at the left edge, without the prompt.
        assert_eq!(ctrl_c_column("kv> ", "put a 1\nput b", 80), 6);
        assert_eq!(ctrl_c_column("kv> ", "x", 0), 1);
    }

    #[test]
    fn completes_verbs_then_live_keys() {
        let h = helper();
        assert_eq!(h.candidates("ge", 2), (0, vec!["get ".to_string()]));
        assert_eq!(
            h.candidates("de", 2),
            (0, vec!["delete ".to_string(), "del ".to_string()])
        );
        assert_eq!(
            h.candidates("get al", 6),
            (4, vec!["alice ".to_string(), "alpha ".to_string()])
        );
        assert_eq!(
            h.candidates("put w", 5),
            (4, vec!["\"with space\" ".to_string()])
        );
        assert_eq!(
            h.candidates("get \"wi", 7),
            (4, vec!["\"with space\" ".to_string()])
        );
        assert_eq!(
            h.candidates("get \"with sp", 12),
            (4, vec!["\"with space\" ".to_string()])
        );
        assert_eq!(h.candidates("help ke", 7), (5, vec!["keys ".to_string()]));
        assert_eq!(h.candidates("count x", 7), (6, vec![]));
        assert_eq!(
            h.candidates("crash after-t", 13),
            (
                6,
                vec![
                    "after-temp-write ".to_string(),
                    "after-temp-sync ".to_string()
                ]
            )
        );
        assert_eq!(
            h.candidates("powercut t", 10),
            (9, vec!["torn ".to_string()])
        );
        assert_eq!(
            h.candidates("trace o", 7),
            (6, vec!["on ".to_string(), "off ".to_string()])
        );
        assert_eq!(h.candidates("put alice 1", 11), (10, vec![]));
    }

    #[test]
    fn verbs_that_need_a_simulated_disk_are_offered_only_on_one() {
        let mut h = helper();
        let verbs = |h: &KvHelper| h.candidates("", 0).1;
        for verb in ["powercut ", "writeback ", "save "] {
            assert!(!verbs(&h).contains(&verb.to_string()), "{verb}");
        }
        assert!(verbs(&h).contains(&"crash ".to_string()));
        assert_eq!(h.candidates("po", 2), (0, vec![]));
        assert_eq!(h.candidates("sa", 2), (0, vec![]));
        assert_eq!(h.usage_hint("writ", 4), None);
        h.set_simulated(true);
        for verb in ["powercut ", "writeback ", "save "] {
            assert!(verbs(&h).contains(&verb.to_string()), "{verb}");
        }
        assert_eq!(h.candidates("po", 2), (0, vec!["powercut ".into()]));
        assert_eq!(h.candidates("sa", 2), (0, vec!["save ".into()]));
        assert_eq!(h.usage_hint("writ", 4), Some("eback".into()));
    }

    #[test]
    fn hints_show_the_rest_of_the_usage() {
        let h = helper();
        assert_eq!(h.usage_hint("pu", 2), Some("t KEY VALUE".into()));
        assert_eq!(h.usage_hint("put ", 4), Some("KEY VALUE".into()));
        assert_eq!(h.usage_hint("put k ", 6), Some("VALUE".into()));
        assert_eq!(h.usage_hint("put k 1", 7), None);
        assert_eq!(h.usage_hint("coun", 4), Some("t".into()));
        assert_eq!(h.usage_hint("e", 1), None, "exists and exit both match");
        assert_eq!(h.usage_hint("", 0), None);
    }

    #[test]
    fn keys_added_and_removed_one_by_one_stay_sorted_and_unique() {
        let mut h = helper();
        h.add_key("alm".into());
        h.add_key("alpha".into());
        h.add_key("zed".into());
        h.remove_key("alice");
        h.remove_key("not there");
        assert_eq!(h.keys, ["alm", "alpha", "with space", "zed"]);
        assert_eq!(
            h.candidates("get al", 6),
            (4, vec!["alm ".into(), "alpha ".into()])
        );
    }

    #[test]
    fn no_hint_without_colour() {
        let history = rustyline::history::DefaultHistory::new();
        let ctx = Context::new(&history);
        assert_eq!(helper().hint("pu", 2, &ctx), Some("t KEY VALUE".into()));
        let plain = KvHelper::new(Theme::plain());
        assert_eq!(plain.hint("pu", 2, &ctx), None);
    }

    #[test]
    fn an_unknown_verb_is_red_and_a_known_one_is_not() {
        let h = helper();
        assert_eq!(h.highlighted("gte a"), "\x1b[31mgte\x1b[0m a");
        assert_eq!(h.highlighted("get a"), "\x1b[1;34mget\x1b[0m a");
        assert_eq!(
            h.highlighted("put a \"x\""),
            "\x1b[1;34mput\x1b[0m a\x1b[32m \"x\"\x1b[0m"
        );
        let plain = KvHelper::new(Theme::plain());
        assert_eq!(plain.highlighted("gte a"), "gte a");
    }

    #[test]
    fn the_transaction_verbs_complete_hint_and_highlight() {
        let h = helper();
        assert_eq!(h.candidates("beg", 3), (0, vec!["begin ".to_string()]));
        assert_eq!(h.candidates("comm", 4), (0, vec!["commit ".to_string()]));
        assert_eq!(h.candidates("ro", 2), (0, vec!["rollback ".to_string()]));
        for alias in ["multi ", "exec ", "discard ", "abort "] {
            assert!(
                h.candidates("", 0).1.contains(&alias.to_string()),
                "{alias}"
            );
        }
        assert_eq!(h.usage_hint("rollb", 5), Some("ack".into()));
        assert_eq!(h.highlighted("commit"), "\x1b[1;34mcommit\x1b[0m");
        assert_eq!(h.highlighted("multi"), "\x1b[1;34mmulti\x1b[0m");
    }
}

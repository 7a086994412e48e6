//! The command language: the table of verbs, [`Command`], and the pure [`parse`].
//!
//! A statement is `VERB [KEY] [VALUE]`. KEY is a bare word or a JSON string literal; VALUE is
//! the rest of the statement, as JSON, except that one bare word that is not JSON is taken
//! as a string. Everything here is free of I/O so the whole grammar is tested as a table.

use std::fmt;

use serde_json::Value;

use kv_engine::fs::CrashMode;
use kv_engine::json_scan::{self, Scanner, Token};
use kv_engine::{CrashPoint, JsonText};

/// What a verb takes after it; drives argument checking, completion and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    /// Nothing.
    None,
    /// Exactly one KEY.
    Key,
    /// A KEY, then a JSON VALUE (the rest of the statement).
    KeyValue,
    /// An optional PATTERN (`keys`): a JSON string, or any word (a glob may hold the
    /// brackets and backslashes a bare KEY cannot).
    OptionalKey,
    /// An optional verb name (for `help`).
    OptionalVerb,
    /// Words checked by the verb's own arm of [`parse`]; the first completes from
    /// `Choices`.
    Words(Choices),
    /// `[--step] FILE`: a command file, as a bare word or a JSON string (`source`).
    File,
}

/// The names a [`Args::Words`] verb's first argument completes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    /// Crash point names (`crash`).
    CrashPoints,
    /// Crash mode names (`powercut`).
    CrashModes,
    /// `on` and `off` (`trace`).
    OnOff,
    /// A few durations (`sleep`).
    Durations,
}

impl Choices {
    /// Every name, in the order they are documented.
    pub fn names(self) -> Vec<&'static str> {
        match self {
            Choices::CrashPoints => CrashPoint::ALL.iter().map(|point| point.name()).collect(),
            Choices::CrashModes => POWER_CUTS.iter().map(|mode| mode.name()).collect(),
            Choices::OnOff => vec!["on", "off"],
            Choices::Durations => vec!["100ms", "1s", "2s"],
        }
    }
}

/// The crash modes `powercut` takes, the default first.
pub const POWER_CUTS: [CrashMode; 6] = [
    CrashMode::CleanPowerLoss,
    CrashMode::RandomPowerLoss,
    CrashMode::TornPowerLoss,
    CrashMode::ReorderPowerLoss,
    CrashMode::GarbagePowerLoss,
    CrashMode::ProcessKill,
];

/// Which verb a [`Verb`] row is: [`parse`] matches on it exhaustively, so a new verb
/// cannot be parsed by accident as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerbId {
    Get,
    Put,
    Delete,
    Exists,
    Keys,
    Count,
    Dump,
    Stats,
    Checkpoint,
    Crash,
    PowerCut,
    Writeback,
    Sync,
    Sleep,
    Save,
    Trace,
    Source,
    Pause,
    Help,
    Exit,
    Begin,
    Commit,
    Rollback,
}

/// One verb of the language. [`VERBS`] is the single source for parsing, `help`,
/// completion, hints and did-you-mean suggestions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    pub id: VerbId,
    /// The canonical, lower-case name.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// What follows the verb.
    pub args: Args,
    /// The usage line, as printed by `help` and on a wrong argument count.
    pub usage: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
}

impl Verb {
    /// Whether `word` names this verb, in any case (verbs are ASCII).
    pub fn is_named(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word)
            || self
                .aliases
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(word))
    }

    /// The part of the usage line after the verb (`"KEY VALUE"`).
    pub fn usage_args(&self) -> &'static str {
        self.usage
            .split_once(' ')
            .map(|(_, rest)| rest)
            .unwrap_or("")
    }
}

/// Every verb, in the order `help` lists them. To add a verb: a [`VerbId`], a row here
/// (its [`Args`] shape, usage and summary feed help, completion and hints), a [`Command`]
/// variant built in [`parse`], its arm in `exec::execute`, and, if it returns a new kind
/// of [`Outcome`](crate::shell::Outcome), that outcome's arm in `render`.
pub const VERBS: &[Verb] = &[
    Verb {
        id: VerbId::Get,
        name: "get",
        aliases: &[],
        args: Args::Key,
        usage: "get KEY",
        summary: "print the value stored under KEY as JSON, or (nil) if there is none",
    },
    Verb {
        id: VerbId::Put,
        name: "put",
        aliases: &["set"],
        args: Args::KeyValue,
        usage: "put KEY VALUE",
        summary: "store the JSON VALUE under KEY; prints OK once it is durable",
    },
    Verb {
        id: VerbId::Delete,
        name: "delete",
        aliases: &["del"],
        args: Args::Key,
        usage: "delete KEY",
        summary: "remove KEY; prints OK once durable, or (nil) if there was no such key",
    },
    Verb {
        id: VerbId::Exists,
        name: "exists",
        aliases: &[],
        args: Args::Key,
        usage: "exists KEY",
        summary: "print true if KEY is present, else false",
    },
    Verb {
        id: VerbId::Keys,
        name: "keys",
        aliases: &[],
        args: Args::OptionalKey,
        usage: "keys [PATTERN]",
        summary: "list the keys in order (PATTERN: a glob with * ? [a-z] \\, or a prefix)",
    },
    Verb {
        id: VerbId::Count,
        name: "count",
        aliases: &[],
        args: Args::None,
        usage: "count",
        summary: "print the number of keys",
    },
    Verb {
        id: VerbId::Dump,
        name: "dump",
        aliases: &[],
        args: Args::None,
        usage: "dump",
        summary: "print the whole store as one JSON object",
    },
    Verb {
        id: VerbId::Begin,
        name: "begin",
        aliases: &["multi"],
        args: Args::None,
        usage: "begin",
        summary: "open a transaction: puts and deletes are queued (QUEUED) until commit",
    },
    Verb {
        id: VerbId::Commit,
        name: "commit",
        aliases: &["exec"],
        args: Args::None,
        usage: "commit",
        summary: "commit the queued writes as one: all or none, through any crash",
    },
    Verb {
        id: VerbId::Rollback,
        name: "rollback",
        aliases: &["discard", "abort"],
        args: Args::None,
        usage: "rollback",
        summary: "drop the queued puts and deletes: nothing of them is stored",
    },
    Verb {
        id: VerbId::Stats,
        name: "stats",
        aliases: &[],
        args: Args::None,
        usage: "stats",
        summary: "print the mode, file, size on disk, keys, commits, fsyncs, bytes written",
    },
    Verb {
        id: VerbId::Checkpoint,
        name: "checkpoint",
        aliases: &[],
        args: Args::None,
        usage: "checkpoint",
        summary: "(wal) fold the log into a new snapshot and start an empty log",
    },
    Verb {
        id: VerbId::Crash,
        name: "crash",
        aliases: &[],
        args: Args::Words(Choices::CrashPoints),
        usage: "crash [POINT [MODE [SEED]]]",
        summary: "list this mode's crash points, or arm one: the next commit reaching it \
                  dies there (help crash: the points and modes)",
    },
    Verb {
        id: VerbId::PowerCut,
        name: "powercut",
        aliases: &[],
        args: Args::Words(Choices::CrashModes),
        usage: "powercut [MODE [SEED]]",
        summary: "(--simulate) cut the power (MODE clean|random|torn|reorder|garbage|kill); \
                  show what survived",
    },
    Verb {
        id: VerbId::Writeback,
        name: "writeback",
        aliases: &[],
        args: Args::None,
        usage: "writeback",
        summary: "(--simulate) the kernel writes its cache to disk: all written is durable",
    },
    Verb {
        id: VerbId::Sync,
        name: "sync",
        aliases: &[],
        args: Args::None,
        usage: "sync",
        summary: "(--sync DURATION|never) make every acknowledged write durable now",
    },
    Verb {
        id: VerbId::Sleep,
        name: "sleep",
        aliases: &[],
        args: Args::Words(Choices::Durations),
        usage: "sleep DURATION",
        summary: "(--simulate) move the simulated clock (100ms, 2s): the syncs of \
                  --sync DURATION due meanwhile run",
    },
    Verb {
        id: VerbId::Save,
        name: "save",
        aliases: &[],
        args: Args::None,
        usage: "save",
        summary: "(--simulate) write the simulated file over the real PATH, crash-safely",
    },
    Verb {
        id: VerbId::Trace,
        name: "trace",
        aliases: &[],
        args: Args::Words(Choices::OnOff),
        usage: "trace [on|off]",
        summary: "after each command, print the filesystem operations it performed",
    },
    Verb {
        id: VerbId::Source,
        name: "source",
        aliases: &[],
        args: Args::File,
        usage: "source [--step] FILE",
        summary: "run the commands of FILE as --echo shows them, then carry on here \
                  (--step: wait for Enter before each one)",
    },
    Verb {
        id: VerbId::Pause,
        name: "pause",
        aliases: &[],
        args: Args::None,
        usage: "pause",
        summary: "in a file run by source at a terminal, wait for Enter (elsewhere: nothing)",
    },
    Verb {
        id: VerbId::Help,
        name: "help",
        aliases: &[],
        args: Args::OptionalVerb,
        usage: "help [COMMAND]",
        summary: "list the commands, or describe one",
    },
    Verb {
        id: VerbId::Exit,
        name: "exit",
        aliases: &["quit"],
        args: Args::None,
        usage: "exit",
        summary: "leave the shell (or press Ctrl-D)",
    },
];

/// Examples shown by `help VERB` (a test checks that each one parses as its verb). Verbs
/// whose usage says it all have none.
pub fn examples(id: VerbId) -> &'static [&'static str] {
    match id {
        VerbId::Get => &["get user:1", "get \"key with spaces\""],
        VerbId::Put => &[
            "put name alice",
            "put n 42",
            "put user:1 {\"name\": \"Ada\", \"langs\": [\"en\", \"fr\"]}",
            "put \"key with spaces\" \"a string, quoted\"",
        ],
        VerbId::Delete => &["delete user:1"],
        VerbId::Exists => &["exists user:1"],
        VerbId::Keys => &["keys", "keys user:", "keys user:*:name", "keys user:[0-9]?"],
        VerbId::Source => &[
            "source history/demos/stage-2-snapshot.kv",
            "source --step \"my demo.kv\"",
        ],
        VerbId::Help => &["help put"],
        _ => &[],
    }
}

/// Whether `id` works only on a simulated disk (`kv --simulate PATH`): completion offers
/// it only there.
pub fn needs_simulate(id: VerbId) -> bool {
    matches!(
        id,
        VerbId::PowerCut | VerbId::Writeback | VerbId::Save | VerbId::Sleep
    )
}

/// The verb named `word` (any case, aliases included).
pub fn find_verb(word: &str) -> Option<&'static Verb> {
    // No lower-cased copy: this runs for every statement of a piped file.
    VERBS.iter().find(|verb| verb.is_named(word))
}

/// One parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Get {
        key: String,
    },
    Put {
        key: String,
        /// The VALUE as the canonical text the store keeps (parsed and checked, no tree).
        value: JsonText,
    },
    Delete {
        key: String,
    },
    Exists {
        key: String,
    },
    /// `keys [PATTERN]`: the pattern as typed (see `shell::pattern`).
    Keys {
        pattern: Option<String>,
    },
    Count,
    Dump,
    Stats,
    /// `checkpoint`: fold the log into the snapshot (a no-op without a log).
    Checkpoint,
    /// `crash`: list the points; `crash POINT`: arm one. `cut` says how the simulated
    /// disk reboots when the point is reached (default: a process kill).
    Crash {
        point: Option<CrashPoint>,
        cut: Option<PowerCut>,
    },
    /// `powercut [MODE] [SEED]`.
    PowerCut(PowerCut),
    /// `writeback`: the simulated kernel flushes its cache.
    Writeback,
    /// `sync`: make every acknowledged write durable now (`--sync DURATION|never`).
    Sync,
    /// `sleep DURATION`: move the simulated clock.
    Sleep(std::time::Duration),
    /// `save`: the simulated file back to the real disk.
    Save,
    /// `trace on|off`, or `trace` to say which.
    Trace {
        on: Option<bool>,
    },
    /// `source [--step] FILE`: run a command file here (the session does; see
    /// [`Session`](crate::shell::Session)).
    Source {
        path: String,
        /// Wait for Enter before each statement.
        step: bool,
    },
    /// `pause`: wait for Enter, in a file run by `source` at a terminal.
    Pause,
    /// `help`, or `help VERB` (the topic is the verb's canonical name).
    Help {
        topic: Option<&'static Verb>,
    },
    Exit,
    /// `begin`: open a transaction.
    Begin,
    /// `commit`: commit the open transaction as one commit.
    Commit,
    /// `rollback`: drop the open transaction.
    Rollback,
}

/// How a simulated disk goes down: the crash mode, and the seed of a random one (`None`:
/// the session picks the next of its counter and prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerCut {
    pub mode: CrashMode,
    pub seed: Option<u64>,
}

/// Where in the statement a problem is: 1-based line (within the statement) and column
/// (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Why a statement does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The message, without position.
    pub message: String,
    /// Where the problem is, when one place is to blame.
    pub position: Option<Position>,
}

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            position: None,
        }
    }

    fn usage(verb: &Verb, problem: &str) -> Self {
        ParseError::new(format!("{problem}; usage: {}", verb.usage))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(Position { line: 1, column }) => write!(f, "column {column}: {}", self.message),
            Some(Position { line, column }) => {
                write!(f, "line {line} column {column}: {}", self.message)
            }
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one statement (which may span lines while a JSON value is open). Blank
/// statements and `#` comments are `Ok(None)`: there is nothing to run.
pub fn parse(input: &str) -> Result<Option<Command>, ParseError> {
    let trimmed = input.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let mut cursor = Cursor {
        input,
        pos: input.len() - trimmed.len(),
    };
    let word = cursor.word();
    let verb = find_verb(word).ok_or_else(|| unknown_verb(word))?;
    // First the arguments, by shape; then the command, by verb.
    let mut key = None;
    let mut value = None;
    let mut topic = None;
    let mut words: Vec<&str> = Vec::new();
    let mut step = false;
    match verb.args {
        Args::None => {}
        Args::Key | Args::KeyValue => {
            let found = cursor.key()?;
            key = Some(found.ok_or_else(|| ParseError::usage(verb, "missing KEY"))?);
        }
        Args::OptionalKey => key = cursor.pattern()?,
        Args::OptionalVerb => {
            topic = match cursor.word() {
                "" => None,
                name => Some(find_verb(name).ok_or_else(|| unknown_verb(name))?),
            }
        }
        Args::Words(_) => loop {
            match cursor.word() {
                "" => break,
                word => words.push(word),
            }
        },
        Args::File => {
            let before = cursor.pos;
            match cursor.word() {
                "--step" => step = true,
                _ => cursor.pos = before,
            }
            let found = cursor.key()?;
            key = Some(found.ok_or_else(|| ParseError::usage(verb, "missing FILE"))?);
        }
    }
    match (verb.args, &key) {
        (Args::KeyValue, Some(key)) => value = Some(cursor.value(verb, key)?),
        _ => cursor.expect_end(verb)?,
    }
    // The table gives each verb the argument shape its command needs (a test checks),
    // so the defaults below are never used.
    let command = match verb.id {
        VerbId::Get => Command::Get {
            key: key.unwrap_or_default(),
        },
        VerbId::Put => Command::Put {
            key: key.unwrap_or_default(),
            value: value.unwrap_or_default(),
        },
        VerbId::Delete => Command::Delete {
            key: key.unwrap_or_default(),
        },
        VerbId::Exists => Command::Exists {
            key: key.unwrap_or_default(),
        },
        VerbId::Keys => Command::Keys { pattern: key },
        VerbId::Count => Command::Count,
        VerbId::Dump => Command::Dump,
        VerbId::Stats => Command::Stats,
        VerbId::Checkpoint => Command::Checkpoint,
        VerbId::Crash => match words.split_first() {
            None => Command::Crash {
                point: None,
                cut: None,
            },
            Some((point, rest)) => Command::Crash {
                point: Some(
                    point
                        .to_ascii_lowercase()
                        .parse()
                        .map_err(|_| unknown_point(point))?,
                ),
                cut: match rest {
                    [] => None,
                    rest => Some(power_cut(verb, rest)?),
                },
            },
        },
        VerbId::PowerCut => Command::PowerCut(match words.as_slice() {
            [] => PowerCut {
                mode: CrashMode::CleanPowerLoss,
                seed: None,
            },
            rest => power_cut(verb, rest)?,
        }),
        VerbId::Writeback => Command::Writeback,
        VerbId::Sync => Command::Sync,
        VerbId::Sleep => match words.as_slice() {
            [word] => {
                Command::Sleep(kv_engine::SyncPolicy::parse_duration(word).ok_or_else(|| {
                    ParseError::usage(
                        verb,
                        &format!("expected a duration such as 100ms or 2s, not {word:?}"),
                    )
                })?)
            }
            [] => return Err(ParseError::usage(verb, "how long? (100ms, 2s)")),
            _ => return Err(ParseError::usage(verb, "too many arguments")),
        },
        VerbId::Save => Command::Save,
        VerbId::Trace => Command::Trace {
            on: match words.as_slice() {
                [] => None,
                [word] if word.eq_ignore_ascii_case("on") => Some(true),
                [word] if word.eq_ignore_ascii_case("off") => Some(false),
                [word] => {
                    return Err(ParseError::usage(
                        verb,
                        &format!("expected on or off, not {word:?}"),
                    ));
                }
                _ => return Err(ParseError::usage(verb, "too many arguments")),
            },
        },
        VerbId::Source => Command::Source {
            path: key.unwrap_or_default(),
            step,
        },
        VerbId::Pause => Command::Pause,
        VerbId::Help => Command::Help { topic },
        VerbId::Exit => Command::Exit,
        VerbId::Begin => Command::Begin,
        VerbId::Commit => Command::Commit,
        VerbId::Rollback => Command::Rollback,
    };
    Ok(Some(command))
}

/// The names of the random crash modes, as a sentence lists them: `random, torn and garbage`.
fn random_cut_names() -> String {
    let names: Vec<_> = POWER_CUTS
        .iter()
        .filter(|mode| mode.is_random())
        .map(|mode| mode.name())
        .collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `MODE [SEED]`: a crash mode, and a seed only for the random ones.
fn power_cut(verb: &Verb, words: &[&str]) -> Result<PowerCut, ParseError> {
    let (name, seed) = match words {
        [name] => (name, None),
        [name, seed] => (name, Some(seed)),
        _ => return Err(ParseError::usage(verb, "too many arguments")),
    };
    let mode = POWER_CUTS
        .into_iter()
        .find(|mode| mode.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            let names: Vec<_> = POWER_CUTS.iter().map(|mode| mode.name()).collect();
            ParseError::usage(
                verb,
                &format!(
                    "unknown crash mode {name:?} (expected {})",
                    names.join(", ")
                ),
            )
        })?;
    let seed = match seed {
        None => None,
        Some(_) if !mode.is_random() => {
            return Err(ParseError::usage(
                verb,
                &format!(
                    "a {mode} crash takes no SEED: only {} ones are random",
                    random_cut_names()
                ),
            ));
        }
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ParseError::usage(
                verb,
                &format!(
                    "SEED must be a whole number from 0 to {}, not {text:?}",
                    u64::MAX
                ),
            )
        })?),
    };
    Ok(PowerCut { mode, seed })
}

/// The error for a word that names no crash point.
fn unknown_point(word: &str) -> ParseError {
    ParseError::new(format!(
        "unknown crash point {word:?} (expected one of: {}; `crash` lists those of this mode)",
        Choices::CrashPoints.names().join(", ")
    ))
}

/// The error for a word that is no verb, with the closest verb when one is close (an
/// edit is a letter added, removed, changed, or two swapped: `gte` is one from `get`). A verb
/// that changes data is suggested only for a slip of one edit (`dle` → `del`), never for
/// a word two edits away (`ttl` is no typo of `del`): a user who retypes the suggestion
/// should not delete by accident.
fn unknown_verb(word: &str) -> ParseError {
    let lower = word.to_ascii_lowercase();
    let suggestion = VERBS
        .iter()
        .flat_map(|verb| {
            let closest = match verb.id {
                VerbId::Put | VerbId::Delete => 1,
                _ => 2,
            };
            std::iter::once(verb.name)
                .chain(verb.aliases.iter().copied())
                .map(move |name| (name, closest))
        })
        .map(|(name, closest)| (strsim::osa_distance(&lower, name), name, closest))
        .filter(|(distance, name, closest)| *distance <= *closest && *distance < name.len())
        .map(|(distance, name, _)| (distance, name))
        .min_by_key(|(distance, _)| *distance);
    match suggestion {
        Some((_, name)) => ParseError::new(format!(
            "unknown command {word:?}; did you mean {name:?}? (type help for the list)"
        )),
        None => ParseError::new(format!("unknown command {word:?} (type help for the list)")),
    }
}

/// Whether `key` can be typed back as a bare word: otherwise it must be written as a JSON
/// string literal. Brackets and quotes are excluded so a bare key never opens a
/// multi-line value, and `#` so it never looks like a comment.
pub fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('#')
        && key.chars().all(|c| match c {
            '"' | '{' | '}' | '[' | ']' | '\\' => false,
            // ASCII that is neither whitespace nor a control character, decided without
            // the Unicode tables (every key of a piped file passes through here).
            c if c.is_ascii() => c.is_ascii_graphic(),
            c => !c.is_whitespace() && !c.is_control(),
        })
}

/// `key` as it would be typed: a bare word when that round-trips, else a JSON string.
pub fn key_syntax(key: &str) -> String {
    if is_bare_key(key) {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

/// Whether `input` is an unfinished statement: a `put` whose VALUE opens with `{` or `[`
/// and is, so far, a valid *prefix* of JSON. The interactive validator and the piped
/// reader both use it to decide whether the next line belongs to this statement.
///
/// The test is made with the newline that would join the next line: a line that ends
/// inside a string is therefore finished (a JSON string cannot hold a raw newline, so more
/// lines could only turn a precise error into a later, vaguer one), and so is any text
/// already invalid, such as `{"a": ]` or a value followed by more text. Only `{` and `[`
/// continue, because any other VALUE is one line (a bare word is a string).
pub fn needs_more_input(input: &str) -> bool {
    let Some(start) = bracket_value_start(input) else {
        return false;
    };
    // The common case, a value whose brackets close, is decided without parsing it (the
    // statement is parsed anyway when it runs; a piped file of puts would parse twice).
    if first_value_closes(&input[start..]) {
        return false;
    }
    // serde_json tells an early end (Eof) from a syntax error: only the first can still
    // be completed by more lines.
    match serde_json::from_str::<Value>(&format!("{}\n", &input[start..])) {
        Ok(_) => false,
        Err(err) => err.classify() == serde_json::error::Category::Eof,
    }
}

/// Whether the bracket that opens `text` is closed within it, outside strings. Then no
/// more lines can help: the value is complete, or it is a syntax error (a wrong bracket,
/// text after the value), never an early end. Any other text is left to the parser.
fn first_value_closes(text: &str) -> bool {
    Scanner::new()
        .tokens(text.as_bytes())
        .any(|(_, token)| matches!(token, Token::Close { depth: 0, .. }))
}

/// Where the VALUE starts in `input` (a byte offset), if `input` is a statement with a
/// VALUE that opens with `{` or `[`: the only statements that can continue.
pub fn bracket_value_start(input: &str) -> Option<usize> {
    let trimmed = input.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let mut cursor = Cursor {
        input,
        pos: input.len() - trimmed.len(),
    };
    let takes_value = find_verb(cursor.word()).is_some_and(|verb| verb.args == Args::KeyValue);
    if !takes_value || !matches!(cursor.key(), Ok(Some(_))) {
        return None;
    }
    cursor.skip_space();
    input[cursor.pos..]
        .starts_with(['{', '['])
        .then_some(cursor.pos)
}

/// serde_json's reason for an error, reworded where its parser's words ("EOF while
/// parsing a list") would puzzle someone who typed a command.
/// The last `\uXXXX` escape of a surrogate (D800-DFFF) that starts before byte `upto` of
/// `text` (where serde_json stopped, at or just after it), with its byte offset.
fn lone_surrogate_before(text: &str, upto: usize) -> Option<(usize, &str)> {
    let mut end = upto.min(text.len());
    while let Some(at) = text[..end].rfind("\\u") {
        if let Some(escape) = text.get(at..at + 6)
            && let Ok(code) = u16::from_str_radix(&escape[2..], 16)
            && (0xd800..=0xdfff).contains(&code)
            // Not itself escaped (`\\ud800` is a backslash, then text).
            && !json_scan::is_escaped(text.as_bytes(), at)
        {
            return Some((at, escape));
        }
        end = at;
    }
    None
}

fn plain_reason(reason: &str) -> &str {
    match reason {
        "EOF while parsing a string" => "the string has no closing quote",
        "EOF while parsing a list" => "the list has no closing ]",
        "EOF while parsing an object" => "the object has no closing }",
        "EOF while parsing a value" => "expected a value, found the end of the statement",
        "trailing characters" => "unexpected text after the value",
        other => other,
    }
}

/// A position in the statement being parsed.
struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        let rest = &self.input[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The 1-based position of byte offset `at`.
    fn position(&self, at: usize) -> Position {
        let before = &self.input[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The next whitespace-delimited word ("" at the end).
    fn word(&mut self) -> &'a str {
        self.skip_space();
        let rest = &self.input[self.pos..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    /// The next KEY: a JSON string literal or a bare word; `None` at the end.
    fn key(&mut self) -> Result<Option<String>, ParseError> {
        self.skip_space();
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.starts_with('"') {
            let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
            return match stream.next() {
                Some(Ok(key)) => {
                    self.pos += stream.byte_offset();
                    Ok(Some(key))
                }
                Some(Err(err)) => Err(self.json_error(self.pos, "KEY", &err)),
                None => Ok(None),
            };
        }
        let start = self.pos;
        let word = self.word();
        if !is_bare_key(word) {
            return Err(self.bare_key_error(start, word));
        }
        Ok(Some(word.to_string()))
    }

    /// The next PATTERN: a JSON string literal, or any word (`user:[0-9]*`); `None` at
    /// the end.
    fn pattern(&mut self) -> Result<Option<String>, ParseError> {
        self.skip_space();
        if self.input[self.pos..].starts_with('"') {
            return self.key();
        }
        Ok(match self.word() {
            "" => None,
            word => Some(word.to_string()),
        })
    }

    /// Why `word` (at byte `start`) cannot be a bare KEY, pointing at the character to
    /// blame, and the statement as it should be typed (the key as a JSON string).
    fn bare_key_error(&self, start: usize, word: &str) -> ParseError {
        let (at, problem) = match word
            .char_indices()
            .find(|&(_, c)| c.is_control() || "\"{}[]\\".contains(c))
        {
            _ if word.starts_with('#') => (start, "cannot start with #".to_string()),
            Some((offset, c)) if c.is_control() => (
                start + offset,
                format!("cannot contain the control character {c:?}"),
            ),
            Some((offset, c)) => (start + offset, format!("cannot contain {c}")),
            None => (start, "is not valid".to_string()),
        };
        let fixed = format!(
            "{}{}{}",
            &self.input[..start],
            key_syntax(word),
            &self.input[start + word.len()..]
        );
        // The whole statement when it is one line; the key alone otherwise.
        let suggestion = match fixed.trim() {
            one_line if !one_line.contains('\n') => one_line.to_string(),
            _ => key_syntax(word),
        };
        ParseError {
            message: format!("a bare KEY {problem}; write it as a JSON string: {suggestion}"),
            position: Some(self.position(at)),
        }
    }

    /// The VALUE: the rest of the statement.
    fn value(&mut self, verb: &Verb, key: &str) -> Result<JsonText, ParseError> {
        self.skip_space();
        let start = self.pos;
        let text = self.input[start..].trim_end();
        if text.is_empty() {
            return Err(ParseError::usage(verb, "missing VALUE"));
        }
        let err = match JsonText::parse(text) {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if text.starts_with(['{', '[', '"']) {
            return Err(self.json_error(start, "VALUE", &err));
        }
        if text.contains(char::is_whitespace) {
            return Err(ParseError {
                message: format!(
                    "VALUE is not JSON; to store the text as a string, quote it: {} {} {}",
                    verb.name,
                    key_syntax(key),
                    Value::String(text.to_string())
                ),
                position: Some(self.position(start)),
            });
        }
        // One bare word that is not valid JSON: a string, as in `put name alice`.
        Ok(JsonText::string(text))
    }

    /// A JSON error in the text starting at byte `start`, positioned in the statement.
    fn json_error(&self, start: usize, what: &str, err: &serde_json::Error) -> ParseError {
        let base = self.position(start);
        // serde_json counts columns in bytes from 1; convert to characters in the statement.
        let position = if err.line() <= 1 {
            let text = &self.input[start..];
            let byte_col = err.column().saturating_sub(1).min(text.len());
            let byte_col = (0..=byte_col)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            Position {
                line: base.line,
                column: base.column + text[..byte_col].chars().count(),
            }
        } else {
            Position {
                line: base.line + err.line() - 1,
                column: err.column().max(1),
            }
        };
        let reason = err.to_string();
        // Drop serde_json's own " at line L column C": we give the statement's position.
        let reason = reason
            .rsplit_once(" at line ")
            .map_or(reason.as_str(), |(head, _)| head);
        // Valid JSON that is refused: an object that repeats a key (`JsonText::parse`).
        // Refused rather than stored with one of the two values (what serde_json, and so
        // a `Value`, would keep) because a value must come back exactly as written.
        if err.classify() == serde_json::error::Category::Data {
            // serde_json stops just after the repeated key: point at its opening quote,
            // found by scanning the value (where it stops may fall before or after the
            // key's closing quote).
            let close = self.offset(position).max(start);
            let open = json_scan::last_string_start(&self.input.as_bytes()[start..close])
                .map_or(close, |at| start + at);
            return ParseError {
                message: format!(
                    "{what} {reason}: refused, because storing it would keep only one of \
                     its values"
                ),
                position: Some(self.position(open)),
            };
        }
        // serde_json names a lone UTF-16 surrogate escape (`"\ud800"`) by what it expected
        // next ("unexpected end of hex escape"); say what the text holds instead.
        if matches!(
            reason,
            "unexpected end of hex escape" | "lone leading surrogate in hex escape"
        ) && let Some((at, escape)) = lone_surrogate_before(self.input, self.offset(position))
        {
            return ParseError {
                message: format!(
                    "{what} holds a lone surrogate, {escape}: one half of a UTF-16 pair \
                     (\\ud83e\\udd80 is 🦀), which is no character on its own and cannot \
                     be stored"
                ),
                position: Some(self.position(at)),
            };
        }
        ParseError {
            message: format!("{what} is not valid JSON: {}", plain_reason(reason)),
            position: Some(position),
        }
    }

    /// The byte offset of `position` in the statement (the end, if it is past it).
    fn offset(&self, position: Position) -> usize {
        let mut line_start = 0;
        for _ in 1..position.line {
            match self.input[line_start..].find('\n') {
                Some(newline) => line_start += newline + 1,
                None => return self.input.len(),
            }
        }
        self.input[line_start..]
            .char_indices()
            .nth(position.column.saturating_sub(1))
            .map_or(self.input.len(), |(at, _)| line_start + at)
    }

    fn expect_end(&mut self, verb: &Verb) -> Result<(), ParseError> {
        self.skip_space();
        if self.pos < self.input.len() {
            return Err(ParseError::usage(verb, "too many arguments"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_key_characters_match_the_unicode_definition_for_every_char() {
        // The ASCII fast path must agree with the plain definition everywhere.
        let plain = |c: char| !c.is_whitespace() && !c.is_control() && !"\"{}[]\\".contains(c);
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let key = format!("a{c}");
            assert_eq!(is_bare_key(&key), plain(c), "{c:?} (U+{:04X})", c as u32);
        }
    }

    #[test]
    fn verbs_are_found_in_any_case_without_matching_other_words() {
        assert_eq!(find_verb("GeT").map(|verb| verb.name), Some("get"));
        assert_eq!(find_verb("SET").map(|verb| verb.name), Some("put"));
        assert_eq!(find_verb("Del").map(|verb| verb.name), Some("delete"));
        assert_eq!(find_verb("gets").map(|verb| verb.name), None);
        assert_eq!(find_verb("").map(|verb| verb.name), None);
    }
    use serde_json::json;

    /// The canonical text a VALUE written as `value` is stored as.
    fn text(value: Value) -> JsonText {
        JsonText::from(&value)
    }

    fn ok(input: &str) -> Command {
        match parse(input) {
            Ok(Some(command)) => command,
            other => panic!("{input:?} parsed as {other:?}"),
        }
    }

    fn err(input: &str) -> String {
        match parse(input) {
            Err(err) => err.to_string(),
            other => panic!("{input:?} should fail, parsed as {other:?}"),
        }
    }

    #[test]
    fn statements_that_parse() {
        let key = |k: &str| k.to_string();
        let cases: Vec<(&str, Command)> = vec![
            ("get a", Command::Get { key: key("a") }),
            ("  GET   a  ", Command::Get { key: key("a") }),
            (
                "get \"key with spaces\"",
                Command::Get {
                    key: key("key with spaces"),
                },
            ),
            (
                "get \"q\\\"uote\"",
                Command::Get {
                    key: key("q\"uote"),
                },
            ),
            (
                "put n 42",
                Command::Put {
                    key: key("n"),
                    value: text(json!(42)),
                },
            ),
            (
                "put t true",
                Command::Put {
                    key: key("t"),
                    value: text(json!(true)),
                },
            ),
            (
                "put z null",
                Command::Put {
                    key: key("z"),
                    value: text(Value::Null),
                },
            ),
            (
                "put name alice",
                Command::Put {
                    key: key("name"),
                    value: text(json!("alice")),
                },
            ),
            (
                "put v 1.2.3",
                Command::Put {
                    key: key("v"),
                    value: text(json!("1.2.3")),
                },
            ),
            // Not JSON numbers, so bare words: strings, as the README says.
            (
                "put v 01",
                Command::Put {
                    key: key("v"),
                    value: text(json!("01")),
                },
            ),
            (
                "put v 1.",
                Command::Put {
                    key: key("v"),
                    value: text(json!("1.")),
                },
            ),
            // The exponent is the one rewrite of a number's text.
            (
                "put v 1E5",
                Command::Put {
                    key: key("v"),
                    value: text(serde_json::from_str("1e+5").unwrap()),
                },
            ),
            (
                "put s \"hello world\"",
                Command::Put {
                    key: key("s"),
                    value: text(json!("hello world")),
                },
            ),
            (
                "SET o {\"a\": [1, 2]}",
                Command::Put {
                    key: key("o"),
                    value: text(json!({"a": [1, 2]})),
                },
            ),
            (
                "put o {\"a\":\n 1}",
                Command::Put {
                    key: key("o"),
                    value: text(json!({"a": 1})),
                },
            ),
            (
                "put e \"\"",
                Command::Put {
                    key: key("e"),
                    value: text(json!("")),
                },
            ),
            ("delete a", Command::Delete { key: key("a") }),
            ("Del a", Command::Delete { key: key("a") }),
            ("exists a", Command::Exists { key: key("a") }),
            ("keys", Command::Keys { pattern: None }),
            (
                "keys user:",
                Command::Keys {
                    pattern: Some(key("user:")),
                },
            ),
            (
                "keys user:[0-9]\\*",
                Command::Keys {
                    pattern: Some(key("user:[0-9]\\*")),
                },
            ),
            (
                "keys \"a b*\"",
                Command::Keys {
                    pattern: Some(key("a b*")),
                },
            ),
            ("count", Command::Count),
            ("dump", Command::Dump),
            ("stats", Command::Stats),
            ("CHECKPOINT", Command::Checkpoint),
            (
                "crash",
                Command::Crash {
                    point: None,
                    cut: None,
                },
            ),
            (
                "CRASH after-rename",
                Command::Crash {
                    point: Some(CrashPoint::AfterRename),
                    cut: None,
                },
            ),
            (
                "crash mid-write torn 9",
                Command::Crash {
                    point: Some(CrashPoint::MidWrite),
                    cut: Some(PowerCut {
                        mode: CrashMode::TornPowerLoss,
                        seed: Some(9),
                    }),
                },
            ),
            (
                "powercut",
                Command::PowerCut(PowerCut {
                    mode: CrashMode::CleanPowerLoss,
                    seed: None,
                }),
            ),
            (
                "powercut Random",
                Command::PowerCut(PowerCut {
                    mode: CrashMode::RandomPowerLoss,
                    seed: None,
                }),
            ),
            (
                "powercut torn 18446744073709551615",
                Command::PowerCut(PowerCut {
                    mode: CrashMode::TornPowerLoss,
                    seed: Some(u64::MAX),
                }),
            ),
            (
                "powercut reorder 7",
                Command::PowerCut(PowerCut {
                    mode: CrashMode::ReorderPowerLoss,
                    seed: Some(7),
                }),
            ),
            (
                "crash mid-append GARBAGE",
                Command::Crash {
                    point: Some(CrashPoint::MidAppend),
                    cut: Some(PowerCut {
                        mode: CrashMode::GarbagePowerLoss,
                        seed: None,
                    }),
                },
            ),
            (
                "powercut kill",
                Command::PowerCut(PowerCut {
                    mode: CrashMode::ProcessKill,
                    seed: None,
                }),
            ),
            ("save", Command::Save),
            ("writeback", Command::Writeback),
            ("sync", Command::Sync),
            (
                "sleep 250ms",
                Command::Sleep(std::time::Duration::from_millis(250)),
            ),
            (
                "SLEEP 2s",
                Command::Sleep(std::time::Duration::from_secs(2)),
            ),
            ("trace", Command::Trace { on: None }),
            ("trace ON", Command::Trace { on: Some(true) }),
            ("trace off", Command::Trace { on: Some(false) }),
            ("help", Command::Help { topic: None }),
            (
                "help SET",
                Command::Help {
                    topic: find_verb("put"),
                },
            ),
            ("exit", Command::Exit),
            ("quit", Command::Exit),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn blank_lines_and_comments_are_nothing() {
        for input in ["", "   ", "\t", "# a comment", "   # get a"] {
            assert_eq!(parse(input), Ok(None), "input {input:?}");
        }
    }

    #[test]
    fn statements_that_fail_say_why() {
        let cases = [
            (
                "gte a",
                "unknown command \"gte\"; did you mean \"get\"? (type help for the list)",
            ),
            (
                "frobnicate",
                "unknown command \"frobnicate\" (type help for the list)",
            ),
            // A verb that changes data only for a one-edit slip, never two edits away.
            ("ttl", "unknown command \"ttl\" (type help for the list)"),
            (
                "pt",
                "unknown command \"pt\"; did you mean \"put\"? (type help for the list)",
            ),
            (
                "dle",
                "unknown command \"dle\"; did you mean \"del\"? (type help for the list)",
            ),
            (
                "delte",
                "unknown command \"delte\"; did you mean \"delete\"? (type help for the list)",
            ),
            (
                "help frob",
                "unknown command \"frob\" (type help for the list)",
            ),
            ("get", "missing KEY; usage: get KEY"),
            ("get a b", "too many arguments; usage: get KEY"),
            ("count 1", "too many arguments; usage: count"),
            ("keys a b", "too many arguments; usage: keys [PATTERN]"),
            ("put", "missing KEY; usage: put KEY VALUE"),
            ("put k", "missing VALUE; usage: put KEY VALUE"),
            (
                "put k hello world",
                "column 7: VALUE is not JSON; to store the text as a string, quote it: \
                 put k \"hello world\"",
            ),
            (
                "put x {\"a\":",
                "column 11: VALUE is not valid JSON: expected a value, found the end of the statement",
            ),
            (
                "put x [1, {\"a\": 2}",
                "column 18: VALUE is not valid JSON: the list has no closing ]",
            ),
            (
                "put x {\"a\": [1]",
                "column 15: VALUE is not valid JSON: the object has no closing }",
            ),
            (
                "put x [1, 2}",
                "column 12: VALUE is not valid JSON: expected `,` or `]`",
            ),
            (
                "put x {\"a\":1} extra",
                "column 15: VALUE is not valid JSON: unexpected text after the value",
            ),
            (
                "put x {\"a\":\n  oops}",
                "line 2 column 3: VALUE is not valid JSON: expected value",
            ),
            (
                "get \"unterminated",
                "column 17: KEY is not valid JSON: the string has no closing quote",
            ),
            // Valid JSON, refused: a value must come back as written, and a repeated key
            // could only be stored as one of its values. The column is the repeat's.
            (
                "put d {\"x\":1,\"x\":2}",
                "column 14: VALUE repeats the key \"x\" in one object: refused, because \
                 storing it would keep only one of its values",
            ),
            (
                "put d {\"a\": [{\"k\\\"\": 1, \"k\\\"\" : 2}]}",
                "column 25: VALUE repeats the key \"k\\\"\" in one object: refused, because \
                 storing it would keep only one of its values",
            ),
            // The empty key: its opening quote is the byte just before its closing one.
            (
                "put d {\"\":1,\"\":2}",
                "column 13: VALUE repeats the key \"\" in one object: refused, because \
                 storing it would keep only one of its values",
            ),
            (
                "put d {\"a\": 1,\n \"\\u0061\": 2}",
                "line 2 column 2: VALUE repeats the key \"a\" in one object: refused, because \
                 storing it would keep only one of its values",
            ),
            // A lone surrogate is named, not "unexpected end of hex escape".
            (
                "put s \"\\ud800\"",
                "column 8: VALUE holds a lone surrogate, \\ud800: one half of a UTF-16 pair \
                 (\\ud83e\\udd80 is 🦀), which is no character on its own and cannot be stored",
            ),
            (
                "put s [\"ok \\\\ud800\", \"x\\udc00y\"]",
                "column 24: VALUE holds a lone surrogate, \\udc00: one half of a UTF-16 pair \
                 (\\ud83e\\udd80 is 🦀), which is no character on its own and cannot be stored",
            ),
            (
                "get \"\\udbff\\u0041\"",
                "column 6: KEY holds a lone surrogate, \\udbff: one half of a UTF-16 pair \
                 (\\ud83e\\udd80 is 🦀), which is no character on its own and cannot be stored",
            ),
            (
                "crash after-rename gently",
                "unknown crash mode \"gently\" (expected clean, random, torn, reorder, garbage, \
                 kill); \
                 usage: crash [POINT [MODE [SEED]]]",
            ),
            (
                "powercut clean 3",
                "a clean crash takes no SEED: only random, torn, reorder and garbage ones are \
                 random; \
                 usage: powercut [MODE [SEED]]",
            ),
            (
                "powercut random -1",
                "SEED must be a whole number from 0 to 18446744073709551615, not \"-1\"; \
                 usage: powercut [MODE [SEED]]",
            ),
            (
                "powercut random 1 2",
                "too many arguments; usage: powercut [MODE [SEED]]",
            ),
            (
                "trace maybe",
                "expected on or off, not \"maybe\"; usage: trace [on|off]",
            ),
            ("trace on off", "too many arguments; usage: trace [on|off]"),
            ("save now", "too many arguments; usage: save"),
            ("checkpoint now", "too many arguments; usage: checkpoint"),
            (
                "get a{b",
                "column 6: a bare KEY cannot contain {; write it as a JSON string: get \"a{b\"",
            ),
            (
                "put q\"uote 1",
                "column 6: a bare KEY cannot contain \"; write it as a JSON string: \
                 put \"q\\\"uote\" 1",
            ),
            (
                "  get #tag",
                "column 7: a bare KEY cannot start with #; write it as a JSON string: \
                 get \"#tag\"",
            ),
            (
                "put a]b [1,\n2]",
                "column 6: a bare KEY cannot contain ]; write it as a JSON string: \"a]b\"",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(err(input), expected, "input {input:?}");
        }
        // Every point of every mode is named, so a new mode's points need no change here.
        let names: Vec<&str> = CrashPoint::ALL.iter().map(|point| point.name()).collect();
        assert!(names.contains(&"after-rename") && names.contains(&"mid-write"));
        assert_eq!(
            err("crash sideways"),
            format!(
                "unknown crash point \"sideways\" (expected one of: {}; `crash` lists those of \
                 this mode)",
                names.join(", ")
            )
        );
    }

    #[test]
    fn an_open_json_value_asks_for_more_input() {
        let cases = [
            ("put x {", true),
            ("put x {\"a\": [1,", true),
            ("put x \"abc", false),
            ("set x \"a\\\"", false),
            ("put x [\"abc", false),
            ("put x [1,\n\"b\",", true),
            ("put x {\"a\": \"}\"", true),
            ("put x {\"a\": 1}", false),
            ("put x [1}", false),
            ("put x {\"a\":", true),
            ("put x {\"a\":\n", true),
            ("put \"k with space\" [", true),
            ("put x {\"a\":\nput k v", false),
            ("put x {\"a\":\n  oops}", false),
            ("put x {\"a\": ]", false),
            ("put x [1, 2]", false),
            ("put x [1] extra [", false),
            ("put x [\"a\",\n \"b\\", false),
            ("put x tru", false),
            ("put x -", false),
            ("put a{b [", false),
            ("get {", false),
            ("# put x {", false),
            ("put x 1", false),
        ];
        for (input, expected) in cases {
            assert_eq!(needs_more_input(input), expected, "input {input:?}");
        }
        // Deeper than serde_json will ever parse: no further line can complete it.
        assert!(!needs_more_input(&format!("put x {}", "[".repeat(200))));
        // Brackets and escaped quotes inside strings do not close the value.
        assert!(needs_more_input("put x {\"a]\": \"}\\\"]\","));
        assert!(!needs_more_input("put x {\"a]\": \"}\\\"]\"}"));
        assert!(needs_more_input("put x [[1], [2],"));
    }

    #[test]
    fn keys_round_trip_through_their_syntax() {
        for key in [
            "plain",
            "user:1",
            "with space",
            "q\"uote",
            "",
            "#hash",
            "a{b",
            "é",
        ] {
            let typed = format!("get {}", key_syntax(key));
            assert_eq!(
                ok(&typed),
                Command::Get {
                    key: key.to_string()
                },
                "{typed}"
            );
        }
    }

    #[test]
    fn source_takes_a_file_and_an_optional_step() {
        let source = |path: &str, step| Command::Source {
            path: path.to_string(),
            step,
        };
        assert_eq!(ok("source demo.kv"), source("demo.kv", false));
        assert_eq!(ok("SOURCE --step demos/a.kv"), source("demos/a.kv", true));
        assert_eq!(ok("source \"my demo.kv\""), source("my demo.kv", false));
        assert_eq!(ok("pause"), Command::Pause);
        assert_eq!(err("source"), "missing FILE; usage: source [--step] FILE");
        assert_eq!(
            err("source --step"),
            "missing FILE; usage: source [--step] FILE"
        );
        assert_eq!(
            err("source a.kv b.kv"),
            "too many arguments; usage: source [--step] FILE"
        );
        assert_eq!(err("pause 3"), "too many arguments; usage: pause");
        assert_eq!(
            err("sleep soon"),
            "expected a duration such as 100ms or 2s, not \"soon\"; usage: sleep DURATION"
        );
        assert_eq!(err("sleep"), "how long? (100ms, 2s); usage: sleep DURATION");
        assert_eq!(err("sync now"), "too many arguments; usage: sync");
    }

    #[test]
    fn the_verbs_that_need_a_simulated_disk_say_so() {
        for verb in VERBS {
            assert_eq!(
                needs_simulate(verb.id),
                verb.summary.starts_with("(--simulate)"),
                "{verb:?}"
            );
        }
    }

    #[test]
    fn transaction_verbs_parse_with_their_aliases_and_take_no_arguments() {
        for (words, expected) in [
            (&["begin", "multi", "BEGIN"][..], Command::Begin),
            (&["commit", "exec"], Command::Commit),
            (&["rollback", "discard", "abort"], Command::Rollback),
        ] {
            for word in words {
                assert_eq!(parse(word), Ok(Some(expected.clone())), "{word}");
            }
        }
        assert_eq!(
            parse("commit now").unwrap_err().to_string(),
            "too many arguments; usage: commit"
        );
        assert_eq!(
            parse("comit").unwrap_err().to_string(),
            "unknown command \"comit\"; did you mean \"commit\"? (type help for the list)"
        );
    }

    #[test]
    fn every_example_parses_as_its_verb() {
        for verb in VERBS {
            for example in examples(verb.id) {
                assert!(matches!(parse(example), Ok(Some(_))), "{example}");
                let word = example.split_whitespace().next().unwrap_or_default();
                assert_eq!(find_verb(word), Some(verb), "{example}");
            }
        }
    }

    #[test]
    fn every_verb_row_is_consistent() {
        for verb in VERBS {
            assert!(verb.usage.starts_with(verb.name), "{verb:?}");
            assert!(!verb.summary.is_empty(), "{verb:?}");
            let expected = match verb.id {
                VerbId::Get | VerbId::Delete | VerbId::Exists => Args::Key,
                VerbId::Put => Args::KeyValue,
                VerbId::Keys => Args::OptionalKey,
                VerbId::Help => Args::OptionalVerb,
                VerbId::Count
                | VerbId::Dump
                | VerbId::Stats
                | VerbId::Checkpoint
                | VerbId::Save
                | VerbId::Writeback
                | VerbId::Sync
                | VerbId::Pause
                | VerbId::Begin
                | VerbId::Commit
                | VerbId::Rollback
                | VerbId::Exit => Args::None,
                VerbId::Source => Args::File,
                VerbId::Crash => Args::Words(Choices::CrashPoints),
                VerbId::PowerCut => Args::Words(Choices::CrashModes),
                VerbId::Trace => Args::Words(Choices::OnOff),
                VerbId::Sleep => Args::Words(Choices::Durations),
            };
            assert_eq!(verb.args, expected, "{verb:?}");
            for name in std::iter::once(verb.name).chain(verb.aliases.iter().copied()) {
                assert_eq!(find_verb(name), Some(verb), "{name}");
            }
        }
    }
}

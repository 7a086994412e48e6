//! The command line: [`Cli`] (clap), and [`run`], which opens the store, picks the mode
//! (`-c`, interactive, piped) and turns the result into an exit status.
//!
//! Subcommands (`kv check PATH`, `kv export PATH`, `kv import PATH FILE`, `kv bench ...`) sit beside `kv [PATH]`: a first
//! argument that names a subcommand is the subcommand, so a database file literally named
//! like one is opened as `kv ./bench`.

use std::ffi::OsString;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::shell::database::{Database, ModeSource, choose_mode};
use crate::shell::export::{ExportArgs, run_export};
use crate::shell::import::{ImportArgs, run_import};
use crate::shell::interactive::{self, History};
use crate::shell::maintenance::{CheckArgs, RepairArgs, run_check, run_repair};
use crate::shell::render::{self, Layout, Renderer, Theme};
use crate::shell::script;
use crate::shell::session::{Echo, Excerpt, Flow, GroupCommit, OnError, Session};
use crate::shell::source::Pauses;
use crate::shell::sync_window;
use crate::shell::wrap::{self, Wrap};
use kv_engine::{Durability, SyncPolicy};

pub use crate::shell::status::Status;

/// `kv [OPTIONS] [PATH]`, or `kv SUBCOMMAND ...`.
#[derive(Debug, Parser)]
#[command(
    name = "kv",
    version,
    about = "A key-value store shell whose durability you can see",
    args_conflicts_with_subcommands = true,
    // COMMAND is a shell command after PATH (`kv db.json get a`), so the subcommands
    // are named as such.
    subcommand_value_name = "SUBCOMMAND",
    subcommand_help_heading = "Subcommands",
    after_help = "With no PATH, kv opens a transient in-memory store.\n\
                  A COMMAND after PATH runs alone, as in redis-cli: kv db.json get name\n\
                  A database file named like a subcommand is opened as ./NAME.\n\
                  Type `help` at the prompt for the command language.\n\
                  Exit status: 0 all commands succeeded, 1 a command failed, \
                  2 the database could not be opened or the arguments were bad."
)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Command>,
    #[command(flatten)]
    pub shell: ShellArgs,
}

/// Subcommands beside the shell. To add one: a variant here (with its clap args) and its
/// arm in [`run`].
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report the state of a database's snapshot and log; change nothing. Exit 0 healthy,
    /// 1 damaged or torn (or an interrupted checkpoint), 2 unreadable or no database
    Check(CheckArgs),
    /// Cut a damaged log at its first bad record, after showing what would be lost and
    /// asking (or --yes); keeps a backup of the cut bytes. Exit 0 repaired or nothing to
    /// do, 1 declined, 2 an error or no terminal to ask without --yes
    Repair(RepairArgs),
    /// Write the database to stdout as json (default), jsonl, resp (for `redis-cli --pipe`)
    /// or sql (for `sqlite3`); read-only, beside a live writer. Exit 0, 2 no database
    Export(ExportArgs),
    /// Load pairs from FILE (json or jsonl, `-` for stdin) as one commit, all or nothing.
    /// Exit 0 imported, 1 the input was refused (nothing imported), 2 cannot read or open
    Import(ImportArgs),
    /// Measure what each durability mode costs on this disk, beside the disk's own limits
    Bench(crate::bench::BenchArgs),
    /// `kv bench`'s own helper: opens one store in this fresh process and prints the
    /// growth of its resident memory in bytes.
    #[command(name = crate::bench::MEMORY_PROBE_COMMAND, hide = true)]
    MemoryProbe(MemoryProbeArgs),
}

/// `kv __memory-probe --durability MODE PATH` (run by `kv bench`, not by users).
#[derive(Debug, clap::Args)]
pub struct MemoryProbeArgs {
    #[arg(long, value_name = "MODE")]
    pub durability: Durability,
    pub path: PathBuf,
}

/// How the color choice is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// The options of `kv [PATH]`.
#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The database file (created on the first write). Without it, a transient
    /// in-memory store.
    pub path: Option<PathBuf>,

    /// A command to run instead of the prompt, as redis-cli and sqlite3 take one:
    /// `kv db.json get name`, `kv db.json put k '{"a": 1}'`. Each word means what the
    /// shell made it (a word with a space is one KEY or one VALUE); the exit status is
    /// the command's. Options go before it; not with -c.
    #[arg(
        value_name = "COMMAND",
        requires = "path",
        conflicts_with = "commands",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub statement: Vec<String>,

    /// How commits reach the disk (the list comes from `Durability::ALL`). Without it, a
    /// database with a log opens in `wal` mode, any other in `snapshot`.
    #[arg(long, value_name = "MODE", help = durability_help())]
    pub durability: Option<Durability>,

    /// When a write becomes durable: `always` (before its OK, the default), DURATION (at
    /// most that long after its OK: `100ms`, `1s`), or `never` (at `sync`, a checkpoint,
    /// the exit, or the kernel's writeback). Snapshot and wal modes only.
    #[arg(long, value_name = "WHEN", default_value_t = SyncPolicy::Always)]
    pub sync: SyncPolicy,

    /// Only read PATH, as another process may while a writer has it open: no lock, no
    /// file created, every change refused (exit status 1 in a script).
    #[arg(long, requires = "path", conflicts_with_all = ["durability", "simulate"])]
    pub read_only: bool,

    /// Run the shell on a simulated disk loaded from PATH (a missing file: an empty
    /// disk), for crash demos: `powercut` cuts its power, an armed `crash` point stops
    /// the commit and reboots it. PATH itself is written only by `save`.
    #[arg(long, requires = "path")]
    pub simulate: bool,

    /// With --simulate: start from an empty simulated disk, whatever is at PATH (the
    /// demos use it, so files in the current directory cannot change their story).
    /// `save` then refuses to overwrite a real PATH.
    #[arg(long, requires = "simulate")]
    pub empty: bool,

    /// Run CMD and exit (repeatable; runs in order).
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    pub commands: Vec<String>,

    /// Stop at the first command that fails.
    #[arg(long)]
    pub bail: bool,

    /// Print each command (as `> CMD`) before its result.
    #[arg(long)]
    pub echo: bool,

    /// Piped input: commit the puts and deletes already waiting on stdin together, with
    /// one fsync (wal) or one snapshot (snapshot), and print their OKs only after it. The
    /// batch ends at any other command, so reads see every earlier write.
    #[arg(long)]
    pub group_commit: bool,

    /// Print string values as their text, without JSON quotes and escapes, and keys as
    /// they are, for `$(kv db.json --raw get name)`; other values stay JSON, `dump` too.
    #[arg(long)]
    pub raw: bool,

    /// When to use colour.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// The interactive history file [default: $KV_HISTFILE, else ~/.kv_history].
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,

    /// Keep no interactive history.
    #[arg(long, conflicts_with = "history")]
    pub no_history: bool,
}

/// The `--durability` help line, listing every mode so a new one is never missing.
fn durability_help() -> String {
    let names: Vec<&str> = Durability::ALL.iter().map(|mode| mode.name()).collect();
    format!("How commits reach the disk: {}", names.join(", "))
}

/// What the terminal and environment look like; passed in so decisions are testable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub stdin_tty: bool,
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    /// `NO_COLOR` is set to something non-empty.
    pub no_color: bool,
    pub histfile: Option<OsString>,
    pub home: Option<OsString>,
}

impl Environment {
    /// The process's real environment.
    pub fn current() -> Self {
        Environment {
            stdin_tty: io::stdin().is_terminal(),
            stdout_tty: io::stdout().is_terminal(),
            stderr_tty: io::stderr().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty()),
            histfile: std::env::var_os("KV_HISTFILE"),
            home: std::env::var_os("HOME"),
        }
    }
}

/// Whether to colour a stream that is (or isn't) a terminal.
pub fn use_color(choice: ColorChoice, is_tty: bool, no_color: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_tty && !no_color,
    }
}

/// Where interactive history goes: `--no-history`, `--history`, `KV_HISTFILE`, then
/// `~/.kv_history`; off if there is no home directory or `KV_HISTFILE` is set but empty.
pub fn history_location(args: &ShellArgs, env: &Environment) -> History {
    if args.no_history {
        return History::Off;
    }
    let chosen = args
        .history
        .clone()
        .or_else(|| {
            // Set but empty: history off, as `HISTFILE=` turns it off in bash.
            env.histfile.as_ref().map(PathBuf::from)
        })
        .or_else(|| {
            env.home
                .as_ref()
                .filter(|v| !v.is_empty())
                .map(|home| Path::new(home).join(".kv_history"))
        });
    chosen
        .filter(|path| !path.as_os_str().is_empty())
        .map_or(History::Off, History::File)
}

/// Parses the process's arguments. `--help` and `--version` print and give
/// `Err(Success)`; bad arguments print the error and the usage line and give `Err(Fatal)`.
pub fn parse_args() -> Result<Cli, Status> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(err) if !err.use_stderr() => {
            // A closed stdout while printing help is no reason to fail.
            let _ = err.print();
            Err(Status::Success)
        }
        Err(err) => {
            let _ = err.print();
            let rendered = err.render().to_string();
            if !rendered.contains("Usage:") {
                let _ = writeln!(io::stderr(), "\n{}", Cli::command().render_usage());
            }
            Err(Status::Fatal)
        }
    }
}

/// Runs `kv` as `cli` says; the returned status is the process's exit status.
pub fn run(cli: Cli, env: &Environment) -> Status {
    if let Some(command) = cli.subcommand {
        return match command {
            Command::Bench(mut args) => {
                // Each store's memory is measured in a fresh process of this binary. If it
                // cannot be found, the bench measures in its own process instead.
                args.memory_probe = std::env::current_exe().ok();
                run_bench(&args, env)
            }
            Command::MemoryProbe(args) => run_memory_probe(&args),
            Command::Check(args) => run_check(&args, &mut io::stdout().lock(), &mut io::stderr()),
            Command::Export(args) => run_export(
                &args,
                &mut io::stdout().lock(),
                &mut io::stderr(),
                error_renderer(env),
            ),
            Command::Import(args) => run_import(
                &args,
                &mut io::stdin().lock(),
                &mut io::stdout().lock(),
                &mut io::stderr(),
                error_renderer(env),
                env.stderr_tty,
            ),
            Command::Repair(args) => run_repair(
                &args,
                env.stdin_tty,
                &mut io::stdin().lock(),
                &mut io::stdout().lock(),
                &mut io::stderr(),
            ),
        };
    }
    run_shell(cli.shell, env)
}

/// How a subcommand writes its errors and warnings: as the shell does, coloured only on
/// a terminal without NO_COLOR.
fn error_renderer(env: &Environment) -> Renderer {
    Renderer {
        theme: Theme::new(use_color(ColorChoice::Auto, env.stderr_tty, env.no_color)),
        layout: Layout::Compact,
    }
}

/// Width of `kv bench`'s progress line on a terminal.
const PROGRESS_WIDTH: usize = 72;

fn run_bench(args: &crate::bench::BenchArgs, env: &Environment) -> Status {
    let outcome = crate::bench::run_cli(
        args,
        &mut io::stdout().lock(),
        &mut io::stderr(),
        env.stderr_tty,
        PROGRESS_WIDTH,
    );
    match outcome {
        Ok(_) => Status::Success,
        Err(err) => {
            eprintln!("kv bench: {err}");
            Status::Fatal
        }
    }
}

/// Prints what `kv bench` reads back: the bytes, or `unknown` where `/proc` cannot tell.
fn run_memory_probe(args: &MemoryProbeArgs) -> Status {
    match crate::bench::probe_memory(&args.path, args.durability) {
        Ok(Some(bytes)) => println!("{bytes}"),
        Ok(None) => println!("unknown"),
        Err(err) => {
            eprintln!("kv {}: {err}", crate::bench::MEMORY_PROBE_COMMAND);
            return Status::Fatal;
        }
    }
    Status::Success
}

fn run_shell(mut args: ShellArgs, env: &Environment) -> Status {
    // A one-shot command runs as one `-c` would (clap refuses the two together), and is
    // checked before the database is opened, so a mistyped one creates no file.
    if !args.statement.is_empty() {
        match one_shot_statement(&args) {
            Ok(statement) => args.commands = vec![statement],
            Err(message) => {
                let _ = writeln!(
                    io::stderr(),
                    "error: {message}\n\n{}",
                    Cli::command().render_usage()
                );
                return Status::Fatal;
            }
        }
    }
    let interactive = args.commands.is_empty() && env.stdin_tty;
    // A command file on stdin gets script output even when stdout is a terminal
    // (`kv db < script` typed at a prompt): compact lines and, unless asked for, no
    // colour, so the same script prints the same bytes wherever its output goes.
    let piped = args.commands.is_empty() && !env.stdin_tty;
    let out_color = use_color(args.color, env.stdout_tty && !piped, env.no_color);
    let err_color = use_color(args.color, env.stderr_tty && !piped, env.no_color);
    let layout = if args.raw {
        Layout::Raw
    } else if env.stdout_tty && !piped {
        Layout::Pretty
    } else {
        Layout::Compact
    };
    let out_renderer = Renderer {
        theme: Theme::new(out_color),
        layout,
    };
    let err_renderer = Renderer {
        theme: Theme::new(err_color),
        layout,
    };
    let mut stderr = io::stderr();

    let opened = match &args.path {
        Some(path) if args.read_only => Database::open_read_only(path),
        Some(path) => {
            // An empty simulated disk has no log to keep: the mode is the one given, or
            // the default.
            let (durability, source) = match args.simulate && args.empty {
                true => match args.durability {
                    Some(durability) => (durability, ModeSource::Given),
                    None => (Durability::default(), ModeSource::Default),
                },
                false => choose_mode(path, args.durability),
            };
            let opened = match (args.simulate, args.empty) {
                (true, true) => Database::simulate_empty_with_sync(path, durability, args.sync),
                (true, false) => Database::simulate_with_sync(path, durability, args.sync),
                (false, _) => Database::open_with_sync(path, durability, args.sync),
            };
            opened.map(|mut db| {
                db.set_mode_source(source);
                db
            })
        }
        None => Ok(Database::in_memory()),
    };
    let db = match opened {
        Ok(store) => store,
        Err(err) => {
            // Nothing more useful can be done if stderr is gone too.
            let _ = err_renderer.error(&mut stderr, None, &err.to_string());
            return Status::Fatal;
        }
    };

    // What recovery did on open (a torn tail cut off, a checkpoint finished) is news the
    // user must see in every mode, before the first result.
    if let Some(store) = db.store() {
        for warning in store.open_warnings() {
            let _ = err_renderer.warning(&mut stderr, &warning.to_string());
        }
    }
    if args.group_commit && !piped {
        let message = "--group-commit applies to piped input only (kv PATH < FILE): each \
                       command here commits on its own";
        let _ = err_renderer.warning(&mut stderr, message);
    }
    // A kill by SIGTERM (or a SIGINT with nobody at a prompt to catch it as a key) ends
    // the process cleanly: what was acknowledged is made durable first.
    if let Some(handle) = db.sync_handle()
        && let Err(err) = sync_window::sync_on_signals(handle, !interactive)
    {
        let message = format!("cannot catch SIGTERM ({err}): it will end the shell unsynced");
        let _ = err_renderer.warning(&mut stderr, &message);
    }
    let mut session = Session::new(db, out_renderer, err_renderer);
    if env.stdin_tty {
        // Someone is there to press Enter at a `pause` of a sourced file. Read through
        // std's locking handle, one line at a time, between the editor's own reads.
        session.pauses = Pauses::Wait(Box::new(io::BufReader::new(io::stdin())));
    }
    if interactive {
        session.excerpt = Excerpt::On;
    } else {
        // At the prompt the command is already on screen as typed.
        session.echo = if args.echo { Echo::On } else { Echo::Off };
        session.group_commit = if args.group_commit {
            GroupCommit::On
        } else {
            GroupCommit::Off
        };
        session.on_error = if args.bail {
            OnError::Bail
        } else {
            OnError::Continue
        };
    }

    let result = if interactive {
        let (db_name, mut banner) = banner(
            args.path.as_deref(),
            session.db.durability(),
            session.db.mode_source(),
            args.simulate,
        );
        if args.empty {
            // Nothing was loaded: say so where the banner says where the disk came from.
            banner = banner.replace("loaded from it", "started empty (--empty)");
        }
        let history = history_location(&args, env);
        interactive::run(&mut session, &history, out_color, &db_name, &banner)
            .map_err(|err| err.to_string())
    } else {
        run_batch(&mut session, &args.commands).map_err(|err| format!("cannot write output: {err}"))
    };
    // A clean exit makes every acknowledged write durable, and says so if it could not.
    let closed = session.db.close();
    if let Err(report) = &closed {
        let _ = session
            .err_renderer
            .error(&mut stderr, None, &report.to_string());
    }
    match result {
        Ok(()) if closed.is_err() => Status::CommandFailed,
        // At the prompt each error was seen as it happened; leaving is a clean end.
        Ok(()) if interactive => Status::Success,
        Ok(()) if session.failures() == 0 => Status::Success,
        Ok(()) => Status::CommandFailed,
        Err(message) => {
            let _ = err_renderer.error(&mut stderr, None, &message);
            Status::CommandFailed
        }
    }
}

/// The statement of `kv PATH WORD...`. A PATH that names a verb (`kv put k v`) is most
/// likely a forgotten PATH, so it is refused as subcommand names are: `./put` opens a file
/// named `put`.
fn one_shot_statement(args: &ShellArgs) -> Result<String, String> {
    if let Some(word) = args.path.as_deref().and_then(Path::to_str)
        && crate::shell::command::find_verb(word).is_some()
    {
        return Err(format!(
            "{word:?} is a command, not a database file: kv PATH {word} ... (a database \
             file named {word} is opened as ./{word})"
        ));
    }
    crate::shell::one_shot::statement(&args.statement).map_err(|err| err.0)
}

/// The name the prompt shows for the database, and the banner printed at the prompt's
/// start. Modes that do not keep what is typed say so, so nobody loses work by surprise.
pub fn banner(
    path: Option<&Path>,
    durability: Durability,
    source: ModeSource,
    simulated: bool,
) -> (String, String) {
    let version = env!("CARGO_PKG_VERSION");
    let Some(path) = path else {
        return (
            "(memory)".to_string(),
            format!(
                "kv {version}: connected to a transient in-memory store; nothing is saved.\n\
                 Use `kv FILE` to open a database file. Type help for commands, \
                 Ctrl-D to exit."
            ),
        );
    };
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let (db_name, disk) = if simulated && durability == Durability::Memory {
        (
            format!("{name} (simulated)"),
            " on an empty SIMULATED disk: `powercut` is safe here",
        )
    } else if simulated {
        (
            format!("{name} (simulated)"),
            " on a SIMULATED disk loaded from it: `powercut` and `crash` are safe here,\n\
             and nothing reaches the real file until `save`",
        )
    } else {
        (name, "")
    };
    if source == ModeSource::ReadOnly {
        let banner = format!(
            "kv {version}: {} (read-only: no lock is taken, nothing is written, and every \
             change is refused). Type help for commands, Ctrl-D to exit.",
            path.display()
        );
        return (format!("{db_name} (read-only)"), banner);
    }
    let note = match durability {
        // On the simulated disk memory mode does not even read the file (stage 0).
        Durability::Memory if simulated => ": nothing is read or saved, the map is all there is",
        Durability::Memory => ": the file is only read, and nothing typed here is saved",
        Durability::Naive => ": not crash-safe, kept to show how files get corrupted",
        _ => "",
    };
    // The prompt itself says so where writes are kept nowhere but in memory, so a long
    // session scrolled past the banner still shows it.
    let db_name = match (durability, simulated) {
        (Durability::Memory, false) => format!("{db_name} (memory: writes not saved)"),
        _ => db_name,
    };
    let banner = format!(
        "kv {version}: {} ({durability} mode, {}{note}){disk}. Type help for commands, \
         Ctrl-D to exit.",
        path.display(),
        render::mode_source(source)
    );
    (db_name, banner)
}

/// `-c` commands, or the script on stdin. A closed stdout (`kv db < cmds | head -1`) is a
/// normal end: nobody is left to read the results.
fn run_batch(session: &mut Session, commands: &[String]) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    // An echoed run is a transcript to read (a demo): folded to fit the screen.
    let (mut wrap_out, mut wrap_err);
    let (out, err): (&mut dyn Write, &mut dyn Write) = match session.echo {
        Echo::On => {
            wrap_out = Wrap::new(&mut out, wrap::WIDTH);
            wrap_err = Wrap::new(&mut err, wrap::WIDTH);
            (&mut wrap_out, &mut wrap_err)
        }
        Echo::Off => (&mut out, &mut err),
    };
    let result = (|| {
        if commands.is_empty() {
            // Our own buffer, so group commit can see what is already waiting.
            let mut input = io::BufReader::with_capacity(script::INPUT_BUFFER, io::stdin().lock());
            session.run_input(&mut input, out, err)?;
        } else {
            for command in commands {
                if session.run_statement(command, None, out, err)?.0 == Flow::Stop {
                    break;
                }
            }
            session.end_input(None, out, err)?;
        }
        err.flush()?;
        out.flush()
    })();
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> ShellArgs {
        let cli = Cli::try_parse_from(std::iter::once("kv").chain(list.iter().copied())).unwrap();
        cli.shell
    }

    fn env(histfile: Option<&str>, home: Option<&str>) -> Environment {
        Environment {
            stdin_tty: true,
            stdout_tty: true,
            stderr_tty: true,
            no_color: false,
            histfile: histfile.map(OsString::from),
            home: home.map(OsString::from),
        }
    }

    #[test]
    fn history_goes_where_the_options_then_the_environment_say() {
        let file = |path: &str| History::File(PathBuf::from(path));
        let cases = [
            (
                &[][..],
                env(None, Some("/home/u")),
                file("/home/u/.kv_history"),
            ),
            (&[], env(Some("/tmp/h"), Some("/home/u")), file("/tmp/h")),
            (&[], env(Some(""), Some("/home/u")), History::Off),
            (
                &["--history", "mine"],
                env(Some("/tmp/h"), Some("/home/u")),
                file("mine"),
            ),
            (
                &["--no-history"],
                env(Some("/tmp/h"), Some("/home/u")),
                History::Off,
            ),
            (&[], env(None, None), History::Off),
        ];
        for (list, environment, expected) in cases {
            assert_eq!(
                history_location(&args(list), &environment),
                expected,
                "{list:?}"
            );
        }
    }

    #[test]
    fn the_banner_names_the_file_and_warns_of_modes_that_do_not_keep_data() {
        let version = env!("CARGO_PKG_VERSION");
        let db = Some(Path::new("dir/db.json"));
        let (name, text) = banner(db, Durability::Snapshot, ModeSource::Default, false);
        assert_eq!(name, "db.json");
        assert_eq!(
            text,
            format!(
                "kv {version}: dir/db.json (snapshot mode, default). Type help for commands, \
                 Ctrl-D to exit."
            )
        );
        let (name, text) = banner(db, Durability::Wal, ModeSource::HasLog, false);
        assert_eq!(name, "db.json");
        assert!(
            text.contains("(wal mode, the database has a log)"),
            "{text}"
        );
        let (name, text) = banner(db, Durability::Memory, ModeSource::Given, false);
        assert_eq!(name, "db.json (memory: writes not saved)");
        assert!(
            text.contains(
                "(memory mode, --durability: the file is only read, and nothing typed here is saved)"
            ),
            "{text}"
        );
        let (name, text) = banner(db, Durability::Memory, ModeSource::ReadOnly, false);
        assert_eq!(name, "db.json (read-only)");
        assert!(
            text.contains(
                "(read-only: no lock is taken, nothing is written, and every change is refused)"
            ),
            "{text}"
        );
        let (_, text) = banner(db, Durability::Naive, ModeSource::Given, false);
        assert!(
            text.contains("(naive mode, --durability: not crash-safe"),
            "{text}"
        );
        let (name, text) = banner(db, Durability::Snapshot, ModeSource::Default, true);
        assert_eq!(name, "db.json (simulated)");
        assert!(
            text.contains("(snapshot mode, default) on a SIMULATED disk"),
            "{text}"
        );
        let (_, text) = banner(db, Durability::Memory, ModeSource::Given, true);
        assert!(
            text.contains(
                "(memory mode, --durability: nothing is read or saved, the map is all there is)"
            ),
            "{text}"
        );
        let (name, text) = banner(None, Durability::Memory, ModeSource::NoFile, false);
        assert_eq!(name, "(memory)");
        assert!(
            text.contains("transient in-memory store; nothing is saved"),
            "{text}"
        );
    }

    #[test]
    fn colour_auto_needs_a_terminal_and_no_no_color() {
        assert!(use_color(ColorChoice::Auto, true, false));
        assert!(!use_color(ColorChoice::Auto, false, false));
        assert!(!use_color(ColorChoice::Auto, true, true));
        assert!(use_color(ColorChoice::Always, false, true));
        assert!(!use_color(ColorChoice::Never, true, false));
    }

    #[test]
    fn options_parse_into_their_types() {
        let parsed = args(&[
            "--durability",
            "naive",
            "-c",
            "a",
            "-c",
            "b",
            "--bail",
            "db",
        ]);
        assert_eq!(parsed.durability, Some(Durability::Naive));
        assert_eq!(parsed.commands, ["a", "b"]);
        assert!(parsed.bail && !parsed.echo);
        assert_eq!(parsed.path, Some(PathBuf::from("db")));
        // Without --durability the database's files decide (`choose_mode`).
        assert_eq!(args(&[]).durability, None);
        assert!(args(&["--read-only", "db"]).read_only);
        assert!(args(&["--simulate", "db"]).simulate);
        assert!(!args(&["db"]).simulate);
    }

    #[test]
    fn the_durability_help_names_every_mode() {
        let help = Cli::command().render_long_help().to_string();
        let names: Vec<&str> = Durability::ALL.iter().map(|mode| mode.name()).collect();
        assert!(
            help.contains(&format!("How commits reach the disk: {}", names.join(", "))),
            "{help}"
        );
        assert!(names.contains(&"wal"));
        assert!(help.contains("--group-commit"), "{help}");
        assert!(args(&["--group-commit"]).group_commit);
        assert!(!args(&[]).group_commit);
    }

    #[test]
    fn simulate_needs_a_path() {
        let parsed = Cli::try_parse_from(["kv", "--simulate"]);
        assert!(parsed.is_err(), "{parsed:?}");
    }
}

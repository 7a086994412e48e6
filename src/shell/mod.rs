//! The `kv` shell, as a library so every part is testable without a terminal:
//! [`command`] parses a statement into a [`Command`], [`exec`] (the executor) runs
//! statements, alone or a batch at once, against a [`Database`] (the store and the demo
//! buttons around it) and returns an [`Outcome`] for each, [`render`] turns outcomes and
//! errors into text. [`script`] reads piped input into statements, [`session`] is the
//! loop body shared by every mode, [`editor`] and [`interactive`] the rustyline side,
//! [`cli`] the command line and exit statuses.

pub mod cli;
pub mod command;
pub mod continuation;
pub mod database;
pub mod editor;
pub mod exec;
pub mod exec_error;
pub mod export;
pub mod import;
pub mod interactive;
pub mod maintenance;
pub mod one_shot;
pub mod pattern;
pub mod render;
pub mod script;
pub mod session;
pub mod source;
pub mod status;
pub mod sync_window;
pub mod wrap;

pub use command::{Command, ParseError, VERBS, Verb, parse};
pub use database::Database;
pub use exec::{ExecError, Outcome};
pub use render::{Layout, Renderer, Theme};
pub use session::Session;

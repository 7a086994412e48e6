//! [`Status`]: the exit statuses of `kv`, shared by the command line and the `check` and
//! `repair` subcommands.

/// The exit statuses, as documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every command succeeded.
    Success = 0,
    /// At least one command failed.
    CommandFailed = 1,
    /// The database could not be opened, or the arguments were bad.
    Fatal = 2,
}

impl From<Status> for std::process::ExitCode {
    fn from(status: Status) -> Self {
        std::process::ExitCode::from(status as u8)
    }
}

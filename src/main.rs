//! `kv`: parse the arguments, run the shell, exit with its status. Everything else is in
//! `kv::shell`.

use std::process::ExitCode;

use kv::shell::cli::{Environment, parse_args, run};

fn main() -> ExitCode {
    try_main().into()
}

fn try_main() -> kv::shell::cli::Status {
    match parse_args() {
        Ok(cli) => run(cli, &Environment::current()),
        Err(status) => status,
    }
}

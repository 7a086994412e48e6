//! `kv`: parse the arguments, run the shell, exit with its status. Everything else is in
//! `kv_engine::shell`.

use std::process::ExitCode;

use clap::Parser;
use kv_engine::shell::cli::{Cli, Environment, run};

fn main() -> ExitCode {
    try_main().into()
}

fn try_main() -> kv_engine::shell::cli::Status {
    // Bad arguments: clap prints the usage and exits with status 2.
    let cli = Cli::parse();
    run(cli, &Environment::current())
}

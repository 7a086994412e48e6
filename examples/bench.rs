//! `kv bench` without the shell: the same arguments, the same report.
//!
//! ```text
//! cargo run --release --example bench                     # the full run (a couple of minutes)
//! cargo run --release --example bench -- --quick          # a few seconds
//! cargo run --release --example bench -- --n 1000,10000 --modes snapshot,memory --reps 5
//! cargo run --release --example bench -- --dir /mnt/disk --json > bench.json
//! ```
//!
//! The progress bar goes to stderr, and only when stderr is a terminal.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use kv::bench::{self, BenchArgs};

/// Measures what each durability mode costs on this disk, beside the disk's own limits.
#[derive(Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stderr = io::stderr();
    let show_bar = stderr.is_terminal();
    match bench::run_cli(
        &cli.bench,
        &mut io::stdout().lock(),
        &mut stderr.lock(),
        show_bar,
        100,
    ) {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}

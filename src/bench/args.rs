//! `kv bench`'s command-line arguments, and the whole command as one call.

use std::io::Write;
use std::path::PathBuf;

use super::config::BenchConfig;
use super::progress::{Progress, clear_progress_line, render_progress_line};
use super::report::Report;
use super::{BenchError, run};
use kv_engine::Durability;

/// The arguments of `kv bench`, for `#[command(flatten)]` or a subcommand variant; turn
/// them into a [`BenchConfig`] with [`BenchArgs::to_config`].
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct BenchArgs {
    /// A run of a few seconds: sizes 1,000 and 10,000, two repetitions, fewer operations
    #[arg(long)]
    pub quick: bool,
    /// Store sizes in keys, comma-separated [default: 1000,10000,100000]
    #[arg(long = "n", value_name = "N,...", value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Durability modes to measure, comma-separated [default: all]
    #[arg(long, value_name = "MODE,...", value_delimiter = ',')]
    pub modes: Vec<Durability>,
    /// Run in a fresh directory made inside DIR (and removed afterwards) [default: the
    /// system's temporary directory]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Repetitions of everything; the median is reported [default: 3, quick: 2]
    #[arg(long, value_name = "N")]
    pub reps: Option<usize>,
    /// Also pipe the same workload through sqlite3 (WAL and rollback journal) and Redis
    /// (appendfsync always and everysec; redis-cli and redis-cli --pipe), where installed,
    /// and print kv's ratio to each
    #[arg(long)]
    pub peers: bool,
    /// Print the report as JSON instead of tables
    #[arg(long)]
    pub json: bool,
    /// See [`BenchConfig::memory_probe`]: set by the binary, not on the command line.
    #[arg(skip)]
    pub memory_probe: Option<PathBuf>,
}

impl BenchArgs {
    /// The run these arguments ask for: the default or quick run, with the given settings
    /// replacing its own.
    pub fn to_config(&self) -> BenchConfig {
        let mut config = if self.quick {
            BenchConfig::quick()
        } else {
            BenchConfig::default()
        };
        if !self.sizes.is_empty() {
            config.sizes = self.sizes.clone();
        }
        if !self.modes.is_empty() {
            config.modes = self.modes.clone();
        }
        if self.dir.is_some() {
            config.dir = self.dir.clone();
        }
        if let Some(reps) = self.reps {
            config.reps = reps;
        }
        config.memory_probe = self.memory_probe.clone();
        config.peers = self.peers;
        config
    }
}

/// The whole `kv bench` command: runs the benchmark, drawing a progress bar of `width`
/// columns on `progress_out` if `progress_bar` (pass whether stderr is a terminal), then
/// writes the tables (or JSON with `--json`) to `out`.
pub fn run_cli(
    args: &BenchArgs,
    out: &mut dyn Write,
    progress_out: &mut dyn Write,
    progress_bar: bool,
    width: usize,
) -> Result<Report, BenchError> {
    let mut draw_error = None;
    let report = run(&args.to_config(), &mut |progress: &Progress<'_>| {
        if progress_bar && draw_error.is_none() {
            draw_error = render_progress_line(progress, width, progress_out).err();
        }
    });
    if progress_bar && draw_error.is_none() {
        draw_error = clear_progress_line(progress_out).err();
    }
    let report = report?;
    if let Some(error) = draw_error {
        return Err(error.into());
    }
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        report.render_table(out)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> BenchArgs {
        Cli::try_parse_from(std::iter::once("kv").chain(args.iter().copied()))
            .unwrap()
            .bench
    }

    #[test]
    fn arguments_override_the_default_or_quick_run() {
        assert_eq!(parse(&[]).to_config(), BenchConfig::default());
        assert_eq!(parse(&["--quick"]).to_config(), BenchConfig::quick());
        let config = parse(&[
            "--quick",
            "--n",
            "50,200",
            "--modes",
            "memory,snapshot",
            "--reps",
            "5",
            "--dir",
            "/somewhere",
        ])
        .to_config();
        assert_eq!(config.sizes, vec![50, 200]);
        assert_eq!(config.modes, vec![Durability::Memory, Durability::Snapshot]);
        assert_eq!(config.reps, 5);
        assert_eq!(config.dir, Some(PathBuf::from("/somewhere")));
        assert_eq!(config.rewrite_ops, BenchConfig::quick().rewrite_ops);
        assert!(parse(&["--json"]).json);
    }

    #[test]
    fn unknown_modes_are_rejected_by_name() {
        let err = Cli::try_parse_from(["kv", "--modes", "memory,paper"])
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("unknown durability mode \"paper\""),
            "{err}"
        );
    }
}

//! The report as text tables for a terminal or a README.

use std::io::{self, Write};

use super::disk::LimitKind;
use super::format;
use super::report::{Case, PeerCase, PipedCase, Report, Timing};
use crate::shell::wrap::{self, Wrap};

/// How a column's cells line up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Writes `rows` under `headers`, each column as wide as its widest cell, indented by two.
fn write_table(
    out: &mut dyn Write,
    headers: &[&str],
    align: &[Align],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let width = |cell: &str| cell.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(column) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::from(" ");
        for (column, cell) in row.iter().enumerate() {
            let w = widths.get(column).copied().unwrap_or(0);
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            line.push(' ');
            match align.get(column).copied().unwrap_or(Align::Left) {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
            line.push(' ');
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn timing_cells(timing: &Timing) -> [String; 4] {
    [
        format::int(timing.ops as u64),
        format::rate(timing.ops_per_sec),
        format::duration_ns(timing.p50_ns),
        format::duration_ns(timing.p99_ns),
    ]
}

impl Report {
    /// Writes the report as readable tables: the machine, the disk's limits, every engine
    /// figure, each beside the limit that bounds it, open time and memory, and the
    /// targets. Every line fits [`wrap::WIDTH`] (100) columns: the tables are laid out
    /// to, and prose is folded.
    pub fn render_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut folded = Wrap::new(out, wrap::WIDTH);
        self.write_tables(&mut folded)?;
        folded.flush()
    }

    fn write_tables(&self, out: &mut dyn Write) -> io::Result<()> {
        use Align::{Left, Right};
        let machine = &self.machine;
        let mut description = format!("{} CPUs", machine.cpus);
        if let Some(model) = &machine.cpu_model {
            description.push_str(&format!(" ({model})"));
        }
        if let Some(memory) = machine.memory_bytes {
            description.push_str(&format!(", {} RAM", format::size(memory as f64)));
        }
        if let Some(kernel) = &machine.kernel {
            description.push_str(&format!(", Linux {kernel}"));
        }
        let filesystem = machine
            .filesystem
            .as_deref()
            .unwrap_or("unknown filesystem");
        writeln!(out, "kv bench on {description}")?;
        writeln!(
            out,
            "Directory {} ({filesystem}); {} repetition{} of everything, medians shown.",
            machine.dir,
            self.reps,
            if self.reps == 1 { "" } else { "s" }
        )?;
        if let Some(warning) = &self.warning {
            writeln!(out)?;
            writeln!(out, "WARNING: {warning}")?;
        }

        writeln!(out)?;
        writeln!(
            out,
            "The disk's own limits (same directory, same run; the {} is temp file, fsync, \
             rename, fsync dir; overwrites go to a preallocated, synced file; the rewrite is in \
             place)",
            LimitKind::SnapshotRecipe.describe(),
        )?;
        let limits = &self.limits;
        let record = format::size(limits.record_bytes as f64);
        let mut rows = vec![
            limit_row(
                LimitKind::AppendFdatasync,
                "",
                &record,
                &limits.append_fdatasync,
            ),
            limit_row(
                LimitKind::OverwriteFdatasync,
                "",
                &record,
                &limits.overwrite_fdatasync,
            ),
        ];
        for size in &limits.by_size {
            let keys = format::int(size.n as u64);
            let bytes = format::size(size.bytes as f64);
            rows.push(limit_row(
                LimitKind::SnapshotRecipe,
                &keys,
                &bytes,
                &size.snapshot_recipe,
            ));
            rows.push(limit_row(
                LimitKind::RewriteUnsynced,
                &keys,
                &bytes,
                &size.rewrite_unsynced,
            ));
        }
        write_table(
            out,
            &["limit", "keys", "bytes/op", "timed", "ops/s", "p50", "p99"],
            &[Left, Right, Right, Right, Right, Right, Right],
            &rows,
        )?;

        writeln!(out)?;
        writeln!(out, "The engine (timed = operations per repetition)")?;
        let mut rows = Vec::new();
        let mut bounded = Vec::new();
        for case in &self.cases {
            for result in &case.ops {
                let what = [
                    case.mode.clone(),
                    format::int(case.n as u64),
                    result.op.name().to_string(),
                ];
                rows.push(
                    [
                        what.to_vec(),
                        timing_cells(&result.timing).to_vec(),
                        vec![
                            format::per_op(result.fsyncs_per_op),
                            format::size(result.bytes_per_op),
                        ],
                    ]
                    .concat(),
                );
                if let Some(bound) = result.bound {
                    bounded.push(
                        [
                            what.to_vec(),
                            vec![
                                format::rate(result.timing.ops_per_sec),
                                bound.limit.describe().to_string(),
                                format::rate(bound.limit_timing.ops_per_sec),
                                format::ratio(bound.ratio),
                            ],
                        ]
                        .concat(),
                    );
                }
            }
        }
        write_table(
            out,
            &[
                "mode", "keys", "op", "timed", "ops/s", "p50", "p99", "fsync/op", "bytes/op",
            ],
            &[Left, Right, Left, Right, Right, Right, Right, Right, Right],
            &rows,
        )?;
        if !bounded.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "The engine against the disk's limits (each limit timed in alternation with \
                 the engine op it bounds; ratio = engine ops/s ÷ limit ops/s; memory mode and \
                 gets touch no disk)"
            )?;
            write_table(
                out,
                &[
                    "mode",
                    "keys",
                    "op",
                    "ops/s",
                    "limit",
                    "limit ops/s",
                    "ratio",
                ],
                &[Left, Right, Left, Right, Left, Right, Right],
                &bounded,
            )?;
        }

        writeln!(out)?;
        writeln!(
            out,
            "Open and memory (RSS = growth of resident anonymous memory, RssAnon, when a fresh \
             process opens a snapshot of that many keys)"
        )?;
        let rows: Vec<Vec<String>> = self.cases.iter().map(open_and_memory_row).collect();
        write_table(
            out,
            &[
                "mode",
                "keys",
                "file",
                "open",
                "RSS/key",
                "file/key",
                "RSS ÷ file",
            ],
            &[Left, Right, Right, Right, Right, Right, Right],
            &rows,
        )?;

        if !self.piped.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "Piped scripts with --group-commit (N puts, N gets, N/100 deletes, each a script \
                 on a pipe; batch = statements per commit; vs memory = the same script in \
                 memory mode, timed just before it)"
            )?;
            let rows: Vec<Vec<String>> = self.piped.iter().flat_map(piped_rows).collect();
            write_table(
                out,
                &[
                    "mode",
                    "keys",
                    "script",
                    "stmts",
                    "ops/s",
                    "batch",
                    "fsync/op",
                    "bytes/op",
                    "vs memory",
                ],
                &[Left, Right, Left, Right, Right, Right, Right, Right, Left],
                &rows,
            )?;
        }

        if !self.async_puts.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "Asynchronous commit: piped puts without --group-commit, acknowledged before the sync (the puts waiting on the pipe are appended in one write, as Redis does; vs memory = the same script in memory mode; the target is 0.5×)"
            )?;
            let rows: Vec<Vec<String>> = self
                .async_puts
                .iter()
                .map(|case| {
                    vec![
                        case.mode.clone(),
                        format::rate(case.n as f64),
                        format!("--sync {}", case.sync),
                        format::rate(case.ops_per_sec),
                        format!("{:.3}", case.fsyncs_per_put),
                        format!(
                            "{} ({}/s)",
                            format::ratio(case.vs_memory),
                            format::rate(case.memory_ops_per_sec)
                        ),
                    ]
                })
                .collect();
            write_table(
                out,
                &["mode", "keys", "policy", "puts/s", "fsync/put", "vs memory"],
                &[Left, Right, Left, Right, Right, Left],
                &rows,
            )?;
        }

        if let Some(peers) = &self.peers {
            writeln!(out)?;
            writeln!(
                out,
                "Peers: the same scripts piped to other programs (same directory, same \
                 repetitions; kv ÷ peer = kv's rate in the mode making the same promise over \
                 the peer's, run just before it, through {}; the disk's overwrite + \
                 fdatasync: {}/s)",
                peers.kv_runs_as,
                format::rate(self.limits.overwrite_fdatasync.ops_per_sec)
            )?;
            let rows: Vec<Vec<String>> = peers.cases.iter().flat_map(peer_rows).collect();
            if !rows.is_empty() {
                write_table(
                    out,
                    &[
                        "peer",
                        "keys",
                        "script",
                        "ops/s",
                        "kv mode",
                        "kv ops/s",
                        "kv ÷ peer",
                    ],
                    &[Left, Right, Left, Right, Left, Right, Right],
                    &rows,
                )?;
            }
            for skipped in &peers.skipped {
                writeln!(out, "  {}: skipped: {}", skipped.peer, skipped.reason)?;
            }
            let mut described = Vec::new();
            for case in &peers.cases {
                if !described.contains(&case.peer) {
                    writeln!(out, "  - {}: {}", case.peer, case.description)?;
                    described.push(case.peer.clone());
                }
            }
        }

        if !self.targets.is_empty() {
            writeln!(out)?;
            writeln!(out, "Targets (docs/targets.md)")?;
            for check in &self.targets {
                let mark = if check.met { "✅" } else { "❌" };
                writeln!(out, "  {mark} {}: {}", check.target, check.measured)?;
            }
        }

        writeln!(out)?;
        writeln!(out, "How it was measured")?;
        for note in NOTES {
            writeln!(out, "  - {note}")?;
        }
        Ok(())
    }
}

/// A row of the limits table: the limit, its keys and bytes per operation, its timing.
fn limit_row(kind: LimitKind, keys: &str, bytes: &str, timing: &Timing) -> Vec<String> {
    [
        vec![
            kind.describe().to_string(),
            keys.to_string(),
            bytes.to_string(),
        ],
        timing_cells(timing).to_vec(),
    ]
    .concat()
}

fn piped_rows(case: &PipedCase) -> Vec<Vec<String>> {
    case.phases
        .iter()
        .map(|result| {
            let per_commit = if result.statements_per_commit > 0.0 {
                format::rate(result.statements_per_commit)
            } else {
                "-".to_string()
            };
            let vs = match result.bound {
                Some(bound) => format!(
                    "{} ({}/s)",
                    format::ratio(bound.ratio),
                    format::rate(bound.memory_ops_per_sec)
                ),
                None => "-".to_string(),
            };
            vec![
                case.mode.clone(),
                format::int(case.n as u64),
                result.phase.name().to_string(),
                format::int(result.statements as u64),
                format::rate(result.ops_per_sec),
                per_commit,
                format::per_op(result.fsyncs_per_op),
                format::size(result.bytes_per_op),
                vs,
            ]
        })
        .collect()
}

fn peer_rows(case: &PeerCase) -> Vec<Vec<String>> {
    case.phases
        .iter()
        .map(|result| {
            vec![
                case.peer.clone(),
                format::int(case.n as u64),
                result.phase.name().to_string(),
                format::rate(result.ops_per_sec),
                case.kv_mode.clone(),
                format::rate(result.kv_ops_per_sec),
                format::ratio(result.kv_ratio),
            ]
        })
        .collect()
}

fn open_and_memory_row(case: &Case) -> Vec<String> {
    let dash = || "-".to_string();
    let (rss, file_per_key, ratio) = match case.memory {
        Some(memory) => (
            format::size(memory.bytes_per_key),
            format::size(memory.snapshot_bytes as f64 / case.n as f64),
            format::ratio(memory.ratio_to_snapshot),
        ),
        None => (dash(), dash(), dash()),
    };
    vec![
        case.mode.clone(),
        format::int(case.n as u64),
        case.file_bytes
            .map_or_else(dash, |bytes| format::size(bytes as f64)),
        case.open_ns.map_or_else(dash, format::duration_ns),
        rss,
        file_per_key,
        ratio,
    ]
}

/// The method, in the report itself, so a table pasted elsewhere keeps its caveats.
const NOTES: &[&str] = &[
    "Each pass runs untimed warm-up operations first; every figure is the median of the repetitions.",
    "Puts: the store is first loaded with all but the timed keys in one commit, so the timed puts of new keys run at about N keys.",
    "Modes that rewrite the whole store per commit time fewer operations (see timed); with 100 or fewer, p99 is the slowest one.",
    "Overwrites replace values with ones of the same length, so a snapshot commit writes exactly the bytes of the snapshot recipe beside it.",
    "Gets: throughput from an untimed pass over the keys in shuffled order; the latencies include two clock reads (~50 ns).",
    "fsync/op and bytes/op come from the store's own counters (stats), not from estimates.",
    "Open: reopening the store once it holds N keys, with the file in the page cache.",
    "Piped scripts: each phase is written by a thread into an OS pipe that the shell's own script loop reads (through the shell's 256 KiB input buffer), with --group-commit on; timed from the first read to the last result, and every result line is checked. batch = statements per commit (the batch size a pipe allows); bytes/op leaves out the zeros that preallocate log space.",
    "Peers (--peers): each phase is a script piped to a fresh process of the peer's program (sqlite3 FILE, or redis-cli against a redis-server of its own on a loopback port, started untimed), timed from its start to its exit (its start-up, a few ms, weighs on the N/100 deletes), every result checked; kv runs the same scripts just before, in the mode named beside it, through its own binary the same way (kv bench), or in-process for a library caller without it.",
    "Memory: growth of RssAnon (heap and stacks, not the binary's code pages) across opening a snapshot of N keys, each in a fresh kv process of its own, as a user's kv opening that database would hold it; library callers of bench::run without a probe binary measure in their own process, where earlier opens' freed buffers blur the figure. Pages are 4 KiB, so small stores read high.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_wide_characters() {
        let mut out = Vec::new();
        write_table(
            &mut out,
            &["name", "value"],
            &[Align::Left, Align::Right],
            &[
                vec!["a".into(), "1 µs".into()],
                vec!["long name".into(), "10".into()],
            ],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "  name       value\n  a           1 µs\n  long name     10\n"
        );
    }
}

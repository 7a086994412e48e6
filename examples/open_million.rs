//! How long opening a big store takes, and the memory it holds (the `docs/targets.md` row
//! "open a store of 1,000,000 keys < 1 s"; `kv bench` stops at sizes it can rewrite often).
//!
//! ```text
//! cargo run --release --example open_million                  # 1,000,000 keys, snapshot
//! cargo run --release --example open_million -- 1000000 wal   # the same keys in the log
//! cargo run --release --example open_million -- 1000000 wal 100000
//!     # issue 5's case: the keys in the snapshot (a checkpoint), then 100,000 logged overwrites
//! ```
//!
//! Writes the store once (one commit of N puts of the bench's value; with a third argument
//! L in wal mode, a checkpoint and then L overwrites spread over the keys, logged in commits
//! of 100 records), then opens it three times and prints the median open time. (Memory per key is `kv bench`'s to measure: here
//! the opens reuse what the writing store freed.)

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kv::bench::{key, put_value};
use kv_engine::{Durability, KvStore, Mutation, Options};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|n| n.replace([',', '_'], "").parse().ok())
        .unwrap_or(1_000_000);
    let mode: Durability = match args.next().unwrap_or_else(|| "snapshot".into()).parse() {
        Ok(mode) => mode,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("cannot make a temporary directory: {err}");
            return ExitCode::FAILURE;
        }
    };
    let logged: usize = args
        .next()
        .and_then(|n| n.replace([',', '_'], "").parse().ok())
        .unwrap_or(0);
    if logged > 0 && mode != Durability::Wal {
        eprintln!("logged records need --durability wal (the second argument)");
        return ExitCode::FAILURE;
    }
    let path = dir.path().join("db.json");
    let options = || Options::new().durability(mode);
    let result = (|| -> kv_engine::Result<()> {
        let mut store = KvStore::open(&path, options())?;
        let batch = (0..n)
            .map(|i| Mutation::Put {
                key: key(i),
                value: put_value(),
            })
            .collect();
        store.apply(batch)?;
        if logged > 0 {
            store.checkpoint()?;
            let overwrites: Vec<usize> = (0..logged).map(|i| i * n / logged).collect();
            for chunk in overwrites.chunks(100) {
                let batch = chunk
                    .iter()
                    .map(|&i| Mutation::Put {
                        key: key(i),
                        value: kv::bench::overwrite_value(),
                    })
                    .collect();
                store.apply(batch)?;
            }
        }
        let log_records = store.stats().log_records.unwrap_or(0);
        drop(store);

        let mut times: Vec<Duration> = Vec::new();
        let mut file_size = None;
        for _ in 0..3 {
            let started = Instant::now();
            let store = KvStore::open(&path, options())?;
            times.push(started.elapsed());
            assert_eq!(store.len(), n, "the store did not hold every key");
            file_size = store.stats().file_size;
            drop(store);
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{mode}: {n} keys, snapshot file {} B, {log_records} records in the log, open {:.0} ms (median of 3; all: {:?})",
            file_size.unwrap_or(0),
            median.as_secs_f64() * 1e3,
            times
        );
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

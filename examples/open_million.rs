//! How long opening a big store takes, and the memory it holds (the `targets.md` row
//! "open a store of 1,000,000 keys < 1 s"; `kv bench` stops at sizes it can rewrite often).
//!
//! ```text
//! cargo run --release --example open_million                  # 1,000,000 keys, snapshot
//! cargo run --release --example open_million -- 1000000 wal   # the same keys in the log
//! ```
//!
//! Writes the store once (one commit of N puts of the bench's value), then opens it three
//! times and prints the median open time. (Memory per key is `kv bench`'s to measure: here
//! the opens reuse what the writing store freed.)

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kv_engine::bench::{key, put_value};
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
            "{mode}: {n} keys, snapshot file {} B, open {:.0} ms (median of 3; all: {:?})",
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

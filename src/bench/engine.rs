//! The engine's workload, per durability mode and store size: puts of new keys, reopening,
//! overwrites, gets and deletes, each timed op by op, with the store's own I/O counters
//! read before and after each pass.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::config::{BenchConfig, TRANSACTION_PUTS};
use super::disk::LimitKind;
use super::disk::Probe;
use super::stats::{Sample, ops_per_sec};
use super::system;
use super::timing::{nanos, time_each, time_paired};
use kv_engine::fs::{Fs, OpenMode, RealFs};
use kv_engine::{Batch, Durability, Mutation};
use kv_engine::{Error, Result};
use kv_engine::{KvStore, Options};

/// The key of the `i`-th entry: `k000000`, `k000001`, … (as in `docs/targets.md`).
pub fn key(i: usize) -> String {
    format!("k{i:06}")
}

/// The value every put stores (as in `docs/targets.md`).
pub fn put_value() -> Value {
    json!({"n": 123, "s": "abc"})
}

/// The value overwrites store: the same length as [`put_value`], so the snapshot keeps its
/// size and an overwrite rewrites exactly the bytes the snapshot recipe is measured with.
pub fn overwrite_value() -> Value {
    json!({"n": 456, "s": "xyz"})
}

/// One timed pass and what the store's counters say it wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pass {
    pub sample: Sample,
    pub fsyncs: u64,
    pub bytes_written: u64,
    /// The bounding disk limit, timed op by op in alternation with the engine.
    pub limit: Option<Sample>,
}

/// The disk limit a case's writes are paired with: its kind and bytes per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    pub kind: LimitKind,
    pub bytes: usize,
}

/// One repetition of the workload on one mode and size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CaseRun {
    pub puts: Pass,
    pub overwrites: Pass,
    pub gets: Pass,
    pub deletes: Pass,
    /// Transactions of [`TRANSACTION_PUTS`] overwrites, each one commit.
    pub transactions: Pass,
    /// Time to reopen the store once it holds `n` keys; `None` in memory (no file).
    pub open_ns: Option<u64>,
    /// Keys the reopened store holds (must be `n`).
    pub keys_after_open: usize,
    /// Size of the database file at `n` keys.
    pub file_bytes: Option<u64>,
    /// Gets that found their key (must be all of them).
    pub gets_found: usize,
    /// Deletes that found their key (must be all of them).
    pub deletes_found: usize,
}

/// Where one case keeps its store, how to open it, and the limit it is paired with.
struct CaseStore<'a> {
    fs: &'a Arc<dyn Fs>,
    dir: &'a Path,
    mode: Durability,
    path: PathBuf,
    limit: Option<Limit>,
}

impl CaseStore<'_> {
    fn open(&self) -> Result<KvStore> {
        if self.mode == Durability::Memory {
            return Ok(KvStore::in_memory());
        }
        KvStore::open(
            &self.path,
            Options::new().durability(self.mode).fs(Arc::clone(self.fs)),
        )
    }
}

/// Runs one repetition of the workload for `mode` on a store of `n` keys in `dir`, with
/// every timed write interleaved with one operation of `limit`, calling `phase` with the
/// name of each pass as it starts, and removes the store's files.
pub(crate) fn run_case(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    mode: Durability,
    n: usize,
    limit: Option<Limit>,
    config: &BenchConfig,
    phase: &mut dyn FnMut(&str),
) -> Result<CaseRun> {
    let name = format!("case-{}-{n}.json", mode.name());
    let case = CaseStore {
        fs,
        dir,
        mode,
        path: dir.join(&name),
        limit,
    };
    let result = run_case_in(&case, n, config, phase);
    // Remove the files even when the workload failed, then report the first error.
    let removed = remove_with_prefix(fs.as_ref(), dir, &name);
    let run = result?;
    removed?;
    Ok(run)
}

fn run_case_in(
    case: &CaseStore<'_>,
    n: usize,
    config: &BenchConfig,
    phase: &mut dyn FnMut(&str),
) -> Result<CaseRun> {
    let warmup = config.warmup_for(n);
    let timed = config.timed_ops(case.mode, n);
    let preload = n - warmup - timed;

    phase("puts");
    let mut store = case.open()?;
    // The keys before the sample go in as one commit: only the last puts are timed, at
    // a store size of about n.
    store.apply(
        (0..preload)
            .map(|i| Mutation::Put {
                key: key(i),
                value: put_value(),
            })
            .collect(),
    )?;
    let mut new_keys = (preload..n).map(key);
    let puts = timed_pass(case, case.limit, &mut store, warmup, timed, |store| {
        let key = new_keys.next().unwrap_or_default();
        store.put(key, put_value())
    })?;
    let file_bytes = store.stats().file_size;

    phase("open");
    let open_ns = if case.mode == Durability::Memory {
        None
    } else {
        drop(store);
        let started = Instant::now();
        store = case.open()?;
        Some(nanos(started))
    };
    let keys_after_open = store.len();

    phase("overwrites");
    // Distinct keys spread over the whole store; the warm-up takes the first ones.
    let spread = |count: usize| (0..count).map(move |i| key(i * n / count));
    let mut targets = spread(warmup + timed);
    let overwrites = timed_pass(case, case.limit, &mut store, warmup, timed, |store| {
        let key = targets.next().unwrap_or_default();
        store.put(key, overwrite_value())
    })?;

    phase("transactions");
    // Overwrites again, so the snapshot keeps the size its limit is measured at; each
    // transaction's keys are distinct while the store holds TRANSACTION_PUTS keys or more.
    let tx_timed = config.timed_transactions(case.mode, n);
    let tx_limit = match case.limit {
        // A log commit of the transaction's records: one fdatasync, and its bytes.
        Some(Limit {
            kind: LimitKind::OverwriteFdatasync,
            ..
        }) => Some(Limit {
            kind: LimitKind::OverwriteFdatasync,
            bytes: transaction_bytes(&mut store)?,
        }),
        other => other,
    };
    let mut next_tx = 0;
    let transactions = timed_pass(case, tx_limit, &mut store, warmup, tx_timed, |store| {
        let mut batch = Batch::new();
        for j in 0..TRANSACTION_PUTS {
            batch.put(key((next_tx * TRANSACTION_PUTS + j) % n), overwrite_value())?;
        }
        next_tx += 1;
        store.commit(batch).map(drop)
    })?;

    phase("gets");
    let gets_count = config.timed_gets(n);
    let get_keys = shuffled(spread(gets_count).collect());
    for key in get_keys.iter().take(warmup) {
        black_box(store.get_raw(key));
    }
    // Timing each get adds two clock reads to a ~100 ns operation, so the throughput comes
    // from an untimed pass and only the percentiles from the timed one.
    let started = Instant::now();
    let mut gets_found = 0;
    for key in &get_keys {
        gets_found += usize::from(black_box(store.get_raw(key)).is_some());
    }
    let throughput = ops_per_sec(get_keys.len(), nanos(started));
    let mut next_get = get_keys.iter();
    let mut gets = timed_pass(case, None, &mut store, 0, get_keys.len(), |store| {
        black_box(next_get.next().and_then(|key| store.get_raw(key)));
        Ok(())
    })?;
    gets.sample.ops_per_sec = throughput;

    phase("deletes");
    let mut doomed = spread(warmup + timed);
    let mut deletes_found = 0;
    let mut ops = 0;
    let deletes = timed_pass(case, case.limit, &mut store, warmup, timed, |store| {
        let key = doomed.next().unwrap_or_default();
        let found = store.delete(&key)?;
        // Count only the timed ones: the warm-up comes first.
        ops += 1;
        if ops > warmup {
            deletes_found += usize::from(found);
        }
        Ok(())
    })?;

    Ok(CaseRun {
        puts,
        overwrites,
        gets,
        deletes,
        transactions,
        open_ns,
        keys_after_open,
        file_bytes,
        gets_found,
        deletes_found,
    })
}

/// The bytes one transaction of [`TRANSACTION_PUTS`] overwrites adds to `store`'s log,
/// measured by committing one (untimed).
fn transaction_bytes(store: &mut KvStore) -> Result<usize> {
    let before = store.stats().bytes_written;
    let mut batch = Batch::new();
    for j in 0..TRANSACTION_PUTS {
        batch.put(key(j), overwrite_value())?;
    }
    store.commit(batch)?;
    Ok((store.stats().bytes_written - before) as usize)
}

/// Runs `op` `warmup` times untimed, then `ops` times timed (each followed by one
/// operation of `limit`, if given), reading the store's fsync and byte
/// counters around the timed operations.
fn timed_pass(
    case: &CaseStore<'_>,
    limit: Option<Limit>,
    store: &mut KvStore,
    warmup: usize,
    ops: usize,
    mut op: impl FnMut(&mut KvStore) -> Result<()>,
) -> Result<Pass> {
    let mut probe = match limit {
        Some(limit) => {
            let name = format!("{}.limit", file_name(&case.path));
            let probe = Probe::new(
                case.fs.as_ref(),
                case.dir,
                &name,
                limit.kind,
                limit.bytes,
                warmup + ops,
            )?;
            Some(probe)
        }
        None => None,
    };
    for _ in 0..warmup {
        op(store)?;
        if let Some(probe) = probe.as_mut() {
            probe.step()?;
        }
    }
    let before = store.stats();
    let (sample, limit) = match probe.as_mut() {
        Some(probe) => {
            let (sample, limit) = time_paired(ops, |_| op(store), |_| probe.step())?;
            (sample, Some(limit))
        }
        None => (time_each(ops, |_| op(store))?, None),
    };
    let after = store.stats();
    if let Some(probe) = probe {
        probe.close()?;
    }
    Ok(Pass {
        sample,
        fsyncs: after.fsyncs - before.fsyncs,
        bytes_written: after.bytes_written - before.bytes_written,
        limit,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// A fixed pseudo-random permutation (xorshift), so gets do not walk the tree in order
/// and every run visits the same keys in the same order.
fn shuffled<T>(mut items: Vec<T>) -> Vec<T> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
    items
}

/// Removes every entry of `dir` whose name starts with `prefix` (a store's file and
/// everything beside it: lock, temp files, logs).
pub(crate) fn remove_with_prefix(fs: &dyn Fs, dir: &Path, prefix: &str) -> Result<()> {
    let names = fs
        .list_dir(dir)
        .map_err(|err| Error::io("list", dir, err))?;
    for name in names {
        if name.as_encoded_bytes().starts_with(prefix.as_bytes()) {
            let path = dir.join(&name);
            fs.remove(&path)
                .map_err(|err| Error::io("remove", &path, err))?;
        }
    }
    Ok(())
}

/// Resident memory of a store of `n` keys opened from a snapshot file, per mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MemoryRun {
    /// Growth of the process's resident set across the open; `None` where `/proc` cannot
    /// tell.
    pub resident_bytes: Option<u64>,
    /// Size of the snapshot file it was opened from.
    pub snapshot_bytes: u64,
}

/// Writes a snapshot of `n` keys to `path` without building a map, streamed through a
/// small buffer, so the memory phase does not leave freed heap behind for the stores it
/// measures to reuse. Returns its size: the exact bytes the snapshot mode would write.
pub(crate) fn write_seed(fs: &dyn Fs, path: &Path, n: usize) -> Result<u64> {
    let mut file = fs
        .open(path, OpenMode::CreateNew { mode: 0o600 })
        .map_err(|err| Error::io("create", path, err))?;
    let value = serde_json::to_string(&put_value())
        .map_err(|err| Error::io("serialise", path, std::io::Error::other(err)))?;
    let mut chunk = String::with_capacity(64 * 1024);
    let mut offset = 0u64;
    let mut flush = |chunk: &mut String| -> Result<()> {
        file.write_all_at(offset, chunk.as_bytes())
            .map_err(|err| Error::io("write", path, err))?;
        offset += chunk.len() as u64;
        chunk.clear();
        Ok(())
    };
    chunk.push('{');
    for i in 0..n {
        if i > 0 {
            chunk.push(',');
        }
        chunk.push('"');
        chunk.push_str(&key(i));
        chunk.push_str("\":");
        chunk.push_str(&value);
        if chunk.len() > 60 * 1024 {
            flush(&mut chunk)?;
        }
    }
    chunk.push_str("}\n");
    flush(&mut chunk)?;
    Ok(offset)
}

/// Opens the seed snapshot at `path` in `mode`, measuring the resident-set growth. The
/// store is returned so the caller keeps it alive while measuring the next one: freed
/// memory would otherwise be reused and hide the next store's cost.
pub(crate) fn measure_memory(
    fs: &Arc<dyn Fs>,
    path: &Path,
    mode: Durability,
    snapshot_bytes: u64,
) -> Result<(MemoryRun, KvStore)> {
    let before = system::resident_bytes(fs.as_ref());
    let store = KvStore::open(path, Options::new().durability(mode).fs(Arc::clone(fs)))?;
    let after = system::resident_bytes(fs.as_ref());
    let resident_bytes = before
        .zip(after)
        .map(|(before, after)| after.saturating_sub(before));
    Ok((
        MemoryRun {
            resident_bytes,
            snapshot_bytes,
        },
        store,
    ))
}

/// What the `kv` binary's hidden memory-probe subcommand runs in its fresh process: the
/// resident-set growth across opening the store at `path` in `mode`, or `None` where
/// `/proc` cannot tell.
pub fn probe_memory(path: &Path, mode: Durability) -> Result<Option<u64>> {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let (run, store) = measure_memory(&fs, path, mode, 0)?;
    drop(store);
    Ok(run.resident_bytes)
}

/// [`measure_memory`] in a fresh process of the `kv` binary `exe`: what a user's `kv`
/// opening this database would hold, with no earlier open's freed memory around.
pub(crate) fn measure_memory_in_child(
    exe: &Path,
    path: &Path,
    mode: Durability,
    snapshot_bytes: u64,
) -> std::result::Result<MemoryRun, String> {
    let output = std::process::Command::new(exe)
        .arg(MEMORY_PROBE_COMMAND)
        .arg("--durability")
        .arg(mode.name())
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{} ended with {}: {}",
            exe.display(),
            output.status,
            stderr.trim()
        ));
    }
    let resident_bytes = match stdout.trim() {
        "unknown" => None,
        text => Some(
            text.parse()
                .map_err(|_| format!("unexpected output from {}: {text:?}", exe.display()))?,
        ),
    };
    Ok(MemoryRun {
        resident_bytes,
        snapshot_bytes,
    })
}

/// The name of the hidden subcommand that runs [`probe_memory`].
pub const MEMORY_PROBE_COMMAND: &str = "__memory-probe";

#[cfg(test)]
mod tests {
    use super::*;
    use kv_engine::fs::RealFs;

    #[test]
    fn seed_is_byte_for_byte_what_the_snapshot_mode_writes() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let seed = dir.path().join("seed.json");
        let seed_bytes = write_seed(fs.as_ref(), &seed, 2_500).unwrap();

        let path = dir.path().join("db.json");
        let mut store = KvStore::open(&path, Options::new().fs(Arc::clone(&fs))).unwrap();
        store
            .apply(
                (0..2_500)
                    .map(|i| Mutation::Put {
                        key: key(i),
                        value: put_value(),
                    })
                    .collect(),
            )
            .unwrap();
        assert_eq!(fs.read(&seed).unwrap(), fs.read(&path).unwrap());
        assert_eq!(store.stats().file_size, Some(seed_bytes));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let items: Vec<usize> = (0..1000).collect();
        let mut shuffled = shuffled(items.clone());
        assert_ne!(shuffled, items);
        shuffled.sort_unstable();
        assert_eq!(shuffled, items);
    }
}

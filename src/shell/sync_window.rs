//! The shell's side of `--sync` (stage 5, asynchronous commit): the policy the store was
//! opened with; on a simulated disk, the clock that `sleep` moves and the time each key was
//! last acknowledged, so that a power cut's report can tell the writes the policy allowed
//! to be lost from those it did not; and the exit paths that make everything durable
//! (SIGTERM, and SIGINT outside the prompt).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_engine::{Clock, KvStore, ManualClock, Stats, SyncHandle, SyncPolicy};

/// The exit status after SIGTERM or SIGINT, as a shell reports a death by signal
/// (128 + the signal's number), once everything acknowledged is durable.
pub fn signal_status(signal: i32) -> i32 {
    128 + signal
}

/// The sync policy of the shell's store, and on a simulated disk its clock and the
/// acknowledgement times.
#[derive(Debug, Clone)]
pub struct SyncWindow {
    pub policy: SyncPolicy,
    /// On a simulated disk with a delayed policy: the clock `sleep` moves (shared with
    /// the store, and with each store reopened after a reboot).
    clock: Option<Arc<ManualClock>>,
    /// The store's contents when last looked at: the clock moves only in `sleep`, so every
    /// key that differs now was acknowledged at the clock's current time.
    seen: BTreeMap<String, String>,
    /// When each key's last change was acknowledged.
    acked_at: BTreeMap<String, Instant>,
}

impl SyncWindow {
    /// For a store opened with `policy`, `simulated` or not.
    pub fn new(policy: SyncPolicy, simulated: bool) -> Self {
        SyncWindow {
            policy,
            clock: (simulated && policy.is_delayed()).then(|| Arc::new(ManualClock::default())),
            seen: BTreeMap::new(),
            acked_at: BTreeMap::new(),
        }
    }

    /// The clock a store opened with this policy runs on (`None`: the real clock).
    pub fn clock(&self) -> Option<Arc<dyn Clock>> {
        self.clock
            .as_ref()
            .map(|clock| Arc::clone(clock) as Arc<dyn Clock>)
    }

    /// Notes the keys `store` changed since the last look as acknowledged now.
    pub fn note(&mut self, store: &KvStore) {
        let Some(clock) = &self.clock else {
            return;
        };
        let now = clock.now();
        let current = contents(store);
        for (key, value) in &current {
            if self.seen.get(key) != Some(value) {
                self.acked_at.insert(key.clone(), now);
            }
        }
        for key in self.seen.keys() {
            if !current.contains_key(key) {
                self.acked_at.insert(key.clone(), now);
            }
        }
        self.seen = current;
    }

    /// `sleep DURATION`: moves the simulated clock, stopping at each deadline on the way
    /// to run the sync that falls due there, as the flusher thread does on the real clock.
    /// Returns how many syncs ran. `None` without a simulated clock.
    pub fn sleep(
        &mut self,
        store: Option<&mut KvStore>,
        duration: Duration,
    ) -> Option<kv_engine::Result<u64>> {
        let clock = Arc::clone(self.clock.as_ref()?);
        let target = clock.now() + duration;
        let Some(store) = store else {
            clock.advance_to(target);
            return Some(Ok(0));
        };
        self.note(store);
        let before = store.stats().background_syncs;
        while let Some(deadline) = store.sync_deadline().filter(|due| *due <= target) {
            clock.advance_to(deadline);
            if let Err(error) = store.flush_due() {
                // Time passes all the same.
                clock.advance_to(target);
                return Some(Err(error));
            }
        }
        clock.advance_to(target);
        Some(Ok(store.stats().background_syncs - before))
    }

    /// Before a reboot: notes the last acknowledged changes, and forgets what the store
    /// held (the reopened store starts a new history).
    pub fn before_reboot(&mut self, store: Option<&KvStore>) {
        if let Some(store) = store {
            self.note(store);
        }
    }

    /// Whether the last change to `key` was acknowledged within the window (so the
    /// policy allows a power cut to undo it): `None` if no window applies (the policy is
    /// `always`, or the disk is real).
    pub fn within_window(&self, key: &str) -> Option<bool> {
        let window = match self.policy {
            SyncPolicy::Within(window) => window,
            // Nothing is promised before a `sync`: every unsynced write may go.
            SyncPolicy::Never => Duration::MAX,
            _ => return None,
        };
        let now = self.clock.as_ref()?.now();
        Some(
            self.acked_at
                .get(key)
                .is_some_and(|acked| acked.checked_add(window).is_none_or(|due| due >= now)),
        )
    }

    /// After a reboot: what the reopened store holds survived, so it has no
    /// acknowledgement left to judge.
    pub fn after_reboot(&mut self, store: &KvStore) {
        if self.clock.is_some() {
            self.seen = contents(store);
        }
    }
}

/// The `stats` rows of a delayed sync (none with `--sync always`).
pub fn stats_rows(stats: &Stats) -> Vec<(&'static str, String)> {
    let policy = match stats.sync_policy {
        SyncPolicy::Within(_) => format!(
            "within {} (--sync): a write is acknowledged first and durable at most that \
             long after",
            stats.sync_policy
        ),
        SyncPolicy::Never => "never (--sync): durable at `sync`, a checkpoint or the exit".into(),
        _ => return Vec::new(),
    };
    let waiting = match (stats.unsynced_writes, stats.oldest_unsynced_age) {
        (0, _) => "none: every acknowledged write is durable".to_string(),
        (writes, age) => format!(
            "{}, the oldest acknowledged {} ago",
            kv_engine::human::count(writes, "acknowledged write"),
            age.map_or("?".to_string(), kv_engine::human::duration)
        ),
    };
    vec![
        ("sync", policy),
        ("not durable", waiting),
        ("background syncs", stats.background_syncs.to_string()),
    ]
}

/// Every key of `store` with its stored text.
fn contents(store: &KvStore) -> BTreeMap<String, String> {
    store
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// Starts a thread that, on SIGTERM (and on SIGINT too if `sigint`), makes every
/// acknowledged write of the store durable, refuses any later one, and ends the process
/// with the signal's status (or 1, after saying what may be lost, if the sync failed).
pub fn sync_on_signals(handle: SyncHandle, sigint: bool) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let signals: &[i32] = if sigint {
        &[SIGTERM, SIGINT]
    } else {
        &[SIGTERM]
    };
    let mut signals = signal_hook::iterator::Signals::new(signals)?;
    std::thread::Builder::new()
        .name("kv-signals".to_string())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let status = match handle.seal() {
                    Ok(_) => signal_status(signal),
                    Err(report) => {
                        let _ = writeln!(std::io::stderr(), "error: {report}");
                        1
                    }
                };
                std::process::exit(status);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kv_engine::Durability;
    use kv_engine::fs::CrashMode;
    use kv_engine::fs::SimFs;
    use kv_engine::fs::sim::{FaultError, OpKind, Repeat};

    use super::*;
    use crate::shell::database::Database;
    use crate::shell::render::{Layout, Renderer, Theme};
    use crate::shell::session::Session;
    use crate::shell::session::run_text as script;

    /// A session on `sim` in `durability` mode with `--sync 1s`.
    fn session(sim: &SimFs, durability: Durability) -> Session {
        let db = Database::on_simulated_disk_with_sync(
            sim.clone(),
            Path::new("/db.json"),
            durability,
            SyncPolicy::Within(Duration::from_secs(1)),
        )
        .unwrap();
        let renderer = Renderer {
            theme: Theme::plain(),
            layout: Layout::Compact,
        };
        Session::new(db, renderer, renderer)
    }

    #[test]
    fn a_failed_delayed_sync_is_reported_with_what_may_be_lost_and_poisons_the_store() {
        let sim = SimFs::new();
        let mut s = session(&sim, Durability::Wal);
        script(&mut s, "put a 1\nput b 2\n");
        sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
        let (out, err) = script(&mut s, "sleep 2s\nput c 3\n");
        assert_eq!(out, "", "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(
            lines[0].starts_with("error: line 1: background fdatasync of /db.json.wal failed: ")
                && lines[0].contains("; up to 2 acknowledged writes since ")
                && lines[0].ends_with(" may not be durable; the store accepts no more writes"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("error: line 2: /db.json refuses writes after an earlier failure (background fdatasync"),
            "{err}"
        );
        assert_eq!(s.failures(), 2);
        // Reported already: the exit has nothing more to say.
        assert!(s.db.close().is_ok());
    }

    #[test]
    fn a_failure_nobody_heard_of_is_reported_by_the_close() {
        let sim = SimFs::new();
        let mut s = session(&sim, Durability::Snapshot);
        script(&mut s, "put a 1\n");
        sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Once);
        let report = s.db.close().unwrap_err().to_string();
        assert!(
            report.starts_with("background fsync of /db.json.wal.next failed")
                && report.contains("up to 1 acknowledged write since "),
            "{report}"
        );
    }

    #[test]
    fn the_close_makes_every_acknowledged_write_durable() {
        for durability in [Durability::Snapshot, Durability::Wal] {
            let sim = SimFs::new();
            let mut s = session(&sim, durability);
            script(&mut s, "put a 1\nput b 2\n");
            assert_eq!(s.db.close().unwrap(), 2, "{durability}");
            let rebooted = sim.crash(CrashMode::CleanPowerLoss, 0);
            let db =
                Database::on_simulated_disk(rebooted, Path::new("/db.json"), durability).unwrap();
            assert_eq!(db.keys(), ["a", "b"], "{durability}");
        }
    }

    #[test]
    fn a_power_cut_tells_losses_within_the_window_from_older_ones() {
        for durability in [Durability::Snapshot, Durability::Wal] {
            let sim = SimFs::new();
            let mut s = session(&sim, durability);
            let (out, err) = script(
                &mut s,
                "put a 1\nsleep 500ms\nput b 2\nsleep 600ms\nput c 3\npowercut\n",
            );
            assert_eq!(err, "", "{durability}");
            assert!(
                out.contains("lost (within the --sync window, as promised): c\n")
                    && out.contains("every write acknowledged more than 1s before survived\n")
                    && !out.contains("LOST"),
                "{durability}: {out}"
            );
        }
        // A store whose sync failed cannot keep the promise: the report says LOST for
        // what was acknowledged longer ago than the window.
        let sim = SimFs::new();
        let mut s = session(&sim, Durability::Wal);
        script(&mut s, "put a 1\nput b 2\n");
        sim.fail(Some(OpKind::SyncFile), 1, FaultError::Eio, Repeat::Always);
        let (out, _) = script(&mut s, "sleep 3s\npowercut\n");
        assert!(
            out.contains("LOST (acknowledged and older than the window): a, b\n")
                && !out.contains("within the --sync window"),
            "{out}"
        );
    }

    #[test]
    fn a_crash_point_armed_in_a_delayed_snapshot_fires_at_the_sync_and_reboots() {
        let sim = SimFs::new();
        let mut s = session(&sim, Durability::Snapshot);
        let (out, err) = script(
            &mut s,
            "put a 1\nsync\ncrash after-temp-sync clean\nput b 2\nsync\ndump\n",
        );
        assert!(
            out.contains("crash at after-temp-sync: the power went there")
                && out.contains("lost (within the --sync window, as promised): b\n")
                && out.ends_with("{\"a\":1}\n"),
            "{out}\n{err}"
        );
    }

    #[test]
    fn stats_show_the_policy_what_waits_and_the_syncs_so_far() {
        let sim = SimFs::new();
        let mut s = session(&sim, Durability::Wal);
        let (out, _) = script(&mut s, "put a 1\nsleep 250ms\nput b 2\nstats\n");
        assert!(
            out.contains(
                "sync:             within 1s (--sync): a write is acknowledged first and \
                 durable at most that long after\n\
                 not durable:      2 acknowledged writes, the oldest acknowledged 250 ms ago\n\
                 background syncs: 0\n"
            ),
            "{out}"
        );
        let (out, _) = script(&mut s, "sleep 1s\nstats\n");
        assert!(
            out.contains("slept 1.00 s on the simulated clock: 1 delayed sync ran\n")
                && out.contains("not durable:      none: every acknowledged write is durable\n")
                && out.contains("background syncs: 1\n"),
            "{out}"
        );
    }
}

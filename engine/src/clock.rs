//! [`Clock`]: the time a delayed sync ([`SyncPolicy::Within`](crate::SyncPolicy)) is
//! measured on. Injectable, so that a test (or the shell's `--simulate`) can move time by
//! hand and a crash sweep can stop the world at the exact moment a sync falls due.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// A source of time for the flusher.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, on a clock that never goes back (deadlines are measured on it).
    fn now(&self) -> Instant;

    /// The wall-clock time of `instant` (a value [`now`](Self::now) returned), to tell a
    /// person since when writes may be lost.
    fn wall(&self, instant: Instant) -> SystemTime;

    /// Whether the store should start a thread that sleeps until each deadline and syncs
    /// then. A clock moved by hand has no deadlines a thread could sleep until: the store
    /// checks them at each call instead, and the owner calls
    /// [`KvStore::flush_due`](crate::KvStore::flush_due) after moving the clock.
    fn wants_background_thread(&self) -> bool;
}

/// The machine's clocks, with a background thread that syncs at each deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self, instant: Instant) -> SystemTime {
        let now = Instant::now();
        match now.checked_duration_since(instant) {
            Some(ago) => SystemTime::now() - ago,
            None => SystemTime::now() + instant.duration_since(now),
        }
    }

    fn wants_background_thread(&self) -> bool {
        true
    }
}

/// A clock that moves only when told to ([`advance`](Self::advance)): for tests, crash
/// sweeps and the shell's simulated disk.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    start_wall: SystemTime,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock standing at `wall` (what [`Clock::wall`] reports for its start).
    pub fn starting_at(wall: SystemTime) -> Self {
        ManualClock {
            start: Instant::now(),
            start_wall: wall,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|err| err.into_inner());
        *elapsed += by;
    }

    /// Moves the clock forward to `instant`, or leaves it if it is already past it.
    pub fn advance_to(&self, instant: Instant) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|err| err.into_inner());
        *elapsed = (*elapsed).max(instant.saturating_duration_since(self.start));
    }

    /// How far the clock has been moved since it was made.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|err| err.into_inner())
    }
}

impl Default for ManualClock {
    /// A clock standing at the machine's wall-clock time now.
    fn default() -> Self {
        ManualClock::starting_at(SystemTime::now())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn wall(&self, instant: Instant) -> SystemTime {
        self.start_wall + instant.saturating_duration_since(self.start)
    }

    fn wants_background_thread(&self) -> bool {
        false
    }
}

/// `HH:MM:SS.mmm` of `time` in UTC, for messages (the engine has no time-zone database).
pub fn time_of_day(time: SystemTime) -> String {
    let since_epoch = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_reports_its_wall_time() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(3_723_045);
        let clock = ManualClock::starting_at(wall);
        let start = clock.now();
        assert_eq!(clock.now(), start);
        assert_eq!(time_of_day(clock.wall(start)), "01:02:03.045");
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now(), start + Duration::from_millis(1_500));
        assert_eq!(time_of_day(clock.wall(clock.now())), "01:02:04.545");
        // Never backwards.
        clock.advance_to(start);
        assert_eq!(clock.elapsed(), Duration::from_millis(1_500));
        clock.advance_to(start + Duration::from_secs(2));
        assert_eq!(clock.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn the_time_of_day_wraps_at_midnight() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 59);
        assert_eq!(time_of_day(wall), "00:00:59.000");
    }
}

//! [`SyncPolicy`]: when an acknowledged write becomes durable (stage 5).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When a commit of [`Durability::Snapshot`](super::Durability) or
/// [`Durability::Wal`](super::Durability) reaches the disk, relative to its `Ok`.
///
/// Delaying the sync is what Redis's `appendfsync everysec` and PostgreSQL's
/// `synchronous_commit = off` do: a process kill still loses nothing (the data is in the
/// kernel's page cache, or in the log the kernel will write), a power loss loses at most
/// the writes of the last window, and never leaves a hole or a corrupt file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SyncPolicy {
    /// Every commit is durable before it is acknowledged (stages 2 and 3).
    #[default]
    Always,
    /// Acknowledged at once; durable at most this long after its acknowledgement
    /// (`wal`: the log is fdatasynced; `snapshot`: each change is first appended to an
    /// unsynced journal, then a snapshot is written, coalescing every change since the
    /// last one, and a fresh journal started).
    Within(Duration),
    /// Acknowledged at once; durable at an explicit [`sync`](crate::KvStore::sync), a
    /// checkpoint, the store's close, or whenever the kernel writes its cache back.
    Never,
}

impl SyncPolicy {
    /// Whether a commit is acknowledged before it is durable.
    pub fn is_delayed(self) -> bool {
        self != SyncPolicy::Always
    }

    /// A duration as a window is written: a whole number and a unit, `us`, `ms`, `s`, `m`
    /// or `h` (`250ms`, `2s`); `None` for anything else.
    pub fn parse_duration(text: &str) -> Option<Duration> {
        parse_duration(text)
    }
}

impl fmt::Display for SyncPolicy {
    /// `always`, `never`, or the window as the command line takes it (`100ms`, `2s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Always => f.write_str("always"),
            SyncPolicy::Never => f.write_str("never"),
            SyncPolicy::Within(window) => {
                let ms = window.as_millis();
                if window.subsec_nanos() == 0 {
                    write!(f, "{}s", window.as_secs())
                } else if Duration::from_millis(ms as u64) == *window {
                    write!(f, "{ms}ms")
                } else {
                    write!(f, "{}us", window.as_micros())
                }
            }
        }
    }
}

impl FromStr for SyncPolicy {
    type Err = String;

    /// `always`, `never`, or a window: a whole number with a unit, `us`, `ms`, `s`, `m`
    /// or `h` (`100ms`, `1s`). A zero window is refused: that is `always`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "always" => return Ok(SyncPolicy::Always),
            "never" => return Ok(SyncPolicy::Never),
            _ => {}
        }
        let window = parse_duration(text).ok_or_else(|| {
            format!(
                "unknown sync policy {text:?} (expected always, never, or a duration such \
                 as 100ms or 1s)"
            )
        })?;
        if window.is_zero() {
            return Err(format!(
                "a sync window of {text} would sync at every commit: say always"
            ));
        }
        Ok(SyncPolicy::Within(window))
    }
}

/// A whole number and a unit (`us`, `ms`, `s`, `m`, `h`): `250ms`, `2s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    match unit {
        "us" | "µs" => Some(Duration::from_micros(number)),
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs),
        "h" => number.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_from_and_print_as_the_command_line_spells_them() {
        for (text, policy) in [
            ("always", SyncPolicy::Always),
            ("never", SyncPolicy::Never),
            ("100ms", SyncPolicy::Within(Duration::from_millis(100))),
            ("1s", SyncPolicy::Within(Duration::from_secs(1))),
            ("250us", SyncPolicy::Within(Duration::from_micros(250))),
        ] {
            assert_eq!(text.parse::<SyncPolicy>(), Ok(policy), "{text}");
            assert_eq!(policy.to_string(), text);
        }
        assert_eq!(
            "2m".parse::<SyncPolicy>(),
            Ok(SyncPolicy::Within(Duration::from_secs(120)))
        );
        assert_eq!(
            "1h".parse::<SyncPolicy>(),
            Ok(SyncPolicy::Within(Duration::from_secs(3600)))
        );
        assert_eq!(
            SyncPolicy::Within(Duration::from_millis(1500)).to_string(),
            "1500ms"
        );
    }

    #[test]
    fn a_malformed_or_zero_window_is_refused_with_the_reason() {
        for text in ["", "soon", "100", "ms", "1.5s", "-1s", "10d", "1 s"] {
            let refused = text.parse::<SyncPolicy>();
            assert!(
                matches!(&refused, Err(message) if message.contains("expected always, never")),
                "{text:?}: {refused:?}"
            );
        }
        assert_eq!(
            "0ms".parse::<SyncPolicy>(),
            Err("a sync window of 0ms would sync at every commit: say always".to_string())
        );
    }
}

//! Durations, sizes and counts as people read them, one way everywhere: `stats`, `trace`
//! and `kv bench` used to print the same time three ways (`1.25ms`, `1.2 ms`, `1.25 ms`)
//! and the same size two (`4.0 MiB`, `4.00 MiB`).

use std::time::Duration;

/// A duration in the unit that gives three significant digits or so: `85 ns`, `1.25 µs`,
/// `130 µs`, `3.30 ms`, `1.20 s`.
pub fn duration_ns(ns: u64) -> String {
    let value = ns as f64;
    let (scaled, unit) = if ns < 1_000 {
        return format!("{ns} ns");
    } else if ns < 1_000_000 {
        (value / 1e3, "µs")
    } else if ns < 1_000_000_000 {
        (value / 1e6, "ms")
    } else {
        (value / 1e9, "s")
    };
    if scaled >= 100.0 {
        format!("{scaled:.0} {unit}")
    } else if scaled >= 10.0 {
        format!("{scaled:.1} {unit}")
    } else {
        format!("{scaled:.2} {unit}")
    }
}

/// [`duration_ns`] of a [`Duration`] (saturating at `u64::MAX` nanoseconds, 584 years).
pub fn duration(elapsed: Duration) -> String {
    duration_ns(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
}

/// A size in bytes: under 1 KiB in bytes (`812 B`, or `52.5 B` for an average), else
/// with one decimal in the largest binary unit that keeps it at 1 or more: `20.0 KiB`,
/// `1.0 MiB`, `4.0 GiB`, `2.0 TiB`. A size that is not a number (the average of nothing)
/// is `-`.
pub fn size(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if !bytes.is_finite() {
        return "-".into();
    }
    if bytes < 1024.0 {
        return match bytes.fract() == 0.0 {
            true => format!("{bytes:.0} B"),
            false => format!("{bytes:.1} B"),
        };
    }
    let mut scaled = bytes;
    let mut unit = UNITS[0];
    for name in UNITS {
        if scaled < 1024.0 {
            break;
        }
        scaled /= 1024.0;
        unit = name;
    }
    format!("{scaled:.1} {unit}")
}

/// Counts in messages: `1 record`, `2 records`. Every noun counted in a message is a
/// regular English plural (record, key, byte, mutation), so an `s` is all it takes.
///
/// `n` and `noun`, the noun plural unless `n` is 1: `count(1, "key")` is `1 key`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_three_digits_and_a_space_before_the_unit() {
        assert_eq!(duration_ns(85), "85 ns");
        assert_eq!(duration(Duration::from_nanos(1_250)), "1.25 µs");
        assert_eq!(duration(Duration::from_micros(412)), "412 µs");
        assert_eq!(duration(Duration::from_micros(2_140)), "2.14 ms");
        assert_eq!(duration(Duration::from_millis(3_250)), "3.25 s");
        assert_eq!(duration(Duration::MAX), "18446744074 s");
    }

    #[test]
    fn sizes_are_bytes_under_a_kib_then_one_decimal_of_the_largest_unit() {
        assert_eq!(size(0.0), "0 B");
        assert_eq!(size(64.0), "64 B");
        assert_eq!(size(52.5), "52.5 B");
        assert_eq!(size(1023.0), "1023 B");
        assert_eq!(size(1024.0), "1.0 KiB");
        assert_eq!(size(431_000.0), "420.9 KiB");
        assert_eq!(size(1_048_576.0), "1.0 MiB");
        assert_eq!(size(5.0 * 1024.0 * 1024.0 * 1024.0), "5.0 GiB");
        assert_eq!(size(3.0 * 1024f64.powi(5)), "3072.0 TiB");
        assert_eq!(size(f64::NAN), "-");
    }

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::count(0u64, "key"), "0 keys");
        assert_eq!(super::count(1u64, "valid record"), "1 valid record");
        assert_eq!(super::count(2u32, "byte"), "2 bytes");
        assert_eq!(
            super::count(u64::MAX, "record"),
            format!("{} records", u64::MAX)
        );
    }
}

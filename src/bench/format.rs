//! Numbers as people read them: thousands separators, rates, ratios; latencies and sizes
//! are `kv_engine::human`'s, as everywhere else.

/// `1234567` → `1,234,567`.
pub fn int(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Operations per second: whole numbers with separators below ten million, then `12.3 M`.
pub fn rate(ops_per_sec: f64) -> String {
    if !ops_per_sec.is_finite() {
        return "-".into();
    }
    if ops_per_sec >= 10_000_000.0 {
        format!("{:.1} M", ops_per_sec / 1e6)
    } else if ops_per_sec >= 100.0 {
        int(ops_per_sec.round() as u64)
    } else {
        format!("{ops_per_sec:.1}")
    }
}

pub use kv_engine::human::{duration_ns, size};

/// A ratio such as `0.85×`.
pub fn ratio(value: f64) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    if value >= 10.0 {
        format!("{value:.0}×")
    } else {
        format!("{value:.2}×")
    }
}

/// A per-operation count such as fsyncs per op: `0`, `2`, `1.5`, `0.001`.
pub fn per_op(value: f64) -> String {
    if value == value.round() {
        format!("{value:.0}")
    } else if value >= 0.01 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(rate(7_912.4), "7,912");
        assert_eq!(rate(12_345_678.0), "12.3 M");
        assert_eq!(rate(42.25), "42.2");
        assert_eq!(ratio(0.8512), "0.85×");
        assert_eq!(ratio(f64::NAN), "-");
        assert_eq!(per_op(2.0), "2");
        assert_eq!(per_op(0.5), "0.50");
        assert_eq!(per_op(0.0005), "0.0005");
    }
}

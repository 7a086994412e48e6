//! Counts in messages: `1 record`, `2 records`. Every noun counted in a message is a
//! regular English plural (record, key, byte, mutation), so an `s` is all it takes.

/// `n` and `noun`, the noun plural unless `n` is 1: `count(1, "key")` is `1 key`.
pub(crate) fn count(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(0u64, "key"), "0 keys");
        assert_eq!(count(1u64, "valid record"), "1 valid record");
        assert_eq!(count(2u32, "byte"), "2 bytes");
        assert_eq!(count(u64::MAX, "record"), format!("{} records", u64::MAX));
    }
}

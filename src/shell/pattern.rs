//! `keys PATTERN`: glob patterns as Redis `KEYS` reads them (`*`, `?`, `[abc]`, `[^a]`,
//! `[a-z]`, `\` to escape), and a plain word as a prefix, as `keys` always took it.
//!
//! A pattern's literal start (`user:` in `user:*`) is scanned from the ordered map, so
//! `keys user:*` reads only the keys under that prefix, not the whole store.

/// What `keys WORD` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPattern {
    /// A word without wildcards or escapes: the keys starting with it.
    Prefix(String),
    /// A glob: the keys it matches whole.
    Glob(Glob),
}

impl KeyPattern {
    /// Reads `word`: a glob if it holds `*`, `?`, `[` or `\`, else a prefix.
    pub fn parse(word: &str) -> KeyPattern {
        if word.contains(['*', '?', '[', '\\']) {
            KeyPattern::Glob(Glob::parse(word))
        } else {
            KeyPattern::Prefix(word.to_string())
        }
    }

    /// The prefix every listed key starts with: what to scan the ordered map for.
    pub fn scan_prefix(&self) -> String {
        match self {
            KeyPattern::Prefix(prefix) => prefix.clone(),
            KeyPattern::Glob(glob) => glob.literal_prefix(),
        }
    }

    /// Whether `key`, which starts with [`scan_prefix`](Self::scan_prefix), is listed.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            KeyPattern::Prefix(prefix) => key.starts_with(prefix.as_str()),
            KeyPattern::Glob(glob) => glob.matches(key),
        }
    }
}

/// One element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This character (escaped, or not special).
    Literal(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, none included.
    Any,
    /// `[...]`: one character in (or, negated with `^`, not in) these inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A parsed glob, matched against whole keys, character by character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Parses `pattern`. Every text is a pattern: a `[` that is never closed and a `\` at
    /// the end stand for themselves; a range written backwards (`[z-a]`) is read forwards,
    /// as Redis does.
    pub fn parse(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let token = match chars[i] {
                '*' => Token::Any,
                '?' => Token::One,
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    Token::Literal(chars[i])
                }
                '[' => match class(&chars[i + 1..]) {
                    Some((token, used)) => {
                        i += used;
                        token
                    }
                    None => Token::Literal('['),
                },
                c => Token::Literal(c),
            };
            // `**` matches what `*` does; one is enough for the matcher.
            if !(token == Token::Any && tokens.last() == Some(&Token::Any)) {
                tokens.push(token);
            }
            i += 1;
        }
        Glob { tokens }
    }

    /// The literal characters the pattern starts with.
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether the whole of `text` matches. A `*` that fails to match is retried one
    /// character further from the last `*` only, which is enough for globs (no `*` needs
    /// to take back what an earlier one took): time is at most characters × tokens.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0, 0);
        // The last `*` seen (its token index) and where its run of text now ends.
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(token) if token.matches_one(text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|token| *token == Token::Any)
    }
}

impl Token {
    fn matches_one(&self, c: char) -> bool {
        match self {
            Token::Literal(literal) => *literal == c,
            Token::One => true,
            Token::Any => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(low, high)| low <= c && c <= high) != *negated
            }
        }
    }
}

/// The class whose text follows a `[`, and how many characters it took (the closing `]`
/// included); `None` if no `]` closes it.
fn class(chars: &[char]) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let mut c = *chars.get(i)?;
        if c == ']' {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        if c == '\\' {
            i += 1;
            c = *chars.get(i)?;
        }
        // `a-z`, unless the `-` is last (`[a-]`): then it is a character of its own.
        let high = match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&end)) if end != ']' => {
                i += 2;
                match end {
                    '\\' => {
                        i += 1;
                        *chars.get(i)?
                    }
                    end => end,
                }
            }
            _ => c,
        };
        ranges.push((c.min(high), c.max(high)));
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs_match_as_redis_keys_does() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("user:*", "user:", true),
            ("user:*", "user:1", true),
            ("user:*", "users", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h?llo", "héllo", true),
            ("h*llo", "hllo", true),
            ("h*llo", "heeeello", true),
            ("h*llo", "hello!", false),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h[b-a]llo", "hallo", true),
            ("[a-]", "-", true),
            ("[]]", "]", false),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("a\\?", "a?", true),
            ("a\\[b", "a[b", true),
            ("[\\]]", "]", true),
            ("a[", "a[", true),
            ("a[bc", "a[bc", true),
            ("a\\", "a\\", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("a*b*c", "abcbc", true),
            ("a*b*c", "abcb", false),
            ("**", "x", true),
            ("*?", "", false),
            ("*?", "x", true),
            ("", "", true),
            ("", "x", false),
        ];
        for &(pattern, text, expected) in cases {
            assert_eq!(
                Glob::parse(pattern).matches(text),
                expected,
                "{pattern:?} against {text:?}"
            );
        }
    }

    #[test]
    fn the_literal_start_is_what_is_scanned() {
        let prefix = |word: &str| KeyPattern::parse(word).scan_prefix();
        assert_eq!(prefix("user:*"), "user:");
        assert_eq!(prefix("user:1?"), "user:1");
        assert_eq!(prefix("a\\*b*"), "a*b");
        assert_eq!(prefix("*"), "");
        assert_eq!(prefix("[ab]x"), "");
        assert_eq!(prefix("user:"), "user:");
        assert_eq!(
            KeyPattern::parse("user:"),
            KeyPattern::Prefix("user:".into())
        );
        assert!(KeyPattern::parse("user:").matches("user:1"));
        assert!(!KeyPattern::parse("user:*x").matches("user:1"));
    }

    /// A plain definition of the same language, by recursion on the pattern: slow, but
    /// clearly right, for the property below.
    fn reference(tokens: &[Token], text: &[char]) -> bool {
        match tokens.split_first() {
            None => text.is_empty(),
            Some((Token::Any, rest)) => (0..=text.len()).any(|skip| reference(rest, &text[skip..])),
            Some((token, rest)) => text
                .split_first()
                .is_some_and(|(c, tail)| token.matches_one(*c) && reference(rest, tail)),
        }
    }

    proptest! {
        #[test]
        fn matching_agrees_with_the_plain_definition(
            pattern in "[ab*?\\[\\]^\\\\-]{0,8}",
            text in "[ab\\[\\]*?-]{0,8}",
        ) {
            let glob = Glob::parse(&pattern);
            let chars: Vec<char> = text.chars().collect();
            prop_assert_eq!(glob.matches(&text), reference(&glob.tokens, &chars));
            // Every key a glob matches starts with its literal prefix: the scan misses none.
            if glob.matches(&text) {
                prop_assert!(text.starts_with(&glob.literal_prefix()));
            }
        }

        #[test]
        fn an_escaped_word_matches_exactly_itself(word in "[a-c*?\\[\\]\\\\]{0,6}") {
            let escaped: String = word
                .chars()
                .flat_map(|c| match c {
                    '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            let glob = Glob::parse(&escaped);
            prop_assert!(glob.matches(&word));
            prop_assert_eq!(glob.literal_prefix(), word.clone());
            let longer = format!("{word}a");
            prop_assert!(!glob.matches(&longer));
        }
    }
}

#![allow(clippy::disallowed_methods)] // the test reads the README and the test sources
#![allow(clippy::unwrap_used)] // a panic here is a failing test
//! The README's guarantee table names the test behind each cell as `file.rs::test_name`:
//! every such name must be a function in that file of `tests/`, so a renamed or deleted
//! test cannot leave the table pointing at nothing.

use std::path::Path;

/// Every `file.rs::name` in `text` (`name` may start with `*` for a family of tests).
fn cited_tests(text: &str) -> Vec<(String, String)> {
    let mut cited = Vec::new();
    for (at, _) in text.match_indices(".rs::") {
        let file_start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let rest = &text[at + ".rs::".len()..];
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
            .unwrap_or(rest.len());
        cited.push((
            format!("{}.rs", &text[file_start..at]),
            rest[..name_end].to_string(),
        ));
    }
    cited
}

#[test]
fn every_test_the_readme_cites_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cited = cited_tests(&readme);
    assert!(
        cited.len() > 30,
        "the table cites only {} tests",
        cited.len()
    );
    let mut missing = Vec::new();
    for (file, name) in &cited {
        let Ok(source) = std::fs::read_to_string(root.join("tests").join(file)) else {
            missing.push(format!("{file} (no such file)"));
            continue;
        };
        let found = match name.strip_prefix('*') {
            Some(suffix) => source
                .lines()
                .filter_map(|line| line.trim_start().strip_prefix("fn "))
                .any(|rest| rest.split('(').next().is_some_and(|n| n.ends_with(suffix))),
            None => source.contains(&format!("fn {name}(")),
        };
        if !found {
            missing.push(format!("{file}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "the README cites tests that do not exist: {missing:#?}"
    );
}

#[test]
fn citations_are_read_with_their_file_and_name() {
    assert_eq!(
        cited_tests("see `api.rs::a_b`, `model.rs::*_across_reopens`; and x.rs::c."),
        vec![
            ("api.rs".to_string(), "a_b".to_string()),
            ("model.rs".to_string(), "*_across_reopens".to_string()),
            ("x.rs".to_string(), "c".to_string()),
        ]
    );
}

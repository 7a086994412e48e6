#![allow(clippy::disallowed_methods)] // the test reads the README and the test sources
#![allow(clippy::unwrap_used)] // a panic here is a failing test
//! The README's guarantee table, and each stage's write-up in `history/`, name the test
//! behind each cell as `file.rs::test_name`: every such name must be a function in that
//! file of `tests/` (the shell's) or `engine/tests/` (the engine's), so a renamed or
//! deleted test cannot leave a table pointing at nothing.
//! The README's sample session is run through the binary, so it cannot go stale either; its
//! Rust snippet runs as a doctest of the engine (checked to stay included, below).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The test file `file` (`crash.rs`, `crash/paths.rs`) of either crate of the workspace.
fn test_file(root: &Path, file: &str) -> Option<PathBuf> {
    ["tests", "engine/tests"]
        .iter()
        .map(|dir| root.join(dir).join(file))
        .find(|path| path.is_file())
}

/// Every `file.rs::name` (or `folder/file.rs::name`) in `text` (`name` may start with `*`
/// for a family of tests).
fn cited_tests(text: &str) -> Vec<(String, String)> {
    let mut cited = Vec::new();
    for (at, _) in text.match_indices(".rs::") {
        // A file under a folder of `tests/` is cited with its folder: `crash/paths.rs::name`.
        let file_start = text[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '/'))
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

/// Every `stem::name` in `text` where a test file `stem.rs` exists under `root` (the stage
/// write-ups cite tests by module path), leaving out longer paths such as `a::b::c`.
fn cited_by_module(root: &Path, text: &str) -> Vec<(String, String)> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut cited = Vec::new();
    for (at, _) in text.match_indices("::") {
        let stem_start = text[..at]
            .rfind(|c: char| !is_ident(c))
            .map_or(0, |i| i + 1);
        let stem = &text[stem_start..at];
        let rest = &text[at + 2..];
        let name_end = rest
            .find(|c: char| !(is_ident(c) || c == '*'))
            .unwrap_or(rest.len());
        let longer = text[..stem_start].ends_with(':') || rest[name_end..].starts_with("::");
        if stem.is_empty() || name_end == 0 || longer {
            continue;
        }
        if test_file(root, &format!("{stem}.rs")).is_some() {
            cited.push((format!("{stem}.rs"), rest[..name_end].to_string()));
        }
    }
    cited
}

/// The tests cited in `doc` (relative to the crate root) that are in no test file.
fn missing_citations(doc: &str) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(doc)).unwrap();
    let mut cited = cited_tests(&text);
    cited.extend(cited_by_module(root, &text));
    let mut missing = Vec::new();
    for (file, name) in &cited {
        let Some(Ok(source)) = test_file(root, file).map(std::fs::read_to_string) else {
            missing.push(format!("{doc}: {file} (no such file)"));
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
            missing.push(format!("{doc}: {file}::{name}"));
        }
    }
    (cited.len(), missing)
}

#[test]
fn every_test_the_readme_cites_exists() {
    let (cited, missing) = missing_citations("README.md");
    assert!(cited > 30, "the table cites only {cited} tests");
    assert!(
        missing.is_empty(),
        "the README cites tests that do not exist: {missing:#?}"
    );
}

#[test]
fn every_test_a_stage_write_up_cites_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stages = Vec::new();
    for entry in std::fs::read_dir(root.join("history")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("stage-") && name.ends_with(".md") {
            stages.push(name);
        }
    }
    stages.sort();
    // One write-up per stage number; stages land out of order (5 before 4), so the
    // numbers need not be contiguous, but the first four are the original design's.
    let mut numbers: Vec<&str> = stages
        .iter()
        .map(|name| name.split('-').nth(1).unwrap_or(""))
        .collect();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        stages.len(),
        "one write-up per stage: {stages:?}"
    );
    assert!(
        numbers.starts_with(&["0", "1", "2", "3"]),
        "the stages 0 to 3 each have a write-up: {stages:?}"
    );
    for stage in stages {
        let (cited, missing) = missing_citations(&format!("history/{stage}"));
        assert!(cited >= 5, "{stage} cites only {cited} tests");
        assert!(
            missing.is_empty(),
            "{stage} cites tests that do not exist: {missing:#?}"
        );
    }
}

/// The README's "A short session", replayed as a piped script: every result line it shows
/// must be what the shell prints (the commit time aside), and its error what stderr says.
#[test]
fn the_readme_session_is_what_the_shell_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme.find("## A short session").unwrap()..];
    let start = section.find("```text\n").unwrap() + "```text\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];

    let prompt = "kv demo.json> ";
    let (mut script, mut out, mut errors) = (String::new(), Vec::new(), Vec::new());
    for line in block.lines() {
        if let Some(command) = line.strip_prefix(prompt) {
            if command != "^D" {
                script.push_str(command);
                script.push('\n');
            }
        } else if let Some(error) = line.strip_prefix("error: ") {
            errors.push(error.to_string());
        } else if !(line.starts_with("$ kv") || line.starts_with("kv 0.") || line.starts_with(' '))
        {
            // Lines that start with a space are the error's excerpt, shown at the prompt only.
            out.push(line.to_string());
        }
    }
    assert!(script.lines().count() >= 10, "{script}");

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kv"))
        .arg("demo.json")
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let printed: Vec<&str> = stdout.lines().collect();
    assert_eq!(printed.len(), out.len(), "{stdout}");
    for (shown, printed) in out.iter().zip(&printed) {
        match shown.strip_prefix("last commit:") {
            // The time differs from run to run; the line's shape does not.
            Some(_) => assert!(printed.starts_with("last commit:   took "), "{printed}"),
            None => assert_eq!(shown, printed),
        }
    }
    // Piped, an error also names its line: `error: line 7: column 7: ...`.
    let stderr = String::from_utf8(output.stderr).unwrap();
    let reported: Vec<String> = stderr
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("error: line ").unwrap();
            rest[rest.find(": ").unwrap() + 2..].to_string()
        })
        .collect();
    assert_eq!(reported, errors);
}

/// The set-up is two commands, the first of which puts the `kv` binary on the PATH, so
/// every `kv ...` line of the README runs as given; and what the sample session creates in
/// the repository root is ignored by git.
#[test]
fn the_two_set_up_commands_start_the_shell_with_kv_on_the_path_and_run_the_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme.find("## Set up").unwrap()..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let commands: Vec<&str> = block
        .lines()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter(|command| !command.is_empty())
        .collect();
    // One starts the shell on a database file (the main job), one runs the tests; the
    // first also puts `kv` on the PATH, so every `kv …` line of the README runs as shown.
    assert_eq!(
        commands,
        ["cargo install --path . && kv demo.json", "cargo test"]
    );
    // `cargo install` installs the package's binaries: one of them is `kv`.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[[bin]]\nname = \"kv\""),
        "the binary is no longer called kv"
    );
    // The session runs `kv demo.json`: the file and its lock (and a log) stay out of git.
    assert!(readme.contains("$ kv demo.json\n"));
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    let patterns: Vec<&str> = ignore.lines().collect();
    assert!(
        patterns.contains(&"/demo.json") && patterns.contains(&"/demo.json.*"),
        "{ignore}"
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

#[test]
fn module_citations_name_a_test_file_and_skip_longer_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        cited_by_module(
            root,
            "`api::put_overwrites`, `Durability::Memory`, `kv_engine::fs::SimFs`, `wal::a::b`"
        ),
        vec![("api.rs".to_string(), "put_overwrites".to_string())]
    );
}

/// The README's Rust snippet is compiled and run: the engine includes the README as the
/// doc comment of an item that exists only when doctests are collected, so every ```rust
/// block in it is a doctest of `kv-engine` (and an untagged block would be compiled as Rust
/// and fail). This checks that the inclusion is still there and that the section still
/// holds the one Rust block it runs.
#[test]
fn the_readme_rust_snippet_is_a_doctest_of_the_engine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("## Using the engine from Rust").unwrap();
    let section = &readme[start..start + 2 + readme[start + 2..].find("\n## ").unwrap()];
    assert_eq!(section.matches("```rust\n").count(), 1, "{section}");
    assert!(section.contains("KvStore::open") && section.contains("cargo doc -p kv-engine"));
    let lib = std::fs::read_to_string(root.join("engine/src/lib.rs")).unwrap();
    assert!(
        lib.contains("#[cfg(doctest)]\n#[doc = include_str!(\"../../README.md\")]"),
        "engine/src/lib.rs no longer runs the README's snippet as a doctest"
    );
}

/// The README's export and import example, run line by line through `sh` with `kv` on the
/// PATH, from a fresh directory: each command prints (stdout, then stderr) exactly the
/// lines shown under it. Lines that need the sqlite3 shell are left out where there is none.
#[test]
fn the_readme_export_and_import_example_runs_as_shown() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme.find("### Export and import").unwrap()..];
    let start = section.find("```text\n").unwrap() + "```text\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let mut steps: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in block.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => steps.push((command, Vec::new())),
            None => steps.last_mut().unwrap().1.push(line),
        }
    }
    assert!(steps.iter().filter(|(c, _)| c.starts_with("kv ")).count() >= 5);
    let has_sqlite3 = Command::new("sqlite3").arg("-version").output().is_ok();
    if !has_sqlite3 {
        eprintln!("no sqlite3 shell on the PATH: the README's sqlite3 lines were not run");
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_kv")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (command, shown) in steps {
        if command.contains("sqlite3") && !has_sqlite3 {
            continue;
        }
        let output = Command::new("sh")
            .args(["-c", command])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap()
        );
        assert_eq!(printed.lines().collect::<Vec<_>>(), shown, "{command}");
    }
}

#![allow(clippy::disallowed_methods)] // tests inspect the disk directly
#![allow(clippy::unwrap_used)] // test helpers may unwrap: a failure is a test failure
//! Interactive mode through a real pseudo-terminal: completion of live keys, Ctrl-C,
//! Ctrl-D, multi-line values and the history file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

/// Generous: a debug build on a busy 2-core machine.
const TIMEOUT_MS: u64 = 30_000;

fn spawn_kv(dir: &Path, args: &[&str]) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kv"));
    command
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("KV_HISTFILE", dir.join("history"))
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    spawn_command(command, Some(TIMEOUT_MS)).unwrap()
}

/// Types `text` without Enter (rexpect buffers `send` until a flush).
fn send(kv: &mut PtySession, text: &str) {
    kv.send(text).unwrap();
    kv.flush().unwrap();
}

/// Enters `line`, waits for `expected` in the output, then for the next prompt: typing
/// before the prompt is back could race the terminal mode switch between two reads.
fn run(kv: &mut PtySession, line: &str, expected: &str, prompt: &str) {
    kv.send_line(line).unwrap();
    kv.exp_string(expected).unwrap();
    kv.exp_string(prompt).unwrap();
}

fn exit_code(session: &PtySession) -> Option<i32> {
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => Some(code),
        _ => None,
    }
}

#[test]
fn tab_completes_live_keys_ctrl_c_keeps_going_and_ctrl_d_exits_saving_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.json");
    std::fs::write(&db, r#"{"alpha_key": 424242, "beta": 1}"#).unwrap();

    let mut kv = spawn_kv(dir.path(), &["--color", "never", "db.json"]);
    kv.exp_string("db.json (snapshot mode, default)").unwrap();
    let prompt = "kv db.json> ";
    kv.exp_string(prompt).unwrap();

    // Tab completes a key that exists in the store.
    send(&mut kv, "get alp");
    send(&mut kv, "\t");
    kv.exp_string("get alpha_key").unwrap();
    run(&mut kv, "", "424242", prompt);

    // A key added in this session is offered too.
    run(&mut kv, "put gamma_new 7", "OK", prompt);
    // Saved as soon as it is entered, not only at exit (a crash demo never exits).
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("put gamma_new 7"), "{history}");
    send(&mut kv, "get gam\t");
    kv.exp_string("get gamma_new").unwrap();
    run(&mut kv, "", "7", prompt);
    // A deleted key is no longer offered: the only key left to complete is the other.
    run(&mut kv, "put gamma_other 8", "OK", prompt);
    run(&mut kv, "delete gamma_new", "OK", prompt);
    send(&mut kv, "get gam\t");
    kv.exp_string("get gamma_other").unwrap();
    run(&mut kv, "", "8", prompt);

    // Ctrl-C drops the half-typed line and the shell keeps running.
    send(&mut kv, "put half 1");
    kv.exp_string("put half 1").unwrap();
    kv.send_control('c').unwrap();
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "exists half", "false", prompt);

    // An open JSON value continues on the next line.
    send(&mut kv, "put multi {\"a\":\r");
    kv.exp_string("{\"a\":").unwrap();
    run(&mut kv, "[1, 2]}", "OK", prompt);
    run(&mut kv, "get multi", "{\"a\":[1,2]}", prompt);

    // A line that makes the open value invalid ends it at once, with the error, and is
    // then read as a statement of its own, as in a piped script.
    send(&mut kv, "put broken {\"a\":\r");
    kv.exp_string("{\"a\":").unwrap();
    run(
        &mut kv,
        "put k v",
        "error: line 2: column 1: VALUE is not valid JSON: expected value (the statement \
         begun on line 1 stored nothing; line 2 is read as a new statement)\r\nOK",
        prompt,
    );
    run(&mut kv, "exists broken", "false", prompt);
    run(&mut kv, "get k", "\"v\"", prompt);

    // Lines pasted at once (a bracketed paste) each run, as in a piped script.
    send(
        &mut kv,
        "\x1b[200~put pasted_1 111\nput pasted_2 222\nget pasted_1\x1b[201~",
    );
    run(&mut kv, "", "OK\r\nOK\r\n111\r\n", prompt);
    run(&mut kv, "get pasted_2", "222\r\n", prompt);

    // A line starting with a space runs but is kept out of the history.
    run(&mut kv, " put secret_line 1", "OK", prompt);

    kv.send_control('d').unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));

    let history_path = dir.path().join("history");
    let history = std::fs::read_to_string(&history_path).unwrap();
    assert!(history.contains("put gamma_new 7"), "{history}");
    assert!(history.contains("exists half"), "{history}");
    assert!(!history.contains("secret_line"), "{history}");
    assert!(!history.contains("put half"), "{history}");
    let mode = std::fs::metadata(&history_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "history mode {mode:o}");

    let on_disk = std::fs::read_to_string(&db).unwrap();
    assert!(
        on_disk.contains("secret_line") && on_disk.contains("multi"),
        "{on_disk}"
    );
}

#[test]
fn no_path_announces_a_transient_store_and_exit_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = spawn_kv(dir.path(), &["--no-history"]);
    kv.exp_string("transient in-memory store").unwrap();
    let prompt = "kv (memory)> ";
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "put a 1", "OK", prompt);
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
    assert!(
        !dir.path().join("history").exists(),
        "--no-history writes no file"
    );
    assert!(
        !dir.path().join(".kv_history").exists(),
        "--no-history writes no file"
    );
}

#[test]
fn the_banner_and_prompt_say_the_mode_why_and_whether_writes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db.json"), r#"{"a": 1}"#).unwrap();

    // --read-only: said in the banner and the prompt, and a write is refused there.
    let mut kv = spawn_kv(dir.path(), &["--color", "never", "--read-only", "db.json"]);
    kv.exp_string(
        "db.json (read-only: no lock is taken, nothing is written, and every change is refused)",
    )
    .unwrap();
    let prompt = "kv db.json (read-only)> ";
    kv.exp_string(prompt).unwrap();
    run(
        &mut kv,
        "put b 2",
        "db.json is open read-only: writes are refused",
        prompt,
    );
    run(&mut kv, "get a", "1", prompt);
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));

    // memory on a PATH: the prompt itself says writes are not saved.
    let mut kv = spawn_kv(
        dir.path(),
        &["--color", "never", "--durability", "memory", "db.json"],
    );
    kv.exp_string("(memory mode, --durability: the file is only read")
        .unwrap();
    let prompt = "kv db.json (memory: writes not saved)> ";
    kv.exp_string(prompt).unwrap();
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();

    // A database with a log stays in wal mode, and the banner says why.
    let mut kv = spawn_kv(
        dir.path(),
        &["--color", "never", "--durability", "wal", "db.json"],
    );
    kv.exp_string("db.json (wal mode, --durability)").unwrap();
    run(&mut kv, "put b 2", "OK", "kv db.json> ");
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    let mut kv = spawn_kv(dir.path(), &["--color", "never", "db.json"]);
    kv.exp_string("db.json (wal mode, the database has a log)")
        .unwrap();
    run(
        &mut kv,
        "stats",
        "mode:          wal (the database has a log)",
        "kv db.json> ",
    );
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
}

#[test]
fn an_open_value_continues_under_a_continuation_prompt_and_ctrl_d_or_ctrl_c_abandons_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = spawn_kv(dir.path(), &["--color", "never", "--no-history", "db.json"]);
    let prompt = "kv db.json> ";
    // Right-aligned under the prompt, as sqlite3 does.
    let continuation = "       ...> ";
    kv.exp_string(prompt).unwrap();

    // The second line of an open value is read under the continuation prompt.
    send(&mut kv, "put multi {\"a\":\r");
    kv.exp_string(continuation).unwrap();
    run(&mut kv, "[1, 2]}", "OK", prompt);
    run(&mut kv, "get multi", "{\"a\":[1,2]}", prompt);

    // Ctrl-D on an empty continuation line abandons the statement, says so, and does not
    // leave the shell.
    send(&mut kv, "put gone [1,\r");
    kv.exp_string(continuation).unwrap();
    kv.send_control('d').unwrap();
    kv.exp_string("warning: Ctrl-D: the unfinished statement was abandoned and nothing was stored")
        .unwrap();
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "exists gone", "false", prompt);

    // Ctrl-C on a half-typed line marks it `^C`, as bash does, and drops it.
    send(&mut kv, "put half 1");
    kv.exp_string("put half 1").unwrap();
    kv.send_control('c').unwrap();
    // Back up to the end of the abandoned line (column 12 + 10 + 1), then the mark.
    kv.exp_string("\x1b[A\x1b[23G^C\r\n").unwrap();
    kv.exp_string(prompt).unwrap();
    // ... and in a continuation, drops the whole statement.
    send(&mut kv, "put also_gone {\r");
    kv.exp_string(continuation).unwrap();
    kv.send_control('c').unwrap();
    kv.exp_string("^C").unwrap();
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "count", "1", prompt);

    kv.send_control('d').unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
}

#[test]
fn colour_on_a_terminal_styles_the_prompt_and_an_unknown_verb() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = spawn_kv(dir.path(), &["--no-history"]);
    let prompt = "\x1b[1;32mkv (memory)> \x1b[0m";
    kv.exp_string(prompt).unwrap();
    send(&mut kv, "gte");
    kv.exp_string("\x1b[31mgte\x1b[0m").unwrap();
    kv.send_control('c').unwrap();
    kv.exp_string(prompt).unwrap();
    run(
        &mut kv,
        "bogus",
        "\x1b[1;31merror:\x1b[0m unknown command",
        prompt,
    );
    kv.send_control('d').unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
}

/// `kv db < script` typed at a terminal: stdin is a file, stdout and stderr are the
/// terminal. The output must be the script output a pipe gets (compact, no colour, no
/// prompt), not the interactive layout, so a demo prints what its transcript says.
#[test]
fn a_script_on_stdin_prints_script_output_even_to_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let script = "put a 1\nkeys nomatch*\nget missing\nbogus\nget a\nkeys\n";
    std::fs::write(dir.path().join("script.kv"), script).unwrap();
    let kv = env!("CARGO_BIN_EXE_kv");

    // The reference: the same script with stdout on a pipe.
    let piped = Command::new(kv)
        .arg("db-piped.json")
        .current_dir(dir.path())
        .stdin(std::fs::File::open(dir.path().join("script.kv")).unwrap())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(
        piped.status.code(),
        Some(1),
        "the bad verb fails the script"
    );
    let expected_out = String::from_utf8(piped.stdout).unwrap();
    let expected_err = String::from_utf8(piped.stderr).unwrap();
    assert!(expected_err.contains("error: line 4: "), "{expected_err}");

    // Through a terminal: a shell redirects stdin and stderr and leaves stdout on the pty.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "{kv} db-tty.json < script.kv 2>err.txt; echo \"exit=$?\""
        ))
        .current_dir(dir.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    let mut session = spawn_command(command, Some(TIMEOUT_MS)).unwrap();
    let seen = session.exp_string("exit=").unwrap();
    let code = session.exp_regex("[0-9]+").unwrap().1;
    session.exp_eof().unwrap();
    assert_eq!(code, "1");
    assert_eq!(seen.replace("\r\n", "\n"), expected_out);
    assert!(!seen.contains('\x1b'), "no colour: {seen:?}");
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    assert_eq!(err, expected_err);
}

/// Ctrl-C while a command is printing stops the output, says so, and leaves the shell at
/// the prompt with the store intact; it does not kill the process.
#[test]
fn ctrl_c_while_a_command_prints_stops_its_output_not_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.json");
    // Enough keys that `keys` is still writing when Ctrl-C arrives: the test reads
    // nothing until then, so the terminal's buffer fills and the shell blocks in a write.
    let keys: Vec<String> = (0..200_000)
        .map(|n| format!("\"key{n:06}\": {n}"))
        .collect();
    std::fs::write(&db, format!("{{{}}}", keys.join(","))).unwrap();

    let mut kv = spawn_kv(dir.path(), &["--color", "never", "db.json"]);
    let prompt = "kv db.json> ";
    kv.exp_string(prompt).unwrap();
    kv.send_line("keys").unwrap();
    kv.exp_string("key000000").unwrap();
    kv.send_control('c').unwrap();
    kv.exp_string("interrupted: output stopped").unwrap();
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "count", "200000", prompt);
    run(&mut kv, "put after 1", "OK", prompt);
    kv.send_control('d').unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
    let on_disk = std::fs::read_to_string(&db).unwrap();
    assert!(on_disk.contains("\"after\":1") && on_disk.contains("key199999"));
}

#[test]
fn setup_problems_are_reported_before_the_banner_not_in_the_first_result() {
    let dir = tempfile::tempdir().unwrap();
    // A history file in a directory that does not exist cannot be written.
    let history = dir.path().join("missing-dir").join("history");
    let history_arg = history.to_str().unwrap();
    let mut kv = spawn_kv(
        dir.path(),
        &[
            "--color",
            "never",
            "--group-commit",
            "--history",
            history_arg,
        ],
    );
    let before_banner = kv.exp_string("transient in-memory store").unwrap();
    assert!(
        before_banner.contains(&format!(
            "warning: cannot save history to {history_arg}: No such file or directory"
        )),
        "{before_banner}"
    );
    assert!(
        before_banner.contains(
            "warning: --group-commit applies to piped input only (kv PATH < FILE): each \
             command here commits on its own"
        ),
        "{before_banner}"
    );
    let prompt = "kv (memory)> ";
    kv.exp_string(prompt).unwrap();
    kv.send_line("put a 1").unwrap();
    let result = kv.exp_string(prompt).unwrap();
    assert!(result.contains("OK"), "{result}");
    assert!(!result.contains("history"), "warned again: {result}");
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));

    // A directory is neither read nor written as history: one warning, then the banner.
    let dir_arg = dir.path().to_str().unwrap();
    let mut kv = spawn_kv(dir.path(), &["--color", "never", "--history", dir_arg]);
    let before_banner = kv.exp_string("transient in-memory store").unwrap();
    assert_eq!(
        before_banner.matches("warning:").count(),
        1,
        "{before_banner}"
    );
    assert!(
        before_banner.contains(&format!(
            "warning: cannot read history {dir_arg}: Is a directory (os error 21) (history is \
             off for this session)"
        )),
        "{before_banner}"
    );
    kv.exp_string(prompt).unwrap();
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
}

#[test]
fn an_empty_kv_histfile_turns_history_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kv"));
    command
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("KV_HISTFILE", "")
        .env("TERM", "xterm");
    let mut kv = spawn_command(command, Some(TIMEOUT_MS)).unwrap();
    let prompt = "kv (memory)> ";
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "put a 1", "OK", prompt);
    kv.send_line("exit").unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(files.is_empty(), "history written: {files:?}");
}

#[test]
fn source_at_the_prompt_pauses_steps_and_leaves_the_store_and_buttons_as_the_file_did() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("demo.kv"),
        "put a 1\n# before the pause\npause\nget a\ncrash after-temp-write\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("step.kv"), "put s 1\nget s\n").unwrap();
    let mut kv = spawn_kv(dir.path(), &["--color", "never", "--simulate", "db.json"]);
    let prompt = "kv db.json (simulated)> ";
    kv.exp_string(prompt).unwrap();

    // The file runs up to its pause, which waits for Enter.
    kv.send_line("source demo.kv").unwrap();
    kv.exp_string(
        "> put a 1\r\nOK\r\n# before the pause\r\n-- paused: Enter goes on, q Enter stops --",
    )
    .unwrap();
    run(
        &mut kv,
        "",
        "> get a\r\n1\r\n> crash after-temp-write\r\narmed after-temp-write",
        prompt,
    );
    // Back at the prompt: the key completes, and the button the file armed is armed.
    send(&mut kv, "get \t");
    kv.exp_string("get a").unwrap();
    run(&mut kv, "", "1", prompt);
    run(
        &mut kv,
        "put b 2",
        "crash at after-temp-write: the process died there; the put was not acknowledged",
        prompt,
    );

    // Typed at the prompt, pause only says what it is for.
    run(
        &mut kv,
        "pause",
        "(nothing to pause: pause waits for Enter in a file run by source)",
        prompt,
    );

    // --step shows each statement and runs it on Enter; q stops the file.
    kv.send_line("source --step step.kv").unwrap();
    kv.exp_string("> put s 1\r\n-- Enter runs it, q Enter stops --")
        .unwrap();
    kv.send_line("").unwrap();
    kv.exp_string("OK\r\n> get s\r\n-- Enter runs it, q Enter stops --")
        .unwrap();
    run(&mut kv, "q", "(stopped step.kv)", prompt);
    run(&mut kv, "count", "2", prompt);

    kv.send_control('d').unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
}

#[test]
fn an_empty_simulated_disk_says_so_and_ignores_the_file_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db.json"), r#"{"stray": 1}"#).unwrap();
    let mut kv = spawn_kv(
        dir.path(),
        &["--color", "never", "--simulate", "--empty", "db.json"],
    );
    kv.exp_string("(snapshot mode, default) on a SIMULATED disk started empty (--empty)")
        .unwrap();
    let prompt = "kv db.json (simulated)> ";
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "count", "0", prompt);
    kv.send_control('d').unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
}

#[test]
fn the_prompt_shows_an_open_transaction_ctrl_c_keeps_it_and_ctrl_d_rolls_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = spawn_kv(dir.path(), &["--color", "never", "--no-history", "db.json"]);
    let prompt = "kv db.json> ";
    kv.exp_string(prompt).unwrap();
    run(&mut kv, "put alice 100", "OK", prompt);
    run(&mut kv, "begin", "OK", "kv db.json [tx: 0]> ");
    run(&mut kv, "put alice 70", "QUEUED", "kv db.json [tx: 1]> ");
    run(&mut kv, "put bob 30", "QUEUED", "kv db.json [tx: 2]> ");
    // Ctrl-C drops the half-typed line, not the transaction.
    send(&mut kv, "put half 1");
    kv.exp_string("put half 1").unwrap();
    kv.send_control('c').unwrap();
    kv.exp_string("^C").unwrap();
    kv.exp_string("kv db.json [tx: 2]> ").unwrap();
    run(&mut kv, "get alice", "70", "kv db.json [tx: 2]> ");
    run(&mut kv, "commit", "OK (2 mutations)", prompt);
    run(&mut kv, "begin", "OK", "kv db.json [tx: 0]> ");
    run(&mut kv, "delete bob", "QUEUED", "kv db.json [tx: 1]> ");
    // Ctrl-D leaves, rolling the transaction back, and says so.
    kv.send_control('d').unwrap();
    kv.exp_string(
        "warning: the open transaction was rolled back: none of its 1 queued mutation was \
         stored",
    )
    .unwrap();
    kv.exp_eof().unwrap();
    assert_eq!(exit_code(&kv), Some(0));
    let on_disk = std::fs::read_to_string(dir.path().join("db.json")).unwrap();
    assert_eq!(on_disk, "{\"alice\":70,\"bob\":30}\n");
}

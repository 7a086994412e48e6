//! Reading `strace -f -y` output into the system calls that matter for durability, and
//! checking their order against the protocol (the ALICE approach: record the real calls,
//! then check the ordering). Plain functions on plain data, so the checker can be fed an
//! altered trace and shown to reject it.
//!
//! The model behind [`check`] is what a power loss can keep: a write to a file survives only
//! once an `fsync`/`fdatasync` of that file follows it (fdatasync is enough: it persists the
//! size and whatever else is needed to read the data back), and a name given by `rename` or
//! `O_CREAT` survives only once an `fsync` of the directory follows it. The rules:
//!
//! 1. a file renamed in the database's directory (the temp file renamed over `PATH`, the
//!    log `.wal.next` renamed over `.wal`) has been fsynced after its last write;
//! 2. a rename over `PATH` while `PATH.wal.next` exists (a checkpoint's snapshot install,
//!    which relies on the new log) finds `.wal.next` fsynced and its name made durable by a
//!    directory fsync;
//! 3. every rename is followed by an fsync of the directory before anything more is written
//!    to stdout, and before the process ends;
//! 4. when an `OK` line starts on stdout, the key of the statement it acknowledges is in a
//!    synced write to the file durably named `PATH` or `PATH.wal`.
//!
//! Unlinks need no directory fsync here (removing a stray temp file may be lost harmlessly);
//! `sync_file_range`, `sync` and `syncfs` do not count as syncs, so an engine that switched
//! to them would be refused rather than trusted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kv_engine::files;

/// The system calls to record: `-e trace=` takes this. `?` keeps strace quiet about a call
/// the architecture does not have (aarch64 has no `open`, `creat` or `rename`).
pub const TRACED_CALLS: &str = "?open,openat,?creat,close,dup,?dup2,dup3,write,writev,\
    pwrite64,pwritev,?pwritev2,ftruncate,fallocate,fsync,fdatasync,?rename,renameat,\
    ?renameat2,?unlink,unlinkat";

/// One system call that matters for durability, in the order the calls completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Index (from 0) of the trace line that completed the call, so that a test can alter
    /// the trace around it.
    pub line: usize,
    pub call: Call,
}

/// What a successful call did (failed calls change nothing and are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `open`/`openat`/`creat` returned `fd` for `path` (absolute, as `-y` prints it);
    /// `create` when `O_CREAT` was given (the name may be new), `exclusive` with `O_EXCL`.
    Open {
        fd: i32,
        path: PathBuf,
        create: bool,
        exclusive: bool,
    },
    Close {
        fd: i32,
    },
    /// `dup`, `dup2`, `dup3`: `new` refers to what `old` refers to.
    Dup {
        old: i32,
        new: i32,
    },
    /// `write`, `pwrite64`, `writev`, ...: the bytes strace showed (cut at its `-s` size).
    Write {
        fd: i32,
        data: Vec<u8>,
    },
    /// `ftruncate`, `fallocate`: the file's size changed, so it has unsynced metadata.
    Resize {
        fd: i32,
    },
    /// `fsync` or `fdatasync`.
    Sync {
        fd: i32,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    Unlink {
        path: PathBuf,
    },
}

/// Reads the output of `strace -f -y -o FILE` (with or without pid prefixes). `cwd` is the
/// traced process's working directory, against which `rename("a", "b")` is resolved.
/// A line of a recorded call that cannot be read is an error, never skipped.
pub fn parse(trace: &str, cwd: &Path) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    // A call another thread interrupted: `<unfinished ...>` now, `<... NAME resumed>` later.
    let mut unfinished: HashMap<String, String> = HashMap::new();
    for (index, raw) in trace.lines().enumerate() {
        let (pid, rest) = split_pid(raw);
        let text = if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid.to_string(), start.to_string());
            continue;
        } else if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some(start) = unfinished.remove(pid) else {
                return Err(format!("line {}: resumes no call: {raw}", index + 1));
            };
            let Some((_, tail)) = resumed.split_once(" resumed>") else {
                return Err(format!("line {}: unreadable resumption: {raw}", index + 1));
            };
            format!("{start}{tail}")
        } else {
            rest.to_string()
        };
        if let Some(call) =
            parse_call(&text, cwd).map_err(|why| format!("line {}: {why}: {raw}", index + 1))?
        {
            events.push(Event { line: index, call });
        }
    }
    Ok(events)
}

/// Splits `12345 write(...)` into the pid and the call; a line without a pid has "".
fn split_pid(line: &str) -> (&str, &str) {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(' ') {
        (&line[..digits], line[digits..].trim_start())
    } else {
        ("", line)
    }
}

/// One call's line, without its pid. `None` for what is not a successful call we track.
fn parse_call(text: &str, cwd: &Path) -> Result<Option<Call>, String> {
    let Some(open_paren) = text.find('(') else {
        return Ok(None); // `+++ exited with 0 +++`, `--- SIGCHLD ...`
    };
    let name = &text[..open_paren];
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Ok(None);
    }
    let (args, ret) = split_args(&text[open_paren + 1..])?;
    let Some(ret) = ret else {
        return Ok(None); // `exit_group(0) = ?`
    };
    if ret.value < 0 {
        return Ok(None);
    }
    let arg = |i: usize| -> Result<&str, String> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("{name} has no argument {i}"))
    };
    let call = match name {
        "open" | "openat" | "creat" => {
            let flags = match name {
                "open" => arg(1)?,
                "openat" => arg(2)?,
                _ => "O_CREAT|O_TRUNC",
            };
            let Some(path) = ret.path else {
                return Err("an open without the path -y prints".into());
            };
            Call::Open {
                fd: ret.value as i32,
                path: PathBuf::from(path),
                create: flags.contains("O_CREAT"),
                exclusive: flags.contains("O_EXCL"),
            }
        }
        "close" => Call::Close { fd: fd(arg(0)?)? },
        "dup" => Call::Dup {
            old: fd(arg(0)?)?,
            new: ret.value as i32,
        },
        "dup2" | "dup3" => Call::Dup {
            old: fd(arg(0)?)?,
            new: fd(arg(1)?)?,
        },
        "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" => {
            let mut data = Vec::new();
            for piece in quoted_strings(arg(1)?)? {
                data.extend(piece);
            }
            // A short write wrote only its first `ret` bytes.
            data.truncate(ret.value as usize);
            Call::Write {
                fd: fd(arg(0)?)?,
                data,
            }
        }
        "ftruncate" | "fallocate" => Call::Resize { fd: fd(arg(0)?)? },
        "fsync" | "fdatasync" => Call::Sync { fd: fd(arg(0)?)? },
        "rename" => Call::Rename {
            from: resolve(None, arg(0)?, cwd)?,
            to: resolve(None, arg(1)?, cwd)?,
        },
        "renameat" | "renameat2" => Call::Rename {
            from: resolve(Some(arg(0)?), arg(1)?, cwd)?,
            to: resolve(Some(arg(2)?), arg(3)?, cwd)?,
        },
        "unlink" => Call::Unlink {
            path: resolve(None, arg(0)?, cwd)?,
        },
        "unlinkat" => Call::Unlink {
            path: resolve(Some(arg(0)?), arg(1)?, cwd)?,
        },
        _ => return Ok(None),
    };
    Ok(Some(call))
}

/// What a call returned: the number, and the path `-y` adds to a returned descriptor.
struct Returned {
    value: i64,
    path: Option<String>,
}

/// Splits the text after `name(` into its top-level arguments and what it returned
/// (`None` for `= ?`). Commas inside strings, `[...]`, `{...}`, `<...>` and `(...)` do not
/// split.
fn split_args(text: &str) -> Result<(Vec<String>, Option<Returned>), String> {
    let bytes = text.as_bytes();
    let mut args = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'"' => {
                let end = string_end(bytes, i)?;
                current.push_str(&text[i..end]);
                i = end;
                continue;
            }
            // `(` too: -y marks a removed file `4</dir/file>(deleted)`.
            b'[' | b'{' | b'<' | b'(' => depth += 1,
            b']' | b'}' | b'>' => depth = depth.saturating_sub(1),
            b')' if depth > 0 => depth -= 1,
            b',' if depth == 0 => {
                args.push(current.trim().to_string());
                current.clear();
                i += 1;
                continue;
            }
            b')' if depth == 0 => {
                if !current.trim().is_empty() {
                    args.push(current.trim().to_string());
                }
                let ret = parse_returned(&text[i + 1..])?;
                return Ok((args, ret));
            }
            _ => {}
        }
        current.push(c as char);
        i += 1;
    }
    Err("no closing parenthesis".into())
}

/// Index just past the string literal (and a `...` that marks it cut) starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Result<usize, String> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let end = i + 1;
                return Ok(if bytes[end..].starts_with(b"...") {
                    end + 3
                } else {
                    end
                });
            }
            _ => i += 1,
        }
    }
    Err("an unterminated string".into())
}

/// ` = 4</dir/file>`, ` = 0`, ` = -1 ENOENT (...)`, ` = ?`.
fn parse_returned(text: &str) -> Result<Option<Returned>, String> {
    let Some(after) = text.trim_start().strip_prefix('=') else {
        return Err("no return value".into());
    };
    let after = after.trim_start();
    if after.starts_with('?') {
        return Ok(None);
    }
    let digits = after
        .bytes()
        .enumerate()
        .take_while(|&(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
        .count();
    let value = after[..digits]
        .parse::<i64>()
        .map_err(|_| format!("return value {after:?}"))?;
    let path = after[digits..]
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .map(|(path, _)| path.to_string());
    Ok(Some(Returned { value, path }))
}

/// The descriptor in `4</dir/file>` or `4`.
fn fd(arg: &str) -> Result<i32, String> {
    let digits = arg.bytes().take_while(u8::is_ascii_digit).count();
    arg[..digits]
        .parse()
        .map_err(|_| format!("not a descriptor: {arg:?}"))
}

/// The path a `*at` call (or a plain one, `dir` `None`) names: absolute as given, else
/// relative to the directory descriptor's `-y` path, or to `cwd` for a plain call.
fn resolve(dir: Option<&str>, arg: &str, cwd: &Path) -> Result<PathBuf, String> {
    let name = quoted_strings(arg)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("not a path: {arg:?}"))?;
    let name = PathBuf::from(String::from_utf8_lossy(&name).into_owned());
    if name.is_absolute() {
        return Ok(name);
    }
    let base = match dir.and_then(|dir| dir.split_once('<')) {
        Some((_, annotated)) => PathBuf::from(annotated.trim_end_matches('>')),
        None => cwd.to_path_buf(),
    };
    Ok(base.join(name))
}

/// Every string literal in `arg` (one for `write`, one per `iov_base` for `writev`),
/// decoded from strace's C escapes.
fn quoted_strings(arg: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = arg.as_bytes();
    let mut strings = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let mut out = Vec::new();
        i += 1;
        loop {
            let Some(&c) = bytes.get(i) else {
                return Err("an unterminated string".into());
            };
            i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = bytes.get(i) else {
                        return Err("a string ending in a backslash".into());
                    };
                    i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'v' => out.push(0x0b),
                        b'f' => out.push(0x0c),
                        b'x' => {
                            let hex = arg.get(i..i + 2).ok_or("a cut \\x escape")?;
                            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                            i += 2;
                        }
                        b'0'..=b'7' => {
                            let mut value = u32::from(e - b'0');
                            for _ in 0..2 {
                                match bytes.get(i) {
                                    Some(&d @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(value as u8);
                        }
                        other => out.push(other), // \\ and \"
                    }
                }
                other => out.push(other),
            }
        }
        strings.push(out);
    }
    Ok(strings)
}

/// What a passing trace contained, so a test can tell a checked trace from an empty one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `OK` lines written to stdout (each checked against its key).
    pub oks: usize,
    /// Renames in the database's directory (each checked).
    pub renames: usize,
    /// fsyncs and fdatasyncs of files in the directory.
    pub file_syncs: usize,
    /// fsyncs of the directory.
    pub dir_syncs: usize,
}

/// A file in the database's directory, as a power loss would see it.
#[derive(Debug)]
struct File {
    /// Every write and resize, and whether a sync of the file has followed it.
    writes: Vec<Written>,
    /// Whether the file has been synced since the trace saw it appear.
    ever_synced: bool,
    /// Whether it existed before the trace began (its state then is taken as durable).
    preexisting: bool,
}

#[derive(Debug)]
struct Written {
    line: usize,
    data: Vec<u8>,
    synced: bool,
}

impl File {
    fn first_unsynced(&self) -> Option<&Written> {
        self.writes.iter().find(|written| !written.synced)
    }

    fn is_synced(&self) -> bool {
        self.first_unsynced().is_none() && (self.ever_synced || self.preexisting)
    }
}

/// A name in the directory, and whether a directory fsync has made it durable.
#[derive(Debug, Clone, Copy)]
struct Binding {
    file: usize,
    durable: bool,
    line: usize,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    File(usize),
    Dir,
    /// A file outside the database's directory (a library, the lock's neighbour...).
    Other,
}

/// Checks `events` (of a `kv` run on the database `path`) against the rules in the module
/// documentation. `acks[i]` is a key whose put the `i`th `OK` line on stdout acknowledges;
/// there must be exactly as many `OK` lines. A key is found by its bytes in what was written
/// (the snapshot's JSON and the log's records both hold it as it is), so the keys of one run
/// must be distinct: an earlier put of the same key would vouch for a later one. The error
/// names trace lines (from 1).
pub fn check(events: &[Event], path: &Path, acks: &[&str]) -> Result<Summary, String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no directory", path.display()))?;
    let log = files::wal_path(path);
    let next = files::wal_next_path(path);
    let mut files: Vec<File> = Vec::new();
    let mut names: HashMap<PathBuf, Binding> = HashMap::new();
    let mut fds: HashMap<i32, Target> = HashMap::new();
    // Renames not yet followed by a directory fsync: (line, description).
    let mut unsynced_renames: Vec<(usize, String)> = Vec::new();
    let mut summary = Summary::default();
    let oks_starting = oks_by_write(events);
    let at = |line: usize| line + 1;
    // Descriptor 1 is stdout until an open or dup reuses it (as in `oks_by_write`).
    let mut stdout_open = true;

    for (index, event) in events.iter().enumerate() {
        if let Call::Open { fd: 1, .. } | Call::Dup { new: 1, .. } = &event.call {
            stdout_open = false;
        }
        match &event.call {
            Call::Open {
                fd,
                path: opened,
                create,
                ..
            } => {
                let target = if opened == dir {
                    Target::Dir
                } else if opened.parent() == Some(dir) {
                    let file = match names.get(opened) {
                        Some(binding) => binding.file,
                        None => {
                            // Unknown to the trace: it existed before (no O_CREAT), or
                            // this open may have created it, and then its name is not
                            // durable until the directory is fsynced.
                            files.push(File {
                                writes: Vec::new(),
                                ever_synced: false,
                                preexisting: !create,
                            });
                            let file = files.len() - 1;
                            names.insert(
                                opened.clone(),
                                Binding {
                                    file,
                                    durable: !create,
                                    line: event.line,
                                },
                            );
                            file
                        }
                    };
                    Target::File(file)
                } else {
                    Target::Other
                };
                fds.insert(*fd, target);
            }
            Call::Close { fd } => {
                fds.remove(fd);
            }
            Call::Dup { old, new } => {
                let target = fds.get(old).copied().unwrap_or(Target::Other);
                fds.insert(*new, target);
            }
            Call::Write { fd: 1, data } if stdout_open => {
                if let Some((line, what)) = unsynced_renames.first() {
                    return Err(format!(
                        "line {}: writes {:?} to stdout while the {what} of line {} is not yet \
                         followed by an fsync of the directory",
                        at(event.line),
                        String::from_utf8_lossy(data),
                        at(*line)
                    ));
                }
                let first = summary.oks;
                summary.oks += oks_starting.get(&index).copied().unwrap_or(0);
                for ok in first..summary.oks {
                    let Some(key) = acks.get(ok) else {
                        return Err(format!(
                            "line {}: OK number {} on stdout, but only {} expected",
                            at(event.line),
                            ok + 1,
                            acks.len()
                        ));
                    };
                    if let Some(why) = not_durable(key, &names, &files, &[path, &log]) {
                        return Err(format!(
                            "line {}: OK number {} (put {key}) written to stdout before the \
                             put is durable: {why}",
                            at(event.line),
                            ok + 1
                        ));
                    }
                }
            }
            Call::Write { fd, data } => {
                if let Some(Target::File(file)) = fds.get(fd) {
                    files[*file].writes.push(Written {
                        line: event.line,
                        data: data.clone(),
                        synced: false,
                    });
                }
            }
            Call::Resize { fd } => {
                if let Some(Target::File(file)) = fds.get(fd) {
                    files[*file].writes.push(Written {
                        line: event.line,
                        data: Vec::new(),
                        synced: false,
                    });
                }
            }
            Call::Sync { fd } => match fds.get(fd) {
                Some(Target::File(file)) => {
                    let file = &mut files[*file];
                    file.writes.iter_mut().for_each(|w| w.synced = true);
                    file.ever_synced = true;
                    summary.file_syncs += 1;
                }
                Some(Target::Dir) => {
                    names
                        .iter_mut()
                        .filter(|(name, _)| name.parent() == Some(dir))
                        .for_each(|(_, binding)| binding.durable = true);
                    unsynced_renames.clear();
                    summary.dir_syncs += 1;
                }
                _ => {}
            },
            Call::Rename { from, to } => {
                if from.parent() != Some(dir) && to.parent() != Some(dir) {
                    continue;
                }
                summary.renames += 1;
                let what = format!("rename {} -> {}", name_of(from), name_of(to));
                let file = match names.remove(from) {
                    Some(binding) => binding.file,
                    None => {
                        // Renamed without being opened in the trace: made before it began.
                        files.push(File {
                            writes: Vec::new(),
                            ever_synced: false,
                            preexisting: true,
                        });
                        files.len() - 1
                    }
                };
                if let Some(unsynced) = files[file].first_unsynced() {
                    return Err(format!(
                        "line {}: {what}, but the write of line {} to it was not fsynced first",
                        at(event.line),
                        at(unsynced.line)
                    ));
                }
                if !files[file].is_synced() {
                    return Err(format!(
                        "line {}: {what}, but the file was never fsynced",
                        at(event.line)
                    ));
                }
                if to == path
                    && let Some(binding) = names.get(&next)
                {
                    let prepared = &files[binding.file];
                    if !prepared.is_synced() {
                        return Err(format!(
                            "line {}: {what} installs a snapshot that relies on {} (created at \
                             line {}), which was not fsynced first",
                            at(event.line),
                            name_of(&next),
                            at(binding.line)
                        ));
                    }
                    if !binding.durable {
                        return Err(format!(
                            "line {}: {what} installs a snapshot that relies on {} (created at \
                             line {}), whose name no directory fsync made durable first",
                            at(event.line),
                            name_of(&next),
                            at(binding.line)
                        ));
                    }
                }
                names.insert(
                    to.clone(),
                    Binding {
                        file,
                        durable: false,
                        line: event.line,
                    },
                );
                unsynced_renames.push((event.line, what));
            }
            Call::Unlink { path: removed } => {
                names.remove(removed);
            }
        }
    }
    if let Some((line, what)) = unsynced_renames.first() {
        return Err(format!(
            "line {}: the {what} is never followed by an fsync of the directory",
            at(*line)
        ));
    }
    if summary.oks != acks.len() {
        return Err(format!(
            "stdout has {} OK lines, {} expected",
            summary.oks,
            acks.len()
        ));
    }
    Ok(summary)
}

/// For each stdout write (by index in `events`), how many `OK` lines start in it: an `OK`
/// counts from the write of its first byte, the earliest moment a reader could see it.
/// Descriptor 1 is stdout until an open or dup reuses it.
fn oks_by_write(events: &[Event]) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_began_in = None;
    let mut is_stdout = true;
    for (index, event) in events.iter().enumerate() {
        match &event.call {
            Call::Open { fd: 1, .. } | Call::Dup { new: 1, .. } => is_stdout = false,
            Call::Write { fd: 1, data } if is_stdout => {
                for &byte in data {
                    if byte == b'\n' {
                        if line == b"OK"
                            && let Some(began) = line_began_in
                        {
                            *counts.entry(began).or_insert(0) += 1;
                        }
                        line.clear();
                        line_began_in = None;
                    } else {
                        line_began_in.get_or_insert(index);
                        line.push(byte);
                    }
                }
            }
            _ => {}
        }
    }
    counts
}

/// Why the put of `key` is not durable now (`None` when it is): no file durably named one
/// of `durable_names` holds a synced write containing the key.
fn not_durable(
    key: &str,
    names: &HashMap<PathBuf, Binding>,
    files: &[File],
    durable_names: &[&Path],
) -> Option<String> {
    let mut findings = Vec::new();
    for name in durable_names {
        let Some(binding) = names.get(*name) else {
            continue;
        };
        let file = &files[binding.file];
        let holding: Vec<&Written> = file
            .writes
            .iter()
            .filter(|written| contains(&written.data, key.as_bytes()))
            .collect();
        if holding.iter().any(|written| written.synced) && binding.durable {
            return None;
        }
        for written in holding {
            findings.push(match written.synced {
                false => format!(
                    "{} holds it since line {}, not fsynced since",
                    name_of(name),
                    written.line + 1
                ),
                true => format!(
                    "{} holds it (line {}), but its name (line {}) is not yet made durable by \
                     a directory fsync",
                    name_of(name),
                    written.line + 1,
                    binding.line + 1
                ),
            });
        }
    }
    Some(match findings.is_empty() {
        true => format!(
            "no write to {} holds it",
            durable_names
                .iter()
                .map(|name| name_of(name))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        false => findings.join("; "),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A file's name alone, for messages.
fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

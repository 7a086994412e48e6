//! `kv export PATH [--format json|jsonl|resp|sql]`: the database on stdout, in a format
//! another tool loads. The store is opened read-only (no lock, nothing written), so an
//! export runs beside a live writer and sees one moment of it, as `kv --read-only` does.
//!
//! Every format is written from the stored texts, parsing nothing: a value is exported as
//! its compact JSON text (numbers and key order as written), so `kv import` of a `json` or
//! `jsonl` export gives back the same bytes.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::ValueEnum;

use crate::shell::render::Renderer;
use crate::shell::status::Status;
use kv_engine::{JsonText, KvStore, Options};

/// `kv export PATH [--format FORMAT]`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The database file (read only: no lock is taken, a live writer may have it open).
    pub path: PathBuf,
    /// What to write on stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Json)]
    pub format: Format,
}

/// The formats of `kv export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object, as `dump` prints it in a pipe (the database file's own format).
    Json,
    /// One `{"key": KEY, "value": VALUE}` object per line.
    Jsonl,
    /// A Redis protocol stream of `SET key value` (the value as compact JSON text), for
    /// `redis-cli --pipe`.
    Resp,
    /// A script for the `sqlite3` shell: `kv(key TEXT PRIMARY KEY, value TEXT NOT NULL)`, every
    /// pair inserted in one transaction (`json_extract(value, '$.name')` works).
    Sql,
}

/// Runs `kv export`: opens `args.path` read-only and writes it to `out`. Exit 0 written
/// (or stdout closed early, as `kv export db.json | head` does), 1 a write failed, 2 the
/// database could not be opened.
pub fn run_export(
    args: &ExportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    errors: Renderer,
) -> Status {
    let store = match KvStore::open(&args.path, Options::new().read_only(true)) {
        Ok(store) => store,
        Err(error) => {
            let _ = errors.error(err, None, &error.to_string());
            return Status::Fatal;
        }
    };
    for warning in store.open_warnings() {
        let _ = errors.warning(err, &warning.to_string());
    }
    let mut buffered = BufWriter::new(out);
    match write(&store, args.format, &mut buffered).and_then(|()| buffered.flush()) {
        Ok(()) => Status::Success,
        // Nobody is left to read the rest: a normal end, as in the shell.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Status::Success,
        Err(error) => {
            let _ = errors.error(err, None, &format!("cannot write the export: {error}"));
            Status::CommandFailed
        }
    }
}

/// Writes every entry of `store` to `out` in `format`, in key order.
pub fn write(store: &KvStore, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", store.to_json()),
        Format::Jsonl => {
            for (key, value) in store.iter() {
                writeln!(
                    out,
                    "{{\"key\":{},\"value\":{value}}}",
                    JsonText::string(key)
                )?;
            }
            Ok(())
        }
        Format::Resp => {
            for (key, value) in store.iter() {
                resp_command(out, &[b"SET", key.as_bytes(), value.as_bytes()])?;
            }
            Ok(())
        }
        Format::Sql => sql(store, out),
    }
}

/// One command as a RESP array of bulk strings: binary-safe, so any key (a newline, a
/// U+0000) reaches Redis as it is.
fn resp_command(out: &mut dyn Write, words: &[&[u8]]) -> io::Result<()> {
    write!(out, "*{}\r\n", words.len())?;
    for word in words {
        write!(out, "${}\r\n", word.len())?;
        out.write_all(word)?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

/// The sqlite3 script: one transaction, so a failure leaves no half-filled table.
fn sql(store: &KvStore, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "BEGIN TRANSACTION;")?;
    writeln!(
        out,
        "CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    )?;
    for (key, value) in store.iter() {
        writeln!(
            out,
            "INSERT INTO kv(key, value) VALUES({}, {});",
            sql_text(key),
            sql_text(value)
        )?;
    }
    writeln!(out, "COMMIT;")
}

/// `text` as an SQL expression of type TEXT holding exactly its characters. A quoted
/// literal (quotes doubled) where that is safe; text with a control character as its UTF-8
/// bytes in hex, cast to TEXT: a U+0000 cannot appear in SQL source at all (the sqlite3
/// shell and `sqlite3_prepare` stop at it), and a carriage return or newline inside a
/// literal is at the mercy of how the script is read.
pub fn sql_text(text: &str) -> String {
    if text.chars().any(char::is_control) {
        let mut hex = String::with_capacity(text.len() * 2 + 20);
        hex.push_str("CAST(X'");
        for byte in text.bytes() {
            hex.push_str(&format!("{byte:02X}"));
        }
        hex.push_str("' AS TEXT)");
        return hex;
    }
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exported(store: &KvStore, format: Format) -> String {
        let mut out = Vec::new();
        write(store, format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn sample() -> KvStore {
        let mut store = KvStore::in_memory();
        store.put("b", json!({"name": "x", "n": 1})).unwrap();
        store.put("a'\n", json!("it's")).unwrap();
        store
    }

    #[test]
    fn json_is_the_dump() {
        let store = sample();
        assert_eq!(
            exported(&store, Format::Json),
            format!("{}\n", store.to_json())
        );
        assert_eq!(exported(&KvStore::in_memory(), Format::Json), "{}\n");
    }

    #[test]
    fn jsonl_is_one_object_per_line_in_key_order() {
        assert_eq!(
            exported(&sample(), Format::Jsonl),
            "{\"key\":\"a'\\n\",\"value\":\"it's\"}\n{\"key\":\"b\",\"value\":{\"name\":\"x\",\"n\":1}}\n"
        );
        assert_eq!(exported(&KvStore::in_memory(), Format::Jsonl), "");
    }

    #[test]
    fn resp_is_set_commands_as_bulk_strings() {
        let mut store = KvStore::in_memory();
        store.put("k\u{0}", json!("é")).unwrap();
        assert_eq!(
            exported(&store, Format::Resp),
            "*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$4\r\n\"é\"\r\n"
        );
    }

    #[test]
    fn sql_quotes_literals_and_writes_control_characters_in_hex() {
        assert_eq!(sql_text("it's"), "'it''s'");
        assert_eq!(sql_text(""), "''");
        assert_eq!(sql_text("a\n\0"), "CAST(X'610A00' AS TEXT)");
        let script = exported(&sample(), Format::Sql);
        assert_eq!(
            script,
            "BEGIN TRANSACTION;\n\
             CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n\
             INSERT INTO kv(key, value) VALUES(CAST(X'61270A' AS TEXT), '\"it''s\"');\n\
             INSERT INTO kv(key, value) VALUES('b', '{\"name\":\"x\",\"n\":1}');\n\
             COMMIT;\n"
        );
    }
}

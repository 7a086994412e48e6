//! The workload through Redis: a `redis-server` of its own per run, listening on a free
//! loopback port with an append-only file in the run's directory, fed by `redis-cli`
//! reading each phase's script from a pipe. The server is stopped by its PID when the run
//! ends, however it ends ([`Server`]'s `Drop`).

use std::io::{Read, Write};

use kv_engine::fs::{Fs, RealFs};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::program::{Ran, first_lines, pipe_through};
use super::{Timed, expected_value};
use crate::bench::engine::{key, put_value};
use crate::bench::piped::PipedPhase;

/// When Redis makes an acknowledged write durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendFsync {
    /// `appendfsync always`: the append-only file is fsynced before the replies to what
    /// was written go out (once per event loop, so a pipeline shares one fsync).
    Always,
    /// `appendfsync everysec`: replies go out at once; a background fsync each second.
    Everysec,
}

impl AppendFsync {
    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
        }
    }
}

/// How the script reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// `redis-cli -p PORT < script`: one command per line, each sent after the reply to
    /// the one before (a round trip per command).
    Lines,
    /// `redis-cli -p PORT --pipe < script`: the script in Redis's protocol, sent while
    /// the replies are read.
    Pipe,
}

/// How long a server may take to answer its first ping, and to exit once asked.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The server's log, in its directory.
const LOG_FILE: &str = "redis.log";
/// Ports taken by someone else between our probe and the server's bind: tries.
const START_TRIES: usize = 3;

/// A `redis-server` this process started. Dropping it stops it: SIGTERM to its PID, a
/// wait, then SIGKILL, so a failing benchmark never leaves a server behind.
pub(crate) struct Server {
    child: Option<Child>,
    pub port: u16,
}

impl Server {
    /// Starts `redis_server` with `fsync`, its files in `dir`, on a free loopback port,
    /// and waits until it answers a ping.
    pub fn start(redis_server: &Path, dir: &Path, fsync: AppendFsync) -> Result<Server, String> {
        let mut last_error = String::new();
        for _ in 0..START_TRIES {
            let port = free_port()?;
            let child = Command::new(redis_server)
                .args(["--bind", "127.0.0.1", "--port"])
                .arg(port.to_string())
                .arg("--dir")
                .arg(dir)
                .args(["--appendonly", "yes", "--appendfsync", fsync.name()])
                // No RDB snapshots: the append-only file is the only durability.
                .args(["--save", ""])
                // The log to a file, not a pipe: reading a pipe after the stop could block
                // on a forked child of the server that still holds it.
                .args(["--daemonize", "no", "--loglevel", "warning", "--logfile"])
                .arg(dir.join(LOG_FILE))
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|err| format!("cannot run {}: {err}", redis_server.display()))?;
            let mut server = Server {
                child: Some(child),
                port,
            };
            match server.wait_until_it_answers() {
                Ok(()) => return Ok(server),
                Err(reason) => {
                    server.stop_now();
                    let log = RealFs.read(&dir.join(LOG_FILE)).unwrap_or_default();
                    last_error = format!(
                        "redis-server on 127.0.0.1:{port} {reason}: {}",
                        first_lines(&String::from_utf8_lossy(&log))
                    );
                }
            }
        }
        Err(last_error)
    }

    /// The server's PID.
    #[cfg(test)]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("exited at start with {status}"));
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "did not answer a ping within {} s",
                    START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }

    /// Stops the server by its PID: SIGTERM (Redis syncs its append-only file and exits),
    /// then SIGKILL if it has not exited within [`STOP_TIMEOUT`].
    pub fn stop(mut self) {
        self.stop_now();
    }

    /// Runs the three phases through `redis_cli` as `client`; every reply is checked.
    pub fn run(&self, redis_cli: &Path, client: Client, n: usize) -> Result<Vec<Timed>, String> {
        let cli = || {
            let mut command = Command::new(redis_cli);
            command
                .args(["-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string());
            command
        };
        let mut runs = Vec::with_capacity(PipedPhase::ALL.len());
        let mut keys = 0;
        for phase in PipedPhase::ALL {
            let mut command = cli();
            if client == Client::Pipe {
                command.arg("--pipe");
            }
            let what = format!("redis-cli -p {} ({} script)", self.port, phase.name());
            let ran = pipe_through(&mut command, script(phase, client, n))?;
            ran.check_clean(&what)?;
            check(&ran, phase, client, n).map_err(|reason| format!("{what}: {reason}"))?;
            runs.push(Timed {
                statements: phase.statements(n),
                ns: ran.ns,
            });
            // What the server holds after each write phase, untimed.
            keys = match phase {
                PipedPhase::Put => n,
                PipedPhase::Get => continue,
                PipedPhase::Delete => keys - phase.statements(n),
            };
            let ran = pipe_through(cli().arg("DBSIZE"), Vec::new())?;
            ran.check_clean("redis-cli DBSIZE")?;
            if ran.stdout().trim() != keys.to_string() {
                return Err(format!(
                    "{what}: the server holds {} keys afterwards, not {keys}",
                    ran.stdout().trim()
                ));
            }
        }
        Ok(runs)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// SIGTERM to `child`'s PID, a wait of up to [`STOP_TIMEOUT`], then SIGKILL; reaped.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Ok(None) = child.try_wait() {
            if Instant::now() > deadline {
                // SIGKILL to the same PID (a child not yet reaped keeps its PID).
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let _ = child.wait();
}

/// A loopback port nobody listens on right now (the kernel's pick for port 0).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|err| format!("cannot find a free loopback port: {err}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|err| format!("cannot find a free loopback port: {err}"))
}

/// Whether a Redis server on the loopback `port` answers `PING` with `+PONG`.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// The phase's script: command lines for `redis-cli`, or Redis's protocol (RESP) for
/// `--pipe`.
fn script(phase: PipedPhase, client: Client, n: usize) -> Vec<u8> {
    let value = put_value().to_string();
    let mut script = Vec::with_capacity(phase.statements(n) * (value.len() + 48));
    for i in 0..phase.statements(n) {
        let key = key(i);
        let args: &[&str] = match phase {
            PipedPhase::Put => &["SET", &key, &value],
            PipedPhase::Get => &["GET", &key],
            PipedPhase::Delete => &["DEL", &key],
        };
        // Writing into a Vec cannot fail.
        let _ = match client {
            // The value holds double quotes, which redis-cli reads as quoting unless the
            // whole argument is in single quotes.
            Client::Lines => writeln!(
                script,
                "{}",
                args.iter()
                    .map(|arg| if arg.contains('"') {
                        format!("'{arg}'")
                    } else {
                        arg.to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Client::Pipe => {
                let _ = write!(script, "*{}\r\n", args.len());
                args.iter()
                    .try_for_each(|arg| write!(script, "${}\r\n{arg}\r\n", arg.len()))
            }
        };
    }
    script
}

/// Each line's reply (`OK`, the value, `1`), or `--pipe`'s summary with no errors and a
/// reply per command.
fn check(ran: &Ran, phase: PipedPhase, client: Client, n: usize) -> Result<(), String> {
    let stdout = ran.stdout();
    let statements = phase.statements(n);
    match (client, phase) {
        (Client::Pipe, _) => {
            let summary = format!("errors: 0, replies: {statements}");
            if stdout.lines().any(|line| line.trim() == summary) {
                Ok(())
            } else {
                Err(format!("expected {summary:?}, got {:?}", stdout.trim()))
            }
        }
        (Client::Lines, PipedPhase::Get) => expected_value(&stdout, n),
        (Client::Lines, PipedPhase::Put | PipedPhase::Delete) => {
            let expected = if phase == PipedPhase::Put { "OK" } else { "1" };
            let right = stdout.lines().filter(|line| *line == expected).count();
            if right == statements && stdout.lines().count() == statements {
                Ok(())
            } else {
                Err(format!("{right} of {statements} replies were {expected}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Program;
    use super::*;

    #[test]
    fn scripts_quote_the_value_for_redis_cli_and_frame_it_for_pipe() {
        let lines = String::from_utf8(script(PipedPhase::Put, Client::Lines, 1)).unwrap();
        assert_eq!(lines, "SET k000000 '{\"n\":123,\"s\":\"abc\"}'\n");
        let gets = String::from_utf8(script(PipedPhase::Get, Client::Lines, 2)).unwrap();
        assert_eq!(gets, "GET k000000\nGET k000001\n");
        let resp = String::from_utf8(script(PipedPhase::Put, Client::Pipe, 1)).unwrap();
        assert_eq!(
            resp,
            "*3\r\n$3\r\nSET\r\n$7\r\nk000000\r\n$19\r\n{\"n\":123,\"s\":\"abc\"}\r\n"
        );
        let deletes = String::from_utf8(script(PipedPhase::Delete, Client::Pipe, 250)).unwrap();
        assert_eq!(
            deletes,
            "*2\r\n$3\r\nDEL\r\n$7\r\nk000000\r\n*2\r\n$3\r\nDEL\r\n$7\r\nk000001\r\n"
        );
    }

    /// Whether the process `pid` is gone (not even a zombie waiting to be reaped).
    fn gone(pid: u32) -> bool {
        let pid = Pid::from_raw(i32::try_from(pid).unwrap());
        kill(pid, None) == Err(nix::errno::Errno::ESRCH)
    }

    /// The local addresses of the TCP sockets listening on `port`, from `/proc/net/tcp`
    /// and `/proc/net/tcp6` (`0100007F:18EB ... 0A`: address and port in hex, state LISTEN).
    fn listening_on(port: u16) -> Vec<String> {
        use kv_engine::fs::{Fs, RealFs};
        let mut addresses = Vec::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text =
                String::from_utf8(RealFs.read(Path::new(table)).unwrap_or_default()).unwrap();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(&"0A")) = (fields.get(1), fields.get(3)) else {
                    continue;
                };
                let (address, local_port) = local.split_once(':').unwrap();
                if u16::from_str_radix(local_port, 16).unwrap() != port {
                    continue;
                }
                addresses.push(match address {
                    "0100007F" => "127.0.0.1".to_string(),
                    other => other.to_string(),
                });
            }
        }
        addresses
    }

    /// Few processes are spawned here: see `tests/peers.rs` for why (the workload through
    /// both clients runs there).
    #[test]
    fn a_server_listens_on_loopback_only_and_is_gone_after_stop_or_drop() {
        let Some([server_program, cli]) = super::super::tests::programs(
            "a_server_listens_on_loopback_only_and_is_gone_after_stop_or_drop",
            [Program::RedisServer, Program::RedisCli],
        ) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&server_program, dir.path(), AppendFsync::Always).unwrap();
        let pid = server.pid().unwrap();
        assert!(!gone(pid));
        // Loopback only: every socket listening on the port is on 127.0.0.1.
        assert!(ping(server.port));
        assert_eq!(listening_on(server.port), ["127.0.0.1"]);
        // Stopped by its PID, and reaped.
        let other = Server::start(&server_program, dir.path(), AppendFsync::Everysec).unwrap();
        let other_pid = other.pid().unwrap();
        other.stop();
        assert!(gone(other_pid), "redis-server {other_pid} still runs");
        // A failing workload (a port nobody answers on) still stops the server on drop.
        let failing = || -> Result<(), String> {
            let server = Server::start(&server_program, dir.path(), AppendFsync::Always)?;
            let wrong = Server {
                child: None,
                port: free_port()?,
            };
            wrong.run(&cli, Client::Lines, 10)?;
            drop(server);
            Ok(())
        };
        let err = failing().unwrap_err();
        assert!(err.contains("redis-cli -p"), "{err}");
        drop(server);
        assert!(gone(pid), "redis-server {pid} outlived its guard");
    }
}

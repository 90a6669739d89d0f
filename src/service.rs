//! `ringkeeper start | stop | restart | status`: zkServer.sh's verbs for a daemonised server.
//!
//! `start` runs `ringkeeper start-foreground CONFIG` in its own process group with output
//! appended to a log file, records its pid in `<dataDir>/ringkeeper_server.pid`, and returns
//! once the client port answers `srvr` with a mode — or reports the error line the server
//! logged.
//! `stop` sends SIGTERM (the server finishes the log batch in flight; sessions survive a
//! restart), waits for the process to go, and removes the pid file. `status` asks `srvr`.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::Config;

pub const PID_FILE: &str = "ringkeeper_server.pid";
/// The daemon's stdout/stderr (its log) when `--log-file` is not given, in dataDir.
pub const DAEMON_LOG: &str = "ringkeeper.out";
/// How long `start` waits for the client port to answer.
pub const START_WAIT: Duration = Duration::from_secs(60);
/// How long `stop` waits for the process to exit after SIGTERM.
pub const STOP_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

pub fn pid_file(cfg: &Config) -> PathBuf {
    cfg.data_dir.join(PID_FILE)
}

/// The address to reach the client port on: a wildcard listen address is reached on
/// loopback, as zkServer.sh's status does ("localhost").
fn client_target(cfg: &Config) -> Result<SocketAddr> {
    let addr = cfg
        .client_socket_addr(None)?
        .with_context(|| format!("{}: clientPort is not set", cfg.origin))?;
    Ok(if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    })
}

/// Sends a four-letter word; the whole answer.
pub fn four_letter(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Up and serving: `srvr` (always whitelisted, as ZooKeeper's status relies on it) names a
/// mode. `ruok` is refused under ZooKeeper's default whitelist, so it cannot be the test.
fn serving(target: SocketAddr) -> bool {
    four_letter(target, "srvr")
        .is_ok_and(|r| r.contains("Mode: ") && !r.contains("not currently serving"))
}

/// Whether `pid` is a live (not zombie) ringkeeper server process. A pid file can outlive
/// its process and the pid be reused; checking the command line avoids signalling a
/// stranger.
fn is_our_server(pid: i32) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let zombie = std::fs::read_to_string(proc_dir.join("stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    !zombie && args.iter().any(|a| *a == b"start-foreground")
}

fn read_pid(path: &Path) -> Result<Option<i32>> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let pid = s
                .trim()
                .parse::<i32>()
                .with_context(|| format!("{}: not a process id: {:?}", path.display(), s.trim()))?;
            Ok(Some(pid))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Options passed through to the daemon.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub log_file: Option<PathBuf>,
    pub log_level: Option<String>,
    /// Extra `start-foreground` arguments (e.g. `--wal-io sync`).
    pub extra_args: Vec<String>,
}

/// The last ERROR line (or, failing that, the last line) the server wrote after `from`.
fn failure_reason(log: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .rev()
        .find(|l| l.contains("ERROR") || l.starts_with("ringkeeper: "))
        .or(lines.last())
        .map_or_else(
            || "the server exited without a message".to_string(),
            |l| l.trim().to_string(),
        )
}

/// `start`: Ok(()) once serving; Err with the reason otherwise.
pub fn start(config: Option<&Path>, cfg: &Config, opts: &StartOptions) -> Result<()> {
    let pid_path = pid_file(cfg);
    if let Some(pid) = read_pid(&pid_path)? {
        if is_our_server(pid) {
            bail!("already running as process {pid}.");
        }
    }
    cfg.prepare_dirs()?;
    let target = client_target(cfg)?;
    let log_path = opts
        .log_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join(DAEMON_LOG));
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening the log file {}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe().context("finding the ringkeeper executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("start-foreground");
    if let Some(c) = config {
        cmd.arg(std::fs::canonicalize(c).unwrap_or_else(|_| c.to_path_buf()));
    }
    if let Some(level) = &opts.log_level {
        cmd.args(["--log-level", level]);
    }
    cmd.args(&opts.extra_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: a Ctrl-C or SIGHUP aimed at the shell that ran `start`
        // does not reach the daemon.
        .process_group(0);
    let mut child = cmd.spawn().context("spawning the server")?;
    let pid = child.id();
    std::fs::write(&pid_path, pid.to_string())
        .with_context(|| format!("FAILED TO WRITE PID to {}", pid_path.display()))?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(status) = child.try_wait()? {
            let _ = std::fs::remove_file(&pid_path);
            bail!(
                "the server exited ({status}): {}\n(log: {})",
                failure_reason(&log_path, log_start),
                log_path.display()
            );
        }
        if serving(target) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "process {pid} did not answer srvr on {target} within {START_WAIT:?}; it is \
                 still running (see {})",
                log_path.display()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// What `stop` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The server exited after SIGTERM.
    Stopped(i32),
    /// No pid file.
    NoPidFile(PathBuf),
    /// A pid file whose process is gone (removed).
    Stale(i32),
}

/// `stop`: SIGTERM and wait; the pid file is removed once the process is gone.
pub fn stop(cfg: &Config) -> Result<Stopped> {
    let pid_path = pid_file(cfg);
    let Some(pid) = read_pid(&pid_path)? else {
        return Ok(Stopped::NoPidFile(pid_path));
    };
    if !is_our_server(pid) {
        std::fs::remove_file(&pid_path)?;
        return Ok(Stopped::Stale(pid));
    }
    kill(Pid::from_raw(pid), Signal::SIGTERM)
        .with_context(|| format!("sending SIGTERM to process {pid}"))?;
    let deadline = Instant::now() + STOP_WAIT;
    while is_our_server(pid) {
        if Instant::now() >= deadline {
            bail!("process {pid} is still running {STOP_WAIT:?} after SIGTERM");
        }
        std::thread::sleep(POLL);
    }
    // The server may have removed it already; either way it is gone.
    let _ = std::fs::remove_file(&pid_path);
    Ok(Stopped::Stopped(pid))
}

/// `status`: (the "Client port found" line, Ok(mode) or Err(why)).
pub fn status(cfg: &Config) -> Result<(String, Result<String, String>)> {
    let target = client_target(cfg)?;
    let shown = match cfg.client_port_address {
        Some(a) if !a.is_unspecified() => a.to_string(),
        _ => "localhost".to_string(),
    };
    let line = format!(
        "Client port found: {}. Client address: {shown}.",
        target.port()
    );
    let mode = match four_letter(target, "srvr") {
        Ok(out) => out
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
            .ok_or_else(|| out.trim().to_string()),
        Err(e) => Err(e.to_string()),
    };
    Ok((line, mode))
}

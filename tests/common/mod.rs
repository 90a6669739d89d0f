//! Integration-test harness: runs the real `ringkeeper` binary on a free loopback port with
//! its own temporary data directory, and offers restart / crash / 4lw helpers.
//!
//! Set `RK_TEST_SERVER=reference` to run the same tests against Apache ZooKeeper
//! (`apt-get install zookeeper`) instead; that is how the harness itself was checked and
//! how a test's expectations can be compared with Java's behaviour.
//!
//! The helpers block (std process and socket calls). Call them from tests freely; client
//! tasks simply do not run while a helper blocks, which at worst looks like a slow server.

// Each integration-test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

pub mod ensemble;
pub mod proxy;
pub mod raw;
pub mod tree_dump;
pub mod writer;

use ringkeeper::client::Client;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer `ruok` after being spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a SIGTERMed server may take to exit before it is SIGKILLed (and the test fails).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Session timeout used by `TestServer::client`.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The superDigest in every config is for user `super`, password `test`.
pub const SUPER_AUTH: &[u8] = b"super:test";

const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ringkeeper,
    Reference,
}

/// True when the tests run against Apache ZooKeeper (`RK_TEST_SERVER=reference`).
pub fn is_reference() -> bool {
    Kind::from_env() == Kind::Reference
}

impl Kind {
    fn from_env() -> Kind {
        match std::env::var("RK_TEST_SERVER").as_deref() {
            Ok("reference") => Kind::Reference,
            _ => Kind::Ringkeeper,
        }
    }
}

/// A running server process. Dropping it kills the process.
pub struct TestServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    kind: Kind,
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub fn start() -> TestServer {
        TestServer::start_with("")
    }

    /// Starts a server whose zoo.cfg has `extra_cfg` appended. A key set in `extra_cfg`
    /// replaces the harness default for that key (e.g. `tickTime=500`).
    pub fn start_with(extra_cfg: &str) -> TestServer {
        let mut s = TestServer::create(extra_cfg);
        s.start_again();
        s
    }

    /// Like `start_with`, but the server is not started yet (see `start_again_with_env`).
    pub fn create(extra_cfg: &str) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("ringkeeper-test-")
            .tempdir()
            .expect("create temp dir");
        let port = free_port();
        let kind = Kind::from_env();
        std::fs::create_dir_all(dir.path().join("data")).expect("create data dir");
        let cfg = config_text(kind, port, &dir.path().join("data"), extra_cfg);
        std::fs::write(dir.path().join("zoo.cfg"), cfg).expect("write zoo.cfg");
        TestServer {
            port,
            dir,
            child: None,
            kind,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn cfg_path(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server printed, across restarts.
    pub fn log_contents(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// A new session on this server.
    pub async fn client(&self) -> Client {
        Client::connect(&self.addr(), CLIENT_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", self.addr(), self.tail()))
    }

    /// Spawns the server on the existing directory and port and waits until it answers
    /// `ruok`. Panics (with the log) if it exits or does not come up in time.
    pub fn start_again(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// `start_again` with extra environment variables for this run of the process only.
    pub fn start_again_with_env(&mut self, env: &[(&str, &str)]) {
        self.spawn_with_env(env);
        self.wait_ready();
    }

    /// Spawns the server without waiting for it (an ensemble member serves only once a
    /// quorum is up).
    pub fn spawn(&mut self) {
        self.spawn_with_env(&[]);
    }

    /// `spawn` with extra environment variables for this run of the process only.
    pub fn spawn_with_env(&mut self, env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "server is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .envs(env.iter().copied());
        self.child = Some(cmd.spawn().expect("spawn server"));
    }

    /// SIGTERM, wait for a clean exit, start again on the same data and port.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success() || self.kind == Kind::Reference,
            "server exited with {status} on SIGTERM\n{}",
            self.tail()
        );
        self.start_again();
    }

    /// SIGTERM and wait for the process to exit; returns its status. A server that does
    /// not exit within `STOP_TIMEOUT` is SIGKILLed and the test fails.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        match self.wait_exit(STOP_TIMEOUT) {
            Some(s) => s,
            None => {
                self.kill9();
                panic!(
                    "server ignored SIGTERM for {STOP_TIMEOUT:?}\n{}",
                    self.tail()
                );
            }
        }
    }

    /// SIGKILL (a crash): nothing is flushed. Use `start_again` to recover on the data.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Already exited is fine: the point is that it is gone.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the process stays alive but answers nothing (sessions cannot expire).
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// `pause`, then waits until every thread of the process is stopped, so nothing it had
    /// not yet read from its sockets can be processed any more.
    pub fn pause_and_wait(&self) {
        self.pause();
        let tasks = PathBuf::from(format!("/proc/{}/task", self.pid()));
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let states: Vec<String> = std::fs::read_dir(&tasks)
                .expect("list the server's threads")
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
                .filter_map(|st| st.rsplit_once(") ").map(|(_, rest)| rest[..1].to_string()))
                .collect();
            if !states.is_empty() && states.iter().all(|s| s == "T" || s == "t") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server threads not stopped after SIGSTOP: {states:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGCONT after `pause`.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("poll server process").is_none(),
            None => false,
        }
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.child.as_mut()?;
            if let Some(status) = c.try_wait().expect("poll server process") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a four-letter word against this server.
    pub fn four_letter(&self, cmd: &str) -> String {
        four_letter(self.port, cmd)
    }

    /// One numeric `mntr` value, by its name without the `zk_` prefix.
    pub fn mntr(&self, key: &str) -> i64 {
        let m = self.four_letter("mntr");
        let prefix = format!("zk_{key}\t");
        m.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("mntr has no zk_{key}\n{m}"))
            .trim()
            .parse()
            .unwrap()
    }

    fn signal(&self, sig: &str) {
        // `unsafe` (libc::kill) is reserved for the io_uring module, so use kill(1).
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    fn command(&self) -> Command {
        let cfg = self.cfg_path();
        match self.kind {
            Kind::Ringkeeper => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_ringkeeper"));
                c.arg("start-foreground").arg(cfg);
                c
            }
            Kind::Reference => {
                let mut c = Command::new("java");
                // Java reads these as system properties; some (the container interval)
                // are not picked up from zoo.cfg because they lack the zookeeper. prefix.
                c.args([
                    "-Dzookeeper.root.logger=INFO,CONSOLE",
                    "-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties",
                    "-Dznode.container.checkIntervalMs=1000",
                    "-Dzookeeper.extendedTypesEnabled=true",
                    "-Dzookeeper.4lw.commands.whitelist=*",
                    &format!("-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"),
                    "-cp",
                    "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                ]);
                c.arg(cfg);
                c
            }
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.wait_exit(Duration::ZERO) {
                panic!(
                    "server exited during startup with {status}\n{}",
                    self.tail()
                );
            }
            if self.serving() {
                return;
            }
            if Instant::now() >= deadline {
                self.kill9();
                panic!("server not ready after {START_TIMEOUT:?}\n{}", self.tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Up (`ruok`) and accepting sessions: Java answers `ruok` before its request
    /// pipeline runs, and `srvr` says so until then.
    pub fn serving(&self) -> bool {
        try_four_letter(self.port, "ruok").is_ok_and(|r| r == "imok")
            && try_four_letter(self.port, "srvr")
                .is_ok_and(|r| r.contains("Mode:") && !r.contains("not currently serving"))
    }

    /// The end of the log, for panic messages.
    pub fn tail(&self) -> String {
        let log = self.log_contents();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        format!(
            "--- server log tail ({}) ---\n{}",
            self.log_path().display(),
            &log[start..]
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            // Keep data and log for the post-mortem of a failed test.
            self.dir.disable_cleanup(true);
            eprintln!("test server files kept in {}", self.dir.path().display());
        }
    }
}

/// The zoo.cfg for a test server: harness defaults, minus keys `extra` overrides, then
/// `extra` itself.
fn config_text(_kind: Kind, port: u16, data_dir: &std::path::Path, extra: &str) -> String {
    let overridden: Vec<&str> = extra
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    let mut defaults = vec![
        ("tickTime", "2000".to_string()),
        ("dataDir", data_dir.display().to_string()),
        ("clientPort", port.to_string()),
        ("clientPortAddress", "127.0.0.1".to_string()),
        ("4lw.commands.whitelist", "*".to_string()),
        ("extendedTypesEnabled", "true".to_string()),
        ("znode.container.checkIntervalMs", "1000".to_string()),
        // Small log segments: dozens of test servers each zero-filling 64 MiB segments
        // would dominate the suite's disk traffic.
        ("preAllocSize", "1024".to_string()),
        (
            "DigestAuthenticationProvider.superDigest",
            SUPER_DIGEST.to_string(),
        ),
    ];
    // Both admin servers default to port 8080, which parallel tests would fight over;
    // tests of the admin server enable it on a free port (`http_cfg`).
    defaults.push(("admin.enableServer", "false".to_string()));
    let mut out = String::new();
    for (k, v) in defaults {
        if !overridden.contains(&k) {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    out.push_str(extra);
    if !extra.is_empty() && !extra.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// zoo.cfg lines enabling the admin server and the Prometheus endpoint on free loopback
/// ports; returns (lines, admin port, metrics port).
pub fn http_cfg() -> (String, u16, u16) {
    let (admin, metrics) = (free_port(), free_port());
    let cfg = format!(
        "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n\
         metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
         metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={metrics}\n"
    );
    (cfg, admin, metrics)
}

/// A plain HTTP/1.1 GET on loopback: (status code, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to HTTP port {port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Sends a four-letter word and returns the whole answer. Panics on I/O errors.
pub fn four_letter(port: u16, cmd: &str) -> String {
    try_four_letter(port, cmd).unwrap_or_else(|e| panic!("4lw {cmd} on port {port}: {e}"))
}

fn try_four_letter(port: u16, cmd: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // No half-close: the server answers after the 4 bytes and then closes.
    s.write_all(cmd.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Ends a `ZooKeeper` session from outside, as a server-side expiry would: another
/// connection resumes it and closes it. The two connections may move the session back and
/// forth (each resume drops the other's connection), so this retries until the close lands.
pub async fn end_session(zk: &ringkeeper::client::ZooKeeper, addr: &str) {
    use ringkeeper::client::ClientError;
    for _ in 0..50 {
        match Client::connect_with(zk.resume_options(addr)).await {
            Ok(thief) => match thief.close().await {
                Ok(()) => return,
                Err(ClientError::ConnectionLoss) => {}
                Err(e) => panic!("closeSession: {e}"),
            },
            Err(ClientError::SessionExpired) => return,
            // The server may drop a resume that races the owner's own reconnection.
            Err(ClientError::ConnectionLoss) => {}
            Err(e) => panic!("resume session: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("closeSession never got through");
}

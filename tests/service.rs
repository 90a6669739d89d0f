//! `ringkeeper start | status | stop | restart` as an operator runs them: real daemonised
//! processes, the pid file in dataDir, and the exit codes and messages zkServer.sh users
//! expect.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::free_port;
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, CreateMode};

/// A config in a temp dir; dropping it stops whatever `start` left running.
struct Daemon {
    dir: tempfile::TempDir,
    port: u16,
}

impl Daemon {
    /// ZooKeeper's default 4lw whitelist (srvr only): `start` and `status` must work with it.
    fn new() -> Daemon {
        Daemon::with("")
    }

    fn with(extra: &str) -> Daemon {
        Daemon::on_port(extra, free_port())
    }

    fn on_port(extra: &str, port: u16) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("ringkeeper-svc-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(
            dir.path().join("zoo.cfg"),
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\npreAllocSize=1024\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .expect("write zoo.cfg");
        Daemon { dir, port }
    }

    fn cfg(&self) -> PathBuf {
        self.dir.path().join("zoo.cfg")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("data").join("ringkeeper_server.pid")
    }

    fn run(&self, verb: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
            .arg(verb)
            .arg(self.cfg())
            .output()
            .expect("run ringkeeper")
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.pid_file().exists() {
            let _ = self.run("stop");
        }
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Alive and not a zombie (the daemon's parent exits, and not every init reaps orphans).
fn pid_alive(pid: &str) -> bool {
    std::fs::read_to_string(Path::new(&format!("/proc/{pid}/stat"))).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn start_status_stop_and_the_pid_file() {
    let d = Daemon::new();
    let o = d.run("start");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out, "Starting ringkeeper ... STARTED\n");
    assert!(err.contains("Using config: "), "{err}");
    let pid = std::fs::read_to_string(d.pid_file()).expect("pid file");
    assert!(pid_alive(pid.trim()), "pid {pid} not running");
    // It serves right away: start returned only once srvr answered (ruok is not in
    // ZooKeeper's default whitelist, which this config keeps).
    assert!(common::four_letter(d.port, "srvr").contains("Mode: standalone"));

    let o = d.run("status");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "Client port found: {}. Client address: 127.0.0.1.\nMode: standalone\n",
            d.port
        )
    );

    // Starting twice is refused, naming the running process.
    let o = d.run("start");
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        out,
        format!(
            "Starting ringkeeper ... already running as process {}.\n",
            pid.trim()
        )
    );

    let o = d.run("stop");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out, "Stopping ringkeeper ... STOPPED\n");
    assert!(!d.pid_file().exists(), "pid file left behind");
    assert!(!pid_alive(pid.trim()), "process {pid} still running");

    let o = d.run("status");
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.ends_with("Error contacting service. It is probably not running.\n"),
        "{out}"
    );
    // The daemon's log holds the banner and the shutdown.
    let log = std::fs::read_to_string(d.dir.path().join("data").join("ringkeeper.out"))
        .expect("daemon log");
    assert!(
        log.contains("serving clients") && log.contains("log backend"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn stop_and_status_with_nothing_running() {
    let d = Daemon::new();
    let o = d.run("stop");
    let (out, _) = text(&o);
    // As zkServer.sh: nothing to stop is not an error.
    assert!(o.status.success(), "{out}");
    assert_eq!(
        out,
        format!(
            "Stopping ringkeeper ... no ringkeeper to stop (could not find file {})\n",
            d.pid_file().display()
        )
    );
    let o = d.run("status");
    assert_eq!(o.status.code(), Some(1));

    // A pid file left by a crash (its process gone) is cleaned up, not obeyed.
    std::fs::create_dir_all(d.pid_file().parent().unwrap()).unwrap();
    std::fs::write(d.pid_file(), "999999999").unwrap();
    let o = d.run("stop");
    let (out, _) = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("is not running; removed its pid file"),
        "{out}"
    );
    assert!(!d.pid_file().exists());
}

#[test]
fn start_on_a_used_port_fails_with_the_reason() {
    // Held from the start: a port picked free and bound later can be taken by any
    // connection's ephemeral port in between.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("take a port");
    let d = Daemon::on_port("", taken.local_addr().expect("local addr").port());
    let o = d.run("start");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_eq!(out, "Starting ringkeeper ... FAILED TO START\n");
    assert!(
        err.contains(&format!(
            "clientPort 127.0.0.1:{} is already in use",
            d.port
        )),
        "{err}"
    );
    assert!(
        !d.pid_file().exists(),
        "pid file of a failed start left behind"
    );
}

#[tokio::test]
async fn restart_keeps_sessions_and_their_ephemerals() {
    let d = Daemon::with("4lw.commands.whitelist=dump\n");
    assert!(d.run("start").status.success());
    let c = Client::connect(&d.addr(), common::CLIENT_TIMEOUT)
        .await
        .expect("connect");
    c.create("/eph", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .expect("create /eph");
    let resume = c.resume_options();
    let sid = c.session_id();
    // Drop the connection without closing the session.
    drop(c);

    let o = d.run("restart");
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        out,
        "Stopping ringkeeper ... STOPPED\nStarting ringkeeper ... STARTED\n"
    );

    let c = Client::connect_with(resume)
        .await
        .expect("resume the session");
    assert_eq!(c.session_id(), sid, "the session did not survive");
    assert!(
        c.exists("/eph", false).await.expect("exists").is_some(),
        "the session's ephemeral node is gone"
    );
    let dump = common::four_letter(d.port, "dump");
    assert!(dump.contains(&format!("0x{sid:x}:\n\t/eph\n")), "{dump}");
}

#[test]
fn log_file_and_log_level_options() {
    let d = Daemon::new();
    let start = |level: &str, log: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
            .args(["start", "--log-level", level, "--log-file"])
            .arg(log)
            .arg(d.cfg())
            .output()
            .expect("run");
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        assert_eq!(d.run("stop").status.code(), Some(0));
        std::fs::read_to_string(log).expect("the log file")
    };
    let info = start("info", &d.dir.path().join("info.log"));
    assert!(
        info.contains("INFO") && info.contains("serving clients"),
        "{info}"
    );
    assert!(
        !d.dir.path().join("data").join("ringkeeper.out").exists(),
        "the default log was written although --log-file was given"
    );
    let warn = start("warn", &d.dir.path().join("warn.log"));
    assert!(
        !warn.contains("INFO"),
        "--log-level warn let INFO through:\n{warn}"
    );

    // A bad level is a plain error, before anything starts.
    let o = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args(["start-foreground", "--log-level", "loud=="])
        .arg(d.cfg())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text_of(&o.stderr).contains("invalid log level"),
        "{}",
        text_of(&o.stderr)
    );
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

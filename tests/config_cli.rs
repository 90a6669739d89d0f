//! The command line and zoo.cfg handling of the real binary: bad values, bad directories,
//! unknown keys, a busy port, ensemble myid errors, `version`, and ZooKeeper's sample config.

mod common;

use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, CreateMode};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringkeeper");

/// Runs `ringkeeper start-foreground <cfg>` and expects it to exit by itself (bounded).
fn run_expect_exit(cfg: &Path) -> Output {
    let mut child = Command::new(BIN)
        .arg("start-foreground")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "server did not exit on a bad config\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A server process that is killed on drop.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on `cfg` and waits for `ruok` on `port`.
fn start_ok(cfg: &Path, port: u16) -> Running {
    let log = cfg.with_file_name("server.log");
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(BIN)
        .arg("start-foreground")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    let mut r = Running { child, log };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(st) = r.child.try_wait().unwrap() {
            panic!("server exited with {st}\n{}", r.log());
        }
        let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && common::four_letter(port, "srvr").contains("Mode: standalone");
        if ok {
            return r;
        }
        assert!(Instant::now() < deadline, "not ready\n{}", r.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_cfg(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("zoo.cfg");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn malformed_value_names_key_and_line_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("not-yet/data");
    let port = common::free_port();
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "# sample\ndataDir={}\nclientPort={port}\ntickTime=abc\n",
            data.display()
        ),
    );
    let out = run_expect_exit(&cfg);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(msg.contains("tickTime"), "key not named: {msg}");
    assert!(msg.contains("zoo.cfg:4"), "file:line not named: {msg}");
    assert!(
        !tmp.path().join("not-yet").exists(),
        "a rejected config created directories"
    );
    // And the port was never opened.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn other_bad_values_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    for (line, key) in [
        ("clientPort=70000", "clientPort"),
        ("maxClientCnxns=-3", "maxClientCnxns"),
        (
            "minSessionTimeout=9000\nmaxSessionTimeout=4000",
            "SessionTimeout",
        ),
    ] {
        let cfg = write_cfg(
            tmp.path(),
            &format!("dataDir={}\nclientPort=2181\n{line}\n", data.display()),
        );
        let out = run_expect_exit(&cfg);
        let msg = text(&out);
        assert!(!out.status.success(), "{line}: {msg}");
        assert!(msg.contains(key), "{line}: {msg}");
    }
    assert!(!data.exists());
}

#[test]
fn data_dir_under_a_regular_file_is_an_error_naming_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let port = common::free_port();
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "tickTime=2000\ndataDir={}/data\nclientPort={port}\n",
            file.display()
        ),
    );
    let out = run_expect_exit(&cfg);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(msg.contains("dataDir"), "{msg}");
    assert!(msg.to_lowercase().contains("not a directory"), "{msg}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[tokio::test]
async fn unknown_key_is_a_warning_and_the_server_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nnoSuchKey=42\n",
            tmp.path().join("data").display()
        ),
    );
    let r = start_ok(&cfg, port);
    let log = r.log();
    let warn = log
        .lines()
        .find(|l| l.contains("noSuchKey"))
        .unwrap_or_else(|| panic!("no warning naming the key\n{log}"));
    assert!(warn.contains("WARN"), "{warn}");
    assert!(warn.contains("zoo.cfg:5"), "line not named: {warn}");
    let c = Client::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(10))
        .await
        .unwrap();
    c.create("/x", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
}

#[test]
fn client_port_in_use_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n",
            tmp.path().join("data").display()
        ),
    );
    let out = run_expect_exit(&cfg);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(msg.contains("already in use"), "{msg}");
    assert!(msg.contains(&port.to_string()), "{msg}");
}

#[test]
fn a_second_server_on_the_same_port_refuses_to_start() {
    // SO_REUSEPORT must not let two servers share a port silently.
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n",
            tmp.path().join("data").display()
        ),
    );
    let _first = start_ok(&cfg, port);
    let other = tempfile::tempdir().unwrap();
    let cfg2 = write_cfg(
        other.path(),
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n",
            other.path().join("data").display()
        ),
    );
    let out = run_expect_exit(&cfg2);
    assert!(!out.status.success());
    assert!(text(&out).contains("already in use"), "{}", text(&out));
}

/// An ensemble config whose myid is missing, or names no `server.N` line, is refused with
/// the reason (ZooKeeper's wording is different, but both name myid).
#[test]
fn ensemble_config_without_a_usable_myid_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             server.1=127.0.0.1:{}:{}\nserver.2=127.0.0.1:{}:{}\nserver.3=127.0.0.1:{}:{}\n",
            data.display(),
            common::free_port(),
            common::free_port(),
            common::free_port(),
            common::free_port(),
            common::free_port(),
            common::free_port(),
            common::free_port()
        ),
    );
    let out = run_expect_exit(&cfg);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(msg.contains("myid") && msg.contains("missing"), "{msg}");

    std::fs::write(data.join("myid"), "7\n").unwrap();
    let out = run_expect_exit(&cfg);
    let msg = text(&out);
    assert!(!out.status.success(), "{msg}");
    assert!(msg.contains("no server.7 line"), "{msg}");
}

#[test]
fn version_subcommand() {
    let out = Command::new(BIN).arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ringkeeper {}", env!("CARGO_PKG_VERSION"))
    );
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    // An unknown subcommand is a usage error, not a start.
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn zookeeper_sample_config_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let data = tmp.path().join("zookeeper");
    // conf/zoo_sample.cfg from Apache ZooKeeper, with dataDir and clientPort adjusted.
    let cfg = write_cfg(
        tmp.path(),
        &format!(
            "# The number of milliseconds of each tick\n\
             tickTime=2000\n\
             # The number of ticks that the initial \n\
             # synchronization phase can take\n\
             initLimit=10\n\
             # The number of ticks that can pass between \n\
             # sending a request and getting an acknowledgement\n\
             syncLimit=5\n\
             # the directory where the snapshot is stored.\n\
             # do not use /tmp for storage, /tmp here is just \n\
             # example sakes.\n\
             dataDir={}\n\
             # the port at which the clients will connect\n\
             clientPort={port}\n\
             # the maximum number of client connections.\n\
             # increase this if you need to handle more clients\n\
             #maxClientCnxns=60\n\
             #\n\
             # Be sure to read the maintenance section of the \n\
             # administrator guide before turning on autopurge.\n\
             #\n\
             # https://zookeeper.apache.org/doc/current/zookeeperAdmin.html#sc_maintenance\n\
             #\n\
             # The number of snapshots to retain in dataDir\n\
             #autopurge.snapRetainCount=3\n\
             # Purge task interval in hours\n\
             # Set to \"0\" to disable auto purge feature\n\
             #autopurge.purgeInterval=1\n\
             \n\
             ## Metrics Providers\n\
             #\n\
             # https://prometheus.io Metrics Exporter\n\
             #metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             #metricsProvider.httpHost=0.0.0.0\n\
             #metricsProvider.httpPort=7000\n\
             #metricsProvider.exportJvmInfo=true\n",
            data.display()
        ),
    );
    let r = start_ok(&cfg, port);
    assert!(data.is_dir(), "dataDir was not created");
    let log = r.log();
    assert!(!log.contains("ERROR"), "{log}");
    let c = Client::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(30))
        .await
        .unwrap();
    // Defaults from tickTime 2000: sessions in [4 s, 40 s].
    assert_eq!(c.negotiated_timeout(), Duration::from_secs(30));
    c.create("/sample", b"ok", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let conf = common::four_letter(port, "srvr");
    assert!(conf.contains("Mode: standalone"), "{conf}");
}

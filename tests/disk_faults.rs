//! Injected log-disk faults on the real binary (cargo feature `fault-injection`; see
//! src/storage/fault.rs): a failing write, a torn write and a failing fdatasync on both log
//! backends, a slow log disk, and a log held "in the disk" indefinitely.
//!
//! The faulty batches lose their data (nothing written, half written, or written to
//! /dev/null), so a server that acknowledged any write of such a batch would be caught when
//! the restarted server is asked for every acknowledged write.
//!
//! The same faults under the linearizability workload (`linz`): client histories across an
//! fdatasync error, a torn write and a slow disk are checked as in tests/linearizability.rs.
//!
//! Run: `cargo test --release --features fault-injection --test disk_faults`.

mod common;
#[allow(dead_code)]
mod linz;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::process::{Command, ExitStatus};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::TestServer;
use ringkeeper::client::{acl, Client, ClientError, CreateMode};

const FAULTS_ENV: &str = "RINGKEEPER_FAULTS";
const WRITERS: usize = 4;
const WINDOW: usize = 16;
/// The batch that fails: late enough that many writes were acknowledged before it.
const FAULTY_BATCH: u64 = 40;
/// The bound on a server's way to its fault; far above what it needs.
const EXIT_WAIT: Duration = Duration::from_secs(60);

fn reference_server() -> bool {
    if std::env::var("RK_TEST_SERVER").as_deref() == Ok("reference") {
        eprintln!("SKIPPED: fault injection exists only in ringkeeper");
        return true;
    }
    false
}

#[derive(Default)]
struct Outcome {
    /// Acknowledged creates: path and data.
    acked: Vec<(String, Vec<u8>)>,
    /// Creates sent whose answer never came (connection lost first).
    unanswered: Vec<String>,
    /// Write latencies, for the slow-disk case.
    latencies: Vec<Duration>,
}

type Shared = Rc<RefCell<Outcome>>;

fn payload(path: &str) -> Vec<u8> {
    let mut d = path.as_bytes().to_vec();
    d.resize(120, b'.');
    d
}

/// Creates `prefix/w<i>-<k>` with up to `WINDOW` in flight until `max` are acknowledged or
/// the connection is lost; any other error fails the test.
async fn writer(c: Client, prefix: String, i: usize, max: usize, out: Shared) {
    let mut inflight = VecDeque::new();
    let mut k = 0;
    loop {
        while inflight.len() < WINDOW && k < max {
            let path = format!("{prefix}/w{i}-{k}");
            let data = payload(&path);
            let f = c.create(&path, &data, &acl::open_unsafe(), CreateMode::Persistent);
            inflight.push_back((path, data, Instant::now(), f));
            k += 1;
        }
        let Some((path, data, sent, f)) = inflight.pop_front() else {
            return;
        };
        match f.await {
            Ok(p) => {
                assert_eq!(p, path);
                let mut o = out.borrow_mut();
                o.latencies.push(sent.elapsed());
                o.acked.push((path, data));
            }
            Err(ClientError::ConnectionLoss) => {
                let mut o = out.borrow_mut();
                o.unanswered.push(path);
                o.unanswered
                    .extend(inflight.drain(..).map(|(p, _, _, _)| p));
                return;
            }
            Err(e) => panic!("{path}: unexpected error {e}"),
        }
    }
}

async fn start_writers(
    s: &TestServer,
    prefix: &str,
    max: usize,
) -> (Shared, Vec<tokio::task::JoinHandle<()>>) {
    let c = s.client().await;
    c.create(prefix, b"", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let out: Shared = Rc::default();
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let c = s.client().await;
        tasks.push(tokio::task::spawn_local(writer(
            c,
            prefix.to_string(),
            i,
            max,
            out.clone(),
        )));
    }
    (out, tasks)
}

/// Checks every acknowledged create; returns how many unanswered creates are present.
async fn check(s: &TestServer, o: &Outcome) -> usize {
    let c = s.client().await;
    let mut pending = VecDeque::new();
    for (path, data) in &o.acked {
        pending.push_back((path, data, c.get_data(path, false)));
        if pending.len() >= 256 {
            let (p, d, f) = pending.pop_front().unwrap();
            check_one(p, d, f.await);
        }
    }
    for (p, d, f) in pending {
        check_one(p, d, f.await);
    }
    let mut present = 0;
    for p in &o.unanswered {
        if c.exists(p, false).await.unwrap().is_some() {
            present += 1;
        }
    }
    present
}

fn check_one(
    path: &str,
    data: &[u8],
    got: ringkeeper::client::Result<(Option<Vec<u8>>, ringkeeper::client::Stat)>,
) {
    match got {
        Ok((Some(d), _)) => assert_eq!(d, data, "{path}: data differs"),
        other => panic!("acknowledged {path} lost: {other:?}"),
    }
}

async fn wait_exit(s: &mut TestServer) -> ExitStatus {
    let deadline = Instant::now() + EXIT_WAIT;
    loop {
        if let Some(st) = s.wait_exit(Duration::ZERO) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on the fault\n{}",
            s.tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `ringkeeper log verify|dump` on the server's log; (exit ok, stdout + stderr).
fn log_tool(s: &TestServer, verb: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args(["log", verb])
        .arg(s.data_dir())
        .output()
        .expect("run ringkeeper log");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// One fault on one backend: load until the server stops, then a restart without the fault
/// must hold every acknowledged write and take new ones.
async fn stops_and_keeps_every_acknowledged_write(wal_io: &str, fault: &str, log_says: &str) {
    if reference_server() {
        return;
    }
    let mut s = TestServer::create(&format!("walIo={wal_io}\n"));
    s.start_again_with_env(&[(FAULTS_ENV, fault)]);
    let (out, tasks) = start_writers(&s, "/load", usize::MAX).await;
    let status = wait_exit(&mut s).await;
    for t in tasks {
        t.await.unwrap();
    }
    let log = s.log_contents();
    assert_eq!(status.code(), Some(70), "{fault}: {status}\n{}", s.tail());
    assert!(
        log.contains("FATAL") && log.contains(log_says),
        "{fault}\n{}",
        s.tail()
    );
    let o = out.take();
    assert!(
        !o.acked.is_empty(),
        "{fault}: nothing was acknowledged before the fault"
    );
    assert!(
        !o.unanswered.is_empty(),
        "{fault}: the fault cut no write short"
    );

    s.start_again();
    let present = check(&s, &o).await;
    let (sound, report) = log_tool(&s, "verify");
    assert!(
        sound,
        "{fault}: the log after recovery is damaged\n{report}"
    );
    let c = s.client().await;
    c.create("/after", b"x", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    s.restart();
    let c = s.client().await;
    assert!(c.exists("/after", false).await.unwrap().is_some());
    check(&s, &o).await;
    eprintln!(
        "{fault} on {wal_io}: exit {status}; {} acknowledged writes all present after restart; \
         {present} of {} unanswered writes present",
        o.acked.len(),
        o.unanswered.len()
    );
}

fn local() -> tokio::task::LocalSet {
    tokio::task::LocalSet::new()
}

#[tokio::test]
async fn write_error_uring() {
    let fault = format!("write-error@{FAULTY_BATCH}");
    local()
        .run_until(stops_and_keeps_every_acknowledged_write(
            "uring",
            &fault,
            "Bad file descriptor",
        ))
        .await;
}

#[tokio::test]
async fn write_error_sync() {
    let fault = format!("write-error@{FAULTY_BATCH}");
    local()
        .run_until(stops_and_keeps_every_acknowledged_write(
            "sync",
            &fault,
            "Bad file descriptor",
        ))
        .await;
}

#[tokio::test]
async fn torn_write_uring() {
    let fault = format!("torn-write@{FAULTY_BATCH}");
    local()
        .run_until(stops_and_keeps_every_acknowledged_write(
            "uring",
            &fault,
            "torn after",
        ))
        .await;
}

#[tokio::test]
async fn torn_write_sync() {
    let fault = format!("torn-write@{FAULTY_BATCH}");
    local()
        .run_until(stops_and_keeps_every_acknowledged_write(
            "sync",
            &fault,
            "torn after",
        ))
        .await;
}

#[tokio::test]
async fn fsync_error_uring() {
    let fault = format!("fsync-error@{FAULTY_BATCH}");
    local()
        .run_until(stops_and_keeps_every_acknowledged_write(
            "uring",
            &fault,
            "fdatasync",
        ))
        .await;
}

#[tokio::test]
async fn fsync_error_sync() {
    let fault = format!("fsync-error@{FAULTY_BATCH}");
    local()
        .run_until(stops_and_keeps_every_acknowledged_write(
            "sync",
            &fault,
            "Invalid argument",
        ))
        .await;
}

/// A torn write leaves a torn record at the end of the log; recovery must cut it off and say
/// so.
#[tokio::test]
async fn torn_write_is_cut_off_at_recovery() {
    if reference_server() {
        return;
    }
    local()
        .run_until(async {
            let mut s = TestServer::create("walIo=sync\n");
            s.start_again_with_env(&[(FAULTS_ENV, "torn-write@20")]);
            let (_out, tasks) = start_writers(&s, "/torn", usize::MAX).await;
            wait_exit(&mut s).await;
            for t in tasks {
                t.await.unwrap();
            }
            let (sound, report) = log_tool(&s, "verify");
            assert!(!sound && report.contains("torn tail"), "{report}");
            s.start_again();
            assert!(
                s.log_contents().contains("log tail is torn"),
                "{}",
                s.tail()
            );
            let (sound, report) = log_tool(&s, "verify");
            assert!(sound, "{report}");
        })
        .await;
}

/// The txn zxids of the log as `ringkeeper log dump --json` shows them.
fn logged_paths(s: &TestServer) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args(["log", "dump"])
        .arg(s.data_dir())
        .output()
        .expect("run ringkeeper log dump");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// While the log disk holds a batch, the write is not acknowledged and not in the file, and
/// reads and four-letter words go on being served; once released, the write is acknowledged
/// and logged.
#[tokio::test]
async fn held_log_blocks_acknowledgement_not_reads() {
    if reference_server() {
        return;
    }
    local()
        .run_until(async {
            let gate_dir = tempfile::tempdir().unwrap();
            let gate = gate_dir.path().join("hold");
            let mut s = TestServer::create("");
            s.start_again_with_env(&[(FAULTS_ENV, &format!("hold-while={}", gate.display()))]);
            // Sessions are logged too: both clients connect before the disk is held.
            let writer = s.client().await;
            let reader = s.client().await;
            reader
                .create(
                    "/seen",
                    b"before",
                    &acl::open_unsafe(),
                    CreateMode::Persistent,
                )
                .await
                .unwrap();
            std::fs::write(&gate, b"").unwrap();

            let mut held =
                Box::pin(writer.create("/held", b"x", &acl::open_unsafe(), CreateMode::Persistent));
            let mut reads = 0;
            for _ in 0..200 {
                let (d, _) = reader.get_data("/seen", false).await.unwrap();
                assert_eq!(d.as_deref(), Some(&b"before"[..]));
                assert!(reader.exists("/held", false).await.unwrap().is_none());
                reads += 2;
            }
            assert!(s.four_letter("srvr").contains("Mode: standalone"));
            assert!(
                tokio::time::timeout(Duration::ZERO, &mut held)
                    .await
                    .is_err(),
                "a write was acknowledged while its batch had not reached the disk"
            );
            assert!(
                !logged_paths(&s).contains("/held"),
                "held batch is already in the file"
            );

            std::fs::remove_file(&gate).unwrap();
            assert_eq!(held.await.unwrap(), "/held");
            assert!(logged_paths(&s).contains("/held"));
            s.restart();
            let c = s.client().await;
            assert!(c.exists("/held", false).await.unwrap().is_some());
            eprintln!("held log: {reads} reads and a srvr served while a write waited on the disk");
        })
        .await;
}

/// A slow log disk: every batch takes `DELAY` longer to become durable. Writes still
/// succeed, each acknowledged no sooner than the delay, the server reports the slow syncs,
/// and a reader meanwhile is served.
#[tokio::test]
async fn slow_log_disk_still_acknowledges_only_durable_writes() {
    const DELAY_MS: u64 = 100;
    const PER_WRITER: usize = 150;
    if reference_server() {
        return;
    }
    local()
        .run_until(async {
            let mut s = TestServer::create("fsync.warningthresholdms=50\n");
            s.start_again_with_env(&[(FAULTS_ENV, &format!("sync-delay-ms={DELAY_MS}"))]);
            let reader = s.client().await;
            reader
                .create("/r", b"r", &acl::open_unsafe(), CreateMode::Persistent)
                .await
                .unwrap();
            let (out, tasks) = start_writers(&s, "/slow", PER_WRITER).await;
            let started = Instant::now();
            let mut reads = 0u64;
            let mut read_max = Duration::ZERO;
            while out.borrow().acked.len() < WRITERS * PER_WRITER {
                assert!(
                    tasks.iter().any(|t| !t.is_finished()),
                    "writers stopped short\n{}",
                    s.tail()
                );
                let t = Instant::now();
                reader.get_data("/r", false).await.unwrap();
                read_max = read_max.max(t.elapsed());
                reads += 1;
            }
            let took = started.elapsed();
            for t in tasks {
                t.await.unwrap();
            }
            let o = out.take();
            assert!(o.unanswered.is_empty());
            let lat_min = o.latencies.iter().min().copied().unwrap();
            assert!(
                lat_min >= Duration::from_millis(DELAY_MS),
                "a write was acknowledged {lat_min:?} after it was sent, before its sync could end"
            );
            let mntr = s.four_letter("mntr");
            let fsync_max: u64 = mntr
                .lines()
                .find_map(|l| l.strip_prefix("zk_log_sync_us_max\t"))
                .expect("mntr has zk_log_sync_us_max")
                .parse()
                .unwrap();
            assert!(fsync_max >= DELAY_MS * 1000, "{mntr}");
            assert!(s.log_contents().contains("fsync-ing the write ahead log took"));
            s.restart();
            check(&s, &o).await;
            let mut lat = o.latencies.clone();
            lat.sort();
            eprintln!(
                "slow disk ({DELAY_MS} ms per sync): {} writes in {took:?}, latency p50 {:?} max {:?}; \
                 {reads} reads meanwhile, slowest {read_max:?}",
                lat.len(),
                lat[lat.len() / 2],
                lat[lat.len() - 1]
            );
        })
        .await;
}

// ---- linearizability across log-disk faults -----------------------------------------------

static LINZ_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn linearizable_across(name: &str, fault: linz::run::Fault) {
    if reference_server() {
        return;
    }
    let _serial = LINZ_SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seed = std::env::var("RK_LINZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(23);
    println!("linearizability run {name}: seed {seed}");
    let spec = linz::run::RunSpec {
        name: name.into(),
        fault,
        rounds: 2,
        ops_per_phase: 400,
        workers: 6,
        keys: 4,
        ops_per_generation: 300,
        generations: 600,
        seed,
    };
    linz::run::run(spec, linz::run::Servers::standalone()).assert_clean();
}

#[test]
fn linearizable_across_fsync_errors() {
    linearizable_across("standalone/fsync-error", linz::run::Fault::DiskSyncError);
}

#[test]
fn linearizable_across_torn_writes() {
    linearizable_across("standalone/torn-write", linz::run::Fault::DiskTornWrite);
}

#[test]
fn linearizable_on_a_slow_log_disk() {
    linearizable_across("standalone/slow-disk", linz::run::Fault::DiskSlow);
}

//! The transaction log under crashes: SIGKILL under concurrent pipelined writes on both
//! backends, segment rolls under load, and a full dataLogDir. After every restart each
//! acknowledged write must be there with its data.

mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use common::TestServer;
use ringkeeper::client::{acl, Client, CreateMode};

/// Writers per load, and requests each keeps in flight.
const WRITERS: usize = 4;
const WINDOW: usize = 32;

type Acked = Rc<RefCell<Vec<(String, Vec<u8>)>>>;

fn payload(path: &str, size: usize) -> Vec<u8> {
    let mut d = path.as_bytes().to_vec();
    d.resize(size, b'.');
    d
}

/// One writer: creates `prefix/w<i>-<k>` for k = 0.. with up to `WINDOW` requests in flight,
/// recording each create once the server acknowledged it, until the connection fails or
/// `max` writes are acknowledged.
async fn writer(client: Client, prefix: String, i: usize, size: usize, max: usize, acked: Acked) {
    let mut inflight = VecDeque::new();
    let mut k = 0usize;
    let mut done = 0usize;
    loop {
        while inflight.len() < WINDOW && k < max {
            let path = format!("{prefix}/w{i}-{k}");
            let data = payload(&path, size);
            let f = client.create(&path, &data, &acl::open_unsafe(), CreateMode::Persistent);
            inflight.push_back((path, data, f));
            k += 1;
        }
        let Some((path, data, f)) = inflight.pop_front() else {
            return;
        };
        match f.await {
            Ok(p) => {
                assert_eq!(p, path);
                acked.borrow_mut().push((path, data));
                done += 1;
                if done >= max {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Starts `WRITERS` writers under `prefix` (created first).
async fn start_load(s: &TestServer, prefix: &str, size: usize, max: usize) -> Acked {
    let c = s.client().await;
    c.create(prefix, b"", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let acked: Acked = Rc::default();
    for i in 0..WRITERS {
        let client = s.client().await;
        tokio::task::spawn_local(writer(
            client,
            prefix.to_string(),
            i,
            size,
            max,
            acked.clone(),
        ));
    }
    acked
}

/// Every acknowledged write is present with its data.
async fn check_all(s: &TestServer, acked: &[(String, Vec<u8>)]) {
    let c = s.client().await;
    let mut pending = VecDeque::new();
    for (path, data) in acked {
        pending.push_back((path, data, c.get_data(path, false)));
        if pending.len() >= 256 {
            let (p, d, f) = pending.pop_front().unwrap();
            check_one(p, d, f.await);
        }
    }
    for (p, d, f) in pending {
        check_one(p, d, f.await);
    }
}

fn check_one(
    path: &str,
    data: &[u8],
    got: ringkeeper::client::Result<(Option<Vec<u8>>, ringkeeper::client::Stat)>,
) {
    match got {
        Ok((Some(d), _)) => assert_eq!(d, data, "{path}: data differs"),
        other => panic!("acknowledged {path} lost after restart: {other:?}"),
    }
}

fn log_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("log."))
        })
        .count()
}

fn local() -> tokio::task::LocalSet {
    tokio::task::LocalSet::new()
}

async fn kill_under_load(cfg: &str) {
    let mut s = TestServer::start_with(cfg);
    let mut all: Vec<(String, Vec<u8>)> = Vec::new();
    for round in 0..3 {
        let acked = start_load(&s, &format!("/r{round}"), 100, usize::MAX).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        s.kill9();
        // Let the writers see the connection drop.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = acked.borrow().clone();
        assert!(
            got.len() > 50,
            "round {round}: only {} writes acknowledged",
            got.len()
        );
        all.extend(got);
        s.start_again();
        check_all(&s, &all).await;
    }
    eprintln!(
        "{cfg:?}: {} acknowledged writes survived 3 SIGKILLs",
        all.len()
    );
}

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_write_uring() {
    local().run_until(kill_under_load("walIo=uring\n")).await;
}

#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_write_sync() {
    local().run_until(kill_under_load("walIo=sync\n")).await;
}

async fn rolls_under_load(cfg: &str) {
    let mut s = TestServer::start_with(cfg);
    let acked = start_load(&s, "/roll", 300, 500).await;
    // 4 writers x 500 creates of ~400 framed bytes: ~800 KB over 64 KiB segments.
    for _ in 0..600 {
        if acked.borrow().len() >= WRITERS * 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acked = acked.borrow().clone();
    assert_eq!(acked.len(), WRITERS * 500);
    let mntr = s.four_letter("mntr");
    let rolls: u64 = mntr
        .lines()
        .find_map(|l| l.strip_prefix("zk_log_segment_rolls\t"))
        .expect("mntr shows segment rolls")
        .parse()
        .unwrap();
    assert!(rolls >= 8, "{rolls} rolls\n{mntr}");
    assert!(mntr.contains("zk_log_fsync_us_p99\t"), "{mntr}");
    assert!(log_files(&s.data_dir()) >= 9);
    s.restart();
    check_all(&s, &acked).await;
    s.kill9();
    s.start_again();
    check_all(&s, &acked).await;
}

#[tokio::test]
async fn segments_roll_under_load_and_recover_uring() {
    local()
        .run_until(rolls_under_load("walIo=uring\npreAllocSize=64\n"))
        .await;
}

#[tokio::test]
async fn segments_roll_under_load_and_recover_sync() {
    local()
        .run_until(rolls_under_load("walIo=sync\npreAllocSize=64\n"))
        .await;
}

/// Mounts a tmpfs of `size` at `dir`; false when this machine does not allow it.
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[tokio::test]
async fn full_data_log_dir_stops_the_server_and_loses_nothing_acknowledged() {
    local().run_until(full_disk()).await;
}

async fn full_disk() {
    let mnt = tempfile::Builder::new()
        .prefix("ringkeeper-enospc-")
        .tempdir()
        .unwrap();
    if !mount_tmpfs(mnt.path(), "2M") {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs at {} (needs root / CAP_SYS_ADMIN); ENOSPC not tested",
            mnt.path().display()
        );
        return;
    }
    let _unmount = Unmount(mnt.path());
    let cfg = format!("dataLogDir={}\npreAllocSize=256\n", mnt.path().display());
    let mut s = TestServer::start_with(&cfg);
    let acked = start_load(&s, "/full", 200, usize::MAX).await;
    let status = loop {
        if let Some(st) = s.wait_exit(Duration::ZERO) {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acked = acked.borrow().clone();
    assert!(!status.success());
    let log = s.log_contents();
    assert!(
        log.contains("No space left on device") && log.contains("dataLogDir is full"),
        "{log}"
    );
    assert!(acked.len() > 1000, "{} acknowledged", acked.len());
    let remount = Command::new("mount")
        .args(["-o", "remount,size=32M"])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(remount.success());
    s.start_again();
    check_all(&s, &acked).await;
    // And the log takes new writes after the restart.
    let c = s.client().await;
    c.create("/after", b"x", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    s.restart();
    let c = s.client().await;
    assert!(c.exists("/after", false).await.unwrap().is_some());
    eprintln!(
        "ENOSPC: server stopped with {status}; {} acknowledged writes all present after restart",
        acked.len()
    );
    for l in log
        .lines()
        .filter(|l| l.contains("space") || l.contains("FATAL"))
    {
        eprintln!("  server said: {l}");
    }
}

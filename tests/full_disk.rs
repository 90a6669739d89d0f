//! A full dataLogDir on a real small filesystem (a loop-mounted ext4 image, or a tmpfs), on
//! both log backends: the disk is filled by another writer, then the server's log fills what
//! is left. The server must stop plainly without acknowledging anything that is not durable;
//! restarted on the still-full disk it must not acknowledge a write either; once space is
//! freed a restart recovers every acknowledged write and takes new ones.
//!
//! Needs root (mount, losetup); without it each test says SKIPPED and passes.

mod common;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;
use ringkeeper::client::{acl, Client, ClientError, CreateMode};

const WRITERS: usize = 4;
const WINDOW: usize = 16;
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Fs {
    Ext4,
    Tmpfs,
}

/// A small filesystem mounted on a temporary directory, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
    _image: Option<tempfile::NamedTempFile>,
}

impl SmallFs {
    fn mount(kind: Fs, size_mib: u64) -> Option<SmallFs> {
        let dir = tempfile::Builder::new()
            .prefix("ringkeeper-fulldisk-")
            .tempdir()
            .unwrap();
        let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
        let image = match kind {
            Fs::Tmpfs => {
                let size = format!("size={size_mib}M");
                if !ok(Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
                    .arg(dir.path()))
                {
                    return None;
                }
                None
            }
            Fs::Ext4 => {
                let image = tempfile::NamedTempFile::new().unwrap();
                image.as_file().set_len(size_mib << 20).unwrap();
                // -m 0: no blocks reserved for root (the server runs as root here).
                if !ok(Command::new("mkfs.ext4")
                    .args(["-q", "-F", "-m", "0"])
                    .arg(image.path()))
                    || !ok(Command::new("mount")
                        .args(["-o", "loop"])
                        .arg(image.path())
                        .arg(dir.path()))
                {
                    return None;
                }
                Some(image)
            }
        };
        Some(SmallFs { dir, _image: image })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // The loop device goes with the unmount (mount -o loop sets autoclear).
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Writes zeros into `path` until the filesystem refuses; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Delayed allocation may only say ENOSPC here; what did land stays.
    let _ = f.sync_all();
    n
}

#[derive(Default)]
struct Outcome {
    acked: Vec<(String, Vec<u8>)>,
    unanswered: Vec<String>,
}

async fn writer(c: Client, i: usize, out: Arc<Mutex<Outcome>>) {
    let mut inflight = VecDeque::new();
    let mut k = 0usize;
    loop {
        while inflight.len() < WINDOW {
            let path = format!("/full/w{i}-{k}");
            let mut data = path.clone().into_bytes();
            data.resize(200, b'.');
            let f = c.create(&path, &data, &acl::open_unsafe(), CreateMode::Persistent);
            inflight.push_back((path, data, f));
            k += 1;
        }
        let (path, data, f) = inflight.pop_front().unwrap();
        match f.await {
            Ok(p) => {
                assert_eq!(p, path);
                out.lock().unwrap().acked.push((path, data));
            }
            Err(ClientError::ConnectionLoss) => {
                let mut o = out.lock().unwrap();
                o.unanswered.push(path);
                o.unanswered.extend(inflight.into_iter().map(|(p, _, _)| p));
                return;
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }
}

/// Every acknowledged create is present with its data; returns how many unanswered ones are.
async fn check(s: &TestServer, o: &Outcome) -> usize {
    let c = s.client().await;
    for chunk in o.acked.chunks(256) {
        let calls: Vec<_> = chunk.iter().map(|(p, _)| c.get_data(p, false)).collect();
        for ((path, data), call) in chunk.iter().zip(calls) {
            match call.await {
                Ok((Some(d), _)) => assert_eq!(&d, data, "{path}: data differs"),
                other => panic!("acknowledged {path} lost: {other:?}"),
            }
        }
    }
    let mut present = 0;
    for p in &o.unanswered {
        if c.exists(p, false).await.unwrap().is_some() {
            present += 1;
        }
    }
    present
}

async fn wait_exit(s: &mut TestServer) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(st) = s.wait_exit(Duration::ZERO) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept running\n{}",
            s.tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Spawns the server; `Ok` once it serves, `Err(status)` if it exits first.
async fn try_start(s: &mut TestServer) -> Result<(), std::process::ExitStatus> {
    s.spawn();
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(st) = s.wait_exit(Duration::ZERO) {
            return Err(st);
        }
        if s.serving() {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "the server neither served nor exited\n{}",
            s.tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn says_disk_full(log: &str) -> bool {
    log.contains("No space left on device")
}

async fn full_log_disk(fs: Fs, wal_io: &str) {
    if std::env::var("RK_TEST_SERVER").as_deref() == Ok("reference") {
        eprintln!("SKIPPED: ringkeeper's log and messages are checked here");
        return;
    }
    let Some(mnt) = SmallFs::mount(fs, 16) else {
        eprintln!(
            "SKIPPED: cannot mount a {fs:?} filesystem (needs root / CAP_SYS_ADMIN); a full \
             dataLogDir is not tested"
        );
        return;
    };
    let log_dir: PathBuf = mnt.path().join("log");
    let mut s = TestServer::start_with(&format!(
        "dataLogDir={}\npreAllocSize=1024\nwalIo={wal_io}\n",
        log_dir.display()
    ));
    let setup = s.client().await;
    setup
        .create("/full", b"", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    // Another writer takes the rest of the disk: the log has its active segment and the one
    // prepared ahead of it, and nothing more.
    let filler = mnt.path().join("filler");
    let filled = fill(&filler);

    let out = Arc::new(Mutex::new(Outcome::default()));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let c = s.client().await;
        tasks.push(tokio::spawn(writer(c, i, out.clone())));
    }
    let status = wait_exit(&mut s).await;
    for t in tasks {
        t.await.unwrap();
    }
    let first_stop = s.log_contents();
    assert_eq!(status.code(), Some(70), "{status}\n{}", s.tail());
    assert!(
        says_disk_full(&first_stop) && first_stop.contains("dataLogDir is full"),
        "{}",
        s.tail()
    );
    let o = std::mem::take(&mut *out.lock().unwrap());
    assert!(!o.acked.is_empty() && !o.unanswered.is_empty());

    // Restarted on the still-full disk: it may refuse to start, or serve reads; a write must
    // not be acknowledged either way.
    let full_restart = match try_start(&mut s).await {
        Err(st) => {
            assert!(!st.success());
            let log = s.log_contents();
            assert!(says_disk_full(&log[first_stop.len()..]), "{}", s.tail());
            format!("refused to start ({st})")
        }
        Ok(()) => {
            // Even the new session is a logged txn, so the server may stop before it is
            // connected. The write is far larger than the room left in the last segment.
            let acked = match Client::connect(&s.addr(), Duration::from_secs(10)).await {
                Err(_) => None,
                Ok(c) => Some(
                    c.create(
                        "/on-full",
                        &vec![b'x'; 100_000],
                        &acl::open_unsafe(),
                        CreateMode::Persistent,
                    )
                    .await,
                ),
            };
            match acked {
                None | Some(Err(ClientError::ConnectionLoss)) => {}
                other => panic!("a write on a full log disk got {other:?}\n{}", s.tail()),
            }
            let st = wait_exit(&mut s).await;
            assert_eq!(st.code(), Some(70), "{}", s.tail());
            let log = s.log_contents();
            assert!(says_disk_full(&log[first_stop.len()..]), "{}", s.tail());
            format!("came up, stopped ({st}) at the first write it could not log, acknowledging nothing")
        }
    };

    std::fs::remove_file(&filler).unwrap();
    s.start_again();
    let present = check(&s, &o).await;
    let c = s.client().await;
    assert!(c.exists("/on-full", false).await.unwrap().is_none());
    c.create("/after", b"x", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    s.restart();
    let c = s.client().await;
    assert!(c.exists("/after", false).await.unwrap().is_some());
    check(&s, &o).await;
    eprintln!(
        "full {fs:?} dataLogDir ({wal_io}): {:.1} MiB filler; server stopped with {status}; \
         {} acknowledged writes all present after freeing space; {present} of {} unanswered \
         present; restart on the full disk: {full_restart}",
        filled as f64 / f64::from(1 << 20),
        o.acked.len(),
        o.unanswered.len()
    );
    for l in first_stop
        .lines()
        .filter(|l| l.contains("FATAL") || l.contains("cannot preallocate"))
    {
        eprintln!("  server said: {l}");
    }
}

#[tokio::test]
async fn full_ext4_log_disk_sync_backend() {
    full_log_disk(Fs::Ext4, "sync").await;
}

#[tokio::test]
async fn full_ext4_log_disk_uring_backend() {
    full_log_disk(Fs::Ext4, "uring").await;
}

#[tokio::test]
async fn full_tmpfs_log_disk_sync_backend() {
    full_log_disk(Fs::Tmpfs, "sync").await;
}

/// A dataLogDir with no room for the first segment: the server refuses to start and says why;
/// with room, it starts.
#[tokio::test]
async fn no_room_for_the_first_segment_refuses_to_start() {
    if std::env::var("RK_TEST_SERVER").as_deref() == Ok("reference") {
        return;
    }
    let Some(mnt) = SmallFs::mount(Fs::Tmpfs, 1) else {
        eprintln!("SKIPPED: cannot mount a tmpfs (needs root / CAP_SYS_ADMIN)");
        return;
    };
    let log_dir = mnt.path().join("log");
    let mut s = TestServer::create(&format!(
        "dataLogDir={}\npreAllocSize=4096\n",
        log_dir.display()
    ));
    let st = try_start(&mut s)
        .await
        .expect_err("a 4 MiB segment cannot fit in 1 MiB");
    let log = s.log_contents();
    assert!(!st.success());
    assert!(
        says_disk_full(&log) && log.contains(&log_dir.display().to_string()),
        "{log}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "a failed start left {leftovers:?}");
    let remount = Command::new("mount")
        .args(["-o", "remount,size=16M"])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(remount.success());
    s.start_again();
    let c = s.client().await;
    c.create("/x", b"x", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let line = log
        .lines()
        .rev()
        .find(|l| says_disk_full(l))
        .unwrap_or_default();
    eprintln!("no room for the first segment: exit {st}; said: {line}");
}

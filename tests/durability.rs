//! Durability against the real binary and real files: SIGKILL under load, torn and corrupt
//! log tails, damaged older log files, clean restarts, forceSync=no.
//!
//! Log format (src/storage): files `log.<hex first zxid>` in dataLogDir (= dataDir here),
//! records `len u32 | crc32c u32 | zxid i64 | txn`, `len` counting zxid + txn.

mod common;

use common::TestServer;
use ringkeeper::client::acl::{self, open_unsafe};
use ringkeeper::client::{Client, ClientError, CreateMode, Stat};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---- log file helpers ---------------------------------------------------------------------

/// `(first zxid, path)` of every `log.*` file, oldest first.
fn log_files(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut v: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().ok()?;
            let z = i64::from_str_radix(name.strip_prefix("log.")?, 16).ok()?;
            Some((z, e.path()))
        })
        .collect();
    v.sort();
    v
}

fn newest_log(dir: &Path) -> PathBuf {
    log_files(dir).pop().expect("no log.* file in dataDir").1
}

/// One record's place in a file.
#[derive(Debug, Clone, Copy)]
struct Rec {
    start: usize,
    end: usize,
    zxid: i64,
}

/// Walks the records of a healthy file up to its end (or a zero length = preallocation).
fn records(buf: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 16 <= buf.len() {
        let len = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        let end = pos + 8 + len;
        assert!(end <= buf.len(), "test expects a healthy log here");
        let crc = u32::from_be_bytes(buf[pos + 4..pos + 8].try_into().unwrap());
        assert_eq!(crc, crc32c::crc32c(&buf[pos + 8..end]), "crc at {pos}");
        let zxid = i64::from_be_bytes(buf[pos + 8..pos + 16].try_into().unwrap());
        out.push(Rec {
            start: pos,
            end,
            zxid,
        });
        pos = end;
    }
    out
}

/// Runs the binary on a config until it exits on its own (bounded); returns success and
/// everything it printed.
fn run_to_exit(cfg: &Path) -> (bool, String) {
    let out_path = cfg.with_file_name("refused.log");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .arg("start-foreground")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (
                status.success(),
                std::fs::read_to_string(&out_path).unwrap(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server kept running on a damaged log\n{}",
                std::fs::read_to_string(&out_path).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn create_numbered(c: &Client, prefix: &str, n: usize) {
    for i in 0..n {
        c.create(
            &format!("{prefix}{i}"),
            format!("value-{i}").as_bytes(),
            &open_unsafe(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    }
}

async fn assert_numbered(c: &Client, prefix: &str, n: usize) {
    for i in 0..n {
        let (data, _) = c
            .get_data(&format!("{prefix}{i}"), false)
            .await
            .unwrap_or_else(|e| panic!("{prefix}{i} lost: {e}"));
        assert_eq!(data, Some(format!("value-{i}").into_bytes()), "{prefix}{i}");
    }
}

// ---- SIGKILL under load -------------------------------------------------------------------

#[derive(Default)]
struct Acked {
    /// Created path -> its data.
    created: BTreeMap<String, Vec<u8>>,
    /// Per counter node: highest acknowledged sequence number and the version it got.
    counters: BTreeMap<String, (u64, i32)>,
    max_zxid: i64,
}

/// One writer: pipelines batches of creates and setData calls until its connection dies.
async fn writer(c: Client, w: usize, acked: Arc<Mutex<Acked>>) -> usize {
    let counter = format!("/load/counter-{w}");
    let mut n: u64 = 0;
    let mut ok = 0;
    loop {
        let mut creates = Vec::new();
        let mut sets = Vec::new();
        for _ in 0..16 {
            n += 1;
            let path = format!("/load/w{w}-{n}");
            let data = format!("c{w}-{n}").into_bytes();
            creates.push((
                path.clone(),
                data.clone(),
                c.create2(&path, &data, &open_unsafe(), CreateMode::Persistent),
            ));
            sets.push((n, c.set_data(&counter, format!("s{n}").as_bytes(), -1)));
        }
        let mut failed = false;
        for (path, data, f) in creates {
            match f.await {
                Ok((p, stat)) => {
                    assert_eq!(p, path);
                    let mut a = acked.lock().unwrap();
                    a.created.insert(path, data);
                    a.max_zxid = a.max_zxid.max(stat.mzxid);
                    ok += 1;
                }
                Err(ClientError::ConnectionLoss) => failed = true,
                Err(e) => panic!("unexpected error under load: {e}"),
            }
        }
        for (n, f) in sets {
            match f.await {
                Ok(stat) => {
                    let mut a = acked.lock().unwrap();
                    a.counters.insert(counter.clone(), (n, stat.version));
                    a.max_zxid = a.max_zxid.max(stat.mzxid);
                    ok += 1;
                }
                Err(ClientError::ConnectionLoss) => failed = true,
                Err(e) => panic!("unexpected error under load: {e}"),
            }
        }
        if failed {
            return ok;
        }
    }
}

#[tokio::test]
async fn sigkill_under_write_load_loses_no_acknowledged_write() {
    const WRITERS: usize = 4;
    let mut server = TestServer::start();
    let setup = server.client().await;
    setup
        .create("/load", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    for w in 0..WRITERS {
        setup
            .create(
                &format!("/load/counter-{w}"),
                b"s0",
                &open_unsafe(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
    }
    drop(setup);

    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let c = server.client().await;
        tasks.push(tokio::spawn(writer(c, w, acked.clone())));
    }
    // Let the load run, then crash the server in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().created.len() < 2000 {
        assert!(Instant::now() < deadline, "load made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill9();
    let mut total = 0;
    for t in tasks {
        total += tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("writer did not notice the crash")
            .unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(total >= 2000, "only {total} writes acknowledged");

    server.start_again();
    let c = server.client().await;
    for (path, data) in &acked.created {
        let (got, _) = c
            .get_data(path, false)
            .await
            .unwrap_or_else(|e| panic!("acknowledged create {path} lost after SIGKILL: {e}"));
        assert_eq!(got.as_deref(), Some(&data[..]), "{path}");
    }
    for (path, (n, version)) in &acked.counters {
        let (got, stat) = c.get_data(path, false).await.unwrap();
        let got = String::from_utf8(got.unwrap()).unwrap();
        let got_n: u64 = got[1..].parse().unwrap();
        // Later unacknowledged sets may have survived; earlier values may not reappear.
        assert!(
            got_n >= *n && stat.version >= *version,
            "{path}: acknowledged s{n} (version {version}), found {got} (version {})",
            stat.version
        );
        assert_eq!(
            stat.version as u64, got_n,
            "{path}: version and value disagree"
        );
    }
    // Nodes that exist but were not acknowledged are allowed, but only as a contiguous
    // per-writer continuation (a client's writes apply in order).
    let children = c.get_children("/load", false).await.unwrap();
    assert!(children.len() >= acked.created.len() + WRITERS);

    // zxids carry on above everything acknowledged before the crash.
    let (_, stat) = c
        .create2("/after-crash", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    assert!(
        stat.mzxid > acked.max_zxid,
        "new zxid {:#x} not above pre-crash {:#x}",
        stat.mzxid,
        acked.max_zxid
    );
    let srvr = server.four_letter("srvr");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
}

#[tokio::test]
async fn sigkill_twice_in_a_row_keeps_data_and_zxids_monotonic() {
    let mut server = TestServer::start();
    let mut last = 0;
    for round in 0..3 {
        let c = server.client().await;
        let (_, stat) = c
            .create2(
                &format!("/round-{round}"),
                b"r",
                &open_unsafe(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        assert!(stat.czxid > last, "round {round}: zxid went backwards");
        last = stat.czxid;
        for r in 0..round {
            assert!(c
                .exists(&format!("/round-{r}"), false)
                .await
                .unwrap()
                .is_some());
        }
        drop(c);
        server.kill9();
        server.start_again();
    }
}

// ---- torn / corrupt tails -----------------------------------------------------------------

/// Writes /t0../t9 and /last, stops the server cleanly and returns the newest log file
/// and its records.
async fn prepare_log(server: &mut TestServer) -> (PathBuf, Vec<u8>, Vec<Rec>, i64) {
    let c = server.client().await;
    create_numbered(&c, "/t", 10).await;
    let (_, last) = c
        .create2("/last", b"last", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    drop(c);
    let status = server.stop();
    assert!(status.success(), "SIGTERM exit: {status}");
    let path = newest_log(&server.data_dir());
    let buf = std::fs::read(&path).unwrap();
    let recs = records(&buf);
    assert_eq!(
        recs.last().map(|r| r.zxid),
        Some(last.mzxid),
        "the newest record is /last's create"
    );
    (path, buf, recs, last.mzxid)
}

async fn assert_new_writes_survive(server: &mut TestServer) {
    let c = server.client().await;
    c.create("/new", b"new", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    drop(c);
    server.restart();
    let c = server.client().await;
    assert_numbered(&c, "/t", 10).await;
    let (d, _) = c.get_data("/new", false).await.unwrap();
    assert_eq!(d.as_deref(), Some(&b"new"[..]));
    let log = server.log_contents();
    assert_eq!(
        log.matches("torn").count(),
        1,
        "the second restart must find a clean log\n{log}"
    );
}

#[tokio::test]
async fn partial_record_at_the_tail_is_truncated() {
    let mut server = TestServer::start();
    let (path, buf, recs, _) = prepare_log(&mut server).await;
    let valid_end = recs.last().unwrap().end;
    // A record header announcing 200 bytes, followed by only 30 of them, written into the
    // preallocated (zero-filled) space after the last record.
    let mut torn = Vec::new();
    torn.extend_from_slice(&200u32.to_be_bytes());
    torn.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    torn.extend_from_slice(&[0x5a; 30]);
    let mut with_torn = buf.clone();
    with_torn[valid_end..valid_end + torn.len()].copy_from_slice(&torn);
    std::fs::write(&path, &with_torn).unwrap();

    server.start_again();
    let log = server.log_contents();
    assert!(log.contains("torn"), "no torn-tail warning\n{log}");
    let after = std::fs::read(&path).unwrap();
    assert!(
        after[valid_end..valid_end + torn.len()]
            .iter()
            .all(|b| *b == 0),
        "the torn bytes were not cleared"
    );
    let c = server.client().await;
    assert_numbered(&c, "/t", 10).await;
    let (d, _) = c.get_data("/last", false).await.unwrap();
    assert_eq!(d.as_deref(), Some(&b"last"[..]));
    drop(c);
    assert_new_writes_survive(&mut server).await;
}

#[tokio::test]
async fn corrupt_last_record_is_truncated() {
    let mut server = TestServer::start();
    let (path, mut buf, recs, last_zxid) = prepare_log(&mut server).await;
    let last = *recs.last().unwrap();
    // Flip one bit in the last record's txn body: its checksum no longer matches.
    let at = last.start + 16 + (last.end - last.start - 16) / 2;
    buf[at] ^= 0x01;
    std::fs::write(&path, &buf).unwrap();

    server.start_again();
    let log = server.log_contents();
    assert!(log.contains("torn"), "no torn-tail warning\n{log}");
    let after = std::fs::read(&path).unwrap();
    assert!(
        after[last.start..last.end].iter().all(|b| *b == 0),
        "the corrupt record was not cleared"
    );
    let c = server.client().await;
    assert_numbered(&c, "/t", 10).await;
    assert!(
        c.exists("/last", false).await.unwrap().is_none(),
        "the corrupt record was applied"
    );
    // zxids continue right after the last record kept (this client's createSession takes
    // the dropped record's zxid, the create the next one).
    let (_, st) = c
        .create2("/reuse", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(st.czxid, last_zxid + 1);
    drop(c);
    assert_new_writes_survive(&mut server).await;
}

#[tokio::test]
async fn damage_in_an_older_log_file_refuses_to_start() {
    let mut server = TestServer::start();
    let (path, buf, recs, _) = prepare_log(&mut server).await;
    assert!(recs.len() >= 6);
    // Split the log into two files, as a segment roll would: older + newest.
    let cut = recs[recs.len() / 2];
    let newer = server.data_dir().join(format!("log.{:x}", cut.zxid));
    std::fs::write(&newer, &buf[cut.start..recs.last().unwrap().end]).unwrap();
    let mut older = buf[..cut.start].to_vec();
    // Sanity: the split files alone are a healthy log.
    std::fs::write(&path, &older).unwrap();
    server.start_again();
    let c = server.client().await;
    assert_numbered(&c, "/t", 10).await;
    drop(c);
    assert!(server.stop().success());
    // The short hand-made newest file is full to the log writer, so the session's write may
    // have rolled a third segment.
    assert!(log_files(&server.data_dir()).len() >= 2);

    // Now damage a record in the middle of the older file.
    let older_recs = records(&older);
    let mid = older_recs[older_recs.len() / 2];
    older[mid.start + 12] ^= 0x40;
    std::fs::write(&path, &older).unwrap();
    let len_before = (
        std::fs::metadata(&path).unwrap().len(),
        std::fs::metadata(&newer).unwrap().len(),
    );
    let (ok, out) = run_to_exit(&server.cfg_path());
    assert!(!ok, "server started on a damaged older log file\n{out}");
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        out.contains(name) && out.contains("damaged"),
        "error does not name the damaged file\n{out}"
    );
    assert_eq!(
        (
            std::fs::metadata(&path).unwrap().len(),
            std::fs::metadata(&newer).unwrap().len()
        ),
        len_before,
        "a refused start must not truncate anything"
    );
}

#[tokio::test]
async fn damage_in_the_middle_of_the_newest_log_refuses_to_start() {
    // Valid records after a bad one mean this is not a torn tail: cutting there would drop
    // acknowledged txns.
    let mut server = TestServer::start();
    let (path, mut buf, recs, _) = prepare_log(&mut server).await;
    let mid = recs[recs.len() / 2];
    buf[mid.start + 20] ^= 0x10;
    std::fs::write(&path, &buf).unwrap();
    let (ok, out) = run_to_exit(&server.cfg_path());
    assert!(!ok, "server started and dropped acknowledged txns\n{out}");
    assert!(
        std::fs::metadata(&path).unwrap().len() as usize == buf.len(),
        "a refused start must not truncate the log"
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(out.contains(name), "error does not name the file\n{out}");
}

// ---- clean restart ------------------------------------------------------------------------

/// Every node under `root` with its data, stat and ACL, depth first.
async fn dump(c: &Client, root: &str) -> Vec<(String, Option<Vec<u8>>, Stat, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        let (data, stat) = c.get_data(&p, false).await.unwrap();
        let (acl, _) = c.get_acl(&p).await.unwrap();
        out.push((p.clone(), data, stat, format!("{acl:?}")));
        let mut kids = c.get_children(&p, false).await.unwrap();
        kids.sort();
        for k in kids {
            stack.push(if p == "/" {
                format!("/{k}")
            } else {
                format!("{p}/{k}")
            });
        }
    }
    out
}

#[tokio::test]
async fn clean_restart_keeps_everything() {
    let mut server = TestServer::start();
    let c = server.client().await;
    c.create("/app", b"root", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..5 {
        c.create(
            &format!("/app/n{i}"),
            &vec![i as u8; 100 * i],
            &open_unsafe(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    }
    c.create("/app/null", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    for v in 0..3 {
        c.set_data("/app/n1", format!("v{v}").as_bytes(), v)
            .await
            .unwrap();
    }
    c.delete("/app/n3", -1).await.unwrap();
    c.set_acl("/app/n4", &acl::read_unsafe(), -1).await.unwrap();
    let seq1 = c
        .create(
            "/app/seq-",
            b"",
            &open_unsafe(),
            CreateMode::PersistentSequential,
        )
        .await
        .unwrap();
    c.create_container("/app/box", b"", &open_unsafe())
        .await
        .unwrap();
    c.create("/app/box/item", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let before = dump(&c, "/").await;
    let zxid_before = before.iter().map(|n| n.2.pzxid.max(n.2.mzxid)).max();
    drop(c);

    server.restart();
    let c = server.client().await;
    let after = dump(&c, "/").await;
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "node changed across a clean restart");
    }
    // Sequence numbers and zxids continue.
    let seq2 = c
        .create(
            "/app/seq-",
            b"",
            &open_unsafe(),
            CreateMode::PersistentSequential,
        )
        .await
        .unwrap();
    assert!(seq2 > seq1, "{seq2} after {seq1}");
    let (_, st) = c
        .create2("/app/later", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    assert!(Some(st.czxid) > zxid_before);
    assert_eq!(
        server.log_contents().matches("torn").count(),
        0,
        "a clean stop must leave no torn tail"
    );
}

#[tokio::test]
async fn force_sync_no_warns_and_still_serves() {
    let mut server = TestServer::start_with("forceSync=no\n");
    let log = server.log_contents();
    assert!(
        log.contains("forceSync=no") && log.contains("WARN"),
        "no forceSync warning\n{log}"
    );
    let c = server.client().await;
    c.create("/fs", b"1", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    drop(c);
    server.restart();
    let c = server.client().await;
    assert!(c.exists("/fs", false).await.unwrap().is_some());
}

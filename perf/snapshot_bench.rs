//! Snapshot measurements (see perf/SNAPSHOTS.md for the commands and results).
//!
//! `tree N [DIR]`: in-process: build a tree of N znodes (path ~50 B, data 50 B), report
//!   RSS growth per znode, then time writing and loading a snapshot of it in DIR.
//! `load ADDR N PID`: load N such znodes into a running server through the client and
//!   report the server's RSS (VmRSS of PID) before and after.
//! `latency ADDR SECONDS`: sequential setData round trips for SECONDS; prints p50, p99,
//!   p99.9 and max in microseconds.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ringkeeper::client::{acl, Client, CreateMode};
use ringkeeper::proto::opcode as op;
use ringkeeper::storage::snapshot;
use ringkeeper::tree::DataTree;
use ringkeeper::txn::{CreateTxn, Txn, TxnBody, TxnHeader};

const NODES_PER_DIR: usize = 1000;
const DATA: &[u8; 50] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";

/// ~50-byte paths: /bench/d0001/znode-0000001234-xxxxxxxxxxxxxxxx
fn node_path(i: usize) -> String {
    format!(
        "/bench/d{:04}/znode-{i:010}-xxxxxxxxxxxxxxxx",
        i / NODES_PER_DIR
    )
}

fn rss_kib(pid: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn create(t: &mut DataTree, zxid: i64, path: String, data: Option<Bytes>) {
    let parent = &path[..path.rfind('/').unwrap()];
    let parent = if parent.is_empty() { "/" } else { parent };
    let cv = t.get(parent).map_or(0, |p| p.stat.cversion) + 1;
    t.apply(&Txn {
        header: TxnHeader {
            session_id: 0,
            cxid: 0,
            zxid,
            time: 1_700_000_000_000,
        },
        body: TxnBody::Create(CreateTxn {
            op: op::CREATE,
            path,
            data,
            acl: acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: cv,
        }),
    });
}

fn tree(n: usize, dir: &std::path::Path) {
    let rss0 = rss_kib("self");
    let started = Instant::now();
    let mut t = DataTree::new();
    let mut zxid = 0;
    zxid += 1;
    create(&mut t, zxid, "/bench".into(), None);
    let data = Bytes::from_static(DATA);
    for i in 0..n {
        if i % NODES_PER_DIR == 0 {
            zxid += 1;
            create(
                &mut t,
                zxid,
                format!("/bench/d{:04}", i / NODES_PER_DIR),
                None,
            );
        }
        zxid += 1;
        // Each node owns its data, as one that arrived over the network does.
        create(
            &mut t,
            zxid,
            node_path(i),
            Some(Bytes::copy_from_slice(&data)),
        );
    }
    let built = started.elapsed();
    let rss1 = rss_kib("self");
    println!(
        "tree: {n} znodes built in {:.2}s; RSS {} -> {} KiB: {:.0} bytes/znode",
        built.as_secs_f64(),
        rss0,
        rss1,
        (rss1 - rss0) as f64 * 1024.0 / n as f64
    );
    let w = snapshot::write_snapshot(dir, &t).unwrap();
    println!(
        "snapshot write: {} nodes, {} bytes ({:.1} bytes/znode) in {} ms",
        w.nodes,
        w.size_bytes,
        w.size_bytes as f64 / w.nodes as f64,
        w.elapsed.as_millis()
    );
    let started = Instant::now();
    let back = snapshot::load(&w.path).unwrap();
    println!(
        "snapshot load+verify+restore: {} nodes in {} ms",
        back.node_count(),
        started.elapsed().as_millis()
    );
    std::fs::remove_file(&w.path).unwrap();
}

async fn load(addr: &str, n: usize, pid: &str) {
    let c = Client::connect(addr, Duration::from_secs(30))
        .await
        .unwrap();
    let open = acl::open_unsafe();
    let rss0 = rss_kib(pid);
    let started = Instant::now();
    let _ = c.create("/bench", b"", &open, CreateMode::Persistent).await;
    let window = 2000;
    let mut i = 0;
    while i < n {
        let mut calls = Vec::with_capacity(window);
        for j in i..(i + window).min(n) {
            if j % NODES_PER_DIR == 0 {
                let d = format!("/bench/d{:04}", j / NODES_PER_DIR);
                c.create(&d, b"", &open, CreateMode::Persistent)
                    .await
                    .unwrap();
            }
            calls.push(c.create(&node_path(j), DATA, &open, CreateMode::Persistent));
        }
        for call in calls {
            call.await.unwrap();
        }
        i += window;
    }
    let rss1 = rss_kib(pid);
    println!(
        "load: {n} znodes in {:.1}s; server RSS {rss0} -> {rss1} KiB: {:.0} bytes/znode",
        started.elapsed().as_secs_f64(),
        (rss1 - rss0) as f64 * 1024.0 / n as f64
    );
}

async fn latency(addr: &str, seconds: u64) {
    let c = Client::connect(addr, Duration::from_secs(30))
        .await
        .unwrap();
    let open = acl::open_unsafe();
    let _ = c.create("/lat", b"", &open, CreateMode::Persistent).await;
    let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let t = Instant::now();
        c.set_data("/lat", DATA, -1).await.unwrap();
        h.record(t.elapsed().as_micros() as u64).unwrap();
    }
    println!(
        "setData latency over {} writes: p50 {} us, p99 {} us, p99.9 {} us, max {} us",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("tree") => {
            let dir = args.get(3).map_or_else(std::env::temp_dir, Into::into);
            tree(args[2].parse().unwrap(), &dir);
        }
        Some("load") => rt.block_on(load(&args[2], args[3].parse().unwrap(), &args[4])),
        Some("latency") => rt.block_on(latency(&args[2], args[3].parse().unwrap())),
        _ => {
            eprintln!("usage: snapshot_bench tree N [DIR] | load ADDR N PID | latency ADDR SECONDS")
        }
    }
}

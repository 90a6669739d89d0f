//! The replicated ensemble's acceptance tests (issue 4): multi-process ensembles on
//! loopback, started from ordinary zoo.cfg files with `server.N` lines and a `myid` per
//! dataDir, driven black-box through client ports, signals and (for partitions) a TCP proxy
//! between members.
//!
//! Every test passes against ringkeeper and against Apache ZooKeeper 3.8:
//!
//! ```sh
//! RK_TEST_SERVER=reference cargo test --release --test ensemble -- --test-threads=1
//! ```
//!
//! Add `--nocapture` to see the measured figures (the failover test prints its p50/p99).
//!
//! - `election`     who leads after which start order; modes in `srvr`; observers
//! - `failover`     leader SIGKILL under a continuous writer, time to the next write
//! - `follower_sync` a follower rejoining by DIFF, TRUNC and SNAP
//! - `partition`    a cut-off follower and a cut-off leader never take writes; healing
//! - `netfaults`    one-way partitions, flapping links, a slow follower
//! - `rolling`      every server restarted in turn under a continuous writer
//! - `sessions`     expiry, moving between members, sync, a client ahead of the server
//! - `ordering`     reply order, read-your-writes and event-before-data on every member
//! - `metrics`      the leader's per-follower proposal → ACK wait in `mntr`
//! - `harness`      the tools above (proxy, writer check), checked on their own
//!
//! Tests are plain `#[test]`s: the blocking harness (spawn, kill, wait for `srvr`) runs on
//! the test thread, async client work on a multi-threaded runtime (`rt()`) whose workers
//! keep sessions pinging while the test thread blocks.

#[path = "../common/mod.rs"]
mod common;

mod election;
mod failover;
mod follower_sync;
mod harness;
mod metrics;
mod netfaults;
mod ordering;
mod partition;
mod rolling;
mod sessions;

use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, ClientError, CreateMode, ErrorCode};

/// A runtime for the client side of a test.
fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime")
}

/// Creates `path` (persistent, empty) unless it exists.
async fn ensure(c: &Client, path: &str) {
    match c
        .create(path, b"", &open_unsafe(), CreateMode::Persistent)
        .await
    {
        Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => {}
        Err(e) => panic!("create {path}: {e}"),
    }
}

/// `<parent>/<prefix><i>` for i in `range`, as child names.
fn names(prefix: &str, range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:06}")).collect()
}

/// Creates every `<parent>/<name>`, pipelined on one connection; every one must be
/// acknowledged (the ensemble is healthy when this is called).
async fn create_all(c: &Client, parent: &str, names: &[String]) {
    let calls: Vec<_> = names
        .iter()
        .map(|n| {
            c.create(
                &format!("{parent}/{n}"),
                n.as_bytes(),
                &open_unsafe(),
                CreateMode::Persistent,
            )
        })
        .collect();
    for (call, n) in calls.into_iter().zip(names) {
        call.await
            .unwrap_or_else(|e| panic!("create {parent}/{n}: {e}"));
    }
}

//! Lock scenario: several workers, each with its own session, take turns in a critical
//! section guarded by `recipes::Lock`; each proves nobody else is inside by creating a
//! marker node that must not exist yet.
//!
//!     cargo run --release --example lock -- --server 127.0.0.1:2181 [--workers 5 --rounds 3]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::client::{ClientError, CreateMode, ErrorCode};
use ringkeeper::recipes::Lock;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let (workers, rounds) = (args.num("workers", 5), args.num("rounds", 3));
    let root = run_root("lock");
    let checks = Arc::new(Checks::default());
    let mut tasks = Vec::new();
    for w in 0..workers {
        let zk = session(&args.server).await;
        let (root, checks) = (root.clone(), checks.clone());
        tasks.push(tokio::spawn(async move {
            let lock = Lock::new(&zk, &format!("{root}/lock"), &format!("worker-{w}"));
            let marker = format!("{root}/inside");
            for r in 0..rounds {
                let g = lock.acquire().await.expect("acquire");
                println!("worker-{w} holds the lock (round {r})");
                let open = ringkeeper::client::acl::open_unsafe();
                let alone = match zk.create(&marker, b"", &open, CreateMode::Ephemeral).await {
                    Ok(_) => true,
                    Err(ClientError::Keeper(ErrorCode::NodeExists)) => false,
                    Err(e) => panic!("marker: {e}"),
                };
                checks.check(alone, &format!("worker-{w} alone in the critical section"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                zk.delete(&marker, -1).await.expect("delete marker");
                g.release().await.expect("release");
            }
            zk.close().await.ok();
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    checks.finish("lock");
}

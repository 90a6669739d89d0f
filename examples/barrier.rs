//! Barrier scenario: workers arrive at different times; an n-member barrier (n kept in
//! `/queue/num` style) lets nobody start before all have arrived, then a double barrier has
//! them finish together.
//!
//!     cargo run --release --example barrier -- --server 127.0.0.1:2181 [--workers 4]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::{DoubleBarrier, NMemberBarrier};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let n = args.num("workers", 4);
    let root = run_root("barrier");
    let checks = Arc::new(Checks::default());
    let arrived = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..n {
        let zk = session(&args.server).await;
        let (root, checks, arrived, finished) = (
            root.clone(),
            checks.clone(),
            arrived.clone(),
            finished.clone(),
        );
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40 * w)).await;
            arrived.fetch_add(1, Ordering::SeqCst);
            println!("worker-{w} arrives");
            NMemberBarrier::new(&zk, &format!("{root}/start"), n as u32)
                .enter(format!("worker-{w}").as_bytes())
                .await
                .expect("enter start barrier");
            let a = arrived.load(Ordering::SeqCst);
            println!("worker-{w} starts ({a} arrived)");
            checks.check(
                a == n as usize,
                &format!("worker-{w} started after all {n} arrived"),
            );
            let db = DoubleBarrier::new(
                &zk,
                &format!("{root}/work"),
                n as u32,
                &format!("worker-{w}"),
            )
            .expect("barrier");
            db.enter().await.expect("enter");
            tokio::time::sleep(Duration::from_millis(20 * (n - w))).await;
            finished.fetch_add(1, Ordering::SeqCst);
            db.leave().await.expect("leave");
            let f = finished.load(Ordering::SeqCst);
            println!("worker-{w} leaves ({f} finished)");
            checks.check(
                f == n as usize,
                &format!("worker-{w} left after all {n} finished"),
            );
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    checks.finish("barrier");
}

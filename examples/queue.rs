//! Queue scenario: producers enqueue jobs while consumers (own sessions) take them; every
//! job must be consumed exactly once, and a single consumer sees them in FIFO order.
//!
//!     cargo run --release --example queue -- --server 127.0.0.1:2181 [--producers 2 --consumers 3 --jobs 10]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::FifoQueue;
use std::collections::HashSet;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let (producers, consumers, jobs) = (
        args.num("producers", 2),
        args.num("consumers", 3),
        args.num("jobs", 10),
    );
    let path = format!("{}/jobs", run_root("queue"));
    let checks = Checks::default();

    let zk = session(&args.server).await;
    let q = FifoQueue::new(&zk, &path);
    for i in 0..5 {
        q.put(format!("warmup-{i}").as_bytes()).await.expect("put");
    }
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(String::from_utf8(q.take().await.expect("take")).expect("utf8"));
    }
    println!("one consumer took {order:?}");
    checks.check(
        order == (0..5).map(|i| format!("warmup-{i}")).collect::<Vec<_>>(),
        "FIFO order",
    );

    let total = producers * jobs;
    let per_consumer = total / consumers;
    let extra = total % consumers;
    let mut takers = Vec::new();
    for c in 0..consumers {
        let qz = session(&args.server).await;
        let path = path.clone();
        let n = per_consumer + u64::from(c < extra);
        takers.push(tokio::spawn(async move {
            let q = FifoQueue::new(&qz, &path);
            let mut got = Vec::new();
            for _ in 0..n {
                let job = String::from_utf8(q.take().await.expect("take")).expect("utf8");
                println!("consumer-{c} took {job}");
                got.push(job);
            }
            got
        }));
    }
    let mut puts = Vec::new();
    for p in 0..producers {
        let pz = session(&args.server).await;
        let path = path.clone();
        puts.push(tokio::spawn(async move {
            let q = FifoQueue::new(&pz, &path);
            for j in 0..jobs {
                q.put(format!("producer-{p}-job-{j}").as_bytes())
                    .await
                    .expect("put");
            }
        }));
    }
    for p in puts {
        p.await.expect("producer");
    }
    let mut seen = HashSet::new();
    let mut count = 0;
    for t in takers {
        for job in t.await.expect("consumer") {
            count += 1;
            seen.insert(job);
        }
    }
    checks.check(
        count == total as usize && seen.len() == count,
        &format!("{total} jobs each taken once"),
    );
    checks.check(q.is_empty().await.expect("len"), "queue drained");
    checks.finish("queue");
}

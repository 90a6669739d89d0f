//! Election scenario: candidates (own sessions) campaign; the leader works a while and
//! then either resigns or "crashes" (closes its session); the next candidate must take
//! over, and there is never more than one leader at a time.
//!
//!     cargo run --release --example election -- --server 127.0.0.1:2181 [--candidates 4]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::Election;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let n = args.num("candidates", 4);
    let path = format!("{}/election", run_root("election"));
    let checks = Arc::new(Checks::default());
    let leaders_now = Arc::new(AtomicUsize::new(0));
    let terms = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..n {
        let zk = session(&args.server).await;
        let (path, checks, now, terms) = (
            path.clone(),
            checks.clone(),
            leaders_now.clone(),
            terms.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let id = format!("candidate-{c}");
            let leadership = Election::new(&zk, &path, &id)
                .campaign()
                .await
                .expect("campaign");
            let others = now.fetch_add(1, Ordering::SeqCst);
            terms.fetch_add(1, Ordering::SeqCst);
            println!("{id} is the leader");
            checks.check(others == 0, &format!("{id} is the only leader"));
            let current = Election::new(&zk, &path, "")
                .leader()
                .await
                .expect("leader");
            checks.check(
                current.as_deref() == Some(id.as_str()),
                &format!("contenders list {id} first"),
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            if c % 2 == 0 {
                println!("{id} resigns");
                leadership.resign().await.expect("resign");
            } else {
                println!("{id} crashes (session closed)");
                zk.close().await.expect("close");
                leadership.lost().await;
                checks.check(
                    !leadership.is_leader(),
                    &format!("{id} knows it lost leadership"),
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("candidate");
    }
    checks.check(
        terms.load(Ordering::SeqCst) == n as usize,
        "every candidate led once",
    );
    checks.finish("election");
}

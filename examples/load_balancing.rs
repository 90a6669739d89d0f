//! Soft load balancing scenario: servers join with zero recorded accesses; clients pick the
//! least-used server for each job; the work must spread evenly, and a server that leaves
//! gets no more work.
//!
//!     cargo run --release --example load_balancing -- --server 127.0.0.1:2181 [--servers 3 --clients 3 --jobs 12]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::LoadBalancer;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let (servers, clients, jobs) = (
        args.num("servers", 3),
        args.num("clients", 3),
        args.num("jobs", 12),
    );
    let base = run_root("load_balancing");
    let checks = Checks::default();
    let mut joined = Vec::new();
    for s in 0..servers {
        let zk = session(&args.server).await;
        joined.push(
            LoadBalancer::new(&zk, &base)
                .join(&format!("server-{s}"))
                .await
                .expect("join"),
        );
    }
    let run = |round: &'static str| {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (server, base) = (args.server.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let zk = session(&server).await;
                let lb = LoadBalancer::new(&zk, &base);
                for j in 0..jobs {
                    let s = lb.pick().await.expect("pick").expect("a live server");
                    println!("{round}: client-{c} job {j} -> {s}");
                }
            }));
        }
        tasks
    };
    for t in run("round 1") {
        t.await.expect("client");
    }
    let zk = session(&args.server).await;
    let lb = LoadBalancer::new(&zk, &base);
    let loads = lb.loads().await.expect("loads");
    println!("loads: {loads:?}");
    let total: u64 = loads.iter().map(|(_, c)| c).sum();
    let (min, max) = (
        loads.iter().map(|l| l.1).min().unwrap_or(0),
        loads.iter().map(|l| l.1).max().unwrap_or(0),
    );
    checks.check(total == clients * jobs, &format!("{total} jobs recorded"));
    checks.check(
        max - min <= 1,
        &format!("spread evenly (min {min}, max {max})"),
    );
    let gone = joined.remove(0);
    gone.unregister().await.expect("leave");
    println!("server-0 leaves");
    for t in run("round 2") {
        t.await.expect("client");
    }
    let loads2 = lb.loads().await.expect("loads");
    println!("loads: {loads2:?}");
    checks.check(
        loads2.iter().all(|(n, _)| n != "server-0"),
        "server-0 gets no more work",
    );
    checks.finish("load_balancing");
}

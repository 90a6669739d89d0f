//! Naming scenario: several clients ask the naming service for names at once; every name
//! must be unique and each client's names must increase.
//!
//!     cargo run --release --example naming -- --server 127.0.0.1:2181 [--clients 4 --names 10]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::NamingService;
use std::collections::HashSet;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let (clients, names) = (args.num("clients", 4), args.num("names", 10));
    let base = run_root("naming");
    let checks = Checks::default();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let zk = session(&args.server).await;
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let ns = NamingService::new(&zk, &base);
            let mut mine = Vec::new();
            for _ in 0..names {
                let n = ns.unique_name("task-").await.expect("name");
                println!("client-{c} got {n}");
                mine.push(n);
            }
            mine
        }));
    }
    let mut all = HashSet::new();
    let mut total = 0;
    for (c, t) in tasks.into_iter().enumerate() {
        let mine = t.await.expect("client");
        checks.check(
            mine.windows(2).all(|w| w[0] < w[1]),
            &format!("client-{c}'s names increase"),
        );
        total += mine.len();
        all.extend(mine);
    }
    checks.check(
        all.len() == total && total == (clients * names) as usize,
        &format!("all {total} names unique"),
    );
    checks.finish("naming");
}

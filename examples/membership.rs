//! Cluster membership scenario: servers come online (ephemeral registrations) and go
//! offline (clean unregister, and a crash = session closed); a monitor watching the group
//! must see each change.
//!
//!     cargo run --release --example membership -- --server 127.0.0.1:2181 [--servers 4]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::ServiceRegistry;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let n = args.num("servers", 4) as usize;
    let base = run_root("membership");
    let checks = Checks::default();
    let monitor = session(&args.server).await;
    let mut view = ServiceRegistry::new(&monitor, &base)
        .watch("cluster")
        .await
        .expect("watch");
    let wait = |want: usize| {
        let mut view = view.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(30), view.wait_for(|m| m.len() == want))
                .await
                .map(|r| r.map(|m| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()))
        }
    };
    let mut members = Vec::new();
    for i in 0..n {
        let zk = session(&args.server).await;
        let inst = ServiceRegistry::new(&zk, &base)
            .register(
                "cluster",
                &format!("server-{i}"),
                format!("10.0.0.{i}:2181").as_bytes(),
            )
            .await
            .expect("register");
        println!("server-{i} online");
        members.push((zk, inst));
        let seen = wait(i + 1).await;
        checks.check(
            matches!(seen, Ok(Ok(_))),
            &format!("monitor sees {} members", i + 1),
        );
    }
    let (_, inst) = members.remove(0);
    inst.unregister().await.expect("unregister");
    println!("server-0 goes offline cleanly");
    let seen = wait(n - 1).await;
    checks.check(
        matches!(&seen, Ok(Ok(m)) if !m.contains(&"server-0".to_string())),
        "monitor sees server-0 leave",
    );
    let (zk, _) = members.remove(0);
    zk.close().await.expect("close");
    println!("server-1 crashes (its session ends)");
    let seen = wait(n - 2).await;
    checks.check(
        matches!(&seen, Ok(Ok(m)) if !m.contains(&"server-1".to_string())),
        "monitor sees server-1 vanish",
    );
    println!(
        "members now: {:?}",
        view.borrow_and_update()
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
    );
    checks.finish("membership");
}

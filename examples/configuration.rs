//! Configuration management scenario: an operator publishes successive versions of a
//! configuration znode; several services watch it and must each end up on the last one,
//! never seeing versions go backwards.
//!
//!     cargo run --release --example configuration -- --server 127.0.0.1:2181 [--services 3 --versions 5]

#[path = "common/mod.rs"]
mod common;

use common::{run_root, session, Args, Checks};
use ringkeeper::recipes::ConfigWatch;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let (services, versions) = (args.num("services", 3), args.num("versions", 5));
    let path = format!("{}/app.conf", run_root("configuration"));
    let checks = Arc::new(Checks::default());
    let last = format!("max_connections={}", 100 * versions);
    let mut tasks = Vec::new();
    for s in 0..services {
        let zk = session(&args.server).await;
        let (path, checks, last) = (path.clone(), checks.clone(), last.clone());
        let mut w = ConfigWatch::start(&zk, &path).await.expect("watch");
        tasks.push(tokio::spawn(async move {
            let mut prev = -1;
            loop {
                if let Some((data, version)) = w.current() {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    println!("service-{s} sees version {version}: {text}");
                    checks.check(
                        version >= prev,
                        &format!("service-{s} never goes back ({prev} -> {version})"),
                    );
                    prev = version;
                    if text == last {
                        return;
                    }
                }
                let changed = tokio::time::timeout(Duration::from_secs(30), w.changed()).await;
                if !matches!(changed, Ok(Some(_))) {
                    checks.check(false, &format!("service-{s} got the last version"));
                    return;
                }
            }
        }));
    }
    let admin = session(&args.server).await;
    admin.ensure_path(&path).await.expect("create config");
    for v in 1..=versions {
        let text = format!("max_connections={}", 100 * v);
        println!("operator publishes {text}");
        admin
            .set_data(&path, text.as_bytes(), -1)
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for t in tasks {
        t.await.expect("service");
    }
    checks.finish("configuration");
}

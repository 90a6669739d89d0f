//! One participant of the kazoo interoperability check (tools/conformance/kazoo-interop.sh):
//! takes a lock (or wins an election) on a path shared with kazoo participants, and inside
//! proves it is alone by creating the ephemeral `<check>/inside` marker, then appends its id
//! to `<check>/log`. Exits 1 if it ever found someone else inside.
//!
//!     interop_participant --server H:P --mode lock|write|read|election --path /p --check /c
//!                         --id NAME [--rounds 5] [--hold-ms 30]

#[path = "common/mod.rs"]
mod common;

use common::{session, Args};
use ringkeeper::client::{ClientError, CreateMode, ErrorCode, ZooKeeper};
use ringkeeper::recipes::{Election, Lock};
use std::time::Duration;

async fn critical_section(
    zk: &ZooKeeper,
    check: &str,
    id: &str,
    hold: Duration,
    shared: bool,
) -> bool {
    let open = ringkeeper::client::acl::open_unsafe();
    let inside = format!("{check}/inside");
    // Each side announces itself first and looks for the other second, so of a reader and
    // a writer that overlap at least one sees the other.
    let (marker, alone) = if shared {
        let marker = format!("{check}/reader-{id}");
        zk.create(&marker, id.as_bytes(), &open, CreateMode::Ephemeral)
            .await
            .expect("reader marker");
        (
            Some(marker),
            zk.exists(&inside).await.expect("exists").is_none(),
        )
    } else {
        match zk
            .create(&inside, id.as_bytes(), &open, CreateMode::Ephemeral)
            .await
        {
            Ok(_) => {
                let kids = zk.get_children(check).await.expect("children");
                (
                    Some(inside.clone()),
                    !kids.iter().any(|c| c.starts_with("reader-")),
                )
            }
            Err(ClientError::Keeper(ErrorCode::NodeExists)) => (None, false),
            Err(e) => panic!("marker: {e}"),
        }
    };
    let log = format!("{check}/log");
    loop {
        let (mut d, st) = zk.get_data(&log).await.expect("log");
        d.extend_from_slice(format!("{id}\n").as_bytes());
        match zk.set_data(&log, &d, st.version).await {
            Ok(_) => break,
            Err(ClientError::Keeper(ErrorCode::BadVersion)) => continue,
            Err(e) => panic!("append: {e}"),
        }
    }
    tokio::time::sleep(hold).await;
    if let Some(m) = marker {
        zk.delete(&m, -1).await.expect("delete marker");
    }
    alone
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let need = |k: &str| {
        args.get(k).map(str::to_string).unwrap_or_else(|| {
            eprintln!("error: --{k} is required");
            std::process::exit(2)
        })
    };
    let (mode, path, check, id) = (need("mode"), need("path"), need("check"), need("id"));
    let rounds = args.num("rounds", 5);
    let hold = Duration::from_millis(args.num("hold-ms", 30));
    let zk = session(&args.server).await;
    zk.ensure_path(&format!("{check}/log"))
        .await
        .expect("check path");
    let mut overlaps = 0;
    for r in 0..rounds {
        let (alone, release) = match mode.as_str() {
            "lock" | "write" | "read" => {
                let lock = match mode.as_str() {
                    "lock" => Lock::new(&zk, &path, &id),
                    "write" => Lock::write(&zk, &path, &id),
                    _ => Lock::read(&zk, &path, &id),
                };
                let g = lock.acquire().await.expect("acquire");
                println!("{id} holds {mode} {path} (round {r})");
                let alone = critical_section(&zk, &check, &id, hold, mode == "read").await;
                (alone, g.release().await)
            }
            "election" => {
                let l = Election::new(&zk, &path, &id)
                    .campaign()
                    .await
                    .expect("campaign");
                println!("{id} leads {path} (round {r})");
                let alone = critical_section(&zk, &check, &id, hold, false).await;
                (alone, l.resign().await)
            }
            other => {
                eprintln!("error: unknown --mode {other:?}");
                std::process::exit(2)
            }
        };
        release.expect("release");
        if !alone {
            println!("OVERLAP: {id} was not alone in round {r}");
            overlaps += 1;
        }
    }
    zk.close().await.ok();
    std::process::exit(if overlaps == 0 { 0 } else { 1 });
}

//! Snapshots on a real server: they appear under write load, restart recovers from
//! snapshot + log tail with every acknowledged write, and a damaged newest snapshot falls
//! back to the previous one. The tree is compared node by node through the client.

mod common;
use common::tree_dump;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestServer;
use ringkeeper::client::{acl, CreateMode};

fn snapshots(dir: &Path) -> Vec<(i64, std::path::PathBuf)> {
    ringkeeper::storage::snapshot::list(dir).unwrap()
}

fn tool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args(args)
        .output()
        .expect("run ringkeeper tool")
}

#[tokio::test]
async fn snapshots_appear_and_restart_recovers_from_snapshot_plus_log() {
    let mut s = TestServer::start_with("snapCount=50\n");
    let c = s.client().await;
    let open = acl::open_unsafe();
    c.create("/load", b"", &open, CreateMode::Persistent)
        .await
        .unwrap();
    // Pipelined writes: every one is acknowledged before we look.
    let mut calls = Vec::new();
    for i in 0..600 {
        let data = if i % 7 == 0 {
            vec![]
        } else {
            vec![i as u8; 50]
        };
        calls.push(c.create(
            &format!("/load/n{i:04}"),
            &data,
            &open,
            CreateMode::Persistent,
        ));
    }
    for (i, call) in calls.into_iter().enumerate() {
        call.await.unwrap_or_else(|e| panic!("create {i}: {e}"));
    }
    let mut sets = Vec::new();
    for i in 0..200 {
        sets.push(c.set_data(&format!("/load/n{i:04}"), b"updated", -1));
    }
    for call in sets {
        call.await.unwrap();
    }
    c.create("/load/eph", b"e", &open, CreateMode::Ephemeral)
        .await
        .unwrap();
    // Keep writing until several snapshots exist: a snapshot due while the previous one
    // is still being written is skipped, so bursts of group commits may skip some.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = 0;
    while snapshots(&s.data_dir()).len() < 5 {
        assert!(Instant::now() < deadline, "fewer than 5 snapshots appeared");
        for i in 0..60 {
            c.set_data(
                &format!("/load/n{i:04}"),
                format!("r{round}").as_bytes(),
                -1,
            )
            .await
            .unwrap();
        }
        round += 1;
    }
    let before = tree_dump::dump(&c).await;
    assert!(before.len() > 600);

    // Every snapshot on disk verifies.
    for (_, p) in snapshots(&s.data_dir()) {
        let out = tool(&["snapshot", "verify", p.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tool(&["log", "verify", s.data_dir().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Crash, restart: state comes from the newest snapshot plus the log after it.
    s.kill9();
    s.start_again();
    let log = s.log_contents();
    assert!(
        log.contains("recovered state from snapshot") && !log.contains("snapshot=none"),
        "{log}"
    );
    let c2 = s.client().await;
    let after = tree_dump::dump(&c2).await;
    tree_dump::assert_same(&before, &after, "after restart");

    // Damage the newest snapshot: recovery falls back to the previous one, same tree.
    s.kill9();
    let snaps = snapshots(&s.data_dir());
    let newest = &snaps[0].1;
    let mut b = std::fs::read(newest).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x20;
    std::fs::write(newest, &b).unwrap();
    let out = tool(&["snapshot", "verify", newest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"));
    s.start_again();
    assert!(s.log_contents().contains("is not usable"));
    let c3 = s.client().await;
    let after = tree_dump::dump(&c3).await;
    tree_dump::assert_same(
        &before,
        &after,
        "after falling back to the previous snapshot",
    );

    // Purge keeps 3 valid snapshots (the damaged one does not count) and the logs.
    s.stop();
    std::fs::remove_file(newest).unwrap();
    let valid = snapshots(&s.data_dir()).len();
    assert!(valid >= 4, "purge should have something to delete");
    let out = tool(&["purge", s.cfg_path().to_str().unwrap(), "-n", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshots(&s.data_dir()).len(), 3);
    s.start_again();
    let c4 = s.client().await;
    let after = tree_dump::dump(&c4).await;
    tree_dump::assert_same(&before, &after, "after purge");
}

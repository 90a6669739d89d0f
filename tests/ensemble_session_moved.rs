//! A session resumed on another ensemble member: the old connection's writes fail with
//! SESSIONMOVED, the new one's succeed. Passes against Apache ZooKeeper 3.8 too
//! (`RK_TEST_SERVER=reference cargo test --release --test ensemble_session_moved`).

mod common;

use common::ensemble::TestEnsemble;
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, ClientError, ConnectOptions, CreateMode};
use ringkeeper::proto::ErrorCode;
use std::time::Duration;

#[tokio::test]
async fn writes_from_the_connection_a_session_left_fail_with_session_moved() {
    let mut e = TestEnsemble::new(3, 0, "");
    e.spawn_all();
    e.wait_serving(&[1, 2, 3]);
    let leader = e.leader().expect("a leader");
    let members: Vec<u64> = (1..=3).collect();
    // One case through two followers, one with the session moving from a follower to the
    // leader and back: the leader tracks where each session is.
    let followers: Vec<u64> = members.iter().copied().filter(|&m| m != leader).collect();
    for (from, to) in [
        (followers[0], followers[1]),
        (followers[0], leader),
        (leader, followers[1]),
    ] {
        let old = Client::connect(&e.member(from).addr(), Duration::from_secs(10))
            .await
            .unwrap();
        let path = format!("/moved-{from}-{to}");
        old.create(&path, b"0", &open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        let new = resume_on(&old, &e.member(to).addr()).await;
        assert_eq!(new.session_id(), old.session_id());
        new.set_data(&path, b"1", -1).await.unwrap();
        match old.set_data(&path, b"2", -1).await {
            Err(ClientError::Keeper(ErrorCode::SessionMoved)) => {}
            // ZooKeeper closes the old connection instead when it learns of the move first.
            Err(ClientError::ConnectionLoss) => {}
            other => panic!("{from}->{to}: write through the old connection gave {other:?}"),
        }
        new.sync(&path).await.unwrap();
        let (data, _) = new.get_data(&path, false).await.unwrap();
        assert_eq!(data.as_deref(), Some(&b"1"[..]), "{from}->{to}");
    }
}

/// Resumes `old`'s session on `addr`. A member that has not applied the last txn `old` saw
/// refuses the handshake (the client must not go back in time), as ZooKeeper does; it
/// catches up within moments, so try again.
async fn resume_on(old: &Client, addr: &str) -> Client {
    for _ in 0..50 {
        match Client::connect_with(ConnectOptions {
            addr: addr.to_string(),
            ..old.resume_options()
        })
        .await
        {
            Ok(c) => return c,
            Err(ClientError::ConnectionLoss) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("resuming on {addr}: {e:?}"),
        }
    }
    panic!("resuming on {addr}: refused 50 times")
}

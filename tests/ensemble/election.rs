//! Leader election: who leads for a given start order, and what `srvr` says each member is.
//! With equal (empty) histories ZooKeeper's fast leader election picks the largest id among
//! the first quorum to form; later members follow the established leader.

use crate::common::ensemble::TestEnsemble;
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, CreateMode};
use std::time::Duration;

/// Started in order 1, 2 of three: the two elect the larger id, 2; 3 then follows it.
#[test]
fn three_started_in_order_elect_2_and_3_follows() {
    let mut e = TestEnsemble::new(3, 0, "");
    e.spawn(1);
    std::thread::sleep(Duration::from_millis(500));
    e.spawn(2);
    e.wait_serving(&[1, 2]);
    assert_eq!(e.mode(2).as_deref(), Some("leader"));
    assert_eq!(e.mode(1).as_deref(), Some("follower"));
    e.spawn(3);
    e.wait_serving(&[3]);
    assert_eq!(e.mode(3).as_deref(), Some("follower"));
    assert_eq!(e.mode(2).as_deref(), Some("leader"));
}

/// Five started in order 1..5: the first quorum is {1, 2, 3}, so 3 leads.
#[test]
fn five_started_in_order_elect_3() {
    let mut e = TestEnsemble::new(5, 0, "");
    e.spawn(1);
    e.spawn(2);
    std::thread::sleep(Duration::from_millis(500));
    e.spawn(3);
    e.wait_serving(&[1, 2, 3]);
    e.spawn(4);
    e.spawn(5);
    e.wait_serving(&[1, 2, 3, 4, 5]);
    assert_eq!(e.leader(), Some(3));
    for id in [1, 2, 4, 5] {
        assert_eq!(e.mode(id).as_deref(), Some("follower"), "server {id}");
    }
}

/// Three voters and an observer: `srvr` says `Mode: observer` on the observer, which
/// serves but never leads — not even when the leader dies and the two voters left elect.
#[test]
fn observer_serves_and_never_leads() {
    let mut e = TestEnsemble::new(3, 1, "");
    e.spawn_all();
    e.wait_serving(&[1, 2, 3, 4]);
    let leader = e.wait_leader(&[1, 2, 3, 4]);
    assert_ne!(leader, 4, "the observer leads");
    assert_eq!(e.mode(4).as_deref(), Some("observer"));
    let voters: Vec<u64> = [1, 2, 3].into_iter().filter(|&v| v != leader).collect();
    for &v in &voters {
        assert_eq!(e.mode(v).as_deref(), Some("follower"), "server {v}");
    }
    e.member_mut(leader).kill9();
    let mut left = voters.clone();
    left.push(4);
    let next = e.wait_leader(&left);
    assert!(voters.contains(&next), "server {next} leads, not a voter");
    assert_eq!(e.mode(4).as_deref(), Some("observer"));
}

/// A write through any member is visible on every member after a sync.
#[tokio::test]
async fn writes_through_followers_reach_everyone() {
    let mut e = TestEnsemble::new(3, 1, "");
    e.spawn_all();
    e.wait_serving(&[1, 2, 3, 4]);
    for id in 1..=4u64 {
        let c = Client::connect(&e.member(id).addr(), Duration::from_secs(10))
            .await
            .unwrap();
        c.create(
            &format!("/from{id}"),
            id.to_string().as_bytes(),
            &open_unsafe(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    }
    for id in 1..=4u64 {
        let c = Client::connect(&e.member(id).addr(), Duration::from_secs(10))
            .await
            .unwrap();
        c.sync("/").await.unwrap();
        let mut kids = c.get_children("/", false).await.unwrap();
        kids.sort();
        assert_eq!(
            kids,
            ["from1", "from2", "from3", "from4", "zookeeper"],
            "on server {id}"
        );
    }
    assert_eq!(e.mode(4).as_deref(), Some("observer"));
}

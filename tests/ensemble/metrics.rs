//! What an operator reads off the leader about its followers: the proposal → ACK wait per
//! follower in `mntr` (`zk_proposal_ack_us_follower_<sid>_*`). Ringkeeper's own keys, so
//! the test does not run against the reference server.

use crate::common::ensemble::TestEnsemble;
use crate::common::is_reference;
use crate::{create_all, ensure, names, rt};

/// After writes, the leader reports an ACK wait for each follower and none for the
/// observer (observers do not ack); followers report none (they do not lead).
#[test]
fn the_leader_reports_each_followers_proposal_ack_wait() {
    if is_reference() {
        return;
    }
    let mut e = TestEnsemble::new(3, 1, "");
    e.spawn_all();
    e.wait_serving(&[1, 2, 3, 4]);
    let leader = e.wait_leader(&[1, 2, 3, 4]);
    rt().block_on(async {
        let c = e.client_on(leader).await;
        ensure(&c, "/acks").await;
        create_all(&c, "/acks", &names("n", 0..50)).await;
    });
    let key = |sid: u64, q: &str| format!("zk_proposal_ack_us_follower_{sid}_{q}\t");
    let mntr = e.member(leader).four_letter("mntr");
    for f in [1, 2, 3].into_iter().filter(|&f| f != leader) {
        for q in ["p50", "p99", "max"] {
            assert!(
                mntr.contains(&key(f, q)),
                "no {} on the leader:\n{mntr}",
                key(f, q)
            );
        }
    }
    assert!(
        !mntr.contains(&key(4, "p50")),
        "the observer has an ACK wait:\n{mntr}"
    );
    for f in [1, 2, 3].into_iter().filter(|&f| f != leader) {
        let theirs = e.member(f).four_letter("mntr");
        assert!(
            !theirs.contains("zk_proposal_ack_us"),
            "follower {f}:\n{theirs}"
        );
    }
}

//! A follower that rejoins must end up serving exactly the committed history: nothing
//! acknowledged lost, nothing uncommitted kept. Three ways a leader brings it up to date:
//!
//! - DIFF: it missed a few txns; the leader sends them.
//! - TRUNC: it logged txns of an old epoch that never committed; the leader has it cut
//!   them off (then sends the rest).
//! - SNAP: it missed more than the leader keeps for a DIFF; the leader sends a snapshot.
//!
//! Which one a server picks is its own business; the assertions are on what it serves.
//! Against ZooKeeper each test also checks the rejoining follower's log for the sync it
//! expects, proving the scenario reaches that path.

use crate::common::ensemble::TestEnsemble;
use crate::common::is_reference;
use crate::{create_all, ensure, names, rt};
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::CreateMode;

/// All members serve exactly `want` under `parent`, with the same Stat of `parent`.
async fn assert_children(e: &TestEnsemble, ids: &[u64], parent: &str, want: &[String]) {
    let mut want = want.to_vec();
    want.sort();
    let mut first = None;
    for &id in ids {
        let (kids, stat) = e.read_children(id, parent).await;
        if kids != want {
            let missing: Vec<&String> = want.iter().filter(|w| !kids.contains(w)).collect();
            let extra: Vec<&String> = kids.iter().filter(|k| !want.contains(k)).collect();
            panic!(
                "server {id} serves {} children of {parent}, want {}: missing {missing:?}, \
                 unexpected {extra:?}",
                kids.len(),
                want.len()
            );
        }
        match &first {
            None => first = Some((id, stat)),
            Some((fid, fstat)) => {
                assert_eq!(&stat, fstat, "Stat of {parent}: server {id} vs {fid}")
            }
        }
    }
}

/// A three-member ensemble with `extra` in its zoo.cfg, serving: it, its ids, its leader and
/// the two followers.
fn serving3(extra: &str) -> (TestEnsemble, Vec<u64>, u64, u64, u64) {
    let mut e = TestEnsemble::new(3, 0, extra);
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    let leader = e.wait_leader(&all);
    let others = e.others(leader);
    let (f, g) = (others[0], others[1]);
    (e, all, leader, f, g)
}

/// A follower down while a few writes commit comes back and serves them (DIFF).
#[test]
fn follower_restart_catches_up_by_diff() {
    let rt = rt();
    let (mut e, all, leader, f, g) = serving3("");
    rt.block_on(async {
        let c = e.client_on(leader).await;
        ensure(&c, "/d").await;
        create_all(&c, "/d", &names("a", 0..20)).await;
    });
    e.member_mut(f).kill9();
    rt.block_on(async {
        let c = e.client_on(g).await;
        create_all(&c, "/d", &names("b", 0..20)).await;
    });
    let mark = e.log_len(f);
    e.spawn(f);
    e.wait_serving(&[f]);
    rt.block_on(async {
        let c = e.client_on(f).await;
        create_all(&c, "/d", &names("c", 0..20)).await;
    });
    let want = [names("a", 0..20), names("b", 0..20), names("c", 0..20)].concat();
    rt.block_on(assert_children(&e, &all, "/d", &want));
    if is_reference() {
        let log = e.log_since(f, mark);
        assert!(
            log.contains("Getting a diff from the leader"),
            "server {f} did not sync by DIFF:\n{}",
            e.member(f).tail()
        );
    }
}

/// A follower down while far more writes commit than the leader keeps for a DIFF (500
/// txns in ZooKeeper's committed log; snapshots every ~100) comes back by snapshot.
#[test]
fn follower_restart_catches_up_by_snapshot() {
    let rt = rt();
    let (mut e, all, leader, f, g) = serving3("snapCount=100\n");
    rt.block_on(async {
        let c = e.client_on(leader).await;
        ensure(&c, "/s").await;
        create_all(&c, "/s", &names("a", 0..20)).await;
    });
    e.member_mut(f).kill9();
    rt.block_on(async {
        let c = e.client_on(g).await;
        create_all(&c, "/s", &names("b", 0..1200)).await;
    });
    let mark = e.log_len(f);
    e.spawn(f);
    e.wait_serving(&[f]);
    rt.block_on(async {
        let c = e.client_on(f).await;
        create_all(&c, "/s", &names("c", 0..20)).await;
    });
    let want = [names("a", 0..20), names("b", 0..1200), names("c", 0..20)].concat();
    rt.block_on(assert_children(&e, &all, "/s", &want));
    if is_reference() {
        let log = e.log_since(f, mark);
        assert!(
            log.contains("Getting a snapshot from leader"),
            "server {f} did not sync by SNAP:\n{}",
            e.member(f).tail()
        );
    }
}

/// A snapshot of several megabytes, many SNAP parts on the quorum link, reaches the follower
/// whole: every member then serves the same tree, data included.
#[test]
fn follower_restart_catches_up_by_a_snapshot_of_many_parts() {
    let rt = rt();
    let (mut e, all, leader, f, g) = serving3("snapCount=100\n");
    rt.block_on(async {
        let c = e.client_on(leader).await;
        ensure(&c, "/big").await;
        for i in 0..8u32 {
            // Different in every byte position, so a part dropped or misplaced shows.
            let data: Vec<u8> = (0..900_000u32)
                .map(|j| (j.wrapping_mul(31) ^ i) as u8)
                .collect();
            c.create(
                &format!("/big/n{i}"),
                &data,
                &open_unsafe(),
                CreateMode::Persistent,
            )
            .await
            .unwrap_or_else(|err| panic!("create /big/n{i}: {err}"));
        }
    });
    e.member_mut(f).kill9();
    rt.block_on(async {
        let c = e.client_on(g).await;
        ensure(&c, "/s").await;
        create_all(&c, "/s", &names("b", 0..1200)).await;
    });
    let mark = e.log_len(f);
    e.spawn(f);
    e.wait_serving(&[f]);
    let compared = rt.block_on(e.assert_same_trees(&all));
    assert!(compared > 1200, "{compared} znodes compared");
    let log = e.log_since(f, mark);
    let synced = if is_reference() {
        "Getting a snapshot from leader"
    } else {
        "SNAP from the leader: loaded"
    };
    assert!(
        log.contains(synced),
        "server {f} did not sync by SNAP:\n{}",
        e.member(f).tail()
    );
    // It recovers from the snapshot it kept.
    e.member_mut(f).kill9();
    e.spawn(f);
    e.wait_serving(&[f]);
    rt.block_on(e.assert_same_trees(&all));
}

/// A former leader that logged proposals no one else received — they could never commit
/// — rejoins the ensemble of a newer epoch and serves the committed history without them.
///
/// How it is forced, black-box: with leader L and followers A and B, A is killed and a few
/// writes commit on L and B. B is then SIGSTOPped (and waited for until all its threads
/// stop, so it reads nothing more), and creates are sent to L: L logs them as proposals
/// and sends them into B's socket buffer, but no quorum acknowledges them. L gives up its
/// leadership when B's acknowledgements stop (syncLimit), failing those creates. L and B
/// are then SIGKILLed: B's unread socket buffer dies with it, so the proposals exist only
/// in L's log. A and B restart and elect a leader of a new epoch; then L restarts and must
/// drop its uncommitted tail before serving.
///
/// `new_epoch_writes_first` decides whether the new epoch commits writes before L returns.
/// Without them the new leader's history ends inside L's epoch, below L's last zxid, and
/// ZooKeeper truncates L's log (TRUNC). With them ZooKeeper will not TRUNC across the epoch
/// boundary and sends L a snapshot instead. Either way the proposals must be gone.
fn former_leader_drops_uncommitted_proposals(new_epoch_writes_first: bool) {
    let rt = rt();
    let mut e = TestEnsemble::new(3, 0, "");
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    let l = e.wait_leader(&all);
    let others = e.others(l);
    let (a, b) = (others[0], others[1]);
    rt.block_on(async {
        let c = e.client_on(l).await;
        ensure(&c, "/t").await;
        create_all(&c, "/t", &names("a", 0..10)).await;
    });
    e.member_mut(a).kill9();
    let on_l = rt.block_on(async {
        let c = e.client_on(l).await;
        create_all(&c, "/t", &names("b", 0..10)).await;
        c
    });
    e.member(b).pause_and_wait();
    let proposals = names("u", 0..5);
    let pending: Vec<_> = proposals
        .iter()
        .map(|n| {
            on_l.create(
                &format!("/t/{n}"),
                b"",
                &open_unsafe(),
                CreateMode::Persistent,
            )
        })
        .collect();
    e.wait_not_serving(l);
    rt.block_on(async {
        for p in pending {
            if let Ok(path) = p.await {
                panic!("{path} was acknowledged with only the leader up");
            }
        }
    });
    drop(on_l);
    e.member_mut(l).kill9();
    e.member_mut(b).kill9();
    e.spawn(a);
    e.spawn(b);
    e.wait_serving(&[a, b]);
    let new_leader = e.wait_leader(&[a, b]);
    // A session is a txn too: none is opened in the new epoch unless asked for.
    if new_epoch_writes_first {
        rt.block_on(async {
            let c = e.client_on(new_leader).await;
            create_all(&c, "/t", &names("c", 0..10)).await;
        });
    }
    let mark = e.log_len(l);
    e.spawn(l);
    e.wait_serving(&[l]);
    assert_eq!(e.mode(l).as_deref(), Some("follower"));
    if !new_epoch_writes_first {
        rt.block_on(async {
            let c = e.client_on(new_leader).await;
            create_all(&c, "/t", &names("c", 0..10)).await;
        });
    }
    let want = [names("a", 0..10), names("b", 0..10), names("c", 0..10)].concat();
    rt.block_on(assert_children(&e, &all, "/t", &want));
    if is_reference() {
        let (needle, how) = if new_epoch_writes_first {
            ("Getting a snapshot from leader", "SNAP")
        } else {
            ("Truncating log to get in sync with the leader", "TRUNC")
        };
        assert!(
            e.log_since(l, mark).contains(needle),
            "server {l} did not sync by {how}:\n{}",
            e.member(l).tail()
        );
    }
}

/// The new leader has committed nothing of its own epoch when the old leader returns.
#[test]
fn former_leader_truncates_uncommitted_proposals() {
    former_leader_drops_uncommitted_proposals(false);
}

/// The new epoch has committed writes before the old leader returns.
#[test]
fn former_leader_drops_uncommitted_proposals_after_new_epoch_writes() {
    former_leader_drops_uncommitted_proposals(true);
}

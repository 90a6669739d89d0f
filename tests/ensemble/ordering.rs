//! ZooKeeper's per-client ordering promises hold on every kind of member, with other
//! clients writing at the same time: replies come back in request order, a read sees the
//! client's own earlier writes (a learner answers forwarded writes only once they are
//! applied there), and a watcher is sent the event for a change before any read of its
//! shows that change.

use std::future::Future;
use std::pin::Pin;

use crate::common::ensemble::TestEnsemble;
use crate::{ensure, rt};
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, ClientError, CreateMode, ErrorCode, EventType};

type Check = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Three participants and one observer, all serving.
fn with_observer() -> TestEnsemble {
    let mut e = TestEnsemble::new(3, 1, "");
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    e.wait_leader(&all);
    e
}

fn err(r: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Keeper(code)) => code,
        other => panic!("expected a ZooKeeper error, got {other:?}"),
    }
}

/// Hundreds of writes and reads pipelined on one connection: every reply in order, every
/// read reflecting the writes sent before it on that connection.
async fn pipelined(c: Client, base: String, rounds: u32) {
    ensure(&c, &base).await;
    let o = open_unsafe();
    let mut checks: Vec<Check> = vec![];
    for i in 0..rounds {
        let v = i.to_be_bytes().to_vec();
        let set = c.set_data(&base, &v, i as i32);
        checks.push(Box::pin(async move {
            assert_eq!(set.await.expect("setData").version, i as i32 + 1);
        }));
        let get = c.get_data(&base, false);
        let want = v.clone();
        checks.push(Box::pin(async move {
            let (d, st) = get.await.expect("getData");
            assert_eq!(d.expect("data"), want, "read after write {i}");
            assert_eq!(st.version, i as i32 + 1);
        }));
        let kid = format!("{base}/k{i}");
        let create = c.create(&kid, b"", &o, CreateMode::Persistent);
        checks.push(Box::pin(async move {
            create.await.expect("create");
        }));
        let exists = c.exists(&kid, false);
        checks.push(Box::pin(async move {
            assert!(
                exists.await.expect("exists").is_some(),
                "{i}: created before"
            );
        }));
        match i % 3 {
            0 => {
                let dup = c.create(&kid, b"", &o, CreateMode::Persistent);
                checks.push(Box::pin(async move {
                    assert_eq!(err(dup.await), ErrorCode::NodeExists);
                }));
            }
            1 => {
                let kids = c.get_children2(&base, false);
                checks.push(Box::pin(async move {
                    let (_, st) = kids.await.expect("getChildren2");
                    assert_eq!(st.num_children, i as i32 + 1);
                }));
            }
            _ => {
                let sync = c.sync(&base);
                checks.push(Box::pin(async move {
                    sync.await.expect("sync");
                }));
            }
        }
    }
    for check in checks {
        check.await;
    }
}

/// A client on each member (leader, followers, observer) pipelines its own workload at
/// the same time, so the members publish many clients' txns together.
#[test]
fn pipelined_requests_on_every_member_are_answered_in_order_and_see_own_writes() {
    let rt = rt();
    let e = with_observer();
    rt.block_on(async {
        let mut runs = vec![];
        for id in e.ids() {
            for k in 0..2 {
                let c = e.client_on(id).await;
                runs.push(tokio::spawn(pipelined(c, format!("/pipe-{id}-{k}"), 150)));
            }
        }
        for r in runs {
            r.await.expect("pipelined client");
        }
    });
}

/// A watcher on a follower (and one on the observer) is sent the event for each change
/// before any of its reads shows the change, while writers on the other members write.
#[test]
fn notification_precedes_a_read_that_shows_the_change_on_learners() {
    let rt = rt();
    let e = with_observer();
    let leader = e.leader().expect("a leader");
    rt.block_on(async {
        let writers = {
            let mut w = vec![];
            for id in e.ids() {
                w.push(e.client_on(id).await);
            }
            w
        };
        ensure(&writers[0], "/w").await;
        for watcher_on in e.others(leader) {
            let a = e.client_on(watcher_on).await;
            let mut rx = a.events().expect("event stream");
            a.sync("/w").await.expect("sync");
            for i in 1..=40u32 {
                let v = (watcher_on as u32 * 1000 + i).to_be_bytes().to_vec();
                a.get_data("/w", true).await.expect("arm the watch");
                let b = &writers[i as usize % writers.len()];
                let write = b.set_data("/w", &v, -1);
                let mut reads = 0;
                loop {
                    let (d, _) = a.get_data("/w", false).await.expect("getData");
                    reads += 1;
                    if d.as_deref() == Some(&v[..]) {
                        break;
                    }
                    assert!(reads < 100_000, "write {i} never became visible");
                }
                let ev = rx.try_recv().unwrap_or_else(|_| {
                    panic!(
                        "member {watcher_on}, write {i}: a read showed the data before the event"
                    )
                });
                assert_eq!(
                    (ev.kind, ev.path.as_str()),
                    (EventType::NodeDataChanged, "/w")
                );
                write.await.expect("setData");
            }
        }
    });
}

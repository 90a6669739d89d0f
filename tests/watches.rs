//! Watches against the real binary (spec section 7, DESIGN section 2): one-shot, persistent
//! and recursive watches, check/removeWatches, setWatches re-registration, ACL-filtered
//! delivery, and the ordering guarantees under concurrency, across net cores.
//!
//! "No more events" is checked without sleeping: after a write by another connection has
//! been acknowledged, a read on the watching connection reflects it, and every
//! notification that write caused reaches the watcher's event channel before that read's
//! reply. So once the read returns, the channel holds everything it will ever hold.

mod common;

use common::TestServer;
use ringkeeper::client::acl::{acl, digest_id, open_unsafe, ALL};
use ringkeeper::client::{
    AddWatchMode, Client, ClientError, CreateMode, ErrorCode, EventType, Op, OpResult,
    WatchedEvent, WatcherType,
};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;

const T: Duration = Duration::from_secs(10);

/// Bound on a whole test: a hang fails the test instead of stalling the suite.
const TEST_LIMIT: Duration = Duration::from_secs(60);

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test did not finish within its time limit");
}

/// True when the harness runs Apache ZooKeeper (3.8.0 here) instead of ringkeeper.
fn reference() -> bool {
    std::env::var("RK_TEST_SERVER").as_deref() == Ok("reference")
}

type Events = UnboundedReceiver<WatchedEvent>;

fn keeper<V: std::fmt::Debug>(r: Result<V, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Keeper(c)) => c,
        other => panic!("expected a keeper error, got {other:?}"),
    }
}

async fn mk(c: &Client, path: &str) {
    c.create(path, b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

async fn next_event(rx: &mut Events) -> WatchedEvent {
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("watch event in time")
        .expect("event channel open")
}

/// After this, `rx` holds every notification caused by writes acknowledged before it.
async fn settle(watcher: &Client) {
    watcher.exists("/", false).await.unwrap();
}

/// Everything in the channel right now, as (type, path).
fn drain(rx: &mut Events) -> Vec<(EventType, String)> {
    let mut out = vec![];
    loop {
        match rx.try_recv() {
            Ok(ev) => {
                assert_eq!(ev.state, 3, "notifications carry SyncConnected: {ev:?}");
                out.push((ev.kind, ev.path));
            }
            Err(TryRecvError::Empty) => return out,
            Err(TryRecvError::Disconnected) => panic!("event channel closed"),
        }
    }
}

/// Settles and returns every event that arrived.
async fn events_after(watcher: &Client, rx: &mut Events) -> Vec<(EventType, String)> {
    settle(watcher).await;
    drain(rx)
}

fn ev(kind: EventType, path: &str) -> (EventType, String) {
    (kind, path.to_string())
}

use EventType::{NodeChildrenChanged as Children, NodeCreated as Created};
use EventType::{NodeDataChanged as Changed, NodeDeleted as Deleted};

#[tokio::test]
async fn one_shot_watches_fire_once_with_the_right_type_and_path() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let m = s.client().await;
        mk(&m, "/d").await;
        mk(&m, "/c").await;

        // Data watch (registered twice: collapses), child watch, exists watch on a
        // missing node; a getData watch on a missing node is not registered.
        w.get_data("/d", true).await.unwrap();
        w.exists("/d", true).await.unwrap();
        w.get_children("/c", true).await.unwrap();
        assert_eq!(w.exists("/new", true).await.unwrap(), None);
        assert_eq!(keeper(w.get_data("/nodata", true).await), ErrorCode::NoNode);

        m.set_data("/d", b"1", -1).await.unwrap();
        m.set_data("/d", b"2", -1).await.unwrap();
        mk(&m, "/c/x").await;
        mk(&m, "/c/y").await;
        m.set_data("/c", b"no data watch on /c", -1).await.unwrap();
        mk(&m, "/new").await;
        m.set_data("/new", b"fired already", -1).await.unwrap();
        mk(&m, "/nodata").await;
        assert_eq!(
            events_after(&w, &mut rx).await,
            [ev(Changed, "/d"), ev(Children, "/c"), ev(Created, "/new")]
        );

        // Delete: one NodeDeleted for a connection holding data and child watches on the
        // node, then NodeChildrenChanged for the parent.
        w.get_data("/c/x", true).await.unwrap();
        w.get_children("/c/x", true).await.unwrap();
        w.get_children("/c", true).await.unwrap();
        w.exists("/new", true).await.unwrap();
        m.delete("/c/x", -1).await.unwrap();
        m.delete("/new", -1).await.unwrap();
        assert_eq!(
            events_after(&w, &mut rx).await,
            [ev(Deleted, "/c/x"), ev(Children, "/c"), ev(Deleted, "/new")]
        );

        // A watcher's own writes notify it too, before the write's reply.
        w.get_data("/d", true).await.unwrap();
        w.set_data("/d", b"self", -1).await.unwrap();
        assert_eq!(drain(&mut rx), [ev(Changed, "/d")]);

        // Root child watch and setACL (which fires nothing).
        w.get_children("/", true).await.unwrap();
        w.get_data("/d", true).await.unwrap();
        m.set_acl("/d", &open_unsafe(), -1).await.unwrap();
        mk(&m, "/top").await;
        assert_eq!(events_after(&w, &mut rx).await, [ev(Children, "/")]);
    })
    .await
}

#[tokio::test]
async fn multi_fires_watches_in_op_order_only_when_it_succeeds() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let m = s.client().await;
        mk(&m, "/a").await;
        mk(&m, "/b").await;
        w.get_data("/a", true).await.unwrap();
        w.get_data("/b", true).await.unwrap();
        w.get_children("/b", true).await.unwrap();
        let o = open_unsafe();
        let failed = m
            .multi(vec![
                Op::set_data("/a", b"x", -1),
                Op::create("/b/k", b"", &o, CreateMode::Persistent),
                Op::check("/a", 99),
            ])
            .await
            .unwrap();
        assert_eq!(failed[2], OpResult::Error(ErrorCode::BadVersion));
        assert_eq!(events_after(&w, &mut rx).await, []);
        m.multi(vec![
            Op::create("/b/k", b"", &o, CreateMode::Persistent),
            Op::set_data("/b", b"x", -1),
            Op::set_data("/a", b"x", -1),
        ])
        .await
        .unwrap();
        let z = m.last_zxid();
        settle(&w).await;
        let mut got = vec![];
        while let Ok(e) = rx.try_recv() {
            if !reference() {
                assert_eq!(e.zxid, z, "3.9: the multi's zxid on each event");
            }
            got.push((e.kind, e.path));
        }
        assert_eq!(
            got,
            [ev(Children, "/b"), ev(Changed, "/b"), ev(Changed, "/a")]
        );
    })
    .await
}

#[tokio::test]
async fn persistent_watch_fires_repeatedly_for_the_node_and_its_children() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let m = s.client().await;
        // The node need not exist.
        w.add_watch("/p", AddWatchMode::Persistent).await.unwrap();
        mk(&m, "/p").await;
        m.set_data("/p", b"1", -1).await.unwrap();
        mk(&m, "/p/a").await;
        mk(&m, "/p/a/b").await;
        m.set_data("/p/a", b"1", -1).await.unwrap();
        m.delete("/p/a/b", -1).await.unwrap();
        m.delete("/p/a", -1).await.unwrap();
        m.set_data("/p", b"2", -1).await.unwrap();
        m.delete("/p", -1).await.unwrap();
        mk(&m, "/p").await;
        mk(&m, "/px").await;
        assert_eq!(
            events_after(&w, &mut rx).await,
            [
                ev(Created, "/p"),
                ev(Changed, "/p"),
                ev(Children, "/p"),
                ev(Children, "/p"),
                ev(Changed, "/p"),
                ev(Deleted, "/p"),
                ev(Created, "/p"),
            ]
        );
    })
    .await
}

#[tokio::test]
async fn recursive_watch_covers_descendants_and_never_sends_child_events() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let m = s.client().await;
        w.add_watch("/r", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        mk(&m, "/r").await;
        mk(&m, "/r/a").await;
        mk(&m, "/r/a/b").await;
        m.set_data("/r/a/b", b"1", -1).await.unwrap();
        m.delete("/r/a/b", -1).await.unwrap();
        mk(&m, "/rx").await;
        mk(&m, "/other").await;
        m.set_data("/r", b"1", -1).await.unwrap();
        assert_eq!(
            events_after(&w, &mut rx).await,
            [
                ev(Created, "/r"),
                ev(Created, "/r/a"),
                ev(Created, "/r/a/b"),
                ev(Changed, "/r/a/b"),
                ev(Deleted, "/r/a/b"),
                ev(Changed, "/r"),
            ]
        );
        if reference() {
            // 3.8: one watch mode per (connection, path); the rest is 3.9 behaviour.
            return;
        }
        // A standard watch alongside: one notification, and firing it leaves the
        // recursive one in place.
        w.get_data("/r/a", true).await.unwrap();
        w.get_children("/r/a", true).await.unwrap();
        m.set_data("/r/a", b"1", -1).await.unwrap();
        mk(&m, "/r/a/c").await;
        m.set_data("/r/a", b"2", -1).await.unwrap();
        assert_eq!(
            events_after(&w, &mut rx).await,
            [
                ev(Changed, "/r/a"),
                ev(Created, "/r/a/c"),
                ev(Children, "/r/a"),
                ev(Changed, "/r/a"),
            ]
        );
        // A second recursive watch on an ancestor: still one event per change.
        w.add_watch("/", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        m.set_data("/r/a/c", b"1", -1).await.unwrap();
        assert_eq!(events_after(&w, &mut rx).await, [ev(Changed, "/r/a/c")]);
    })
    .await
}

#[tokio::test]
async fn check_and_remove_watches() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let m = s.client().await;
        mk(&m, "/n").await;
        for kind in [WatcherType::Data, WatcherType::Children, WatcherType::Any] {
            assert_eq!(
                keeper(w.check_watches("/n", kind).await),
                ErrorCode::NoWatcher
            );
            assert_eq!(
                keeper(w.remove_watches("/n", kind).await),
                ErrorCode::NoWatcher
            );
        }

        w.get_data("/n", true).await.unwrap();
        w.check_watches("/n", WatcherType::Data).await.unwrap();
        w.check_watches("/n", WatcherType::Any).await.unwrap();
        assert_eq!(
            keeper(w.check_watches("/n", WatcherType::Children).await),
            ErrorCode::NoWatcher
        );
        // Watches belong to the connection. (The installed 3.8.0 answers OK here.)
        if !reference() {
            assert_eq!(
                keeper(m.check_watches("/n", WatcherType::Data).await),
                ErrorCode::NoWatcher
            );
        }
        w.remove_watches("/n", WatcherType::Data).await.unwrap();
        assert_eq!(
            keeper(w.check_watches("/n", WatcherType::Data).await),
            ErrorCode::NoWatcher
        );
        m.set_data("/n", b"1", -1).await.unwrap();
        assert_eq!(events_after(&w, &mut rx).await, []);

        // An exists watch on a missing node counts as a data watch.
        w.exists("/missing", true).await.unwrap();
        w.check_watches("/missing", WatcherType::Data)
            .await
            .unwrap();
        w.remove_watches("/missing", WatcherType::Any)
            .await
            .unwrap();
        mk(&m, "/missing").await;

        w.get_children("/n", true).await.unwrap();
        w.get_data("/n", true).await.unwrap();
        w.remove_watches("/n", WatcherType::Any).await.unwrap();
        for kind in [WatcherType::Data, WatcherType::Children] {
            assert_eq!(
                keeper(w.check_watches("/n", kind).await),
                ErrorCode::NoWatcher
            );
        }
        mk(&m, "/n/k").await;
        m.set_data("/n", b"2", -1).await.unwrap();
        assert_eq!(events_after(&w, &mut rx).await, []);
        if reference() {
            // WatcherType 4/5 are 3.9.
            return;
        }

        for (mode, kind) in [
            (AddWatchMode::Persistent, WatcherType::Persistent),
            (
                AddWatchMode::PersistentRecursive,
                WatcherType::PersistentRecursive,
            ),
        ] {
            assert_eq!(
                keeper(w.check_watches("/n", kind).await),
                ErrorCode::NoWatcher
            );
            w.add_watch("/n", mode).await.unwrap();
            w.check_watches("/n", kind).await.unwrap();
            w.remove_watches("/n", kind).await.unwrap();
            assert_eq!(
                keeper(w.remove_watches("/n", kind).await),
                ErrorCode::NoWatcher
            );
        }
        m.set_data("/n", b"3", -1).await.unwrap();
        assert_eq!(events_after(&w, &mut rx).await, []);

        // 3.9: removing the standard data watch leaves a persistent one on the path.
        w.add_watch("/n", AddWatchMode::Persistent).await.unwrap();
        w.get_data("/n", true).await.unwrap();
        w.remove_watches("/n", WatcherType::Data).await.unwrap();
        w.check_watches("/n", WatcherType::Persistent)
            .await
            .unwrap();
        m.set_data("/n", b"4", -1).await.unwrap();
        assert_eq!(events_after(&w, &mut rx).await, [ev(Changed, "/n")]);
    })
    .await
}

#[tokio::test]
async fn set_watches_rearms_relative_to_a_zxid_on_a_fresh_connection() {
    bounded(async {
        let s = TestServer::start();
        let m = s.client().await;
        for p in ["/d1", "/d2", "/gone", "/c1", "/c2", "/gone2"] {
            mk(&m, p).await;
        }
        // What a client saw before it lost its connection.
        let z = m.last_zxid();
        m.set_data("/d1", b"changed", -1).await.unwrap();
        m.delete("/gone", -1).await.unwrap();
        m.delete("/gone2", -1).await.unwrap();
        mk(&m, "/e1").await;
        mk(&m, "/c1/k").await;

        let w = s.client().await;
        let mut rx = w.events().unwrap();
        w.set_watches(
            z,
            &["/d1", "/d2", "/gone"],
            &["/e1", "/e2"],
            &["/c1", "/c2", "/gone2"],
            &[],
            &[],
        )
        .await
        .unwrap();
        // Changes after z fire at once (in no promised order), synthesised with zxid -1.
        let mut caught_up = vec![];
        for _ in 0..5 {
            let e = next_event(&mut rx).await;
            assert_eq!(e.zxid, -1, "catch-up events carry zxid -1: {e:?}");
            caught_up.push((e.kind, e.path));
        }
        caught_up.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            caught_up,
            [
                ev(Children, "/c1"),
                ev(Changed, "/d1"),
                ev(Created, "/e1"),
                ev(Deleted, "/gone"),
                ev(Deleted, "/gone2"),
            ]
        );
        assert_eq!(events_after(&w, &mut rx).await, []);
        // The others were registered as ordinary one-shot watches.
        m.set_data("/d1", b"again", -1).await.unwrap();
        m.set_data("/d2", b"x", -1).await.unwrap();
        mk(&m, "/e2").await;
        mk(&m, "/c2/k").await;
        mk(&m, "/c2/k2").await;
        m.set_data("/d2", b"y", -1).await.unwrap();
        assert_eq!(
            events_after(&w, &mut rx).await,
            [ev(Changed, "/d2"), ev(Created, "/e2"), ev(Children, "/c2")]
        );

        // setWatches2: persistent and recursive watches re-armed without catch-up events.
        let w2 = s.client().await;
        let mut rx2 = w2.events().unwrap();
        w2.set_watches(z, &[], &[], &[], &["/d1"], &["/c1"])
            .await
            .unwrap();
        assert_eq!(events_after(&w2, &mut rx2).await, []);
        m.set_data("/d1", b"p", -1).await.unwrap();
        m.set_data("/d1", b"q", -1).await.unwrap();
        mk(&m, "/c1/k/deep").await;
        assert_eq!(
            events_after(&w2, &mut rx2).await,
            [
                ev(Changed, "/d1"),
                ev(Changed, "/d1"),
                ev(Created, "/c1/k/deep")
            ]
        );
    })
    .await
}

#[tokio::test]
async fn delivery_is_filtered_by_read_acl() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let bob = s.client().await;
        bob.add_auth("digest", b"bob:secret").await.unwrap();
        let bob_only = vec![acl(ALL, "digest", &digest_id("bob", "secret"))];
        let o = open_unsafe();

        // addWatch needs no ACL; events are filtered when delivered.
        w.add_watch("/acl", AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        mk(&bob, "/acl").await;
        bob.create("/acl/open", b"", &o, CreateMode::Persistent)
            .await
            .unwrap();
        bob.create("/acl/secret", b"", &bob_only, CreateMode::Persistent)
            .await
            .unwrap();
        bob.set_data("/acl/secret", b"s", -1).await.unwrap();
        bob.set_data("/acl/open", b"o", -1).await.unwrap();
        bob.delete("/acl/secret", -1).await.unwrap();
        assert_eq!(
            events_after(&w, &mut rx).await,
            [
                ev(Created, "/acl"),
                ev(Created, "/acl/open"),
                ev(Changed, "/acl/open")
            ]
        );

        // A standard watch whose event is filtered is still consumed.
        mk(&bob, "/x").await;
        w.get_data("/x", true).await.unwrap();
        bob.set_acl("/x", &bob_only, -1).await.unwrap();
        bob.set_data("/x", b"hidden", -1).await.unwrap();
        bob.set_acl("/x", &o, -1).await.unwrap();
        bob.set_data("/x", b"visible", -1).await.unwrap();
        assert_eq!(events_after(&w, &mut rx).await, []);

        // NodeChildrenChanged is checked against the parent's ACL.
        mk(&bob, "/pc").await;
        w.get_children("/pc", true).await.unwrap();
        bob.set_acl("/pc", &bob_only, -1).await.unwrap();
        mk(&bob, "/pc/k").await;
        assert_eq!(events_after(&w, &mut rx).await, []);
    })
    .await
}

type Check = Pin<Box<dyn Future<Output = ()>>>;

/// (a) Hundreds of mixed requests written back to back on one connection: the client fails
/// every call with a protocol error if a reply comes back out of order, and each read must
/// reflect the writes sent before it on the same connection.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_reads_see_earlier_writes() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        mk(&c, "/o").await;
        let o = open_unsafe();
        let mut checks: Vec<Check> = vec![];
        for i in 0..300u32 {
            let v = i.to_be_bytes().to_vec();
            let set = c.set_data("/o", &v, i as i32);
            checks.push(Box::pin(async move {
                assert_eq!(set.await.unwrap().version, i as i32 + 1);
            }));
            let get = c.get_data("/o", false);
            let want = v.clone();
            checks.push(Box::pin(async move {
                let (d, st) = get.await.unwrap();
                assert_eq!(d.unwrap(), want, "read after write {i}");
                assert_eq!(st.version, i as i32 + 1);
            }));
            let kid = format!("/o/k{i}");
            let create = c.create(&kid, b"", &o, CreateMode::Persistent);
            checks.push(Box::pin(async move {
                create.await.unwrap();
            }));
            let exists = c.exists(&kid, false);
            checks.push(Box::pin(async move {
                assert!(exists.await.unwrap().is_some(), "{i}: created before");
            }));
            match i % 5 {
                0 => {
                    // A write that fails validation still keeps its place.
                    let dup = c.create(&kid, b"", &o, CreateMode::Persistent);
                    checks.push(Box::pin(async move {
                        assert_eq!(keeper(dup.await), ErrorCode::NodeExists);
                    }));
                }
                1 => {
                    let kids = c.get_children2("/o", false);
                    checks.push(Box::pin(async move {
                        let (_, st) = kids.await.unwrap();
                        assert_eq!(st.num_children, i as i32 + 1);
                    }));
                }
                2 => {
                    let sync = c.sync("/o");
                    checks.push(Box::pin(async move {
                        assert_eq!(sync.await.unwrap(), "/o");
                    }));
                }
                3 => {
                    let del = c.delete(&kid, -1);
                    let after = c.exists(&kid, false);
                    checks.push(Box::pin(async move {
                        del.await.unwrap();
                        assert!(after.await.unwrap().is_none(), "{i}: deleted before");
                    }));
                    // Recreate so the child count stays i + 1.
                    let again = c.create(&kid, b"", &o, CreateMode::Persistent);
                    checks.push(Box::pin(async move {
                        again.await.unwrap();
                    }));
                }
                _ => {
                    let missing = c.get_data("/o/none", false);
                    checks.push(Box::pin(async move {
                        assert_eq!(keeper(missing.await), ErrorCode::NoNode);
                    }));
                }
            }
        }
        let n = checks.len();
        for check in checks {
            check.await;
        }
        assert!(n > 1500);
        assert!(c.is_connected());
    })
    .await
}

/// (b) A watcher learns of a change (notification) before any of its reads shows it.
#[tokio::test]
async fn notification_precedes_a_read_that_shows_the_change() {
    bounded(async {
        let s = TestServer::start_with("netCores=2");
        let a = s.client().await;
        let mut rx = a.events().unwrap();
        let writers = [
            s.client().await,
            s.client().await,
            s.client().await,
            s.client().await,
        ];
        mk(&a, "/w").await;
        for i in 1..=60u32 {
            let v = i.to_be_bytes().to_vec();
            a.get_data("/w", true).await.unwrap();
            let b = &writers[i as usize % writers.len()];
            let write = b.set_data("/w", &v, -1);
            let mut reads = 0;
            loop {
                let (d, _) = a.get_data("/w", false).await.unwrap();
                reads += 1;
                if d.as_deref() == Some(&v[..]) {
                    break;
                }
                assert!(reads < 100_000, "write {i} never became visible");
            }
            let e = rx
                .try_recv()
                .unwrap_or_else(|_| panic!("write {i}: read showed the data before the event"));
            assert_eq!((e.kind, e.path.as_str()), (Changed, "/w"));
            let st = write.await.unwrap();
            if !reference() {
                assert_eq!(e.zxid, st.mzxid, "3.9: the event carries the write's zxid");
            }
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        }
    })
    .await
}

/// (c) Once a write is acknowledged to one client, any other client's later read sees it,
/// whichever net core each connection landed on.
#[tokio::test]
async fn read_your_writes_across_connections_and_cores() {
    bounded(async {
        let s = TestServer::start_with("netCores=2");
        let mut cs = vec![];
        for _ in 0..6 {
            cs.push(s.client().await);
        }
        mk(&cs[0], "/ryw").await;
        let n = cs.len();
        for i in 0..1000usize {
            let writer = &cs[i % n];
            let v = (i as u32).to_be_bytes();
            let kid = format!("/ryw/k{i}");
            if i % 2 == 0 {
                writer.set_data("/ryw", &v, -1).await.unwrap();
            } else {
                writer
                    .create(&kid, &v, &open_unsafe(), CreateMode::Ephemeral)
                    .await
                    .unwrap();
            }
            // Every other connection reads right after the ack (pipelined per connection).
            let mut reads = vec![];
            for (j, r) in cs.iter().enumerate().filter(|(j, _)| *j != i % n) {
                if i % 2 == 0 {
                    let f = r.get_data("/ryw", false);
                    reads.push(Box::pin(async move {
                        let (d, _) = f.await.unwrap();
                        assert_eq!(d.unwrap(), v, "iteration {i}: reader {j} missed the write");
                    }) as Check);
                } else {
                    let f = r.exists(&kid, false);
                    let kid = kid.clone();
                    reads.push(Box::pin(async move {
                        assert!(
                            f.await.unwrap().is_some(),
                            "iteration {i}: reader {j} does not see {kid}"
                        );
                    }));
                }
            }
            for r in reads {
                r.await;
            }
        }
    })
    .await
}

/// A net core is woken for a committed batch only when it has something to send: a reply,
/// or an event one of its watches may match. A watch registered while the consensus core
/// is judging a batch must still get that batch's event, with no later traffic on the
/// server to wake its core. Each round, several connections set a data watch at staggered
/// moments around another connection's change of the node; every watcher that read the old
/// version is owed the event, and nothing else happens on the server until it arrives.
#[tokio::test]
async fn a_watch_set_as_a_write_commits_is_notified_with_no_later_traffic() {
    bounded(async {
        let s = TestServer::start_with("netCores=4");
        let writer = s.client().await;
        let mut watchers = vec![];
        for _ in 0..6 {
            let c = s.client().await;
            let rx = c.events().unwrap();
            watchers.push((c, rx));
        }
        mk(&writer, "/race").await;
        let (mut owed, mut after) = (0, 0);
        for i in 0..1000usize {
            let p = format!("/race/n{i}");
            mk(&writer, &p).await;
            let write = writer.set_data(&p, b"x", -1);
            let mut reads = tokio::task::JoinSet::new();
            for (j, (c, _)) in watchers.iter().enumerate() {
                let (c, p) = (c.clone(), p.clone());
                // Spread the reads over the write's commit (each yield lets the client's
                // I/O run once, a few microseconds).
                let yields = (i * 7 + j * 13) % 60 * 4;
                reads.spawn(async move {
                    for _ in 0..yields {
                        tokio::task::yield_now().await;
                    }
                    (j, c.get_data(&p, true).await.unwrap().1.version)
                });
            }
            write.await.unwrap();
            let mut late = vec![];
            while let Some(r) = reads.join_next().await {
                let (j, version) = r.unwrap();
                if version == 0 {
                    owed += 1;
                    let e = next_event(&mut watchers[j].1).await;
                    assert_eq!(
                        (e.kind, e.path.as_str()),
                        (Changed, p.as_str()),
                        "round {i}"
                    );
                } else {
                    late.push(j);
                }
            }
            // The watches set after the write fire on the delete; nothing else is pending.
            after += late.len();
            writer.delete(&p, -1).await.unwrap();
            for j in late {
                let e = next_event(&mut watchers[j].1).await;
                assert_eq!(
                    (e.kind, e.path.as_str()),
                    (Deleted, p.as_str()),
                    "round {i}"
                );
            }
        }
        eprintln!(
            "{owed} watches read the old version and were notified; {after} read the new one"
        );
    })
    .await
}

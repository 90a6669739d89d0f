//! The reconnecting `ZooKeeper` session client against a real server: restarts, host
//! failover, expiry, chroot, watch restore and auth re-sent after a reconnection.

mod common;

use common::{free_port, TestServer, SUPER_AUTH};
use ringkeeper::client::{
    acl, AddWatchMode, ClientError, CreateMode, ErrorCode, EventType, SessionState, ZkOptions,
    ZooKeeper,
};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Short ticks so sessions can expire within a test.
const FAST: &str = "tickTime=500";
const SESSION: Duration = Duration::from_secs(3);

async fn zk(connect: &str) -> ZooKeeper {
    let mut o = ZkOptions::new(connect, SESSION);
    o.shuffle_hosts = false;
    ZooKeeper::connect_with(o).await.expect("connect")
}

/// Waits (bounded, generous) for `want`, returning every state seen before it.
async fn wait_state(
    rx: &mut UnboundedReceiver<SessionState>,
    want: SessionState,
) -> Vec<SessionState> {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(s)) if s == want => return seen,
            Ok(Some(s)) => seen.push(s),
            other => panic!("waiting for {want:?}: {other:?} after {seen:?}"),
        }
    }
}

#[tokio::test]
async fn session_survives_restart_and_watch_set_before_fires_after() {
    let mut server = TestServer::start_with(FAST);
    let zk = zk(&server.addr()).await;
    let sid = zk.session_id();
    let mut states = zk.state_changes();
    zk.create("/eph", b"mine", &acl::open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    zk.create("/w", b"1", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let (_, _, watch) = zk.get_data_watch("/w").await.unwrap();
    let (_, child_watch) = zk.get_children_watch("/").await.unwrap();

    server.restart();
    let seen = wait_state(&mut states, SessionState::Connected).await;
    assert_eq!(seen, vec![SessionState::Disconnected]);
    assert_eq!(zk.session_id(), sid, "same session after reconnecting");
    // The ephemeral is still ours: the session was resumed, not replaced.
    let eph = zk.get_ephemerals("/").await.unwrap();
    assert_eq!(eph, vec!["/eph".to_string()]);

    let other = server.client().await;
    other.set_data("/w", b"2", -1).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(30), watch)
        .await
        .expect("restored data watch fired")
        .unwrap();
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventType::NodeDataChanged, "/w")
    );
    other
        .create("/new", b"", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(30), child_watch)
        .await
        .expect("restored child watch fired")
        .unwrap();
    assert_eq!(ev.kind, EventType::NodeChildrenChanged);
    zk.close().await.unwrap();
    assert_eq!(zk.state(), SessionState::Closed);
}

#[tokio::test]
async fn a_down_host_in_the_list_is_skipped_on_connect_and_reconnect() {
    let mut server = TestServer::start_with(FAST);
    let dead = format!("127.0.0.1:{}", free_port());
    let zk = zk(&format!("{dead},{}", server.addr())).await;
    zk.create("/a", b"x", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut states = zk.state_changes();
    // Connection loss on the live server: the client must go round the dead host again.
    server.restart();
    wait_state(&mut states, SessionState::Connected).await;
    let (d, _) = zk.get_data("/a").await.unwrap();
    assert_eq!(d, b"x");
}

#[tokio::test]
async fn bad_connect_strings_and_paths_are_clear_errors() {
    for s in ["", "127.0.0.1:notaport", "127.0.0.1:1/bad/"] {
        let e = ZooKeeper::connect(s, SESSION).await.unwrap_err();
        assert!(matches!(e, ClientError::BadArguments(_)), "{s}: {e:?}");
    }
    let server = TestServer::start_with(FAST);
    let zk = zk(&server.addr()).await;
    let e = zk.get_data("no-slash").await.unwrap_err();
    assert!(matches!(e, ClientError::BadArguments(_)), "{e:?}");
}

#[tokio::test]
async fn unreachable_past_the_session_timeout_is_expired() {
    let server = TestServer::start_with(FAST);
    let zk = zk(&server.addr()).await;
    let lock_watch = zk.session_ended();
    let (_, watch) = zk.exists_watch("/never").await.unwrap();
    let mut states = zk.state_changes();
    // A stopped process answers nothing: pings go unanswered, the read timeout drops the
    // connection, and reconnection attempts hang until the session timeout is spent.
    server.pause();
    let seen = wait_state(&mut states, SessionState::Expired).await;
    server.resume();
    assert_eq!(seen, vec![SessionState::Disconnected]);
    assert_eq!(lock_watch.await, SessionState::Expired);
    assert!(matches!(watch.await, Err(ClientError::SessionExpired)));
    let e = zk.get_data("/").await.unwrap_err();
    assert!(matches!(e, ClientError::SessionExpired), "{e:?}");
}

#[tokio::test]
async fn a_session_the_server_ended_is_reported_as_expired() {
    let server = TestServer::start_with(FAST);
    let zk = zk(&server.addr()).await;
    let mut states = zk.state_changes();
    // Someone else resumes our session on another connection and closes it: the server ends
    // the session and drops our connection; the reconnection handshake is then answered
    // with timeout 0, which must surface as Expired rather than endless reconnecting.
    common::end_session(&zk, &server.addr()).await;
    // Our connection is dropped by the server, or our next write is answered SESSIONEXPIRED.
    // (A write: when our reconnection raced the close, ringkeeper still serves reads on our
    // connection, where ZooKeeper would have refused the close with SESSIONMOVED.)
    let r = zk
        .create("/probe", b"", &acl::open_unsafe(), CreateMode::Persistent)
        .await;
    assert!(r.is_err(), "a write on a closed session succeeded: {r:?}");
    wait_state(&mut states, SessionState::Expired).await;
    let e = zk.exists("/").await.unwrap_err();
    assert!(matches!(e, ClientError::SessionExpired), "{e:?}");
}

#[tokio::test]
async fn chroot_applies_to_paths_in_and_out() {
    let server = TestServer::start_with(FAST);
    let raw = server.client().await;
    raw.create("/app", b"", &acl::open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let zk = zk(&format!("{}/app", server.addr())).await;
    let p = zk
        .create(
            "/job-",
            b"j",
            &acl::open_unsafe(),
            CreateMode::PersistentSequential,
        )
        .await
        .unwrap();
    assert_eq!(p, "/job-0000000000");
    assert!(raw
        .exists("/app/job-0000000000", false)
        .await
        .unwrap()
        .is_some());
    assert_eq!(zk.get_children("/").await.unwrap(), vec!["job-0000000000"]);

    let mut rec = zk
        .add_watch("/", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let (_, _, w) = zk.get_data_watch(&p).await.unwrap();
    raw.set_data("/app/job-0000000000", b"k", -1).await.unwrap();
    assert_eq!(w.await.unwrap().path, p);
    let ev = rec.next_event().await.unwrap();
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventType::NodeDataChanged, p.as_str())
    );

    let res = zk
        .txn()
        .create("/t", b"", &acl::open_unsafe(), CreateMode::Persistent)
        .check("/t", 0)
        .set_data("/t", b"v", 0)
        .commit()
        .await
        .unwrap();
    assert_eq!(res.len(), 3);
    assert_eq!(
        raw.get_data("/app/t", false).await.unwrap().0.unwrap(),
        b"v"
    );
    // A failing txn changes nothing and names the failing op's error.
    let e = zk
        .txn()
        .create("/u", b"", &acl::open_unsafe(), CreateMode::Persistent)
        .check("/t", 0)
        .commit()
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Keeper(ErrorCode::BadVersion)),
        "{e:?}"
    );
    assert!(zk.exists("/u").await.unwrap().is_none());
}

#[tokio::test]
async fn auth_is_resent_and_persistent_watches_restored_after_reconnect() {
    let mut server = TestServer::start_with(FAST);
    let zk = zk(&server.addr()).await;
    zk.add_auth("digest", b"alice:secret").await.unwrap();
    zk.create(
        "/private",
        b"p",
        &acl::creator_all(),
        CreateMode::Persistent,
    )
    .await
    .unwrap();
    let mut rec = zk
        .add_watch("/private", AddWatchMode::Persistent)
        .await
        .unwrap();
    let mut states = zk.state_changes();
    server.restart();
    wait_state(&mut states, SessionState::Connected).await;
    // Without the re-sent credentials this read would be NOAUTH.
    let (d, _) = zk.get_data("/private").await.unwrap();
    assert_eq!(d, b"p");
    let who = zk.who_am_i().await.unwrap();
    assert!(who.iter().any(|c| c.user == "alice"), "{who:?}");

    let admin = server.client().await;
    admin.add_auth("digest", SUPER_AUTH).await.unwrap();
    admin.set_data("/private", b"q", -1).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(30), rec.next_event())
        .await
        .expect("restored persistent watch fired")
        .unwrap();
    assert_eq!(ev.kind, EventType::NodeDataChanged);
}

#[tokio::test]
async fn retry_rides_over_a_restart() {
    let mut server = TestServer::start_with(FAST);
    let mut o = ZkOptions::new(&server.addr(), SESSION);
    // A short call timeout so calls during the outage fail (retryably) instead of waiting.
    o.call_timeout = Duration::from_millis(200);
    let zk = ZooKeeper::connect_with(o).await.unwrap();
    server.kill9();
    let policy = ringkeeper::client::RetryPolicy::exponential(Duration::from_millis(50), 50)
        .with_max_sleep(Duration::from_millis(200));
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let a = attempts.clone();
    let job = tokio::spawn({
        let zk = zk.clone();
        async move {
            zk.retry(&policy, move |zk| {
                a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    zk.create("/r", b"", &acl::open_unsafe(), CreateMode::Persistent)
                        .await
                }
            })
            .await
        }
    });
    // Let a few attempts fail against the dead server before it comes back.
    while attempts.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start_again();
    let r = job.await.unwrap();
    assert_eq!(r.unwrap(), "/r");
    assert!(attempts.load(std::sync::atomic::Ordering::SeqCst) >= 2);
}

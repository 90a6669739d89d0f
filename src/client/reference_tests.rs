//! Every client method against a real ZooKeeper, to prove the client speaks the protocol.
//! Skipped unless `RK_REFERENCE_ADDR=host:port` names a running server configured like the
//! test harness (tickTime 2000, extendedTypesEnabled, the harness superDigest). The same
//! tests double as a behaviour record for ringkeeper: point the variable at it.

use super::acl::{self, open_unsafe};
use super::*;
use crate::proto::opcode as op;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::UnboundedReceiver;

const T: Duration = Duration::from_secs(10);

fn addr() -> Option<String> {
    std::env::var("RK_REFERENCE_ADDR").ok()
}

/// A fresh persistent parent so reruns against one server do not collide.
async fn base(c: &Client, name: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let p = format!("/rkc-{name}-{n}");
    c.create(&p, b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    p
}

fn keeper<T: std::fmt::Debug>(r: Result<T>) -> ErrorCode {
    match r {
        Err(ClientError::Keeper(c)) => c,
        other => panic!("expected a keeper error, got {other:?}"),
    }
}

async fn next_event(rx: &mut UnboundedReceiver<WatchedEvent>) -> WatchedEvent {
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

macro_rules! reference {
    () => {
        match addr() {
            Some(a) => a,
            None => {
                eprintln!("RK_REFERENCE_ADDR not set; skipping");
                return;
            }
        }
    };
}

#[tokio::test]
async fn handshake_forms_resume_and_expiry() {
    let a = reference!();
    let c = Client::connect(&a, Duration::from_secs(30)).await.unwrap();
    assert_ne!(c.session_id(), 0);
    assert_eq!(c.session_password().len(), 16);
    assert_eq!(c.negotiated_timeout(), Duration::from_secs(30));
    assert_eq!(c.read_only(), Some(false));
    // Clamped to [2, 20] ticks.
    let short = Client::connect(&a, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(short.negotiated_timeout(), Duration::from_millis(4000));
    let long = Client::connect(&a, Duration::from_secs(600)).await.unwrap();
    assert_eq!(long.negotiated_timeout(), Duration::from_millis(40000));
    let mut old = ConnectOptions::new(&a, T);
    old.read_only = None;
    assert_eq!(Client::connect_with(old).await.unwrap().read_only(), None);

    let p = base(&c, "resume").await;
    let e = format!("{p}/eph");
    c.create(&e, b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    assert!(c.last_zxid() > 0);
    let c2 = Client::connect_with(c.resume_options()).await.unwrap();
    assert_eq!(c2.session_id(), c.session_id());
    // The old connection is evicted by the resume.
    tokio::time::timeout(T, c.wait_disconnected())
        .await
        .unwrap();
    assert_eq!(c2.get_ephemerals(&p).await.unwrap(), vec![e.clone()]);

    // A wrong password is refused, but only after the server evicted the connection
    // currently bound to the session (spec 2.3 step 7).
    let mut bad = c2.resume_options();
    bad.passwd = vec![9; 16];
    assert!(matches!(
        Client::connect_with(bad).await,
        Err(ClientError::SessionExpired)
    ));
    tokio::time::timeout(T, c2.wait_disconnected())
        .await
        .unwrap();
    let c2 = Client::connect_with(c2.resume_options()).await.unwrap();
    c2.close().await.unwrap();
    tokio::time::timeout(T, c2.wait_disconnected())
        .await
        .unwrap();
    assert!(matches!(c2.ping().await, Err(ClientError::ConnectionLoss)));
    let c3 = Client::connect(&a, T).await.unwrap();
    assert_eq!(c3.exists(&e, false).await.unwrap(), None);
    assert!(matches!(
        Client::connect_with(c2.resume_options()).await,
        Err(ClientError::SessionExpired)
    ));
}

#[tokio::test]
async fn node_crud_and_errors() {
    let a = reference!();
    let c = Client::connect(&a, T).await.unwrap();
    let p = base(&c, "crud").await;
    let open = open_unsafe();
    let x = format!("{p}/x");
    assert_eq!(
        c.create(&x, b"one", &open, CreateMode::Persistent)
            .await
            .unwrap(),
        x
    );
    assert_eq!(
        keeper(c.create(&x, b"", &open, CreateMode::Persistent).await),
        ErrorCode::NodeExists
    );
    let (path, st) = c
        .create2(&format!("{p}/y"), b"", &open, CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(path, format!("{p}/y"));
    assert_eq!((st.version, st.czxid == st.mzxid), (0, true));
    let (data, st) = c.get_data(&x, false).await.unwrap();
    assert_eq!((data.as_deref(), st.data_length), (Some(&b"one"[..]), 3));
    let st2 = c.set_data(&x, b"two", 0).await.unwrap();
    assert_eq!(st2.version, 1);
    assert_eq!(
        keeper(c.set_data(&x, b"three", 0).await),
        ErrorCode::BadVersion
    );
    assert_eq!(c.exists(&x, false).await.unwrap().unwrap().version, 1);
    assert_eq!(c.exists(&format!("{p}/none"), false).await.unwrap(), None);
    assert_eq!(
        keeper(c.get_data(&format!("{p}/none"), false).await),
        ErrorCode::NoNode
    );
    let s1 = c
        .create(
            &format!("{p}/s-"),
            b"",
            &open,
            CreateMode::PersistentSequential,
        )
        .await
        .unwrap();
    assert_eq!(s1, format!("{p}/s-0000000002"));
    let mut kids = c.get_children(&p, false).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["s-0000000002", "x", "y"]);
    let (kids2, pst) = c.get_children2(&p, false).await.unwrap();
    assert_eq!((kids2.len(), pst.num_children), (3, 3));
    assert_eq!(c.get_all_children_number(&p).await.unwrap(), 3);
    assert_eq!(keeper(c.delete(&p, -1).await), ErrorCode::NotEmpty);
    c.delete(&x, 1).await.unwrap();
    assert_eq!(keeper(c.delete(&x, -1).await), ErrorCode::NoNode);
    assert_eq!(c.sync(&p).await.unwrap(), p);
    c.ping().await.unwrap();

    let e = c
        .create(
            &format!("{p}/e-"),
            b"",
            &open,
            CreateMode::EphemeralSequential,
        )
        .await
        .unwrap();
    assert_eq!(c.get_ephemerals(&p).await.unwrap(), vec![e.clone()]);
    assert_eq!(
        c.get_ephemerals("/nope").await.unwrap(),
        Vec::<String>::new()
    );
    let st = c.exists(&e, false).await.unwrap().unwrap();
    assert_eq!(st.ephemeral_owner, c.session_id());
}

#[tokio::test]
async fn acl_and_auth() {
    let a = reference!();
    let c = Client::connect(&a, T).await.unwrap();
    let p = base(&c, "acl").await;
    let who = c.who_am_i().await.unwrap();
    assert_eq!(who.len(), 1);
    assert_eq!(who[0].auth_scheme, "ip");
    c.add_auth("digest", b"bob:secret").await.unwrap();
    let who = c.who_am_i().await.unwrap();
    assert!(who
        .iter()
        .any(|i| i.auth_scheme == "digest" && i.user == "bob"));
    let n = format!("{p}/n");
    c.create(&n, b"", &acl::creator_all(), CreateMode::Persistent)
        .await
        .unwrap();
    let (got, st) = c.get_acl(&n).await.unwrap();
    assert_eq!(
        got,
        vec![acl::acl(
            acl::ALL,
            "digest",
            &acl::digest_id("bob", "secret")
        )]
    );
    assert_eq!(st.aversion, 0);

    let other = Client::connect(&a, T).await.unwrap();
    assert_eq!(keeper(other.get_data(&n, false).await), ErrorCode::NoAuth);
    assert_eq!(keeper(other.get_acl(&n).await), ErrorCode::NoAuth);
    // With READ but without ADMIN the digest hash is masked.
    let bob = acl::digest_id("bob", "secret");
    let n2 = format!("{p}/n2");
    let mixed = [
        acl::acl(acl::ALL, "digest", &bob),
        acl::acl(acl::READ, "world", "anyone"),
    ];
    c.create(&n2, b"", &mixed, CreateMode::Persistent)
        .await
        .unwrap();
    let (masked, _) = other.get_acl(&n2).await.unwrap();
    assert_eq!(masked[0].id.id, "bob:x");
    assert_eq!(c.get_acl(&n2).await.unwrap().0[0].id.id, bob);
    other.add_auth("digest", b"super:test").await.unwrap();
    other.get_data(&n, false).await.unwrap();

    assert_eq!(
        keeper(c.set_acl(&n, &open_unsafe(), 5).await),
        ErrorCode::BadVersion
    );
    let st = c.set_acl(&n, &acl::read_unsafe(), 0).await.unwrap();
    assert_eq!(st.aversion, 1);
    // ADMIN is checked before the version.
    assert_eq!(
        keeper(c.set_acl(&n, &open_unsafe(), 0).await),
        ErrorCode::NoAuth
    );

    let bad = Client::connect(&a, T).await.unwrap();
    assert_eq!(
        keeper(bad.add_auth("nosuchscheme", b"x").await),
        ErrorCode::AuthFailed
    );
    tokio::time::timeout(T, bad.wait_disconnected())
        .await
        .unwrap();
}

#[tokio::test]
async fn watches_fire_before_replies() {
    let a = reference!();
    let c = Client::connect(&a, T).await.unwrap();
    let mut ev = c.events().unwrap();
    let p = base(&c, "watch").await;
    let x = format!("{p}/x");
    assert_eq!(c.exists(&x, true).await.unwrap(), None);
    c.get_children(&p, true).await.unwrap();
    c.create(&x, b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    // Both notifications were on the socket before the create reply.
    let e1 = ev.try_recv().unwrap();
    let e2 = ev.try_recv().unwrap();
    assert_eq!(
        (e1.kind, e1.path.as_str()),
        (EventType::NodeCreated, x.as_str())
    );
    assert_eq!(
        (e2.kind, e2.path.as_str()),
        (EventType::NodeChildrenChanged, p.as_str())
    );
    assert_eq!(e1.state, 3);

    // A watch set by one session fires for another session's write.
    let other = Client::connect(&a, T).await.unwrap();
    c.get_data(&x, true).await.unwrap();
    other.set_data(&x, b"v", -1).await.unwrap();
    let e = next_event(&mut ev).await;
    assert_eq!(
        (e.kind, e.path.as_str()),
        (EventType::NodeDataChanged, x.as_str())
    );

    c.check_watches(&x, WatcherType::Data)
        .await
        .map(|_| ())
        .unwrap_err();
    c.get_data(&x, true).await.unwrap();
    c.check_watches(&x, WatcherType::Data).await.unwrap();
    c.remove_watches(&x, WatcherType::Data).await.unwrap();
    assert_eq!(
        keeper(c.remove_watches(&x, WatcherType::Data).await),
        ErrorCode::NoWatcher
    );

    c.add_watch(&p, AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let deep = format!("{x}/deep");
    other
        .create(&deep, b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    other.delete(&deep, -1).await.unwrap();
    let e = next_event(&mut ev).await;
    assert_eq!(
        (e.kind, e.path.as_str()),
        (EventType::NodeCreated, deep.as_str())
    );
    let e = next_event(&mut ev).await;
    assert_eq!(
        (e.kind, e.path.as_str()),
        (EventType::NodeDeleted, deep.as_str())
    );
    c.add_watch(&x, AddWatchMode::Persistent).await.unwrap();
    c.remove_watches(&p, WatcherType::Any).await.unwrap();
    c.remove_watches(&x, WatcherType::Any).await.unwrap();

    // setWatches with a stale zxid answers immediately with catch-up events.
    let fresh = Client::connect(&a, T).await.unwrap();
    let mut fev = fresh.events().unwrap();
    let gone = format!("{p}/gone");
    fresh
        .set_watches(
            0,
            &[x.as_str()],
            &[gone.as_str()],
            &[gone.as_str()],
            &[],
            &[],
        )
        .await
        .unwrap();
    // Data watches are answered first, then child watches; the exist watch registers.
    let e = fev.try_recv().expect("catch-up event before the reply");
    assert_eq!(
        (e.kind, e.path.as_str()),
        (EventType::NodeDataChanged, x.as_str())
    );
    let e = fev.try_recv().expect("second catch-up event");
    assert_eq!(
        (e.kind, e.path.as_str()),
        (EventType::NodeDeleted, gone.as_str())
    );
    assert!(fev.try_recv().is_err());
    // setWatches2 (105) with a persistent watch.
    fresh
        .set_watches(fresh.last_zxid(), &[], &[], &[], &[p.as_str()], &[])
        .await
        .unwrap();
    other.set_data(&p, b"", -1).await.unwrap();
    let e = next_event(&mut fev).await;
    assert_eq!(
        (e.kind, e.path.as_str()),
        (EventType::NodeDataChanged, p.as_str())
    );
}

#[tokio::test]
async fn multi_and_multi_read() {
    let a = reference!();
    let c = Client::connect(&a, T).await.unwrap();
    let p = base(&c, "multi").await;
    let open = open_unsafe();
    let (x, y) = (format!("{p}/x"), format!("{p}/y"));
    let r = c
        .multi(vec![
            Op::create(&x, b"1", &open, CreateMode::Persistent),
            Op::create2(&y, b"", &open, CreateMode::Persistent),
            Op::set_data(&x, b"2", 0),
            Op::check(&x, 1),
            Op::CreateTtl {
                path: format!("{p}/ttl"),
                data: vec![],
                acl: open.clone(),
                mode: CreateMode::PersistentWithTtl,
                ttl: 60_000,
            },
            Op::delete(&y, 0),
        ])
        .await
        .unwrap();
    assert_eq!(r[0], OpResult::Create { path: x.clone() });
    // 3.8.0 answers create2 sub-ops as plain creates (see multi.rs); 3.8.4+ as create2.
    assert!(
        matches!(&r[1], OpResult::Create2 { path, .. } | OpResult::Create { path } if *path == y)
    );
    assert!(matches!(&r[2], OpResult::SetData { stat } if stat.version == 1));
    assert_eq!((&r[3], &r[5]), (&OpResult::Check, &OpResult::Delete));
    assert!(matches!(
        &r[4],
        OpResult::Create2 { .. } | OpResult::Create { .. }
    ));

    let r = c
        .multi(vec![
            Op::check(&x, 1),
            Op::delete(&format!("{p}/none"), -1),
            Op::set_data(&x, b"", -1),
        ])
        .await
        .unwrap();
    assert_eq!(
        r,
        vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::NoNode),
            OpResult::Error(ErrorCode::RuntimeInconsistency)
        ]
    );
    assert_eq!(c.multi(vec![]).await.unwrap(), vec![]);

    let r = c
        .multi_read(vec![
            ReadOp::GetData(x.clone()),
            ReadOp::GetChildren(format!("{p}/none")),
            ReadOp::GetChildren(p.clone()),
        ])
        .await
        .unwrap();
    assert!(matches!(&r[0], Ok(ReadResult::Data(Some(d), st)) if d == b"2" && st.version == 1));
    assert_eq!(r[1], Err(ErrorCode::NoNode));
    assert!(matches!(&r[2], Ok(ReadResult::Children(k)) if k.len() == 2));
}

#[tokio::test]
async fn containers_and_ttl_nodes() {
    let a = reference!();
    let c = Client::connect(&a, T).await.unwrap();
    let p = base(&c, "ext").await;
    let open = open_unsafe();
    let (cp, st) = c
        .create_container(&format!("{p}/c"), b"", &open)
        .await
        .unwrap();
    assert_eq!(
        (cp.as_str(), st.ephemeral_owner),
        (format!("{p}/c").as_str(), 0)
    );
    let (tp, _) = c
        .create_ttl(
            &format!("{p}/t-"),
            b"",
            &open,
            CreateMode::PersistentSequentialWithTtl,
            1000,
        )
        .await
        .unwrap();
    assert!(tp.starts_with(&format!("{p}/t-")));
    assert_eq!(
        keeper(
            c.create_ttl(
                &format!("{p}/bad"),
                b"",
                &open,
                CreateMode::PersistentWithTtl,
                0
            )
            .await
        ),
        ErrorCode::BadArguments
    );
    assert_eq!(
        keeper(
            c.create(
                &format!("{p}/bad"),
                b"",
                &open,
                CreateMode::PersistentWithTtl
            )
            .await
        ),
        ErrorCode::BadArguments
    );
    // The container reaper deletes a container once its last child is gone.
    let kid = format!("{cp}/k");
    c.create(&kid, b"", &open, CreateMode::Persistent)
        .await
        .unwrap();
    c.delete(&kid, -1).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while c.exists(&cp, false).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "container not reaped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let a = reference!();
    let c = Client::connect(&a, T).await.unwrap();
    let p = base(&c, "pipe").await;
    let open = open_unsafe();
    let x = format!("{p}/x");
    c.create(&x, b"", &open, CreateMode::Persistent)
        .await
        .unwrap();
    // Writes and reads interleaved: each read must see exactly the writes before it.
    let mut sets = Vec::new();
    let mut gets = Vec::new();
    for i in 0..200 {
        sets.push(c.set_data(&x, format!("{i}").as_bytes(), -1));
        gets.push(c.get_data(&x, false));
    }
    for (i, (s, g)) in sets.into_iter().zip(gets).enumerate() {
        assert_eq!(s.await.unwrap().version, i as i32 + 1);
        let (d, st) = g.await.unwrap();
        assert_eq!(
            (d.unwrap(), st.version),
            (format!("{i}").into_bytes(), i as i32 + 1)
        );
    }
    // Futures can also be spawned.
    let h = tokio::spawn(c.get_data(&x, false));
    assert_eq!(h.await.unwrap().unwrap().1.version, 200);
    let (r1, r2) = tokio::join!(c.exists(&x, false), c.get_children(&p, false));
    assert!(r1.unwrap().is_some() && r2.unwrap() == ["x"]);

    // An unknown opcode is refused and the connection closed.
    let (hdr, body) = c.request_raw(999, vec![]).await.unwrap();
    assert_eq!((hdr.err, body.len()), (ErrorCode::Unimplemented.code(), 0));
    tokio::time::timeout(T, c.wait_disconnected())
        .await
        .unwrap();

    // Raw requests with custom xids are echoed.
    let c = Client::connect(&a, T).await.unwrap();
    let (hdr, _) = c
        .request_raw_xid(-8, op::SET_WATCHES, {
            use crate::proto::codec::Encode;
            crate::proto::records::SetWatches::default().to_bytes()
        })
        .await
        .unwrap();
    assert_eq!((hdr.xid, hdr.err), (-8, 0));
}

#[tokio::test]
async fn pings_keep_sessions_alive_and_silence_expires_them() {
    let a = reference!();
    let pinging = Client::connect(&a, Duration::from_millis(4000))
        .await
        .unwrap();
    let mut opts = ConnectOptions::new(&a, Duration::from_millis(4000));
    opts.auto_ping = false;
    let silent = Client::connect_with(opts).await.unwrap();
    // Expiry closes the silent session's connection within timeout + a tick or so.
    tokio::time::timeout(Duration::from_secs(12), silent.wait_disconnected())
        .await
        .expect("silent session expired");
    assert!(pinging.is_connected());
    pinging.ping().await.unwrap();
    assert!(matches!(
        Client::connect_with(silent.resume_options()).await,
        Err(ClientError::SessionExpired)
    ));
}

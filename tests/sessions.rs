//! Sessions against the real binary: handshake forms, timeout negotiation, pings, expiry,
//! reconnects, passwords, closeSession, lastZxidSeen, restarts and maxClientCnxns.

mod common;

use common::raw::{raw, read_frame, SOON};
use common::TestServer;
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::frame::connect_frame;
use ringkeeper::client::{
    Client, ClientError, ConnectOptions, CreateMode, EventType, WatchedEvent,
};
use ringkeeper::proto::records::ConnectRequest;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Fast sessions: tick 500 ms, timeouts negotiable from 1 s.
const FAST: &str = "tickTime=500\nminSessionTimeout=1000\nmaxSessionTimeout=10000\n";

// ---- raw socket helpers -------------------------------------------------------------------

fn connect_req(timeout_ms: i32, session_id: i64, passwd: &[u8], ro: Option<bool>) -> Vec<u8> {
    connect_frame(&ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms,
        session_id,
        passwd: passwd.to_vec(),
        read_only: ro,
    })
}

/// Asserts the server closes the connection (EOF or reset) without sending anything more.
fn assert_closed(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!("expected close, got {n} more bytes: {:?}", &b[..n]),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the server to close the connection: {e}"),
    }
}

#[derive(Debug)]
struct ConnectResp {
    timeout_ms: i32,
    session_id: i64,
    passwd: Vec<u8>,
    read_only: Option<u8>,
    len: usize,
}

fn parse_connect_resp(b: &[u8]) -> ConnectResp {
    assert!(b.len() >= 36, "ConnectResponse too short: {b:?}");
    assert_eq!(
        i32::from_be_bytes(b[0..4].try_into().unwrap()),
        0,
        "protocolVersion"
    );
    let plen = i32::from_be_bytes(b[16..20].try_into().unwrap());
    assert_eq!(plen, 16, "password length");
    ConnectResp {
        timeout_ms: i32::from_be_bytes(b[4..8].try_into().unwrap()),
        session_id: i64::from_be_bytes(b[8..16].try_into().unwrap()),
        passwd: b[20..36].to_vec(),
        read_only: b.get(36).copied(),
        len: b.len(),
    }
}

fn ping_frame() -> Vec<u8> {
    vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]
}

async fn next_event(rx: &mut UnboundedReceiver<WatchedEvent>, within: Duration) -> WatchedEvent {
    tokio::time::timeout(within, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no watch event within {within:?}"))
        .expect("event stream ended")
}

async fn wait_disconnected(c: &Client, within: Duration, what: &str) {
    tokio::time::timeout(within, c.wait_disconnected())
        .await
        .unwrap_or_else(|_| panic!("{what}: connection still open after {within:?}"));
}

fn opts(server: &TestServer, timeout: Duration) -> ConnectOptions {
    ConnectOptions::new(&server.addr(), timeout)
}

// ---- handshake ----------------------------------------------------------------------------

#[test]
fn handshake_read_only_byte_is_echoed_only_when_sent() {
    let server = TestServer::start();

    // 45-byte ConnectRequest (with readOnly): 37-byte answer ending in readOnly=false.
    let mut s = raw(&server);
    let req = connect_req(30_000, 0, &[0; 16], Some(false));
    assert_eq!(req.len(), 49);
    s.write_all(&req).unwrap();
    let r = parse_connect_resp(&read_frame(&mut s).expect("ConnectResponse"));
    assert_eq!(r.len, 37, "{r:?}");
    assert_eq!(r.read_only, Some(0));
    assert_eq!(r.timeout_ms, 30_000);
    assert_ne!(r.session_id, 0);
    assert_ne!(r.passwd, vec![0; 16], "a real session gets a real password");

    // 44-byte form (pre-3.4 clients): 36-byte answer, and the session works.
    let mut s2 = raw(&server);
    let req = connect_req(30_000, 0, &[0; 16], None);
    assert_eq!(req.len(), 48);
    s2.write_all(&req).unwrap();
    let r2 = parse_connect_resp(&read_frame(&mut s2).expect("ConnectResponse"));
    assert_eq!(r2.len, 36, "{r2:?}");
    assert_ne!(r2.session_id, 0);
    assert_ne!(r2.session_id, r.session_id);
    s2.write_all(&ping_frame()).unwrap();
    let pong = read_frame(&mut s2).expect("ping reply");
    assert_eq!(pong.len(), 16);
    assert_eq!(&pong[0..4], &[0xff, 0xff, 0xff, 0xfe], "ping reply xid -2");
    assert_eq!(&pong[12..16], &[0, 0, 0, 0], "ping err");

    // readOnly=true from the client: a read-write server still answers false.
    let mut s3 = raw(&server);
    s3.write_all(&connect_req(30_000, 0, &[0; 16], Some(true)))
        .unwrap();
    let r3 = parse_connect_resp(&read_frame(&mut s3).expect("ConnectResponse"));
    assert_eq!((r3.len, r3.read_only), (37, Some(0)));
}

#[tokio::test]
async fn handshake_via_client_both_forms_and_resume_with_44_bytes() {
    let server = TestServer::start();
    let c = Client::connect_with(ConnectOptions {
        read_only: None,
        ..opts(&server, Duration::from_secs(10))
    })
    .await
    .expect("old-form handshake");
    assert_eq!(c.read_only(), None);
    assert_eq!(c.session_password().len(), 16);
    c.create("/old", b"x", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    // Resume the same session with the old form too.
    let c2 = Client::connect_with(ConnectOptions {
        read_only: None,
        ..c.resume_options()
    })
    .await
    .expect("resume with old form");
    assert_eq!(c2.session_id(), c.session_id());
    assert_eq!(c2.session_password(), c.session_password());
    assert!(c2.exists("/old", false).await.unwrap().is_some());
}

#[tokio::test]
async fn timeout_is_clamped_to_min_and_max() {
    let server =
        TestServer::start_with("tickTime=500\nminSessionTimeout=1500\nmaxSessionTimeout=4000\n");
    for (asked, got) in [
        (100, 1500),
        (1500, 1500),
        (3000, 3000),
        (4000, 4000),
        (60_000, 4000),
    ] {
        let c = Client::connect_with(ConnectOptions {
            auto_ping: true,
            ..opts(&server, Duration::from_millis(asked))
        })
        .await
        .unwrap();
        assert_eq!(
            c.negotiated_timeout(),
            Duration::from_millis(got),
            "asked for {asked} ms"
        );
    }
    // Defaults follow tickTime: [2, 20] ticks.
    let server = TestServer::start_with("tickTime=500\n");
    let lo = Client::connect(&server.addr(), Duration::from_millis(10))
        .await
        .unwrap();
    let hi = Client::connect(&server.addr(), Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(lo.negotiated_timeout(), Duration::from_millis(1000));
    assert_eq!(hi.negotiated_timeout(), Duration::from_millis(10_000));
}

// ---- liveness and expiry ------------------------------------------------------------------

#[tokio::test]
async fn pings_keep_a_session_alive_past_its_timeout() {
    let server = TestServer::start_with(FAST);
    let c = Client::connect(&server.addr(), Duration::from_millis(1000))
        .await
        .unwrap();
    assert_eq!(c.negotiated_timeout(), Duration::from_millis(1000));
    c.create("/alive", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    // Only pings travel for 3 timeouts.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert!(c.is_connected(), "pinging session was disconnected");
    let other = server.client().await;
    assert!(
        other.exists("/alive", false).await.unwrap().is_some(),
        "ephemeral of a pinging session vanished"
    );
    c.set_data("/alive", b"still", -1).await.unwrap();
}

#[tokio::test]
async fn silent_session_expires_deletes_ephemerals_and_fires_watches() {
    let server = TestServer::start_with(FAST);
    let silent = Client::connect_with(ConnectOptions {
        auto_ping: false,
        ..opts(&server, Duration::from_millis(1000))
    })
    .await
    .unwrap();
    let watcher = server.client().await;
    let mut events = watcher.events().unwrap();
    silent
        .create("/eph", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    silent
        .create(
            "/eph-seq-",
            b"",
            &open_unsafe(),
            CreateMode::EphemeralSequential,
        )
        .await
        .unwrap();
    let since = Instant::now();
    assert!(watcher.exists("/eph", true).await.unwrap().is_some());

    // timeout (1000) + one tick (500) + scheduling slack.
    let ev = next_event(&mut events, Duration::from_millis(1000 + 500 + 1500)).await;
    let elapsed = since.elapsed();
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventType::NodeDeleted, "/eph")
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "session expired after only {elapsed:?} (timeout 1000 ms)"
    );
    assert_eq!(
        watcher.get_children("/", false).await.unwrap(),
        vec!["zookeeper".to_string()],
        "all ephemerals of the expired session are gone"
    );
    wait_disconnected(&silent, SOON, "expired session").await;

    // Resuming the expired session: the expired answer, then close.
    let mut s = raw(&server);
    s.write_all(&connect_req(
        1000,
        silent.session_id(),
        silent.session_password(),
        Some(false),
    ))
    .unwrap();
    let r = parse_connect_resp(&read_frame(&mut s).expect("expired answer"));
    assert_eq!((r.timeout_ms, r.session_id), (0, 0), "{r:?}");
    assert_eq!(r.passwd, vec![0; 16]);
    assert_eq!(r.read_only, Some(0));
    assert_closed(&mut s);

    // And through the client API.
    let err = Client::connect_with(silent.resume_options())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::SessionExpired), "{err:?}");
}

// ---- reconnects and passwords -------------------------------------------------------------

#[tokio::test]
async fn reconnect_with_id_and_password_evicts_the_first_connection() {
    let server = TestServer::start();
    let first = server.client().await;
    first
        .create("/mine", b"1", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let second = Client::connect_with(first.resume_options()).await.unwrap();
    assert_eq!(second.session_id(), first.session_id());
    wait_disconnected(&first, SOON, "evicted connection").await;
    let err = first.get_data("/mine", false).await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLoss), "{err:?}");
    // The session (and its ephemeral) carries on over the second connection.
    let (data, stat) = second.get_data("/mine", false).await.unwrap();
    assert_eq!(data.as_deref(), Some(&b"1"[..]));
    assert_eq!(stat.ephemeral_owner, first.session_id());
    second.set_data("/mine", b"2", -1).await.unwrap();
}

#[tokio::test]
async fn wrong_password_gets_the_expired_answer_then_close() {
    let server = TestServer::start();
    let owner = server.client().await;
    owner
        .create("/pw", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let mut bad = owner.session_password().to_vec();
    bad[0] ^= 0xff;
    for ro in [Some(false), None] {
        let mut s = raw(&server);
        s.write_all(&connect_req(10_000, owner.session_id(), &bad, ro))
            .unwrap();
        let r = parse_connect_resp(&read_frame(&mut s).expect("expired answer"));
        assert_eq!((r.timeout_ms, r.session_id), (0, 0), "{r:?}");
        assert_eq!(r.passwd, vec![0; 16]);
        assert_eq!(r.len, if ro.is_some() { 37 } else { 36 });
        assert_closed(&mut s);
    }
    // A wrong password does not kill the session: the right one still resumes it.
    let again = Client::connect_with(owner.resume_options()).await.unwrap();
    assert!(again.exists("/pw", false).await.unwrap().is_some());
}

#[tokio::test]
async fn unknown_session_id_gets_the_expired_answer() {
    let server = TestServer::start();
    let err = Client::connect_with(ConnectOptions {
        session_id: 0x1234_5678,
        passwd: vec![1; 16],
        ..opts(&server, Duration::from_secs(10))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::SessionExpired), "{err:?}");
}

#[tokio::test]
async fn close_session_deletes_ephemerals_and_closes_after_the_reply() {
    let server = TestServer::start();
    let c = server.client().await;
    let watcher = server.client().await;
    let mut events = watcher.events().unwrap();
    c.create("/bye", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    assert!(watcher.exists("/bye", true).await.unwrap().is_some());
    c.close().await.expect("closeSession reply");
    wait_disconnected(&c, SOON, "closed session").await;
    let ev = next_event(&mut events, SOON).await;
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventType::NodeDeleted, "/bye")
    );
    assert!(watcher.exists("/bye", false).await.unwrap().is_none());
    let err = Client::connect_with(c.resume_options()).await.unwrap_err();
    assert!(matches!(err, ClientError::SessionExpired), "{err:?}");
}

#[tokio::test]
async fn last_zxid_seen_beyond_the_server_is_refused_without_answer() {
    let server = TestServer::start();
    let c = server.client().await;
    let (_, stat) = c
        .create2("/z", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    let mut s = raw(&server);
    s.write_all(&connect_frame(&ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: stat.mzxid + 1000,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    }))
    .unwrap();
    assert_closed(&mut s);
    let err = Client::connect_with(ConnectOptions {
        last_zxid_seen: stat.mzxid + 1,
        ..opts(&server, Duration::from_secs(10))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLoss), "{err:?}");
    // Equal to the server's zxid is fine.
    let ok = Client::connect_with(ConnectOptions {
        last_zxid_seen: stat.mzxid,
        ..opts(&server, Duration::from_secs(10))
    })
    .await
    .expect("lastZxidSeen == server zxid");
    assert!(ok.exists("/z", false).await.unwrap().is_some());
}

// ---- restarts -----------------------------------------------------------------------------

#[tokio::test]
async fn sessions_survive_a_restart() {
    let mut server = TestServer::start_with(FAST);
    let timeout = Duration::from_millis(4000);
    let a = Client::connect(&server.addr(), timeout).await.unwrap();
    let b = Client::connect(&server.addr(), timeout).await.unwrap();
    a.create("/a", b"A", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    b.create("/b", b"B", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let (a_opts, b_opts) = (a.resume_options(), b.resume_options());
    drop((a, b));

    server.restart();
    let restarted = Instant::now();

    let a2 = Client::connect_with(a_opts)
        .await
        .expect("resume after restart");
    assert_eq!(a2.negotiated_timeout(), timeout);
    let (data, stat) = a2.get_data("/a", false).await.expect("ephemeral kept");
    assert_eq!(data.as_deref(), Some(&b"A"[..]));
    assert_eq!(stat.ephemeral_owner, a2.session_id());
    let mut events = a2.events().unwrap();
    assert!(
        a2.exists("/b", true).await.unwrap().is_some(),
        "B's ephemeral must outlive the restart until B's timeout passes"
    );

    // B never comes back: it expires about one timeout after the restart.
    let ev = next_event(&mut events, timeout + Duration::from_millis(500 + 3000)).await;
    assert_eq!((ev.kind, ev.path.as_str()), (EventType::NodeDeleted, "/b"));
    assert!(
        restarted.elapsed() >= Duration::from_millis(3000),
        "B expired {:?} after the restart, before its 4 s timeout",
        restarted.elapsed()
    );
    let err = Client::connect_with(b_opts).await.unwrap_err();
    assert!(matches!(err, ClientError::SessionExpired), "{err:?}");

    // A, pinging over its new connection, is still fine.
    assert!(a2.exists("/a", false).await.unwrap().is_some());
    a2.create("/a2", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
}

#[tokio::test]
async fn closed_session_stays_closed_after_restart() {
    let mut server = TestServer::start();
    let c = server.client().await;
    c.create("/gone", b"", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .unwrap();
    let o = c.resume_options();
    c.close().await.unwrap();
    drop(c);
    server.restart();
    let err = Client::connect_with(o).await.unwrap_err();
    assert!(matches!(err, ClientError::SessionExpired), "{err:?}");
    let other = server.client().await;
    assert!(other.exists("/gone", false).await.unwrap().is_none());
}

// ---- connection limits --------------------------------------------------------------------

#[tokio::test]
async fn max_client_cnxns_per_ip() {
    let server = TestServer::start_with("maxClientCnxns=3\nnetCores=1\n");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(server.client().await);
    }
    // The 4th connection from 127.0.0.1 is closed without a ConnectResponse.
    let mut s = raw(&server);
    s.write_all(&connect_req(10_000, 0, &[0; 16], Some(false)))
        .unwrap();
    assert!(
        read_frame(&mut s).is_none(),
        "4th connection got a ConnectResponse"
    );
    // The three admitted ones still work.
    for c in &held {
        c.exists("/", false).await.unwrap();
    }
    // Freeing one slot admits a new connection (the server notices the close shortly).
    drop(held.pop());
    let deadline = Instant::now() + SOON;
    loop {
        match Client::connect_with(ConnectOptions {
            connect_timeout: Duration::from_secs(2),
            ..opts(&server, Duration::from_secs(10))
        })
        .await
        {
            Ok(c) => {
                c.exists("/", false).await.unwrap();
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("slot was not released after a close: {e}"),
        }
    }
}

// ---- cross-connection consistency -------------------------------------------------------

#[tokio::test]
async fn acknowledged_write_is_visible_on_every_other_connection() {
    // With several net cores, a write's reply must not overtake the txn on its way to the
    // other cores: a client told "ok" and then reading through another connection (and
    // thus maybe another core) must see the write.
    let server = TestServer::start_with("netCores=2\n");
    let mut tasks = Vec::new();
    for t in 0..4 {
        let addr = server.addr();
        tasks.push(tokio::spawn(async move {
            let timeout = Duration::from_secs(10);
            let w = Client::connect(&addr, timeout).await.unwrap();
            let mut readers = Vec::new();
            for _ in 0..3 {
                readers.push(Client::connect(&addr, timeout).await.unwrap());
            }
            let mut missed = Vec::new();
            for i in 0..300 {
                let p = format!("/v{t}-{i}");
                w.create(&p, b"", &open_unsafe(), CreateMode::Persistent)
                    .await
                    .unwrap();
                for r in &readers {
                    if r.exists(&p, false).await.unwrap().is_none() {
                        missed.push(p.clone());
                    }
                }
            }
            missed
        }));
    }
    let mut missed = Vec::new();
    for t in tasks {
        missed.extend(t.await.unwrap());
    }
    assert!(
        missed.is_empty(),
        "{} reads missed an acknowledged create, e.g. {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
}

/// A closeSession from a connection that has just lost the session to a reconnect still
/// ends the session; the connection that then owns it must be closed, not left serving a
/// session that no longer exists. (ZooKeeper 3.8 leaves that connection unanswered until
/// the client gives up on it; ringkeeper closes it.)
#[tokio::test]
async fn close_racing_a_reconnect_closes_the_new_owner_too() {
    let server = TestServer::start();
    let witness = server.client().await;
    let mut raced = 0;
    for round in 0..30 {
        let first = server.client().await;
        let path = format!("/e{round}");
        first
            .create(&path, b"", &open_unsafe(), CreateMode::Ephemeral)
            .await
            .unwrap();
        let thief = Client::connect_with(first.resume_options()).await.unwrap();
        // The close is written now; the reconnect races it to the consensus core.
        let close = thief.close();
        let back = Client::connect_with(first.resume_options()).await;
        let _ = close.await;
        // Did the close go through? Its ephemeral says so once it has committed.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut closed = false;
        while Instant::now() < deadline {
            if witness.exists(&path, false).await.unwrap().is_none() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (true, Ok(back)) = (closed, back) else {
            continue;
        };
        raced += 1;
        let r = tokio::time::timeout(Duration::from_secs(10), back.get_data("/", false)).await;
        match r {
            Ok(Err(ClientError::ConnectionLoss | ClientError::SessionExpired)) => {}
            Ok(other) => panic!(
                "round {round}: session closed, yet its new connection answered {:?}",
                other.map(|_| ())
            ),
            Err(_) => panic!("round {round}: no answer within 10 s"),
        }
    }
    eprintln!("{raced} of 30 rounds had the reconnect win the race");
}

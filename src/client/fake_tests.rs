//! The connection task against a scripted in-process server: reply matching, ordering
//! violations, notification ordering and call-order writes.

use super::conn::read_frame;
use super::*;
use crate::proto::codec::{Decode, Encode, Writer};
use crate::proto::opcode as op;
use crate::proto::records::{ConnectRequest, ConnectResponse, RequestHeader, WatcherEvent};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Accepts one client, answers the handshake, and hands the socket to the script.
async fn fake_server() -> (String, tokio::task::JoinHandle<TcpStream>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let req = ConnectRequest::from_bytes(&read_frame(&mut s).await.unwrap()).unwrap();
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: req.timeout_ms,
            session_id: 0x42,
            passwd: vec![1; 16],
            read_only: req.read_only.map(|_| false),
        };
        let mut w = Writer::framed();
        resp.encode(&mut w);
        s.write_all(&w.finish_frame()).await.unwrap();
        s
    });
    (addr, h)
}

async fn read_request(s: &mut TcpStream) -> RequestHeader {
    RequestHeader::from_bytes(&read_frame(s).await.unwrap()).unwrap()
}

fn reply(xid: i32, zxid: i64, err: i32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader { xid, zxid, err }.encode(&mut w);
    w.raw(body);
    w.finish_frame()
}

#[tokio::test]
async fn out_of_order_reply_fails_every_pending_call() {
    let (addr, server) = fake_server().await;
    let c = Client::connect(&addr, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(c.session_id(), 0x42);
    let mut s = server.await.unwrap();
    let a = c.sync("/a");
    let b = c.sync("/b");
    let (h1, h2) = (read_request(&mut s).await, read_request(&mut s).await);
    assert_eq!((h1.xid, h1.op, h2.xid, h2.op), (1, op::SYNC, 2, op::SYNC));
    let mut w = Writer::new();
    w.ustring("/b");
    s.write_all(&reply(2, 5, 0, &w.into_inner())).await.unwrap();
    assert!(matches!(a.await, Err(ClientError::Protocol(_))));
    assert!(matches!(b.await, Err(ClientError::Protocol(_))));
    c.wait_disconnected().await;
    assert!(matches!(c.ping().await, Err(ClientError::ConnectionLoss)));
}

#[tokio::test]
async fn events_are_delivered_before_later_replies_resolve() {
    let (addr, server) = fake_server().await;
    let c = Client::connect(&addr, Duration::from_secs(10))
        .await
        .unwrap();
    let mut events = c.events().unwrap();
    assert!(c.events().is_none());
    let mut s = server.await.unwrap();
    let del = c.delete("/x", -1);
    let ping = c.ping();
    assert_eq!(read_request(&mut s).await.xid, 1);
    assert_eq!(read_request(&mut s).await.xid, -2);
    let ev = WatcherEvent {
        kind: 2,
        state: 3,
        path: "/x".into(),
    };
    let mut out = reply(-1, -1, 0, &ev.to_bytes());
    out.extend(reply(1, 7, 0, &[]));
    out.extend(reply(-2, 7, 0, &[]));
    s.write_all(&out).await.unwrap();
    del.await.unwrap();
    let got = events.try_recv().expect("event before reply");
    assert_eq!(
        (got.kind, got.path.as_str()),
        (EventType::NodeDeleted, "/x")
    );
    ping.await.unwrap();
    // Pings do not move last_zxid; normal replies do.
    assert_eq!(c.last_zxid(), 7);
}

#[tokio::test]
async fn error_reply_with_a_body_and_unknown_codes_are_reported() {
    let (addr, server) = fake_server().await;
    let c = Client::connect(&addr, Duration::from_secs(10))
        .await
        .unwrap();
    let mut s = server.await.unwrap();
    let a = c.get_data("/a", false);
    let b = c.get_data("/b", false);
    read_request(&mut s).await;
    read_request(&mut s).await;
    let mut out = reply(1, 1, -101, &[0, 0, 0, 0]);
    out.extend(reply(2, 1, -7, &[]));
    s.write_all(&out).await.unwrap();
    assert!(matches!(a.await, Err(ClientError::Protocol(_))));
    assert!(matches!(b.await, Err(ClientError::UnknownCode(-7))));
}

#[tokio::test]
async fn auth_replies_may_overtake_and_dropped_futures_are_harmless() {
    let (addr, server) = fake_server().await;
    let c = Client::connect(&addr, Duration::from_secs(10))
        .await
        .unwrap();
    let mut s = server.await.unwrap();
    drop(c.sync("/dropped"));
    let auth = c.add_auth("digest", b"u:p");
    let raw = c.request_raw_xid(-8, op::SET_WATCHES, vec![]);
    let hs: Vec<_> = [
        read_request(&mut s).await,
        read_request(&mut s).await,
        read_request(&mut s).await,
    ]
    .iter()
    .map(|h| (h.xid, h.op))
    .collect();
    assert_eq!(hs, [(1, op::SYNC), (-4, op::AUTH), (-8, op::SET_WATCHES)]);
    let mut out = reply(-4, 0, 0, &[]);
    let mut w = Writer::new();
    w.ustring("/dropped");
    out.extend(reply(1, 3, 0, &w.into_inner()));
    out.extend(reply(-8, 3, 0, &[]));
    s.write_all(&out).await.unwrap();
    auth.await.unwrap();
    assert_eq!(raw.await.unwrap().0.xid, -8);
}

#[tokio::test]
async fn idle_connection_pings_and_old_handshake_form() {
    let (addr, server) = fake_server().await;
    let mut opts = ConnectOptions::new(&addr, Duration::from_millis(300));
    opts.read_only = None;
    let c = Client::connect_with(opts).await.unwrap();
    assert_eq!(c.read_only(), None);
    let mut s = server.await.unwrap();
    let h = tokio::time::timeout(Duration::from_secs(2), read_request(&mut s))
        .await
        .expect("a ping within a third of the timeout");
    assert_eq!((h.xid, h.op), (-2, op::PING));
    s.write_all(&reply(-2, 0, 0, &[])).await.unwrap();
    assert!(c.is_connected());
    drop(s);
    c.wait_disconnected().await;
}

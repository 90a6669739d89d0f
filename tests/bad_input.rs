//! Hostile and broken input on real sockets: oversized and negative frames, unknown opcodes,
//! malformed bodies, garbage handshakes, the 4lw whitelist and the 4lw answers. After each,
//! the server must still serve a normal client.

mod common;

use common::raw::{raw, read_frame, SOON};
use common::TestServer;
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::frame::{connect_frame, request_frame};
use ringkeeper::client::{Client, CreateMode, ErrorCode};
use ringkeeper::proto::codec::Encode;
use ringkeeper::proto::records::{ConnectRequest, CreateRequest};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

fn new_session_frame() -> Vec<u8> {
    connect_frame(&ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 10_000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    })
}

/// A raw connection with a completed handshake.
fn raw_session(server: &TestServer) -> TcpStream {
    let mut s = raw(server);
    s.write_all(&new_session_frame()).unwrap();
    let resp = read_frame(&mut s).expect("ConnectResponse");
    assert_eq!(resp.len(), 37);
    s
}

/// The server closes the connection (EOF or reset) and sends nothing more. Writes that hit
/// an already-closed socket are fine.
fn assert_closed(s: &mut TcpStream) {
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return,
            Ok(n) => panic!("expected close, got {n} bytes: {:?}", &b[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("expected the server to close the connection: {e}"),
        }
    }
}

/// (xid, zxid, err) of a reply frame.
fn reply_header(f: &[u8]) -> (i32, i64, i32) {
    assert!(f.len() >= 16, "short reply {f:?}");
    (
        i32::from_be_bytes(f[0..4].try_into().unwrap()),
        i64::from_be_bytes(f[4..12].try_into().unwrap()),
        i32::from_be_bytes(f[12..16].try_into().unwrap()),
    )
}

/// A normal client can still do a write and a read.
async fn assert_serving(server: &mut TestServer, tag: &str) {
    assert!(server.is_running(), "server died ({tag})");
    let c = server.client().await;
    let path = format!("/ok-{tag}");
    c.create(
        &path,
        tag.as_bytes(),
        &open_unsafe(),
        CreateMode::Persistent,
    )
    .await
    .unwrap();
    let (d, _) = c.get_data(&path, false).await.unwrap();
    assert_eq!(d.as_deref(), Some(tag.as_bytes()));
}

#[tokio::test]
async fn frame_over_jute_maxbuffer_closes_only_that_connection() {
    let mut server = TestServer::start_with("jute.maxbuffer=4096\n");
    let bystander = server.client().await;
    bystander
        .create("/by", b"", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    // Under the limit is fine.
    bystander.set_data("/by", &[7; 3000], -1).await.unwrap();

    // An established session announcing a 5000-byte frame is dropped without an answer.
    let mut s = raw_session(&server);
    let _ = s.write_all(&5000i32.to_be_bytes());
    let _ = s.write_all(&[0u8; 100]);
    assert_closed(&mut s);

    // Through the client: a setData whose frame exceeds the limit loses the connection.
    let victim = server.client().await;
    let err = victim.set_data("/by", &[1; 5000], -1).await.unwrap_err();
    assert!(
        matches!(err, ringkeeper::client::ClientError::ConnectionLoss),
        "{err:?}"
    );

    // Before the handshake too.
    let mut s = raw(&server);
    let _ = s.write_all(&(1i32 << 20).to_be_bytes());
    assert_closed(&mut s);

    // The bystander was not disturbed.
    assert!(bystander.is_connected());
    let (d, _) = bystander.get_data("/by", false).await.unwrap();
    assert_eq!(d.map(|d| d.len()), Some(3000));
    assert_serving(&mut server, "maxbuffer").await;
}

#[tokio::test]
async fn negative_frame_length_closes() {
    let mut server = TestServer::start();
    let mut s = raw(&server);
    let _ = s.write_all(&(-1i32).to_be_bytes());
    assert_closed(&mut s);

    let mut s = raw_session(&server);
    let _ = s.write_all(&i32::MIN.to_be_bytes());
    let _ = s.write_all(&[0u8; 16]);
    assert_closed(&mut s);
    assert_serving(&mut server, "negative").await;
}

#[tokio::test]
async fn unknown_opcode_gets_unimplemented_then_close() {
    let mut server = TestServer::start();
    let c = server.client().await;
    let (hdr, body) = c.request_raw(999, vec![1, 2, 3]).await.unwrap();
    assert_eq!(hdr.err, ErrorCode::Unimplemented as i32, "{hdr:?}");
    assert!(hdr.xid > 0, "the xid is echoed: {hdr:?}");
    assert!(body.is_empty());
    tokio::time::timeout(SOON, c.wait_disconnected())
        .await
        .expect("connection stays open after UNIMPLEMENTED");

    // Raw, with a chosen xid.
    let mut s = raw_session(&server);
    s.write_all(&request_frame(77, 4242, &[])).unwrap();
    let f = read_frame(&mut s).expect("UNIMPLEMENTED reply");
    let (xid, _, err) = reply_header(&f);
    assert_eq!((xid, err), (77, ErrorCode::Unimplemented as i32));
    assert_closed(&mut s);
    assert_serving(&mut server, "unknown-op").await;
}

#[tokio::test]
async fn truncated_create_gets_marshalling_error_and_the_connection_lives() {
    let mut server = TestServer::start();
    let c = server.client().await;
    let full = CreateRequest {
        path: "/trunc".into(),
        data: Some(b"data".to_vec()),
        acl: open_unsafe(),
        flags: 0,
    }
    .to_bytes();
    for cut in [3, full.len() / 2, full.len() - 1] {
        let (hdr, body) = c.request_raw(1, full[..cut].to_vec()).await.unwrap();
        assert_eq!(
            hdr.err,
            ErrorCode::MarshallingError as i32,
            "cut at {cut}: {hdr:?}"
        );
        assert!(body.is_empty());
    }
    // A string length pointing far past the frame.
    let mut lying = full.clone();
    lying[0..4].copy_from_slice(&0x7fff_0000i32.to_be_bytes());
    let (hdr, _) = c.request_raw(1, lying).await.unwrap();
    assert_eq!(hdr.err, ErrorCode::MarshallingError as i32);
    // Nothing was created, and the same connection goes on in order.
    assert!(c.exists("/trunc", false).await.unwrap().is_none());
    let created = c
        .create("/trunc", b"data", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(created, "/trunc");
    // A malformed read (getData with no watch byte) too.
    let (hdr, _) = c
        .request_raw(4, vec![0, 0, 0, 6, b'/', b't', b'r', b'u', b'n', b'c'])
        .await
        .unwrap();
    assert_eq!(hdr.err, ErrorCode::MarshallingError as i32);
    assert!(c.is_connected());
    assert_serving(&mut server, "marshalling").await;
}

#[tokio::test]
async fn garbage_handshakes_are_closed() {
    let mut server = TestServer::start();
    // A plausible length, then bytes that are not a ConnectRequest.
    let mut s = raw(&server);
    s.write_all(&10i32.to_be_bytes()).unwrap();
    s.write_all(b"0123456789").unwrap();
    assert_closed(&mut s);

    // A ConnectRequest with a password length past the end.
    let mut f = new_session_frame();
    f[4 + 24..4 + 28].copy_from_slice(&1000i32.to_be_bytes());
    let mut s = raw(&server);
    s.write_all(&f).unwrap();
    assert_closed(&mut s);

    // HTTP (not a 4lw; "GET " is a huge length).
    let mut s = raw(&server);
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_closed(&mut s);

    // An empty frame.
    let mut s = raw(&server);
    s.write_all(&0i32.to_be_bytes()).unwrap();
    assert_closed(&mut s);

    // A request frame sent as the first frame (no handshake).
    let mut s = raw(&server);
    s.write_all(&request_frame(1, 3, &[0, 0, 0, 1, b'/', 0]))
        .unwrap();
    assert!(
        read_frame(&mut s).is_none(),
        "a request before the handshake got an answer"
    );
    assert_serving(&mut server, "garbage").await;
}

#[tokio::test]
async fn short_request_header_closes() {
    let mut server = TestServer::start();
    let mut s = raw_session(&server);
    // 4-byte frame: not even a RequestHeader.
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 1]).unwrap();
    assert_closed(&mut s);
    assert_serving(&mut server, "short-header").await;
}

#[tokio::test]
async fn four_letter_words_and_whitelist() {
    let mut server =
        TestServer::start_with("4lw.commands.whitelist=ruok, srvr,envi,conf,mntr,isro\n");
    assert_eq!(server.four_letter("ruok"), "imok");
    let srvr = server.four_letter("srvr");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    assert!(srvr.contains("Zookeeper version: "), "{srvr}");
    let envi = server.four_letter("envi");
    assert!(envi.contains("zookeeper.version="), "{envi}");
    let conf = server.four_letter("conf");
    assert!(
        conf.contains(&format!("clientPort={}", server.port)),
        "{conf}"
    );
    let mntr = server.four_letter("mntr");
    assert!(mntr.contains("zk_server_state\tstandalone\n"), "{mntr}");
    assert_eq!(server.four_letter("isro"), "rw");
    for word in ["stat", "dump", "wchs", "cons"] {
        assert_eq!(
            server.four_letter(word),
            format!("{word} is not executed because it is not in the whitelist.\n")
        );
    }
    assert_serving(&mut server, "4lw").await;
}

#[tokio::test]
async fn words_outside_a_short_whitelist_are_refused() {
    let server = TestServer::start_with("4lw.commands.whitelist=srvr,ruok\n");
    assert_eq!(
        server.four_letter("envi"),
        "envi is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(
        server.four_letter("isro"),
        "isro is not executed because it is not in the whitelist.\n"
    );
}

#[tokio::test]
async fn everything_at_once_then_still_serving() {
    let mut server = TestServer::start_with("jute.maxbuffer=4096\n");
    let keeper = server.client().await;
    keeper
        .create("/keep", b"k", &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap();
    for _ in 0..20 {
        let mut s = raw(&server);
        let _ = s.write_all(&(-5i32).to_be_bytes());
        let mut s2 = raw_session(&server);
        let _ = s2.write_all(&request_frame(5, 12345, &[]));
        let mut s3 = raw(&server);
        let _ = s3.write_all(&100_000i32.to_be_bytes());
        assert_closed(&mut s);
        assert!(read_frame(&mut s2).is_some());
        assert_closed(&mut s2);
        assert_closed(&mut s3);
    }
    let c: Client = server.client().await;
    let (d, _) = c.get_data("/keep", false).await.unwrap();
    assert_eq!(d.as_deref(), Some(&b"k"[..]));
    assert!(keeper.is_connected());
    keeper.set_data("/keep", b"k2", -1).await.unwrap();
    assert_serving(&mut server, "all").await;
}

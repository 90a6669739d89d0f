//! Checks of the ensemble tests' own tools, which run everywhere (no ensemble needed): the
//! peer proxy really partitions and heals, rewrites the election hello, and the writer's
//! read-back check catches a lost or an invented write.

use crate::common::proxy::ProxyNet;
use crate::common::writer::{Progress, WriterReport};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A loopback server that echoes every connection; returns its port.
fn echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A loopback server that hands each accepted connection to the test; returns its port.
fn accepting_server() -> (u16, std::sync::mpsc::Receiver<TcpStream>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect through the proxy");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn echo(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).expect("write");
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).expect("echo");
    got
}

/// Nothing arrives within `wait` (the stream stays open and silent).
fn silent(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    let r = s.read(&mut b);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    matches!(r, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

#[test]
fn proxy_cut_is_silent_and_heal_closes_what_lived_through_it() {
    let (q2, e2) = (echo_server(), echo_server());
    let (q1, e1) = (echo_server(), echo_server());
    let net = ProxyNet::start(&[(echo_server(), q1, e1), (echo_server(), q2, e2)]);
    let (via_q, _) = net.ports(1, 2);
    let mut old = connect(via_q);
    assert_eq!(echo(&mut old, b"before"), b"before");

    net.cut(1, 2);
    old.write_all(b"during")
        .expect("writes still go into the socket");
    assert!(
        silent(&mut old, Duration::from_millis(300)),
        "bytes crossed a cut"
    );
    // A connection opened during the cut is accepted but goes nowhere.
    let mut during = connect(via_q);
    during.write_all(b"hello?").expect("write");
    assert!(
        silent(&mut during, Duration::from_millis(300)),
        "a new connection crossed a cut"
    );
    // The other direction's proxy is cut too.
    let mut back = connect(net.ports(2, 1).0);
    back.write_all(b"x").expect("write");
    assert!(
        silent(&mut back, Duration::from_millis(300)),
        "bytes crossed the reverse cut"
    );

    net.heal_all();
    for (what, s) in [
        ("old", &mut old),
        ("during", &mut during),
        ("back", &mut back),
    ] {
        let mut b = [0u8; 16];
        match s.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("the {what} connection was not closed by the heal: {other:?}"),
        }
    }
    let mut new = connect(via_q);
    assert_eq!(echo(&mut new, b"after"), b"after");
}

#[test]
fn proxy_points_the_election_dial_back_at_the_reverse_proxy() {
    let (e2, accepted) = accepting_server();
    let (q1, e1, q2) = (echo_server(), echo_server(), echo_server());
    let net = ProxyNet::start(&[(echo_server(), q1, e1), (echo_server(), q2, e2)]);
    let mut dialer = connect(net.ports(1, 2).1);
    let own = format!("127.0.0.1:{e1}");
    let mut hello = Vec::new();
    hello.extend_from_slice(&(-65536i64).to_be_bytes());
    hello.extend_from_slice(&1i64.to_be_bytes());
    hello.extend_from_slice(&(own.len() as i32).to_be_bytes());
    hello.extend_from_slice(own.as_bytes());
    hello.extend_from_slice(b"rest");
    dialer.write_all(&hello).expect("send hello");
    let mut got = accepted
        .recv_timeout(Duration::from_secs(10))
        .expect("the proxy dialed the member");
    got.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let reverse = format!("127.0.0.1:{}", net.ports(2, 1).1);
    let mut want = Vec::new();
    want.extend_from_slice(&hello[..16]);
    want.extend_from_slice(&(reverse.len() as i32).to_be_bytes());
    want.extend_from_slice(reverse.as_bytes());
    want.extend_from_slice(b"rest");
    let mut buf = vec![0u8; want.len()];
    got.read_exact(&mut buf).expect("rewritten hello");
    assert_eq!(
        String::from_utf8_lossy(&buf[20..]),
        String::from_utf8_lossy(&want[20..])
    );
    assert_eq!(buf, want);

    // Anything else passes unchanged.
    let mut other = connect(net.ports(1, 2).1);
    other.write_all(b"not an election hello").expect("send");
    let mut got = accepted
        .recv_timeout(Duration::from_secs(10))
        .expect("second dial");
    got.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 21];
    got.read_exact(&mut buf).expect("bytes");
    assert_eq!(&buf, b"not an election hello");
}

#[test]
fn writer_read_back_check_catches_lost_and_invented_writes() {
    let report = |confirmed, unknown| WriterReport {
        progress: Progress {
            confirmed,
            ..Progress::default()
        },
        unknown,
        prefix: "/w".into(),
    };
    let names = |r: std::ops::Range<u64>| r.map(WriterReport::name).collect::<Vec<_>>();
    assert!(report(3, false).check_children(&names(0..3)).is_ok());
    // The unknown one may or may not have committed.
    assert!(report(3, true).check_children(&names(0..3)).is_ok());
    assert!(report(3, true).check_children(&names(0..4)).is_ok());
    // A lost acknowledged write.
    let lost = report(3, false).check_children(&[WriterReport::name(0), WriterReport::name(2)]);
    assert!(lost.unwrap_err().contains(&WriterReport::name(1)));
    // A write nobody confirmed.
    assert!(report(3, false).check_children(&names(0..4)).is_err());
    assert!(report(3, true).check_children(&names(0..5)).is_err());
    assert!(report(0, false).check_children(&["other".into()]).is_err());
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    s.read_exact(&mut got).expect("bytes through the proxy");
    got
}

/// Closed by the proxy: EOF or a reset, after whatever was still in flight.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn proxy_one_way_cut_blocks_one_direction_on_connections_dialed_either_way() {
    // Member 1's and member 2's quorum ports hand their connections to the test.
    let (q1, from_2) = accepting_server();
    let (q2, from_1) = accepting_server();
    let net = ProxyNet::start(&[
        (echo_server(), q1, echo_server()),
        (echo_server(), q2, echo_server()),
    ]);
    // 1 dialed 2, and 2 dialed 1, before the cut.
    let mut d12 = connect(net.ports(1, 2).0);
    let mut a12 = from_1
        .recv_timeout(Duration::from_secs(10))
        .expect("dial 1→2");
    a12.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut d21 = connect(net.ports(2, 1).0);
    let mut a21 = from_2
        .recv_timeout(Duration::from_secs(10))
        .expect("dial 2→1");
    a21.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    // Bytes from 2 to 1 stop; from 1 to 2 they still flow.
    net.cut_one_way(2, 1);
    d12.write_all(b"1to2").unwrap();
    assert_eq!(read_n(&mut a12, 4), b"1to2", "1→2 on 1's connection");
    a12.write_all(b"2to1").unwrap();
    assert!(silent(&mut d12, Duration::from_millis(300)), "2→1 crossed");
    a21.write_all(b"1to2").unwrap();
    assert_eq!(read_n(&mut d21, 4), b"1to2", "1→2 on 2's connection");
    d21.write_all(b"2to1").unwrap();
    assert!(silent(&mut a21, Duration::from_millis(300)), "2→1 crossed");
    // A connection dialed during the cut goes through, one way only.
    let mut n21 = connect(net.ports(2, 1).0);
    let mut b21 = from_2
        .recv_timeout(Duration::from_secs(10))
        .expect("dialed in the cut");
    b21.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    b21.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut n21, 1), b"x");
    n21.write_all(b"y").unwrap();
    assert!(silent(&mut b21, Duration::from_millis(300)), "2→1 crossed");
    // A FIN does not cross either.
    n21.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        silent(&mut b21, Duration::from_millis(300)),
        "a FIN crossed"
    );

    net.heal_all();
    for (what, s) in [("1's", &mut d12), ("2's", &mut d21), ("the new", &mut n21)] {
        assert!(closed(s), "{what} connection survived the heal");
    }
    let mut again = connect(net.ports(2, 1).0);
    let mut b = from_2
        .recv_timeout(Duration::from_secs(10))
        .expect("dial after heal");
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    again.write_all(b"ok").unwrap();
    assert_eq!(read_n(&mut b, 2), b"ok");
}

/// A member's client proxy: a cut silences its connections both ways and leaves the
/// members' links alone; the heal closes what lived through it, and new connections flow.
#[test]
fn client_proxy_cut_is_silent_and_apart_from_the_members_links() {
    let net = ProxyNet::start(&[
        (echo_server(), echo_server(), echo_server()),
        (echo_server(), echo_server(), echo_server()),
    ]);
    let mut client = connect(net.client_port(2));
    let mut member = connect(net.ports(1, 2).0);
    assert_eq!(echo(&mut client, b"before"), b"before");
    net.cut_clients(2);
    assert!(!net.all_clear());
    client.write_all(b"lost").unwrap();
    assert!(silent(&mut client, Duration::from_millis(300)));
    assert_eq!(echo(&mut member, b"members"), b"members");
    net.heal_clients(2);
    assert!(net.all_clear());
    let mut b = [0u8; 16];
    let closed = client.read(&mut b);
    assert!(
        matches!(closed, Ok(0)) || closed.is_err(),
        "a connection that lived through the cut closes at the heal: {closed:?}"
    );
    let mut fresh = connect(net.client_port(2));
    assert_eq!(echo(&mut fresh, b"after"), b"after");
}

#[test]
fn proxy_delay_keeps_order_and_never_closes() {
    use crate::common::proxy::Flow;
    let net = ProxyNet::start(&[
        (echo_server(), echo_server(), echo_server()),
        (echo_server(), echo_server(), echo_server()),
    ]);
    let mut s = connect(net.ports(1, 2).0);
    assert_eq!(echo(&mut s, b"warm"), b"warm");
    let min = Duration::from_millis(50);
    net.set_flow(
        1,
        2,
        Flow {
            delay: (min, Duration::from_millis(150)),
            ..Flow::default()
        },
    );
    // Many small writes, each its own chunk with its own random delay: still in order.
    let t = std::time::Instant::now();
    let mut want = Vec::new();
    for i in 0..50u8 {
        s.write_all(&[i]).unwrap();
        want.push(i);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_n(&mut s, want.len()), want);
    let took = t.elapsed();
    println!("50 delayed bytes echoed in {took:?}");
    assert!(took >= min, "the delay was not applied ({took:?})");
    // A rate limit paces without reordering either.
    net.slow_member(2, (Duration::ZERO, Duration::ZERO), Some(20_000));
    let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let t = std::time::Instant::now();
    s.write_all(&big).unwrap();
    assert_eq!(read_n(&mut s, big.len()), big);
    println!("10 kB both ways at 20 kB/s in {:?}", t.elapsed());
    net.clear_all();
    assert!(net.all_clear());
    assert_eq!(echo(&mut s, b"same connection"), b"same connection");
}

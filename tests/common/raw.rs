//! Raw-socket helpers for tests that speak the wire protocol byte by byte.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

use super::TestServer;

/// Upper bound for anything the server should do "now".
pub const SOON: Duration = Duration::from_secs(5);

/// A plain TCP connection to the server, reads bounded by `SOON`.
pub fn raw(server: &TestServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).expect("raw connect");
    s.set_read_timeout(Some(SOON)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one length-prefixed frame; `None` if the server closed the connection first.
pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            return None
        }
        Err(e) => panic!("reading a frame: {e} (the server neither answered nor closed)"),
    }
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).expect("frame body");
    Some(buf)
}

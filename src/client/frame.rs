//! Pure frame building and parsing: no I/O, so every byte-level rule is unit-tested here.
//!
//! Parsing is deliberately strict (exact body lengths, 16-byte passwords, readOnly byte
//! presence) because this client exists to check a server, not to be forgiving.

use super::error::{ClientError, Result};
use super::types::{EventType, WatchedEvent};
use crate::proto::codec::{Decode, Encode, Reader, Writer};
use crate::proto::records::{
    ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader, WatcherEvent,
};

/// Largest inbound frame accepted. Java clients stop at jute.maxbuffer (1 MiB); we allow
/// more so that an oversized reply shows up as a clear error rather than a hang.
pub const MAX_FRAME: usize = 16 << 20;

/// ReplyHeader: xid i32 + zxid i64 + err i32.
pub const REPLY_HEADER_LEN: usize = 16;

/// The 16 zero bytes a new session sends as its password.
pub const EMPTY_PASSWD: [u8; 16] = [0; 16];

/// `len | RequestHeader{xid, op} | body`.
pub fn request_frame(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::framed();
    RequestHeader { xid, op }.encode(&mut w);
    w.raw(body);
    w.finish_frame()
}

/// Appends a request frame to an output buffer (used to batch pipelined writes).
pub fn push_request_frame(out: &mut Vec<u8>, xid: i32, op: i32, body: &[u8]) {
    let len = (8 + body.len()) as i32;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(body);
}

/// `len | ConnectRequest`.
pub fn connect_frame(req: &ConnectRequest) -> Vec<u8> {
    let mut w = Writer::framed();
    req.encode(&mut w);
    w.finish_frame()
}

/// Validates a frame's 4-byte length prefix.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize> {
    let len = i32::from_be_bytes(prefix);
    if len < 0 || len as usize > MAX_FRAME {
        return Err(ClientError::Protocol(format!("bad frame length {len}")));
    }
    Ok(len as usize)
}

/// Parses the handshake answer. `sent_read_only` says whether our ConnectRequest carried
/// the optional readOnly byte: the answer must carry it exactly when we did.
pub fn parse_connect_response(payload: &[u8], sent_read_only: bool) -> Result<ConnectResponse> {
    let resp = ConnectResponse::from_bytes(payload)?;
    if resp.timeout_ms <= 0 {
        return Err(ClientError::SessionExpired);
    }
    if resp.passwd.len() != 16 {
        return Err(ClientError::Protocol(format!(
            "ConnectResponse password is {} bytes, not 16",
            resp.passwd.len()
        )));
    }
    let expected_len = 36 + usize::from(sent_read_only);
    if payload.len() != expected_len {
        return Err(ClientError::Protocol(format!(
            "ConnectResponse is {} bytes, expected {expected_len}",
            payload.len()
        )));
    }
    Ok(resp)
}

/// Splits a post-handshake server frame into its ReplyHeader and the rest.
pub fn split_reply(payload: &[u8]) -> Result<(ReplyHeader, &[u8])> {
    if payload.len() < REPLY_HEADER_LEN {
        return Err(ClientError::Protocol(format!(
            "server frame of {} bytes is shorter than a ReplyHeader",
            payload.len()
        )));
    }
    let mut r = Reader::new(payload);
    let hdr = ReplyHeader::decode(&mut r)?;
    Ok((hdr, r.rest()))
}

/// Decodes a reply body that must be exactly one `T`.
pub fn decode_exact<T: Decode>(body: &[u8]) -> Result<T> {
    let mut r = Reader::new(body);
    let v = T::decode(&mut r)?;
    if !r.is_empty() {
        return Err(ClientError::Protocol(format!(
            "{} trailing bytes after {}",
            r.remaining(),
            std::any::type_name::<T>()
        )));
    }
    Ok(v)
}

/// Checks that a reply which should be header-only has no body.
pub fn expect_empty(body: &[u8]) -> Result<()> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(ClientError::Protocol(format!(
            "expected a header-only reply, got {} body bytes",
            body.len()
        )))
    }
}

/// Decodes the WatcherEvent of a notification (xid -1).
pub fn parse_event(hdr: &ReplyHeader, body: &[u8]) -> Result<WatchedEvent> {
    let ev: WatcherEvent = decode_exact(body)?;
    Ok(WatchedEvent {
        kind: EventType::from_code(ev.kind),
        state: ev.state,
        path: ev.path,
        zxid: hdr.zxid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_frame_matches_the_spec_bytes() {
        assert_eq!(
            request_frame(-2, 11, &[]),
            [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]
        );
        let mut out = vec![];
        push_request_frame(&mut out, -2, 11, &[]);
        assert_eq!(out, request_frame(-2, 11, &[]));
    }

    #[test]
    fn connect_frame_is_49_bytes_with_read_only() {
        let req = ConnectRequest {
            timeout_ms: 30000,
            passwd: EMPTY_PASSWD.to_vec(),
            read_only: Some(false),
            ..Default::default()
        };
        let f = connect_frame(&req);
        assert_eq!(f.len(), 49);
        assert_eq!(&f[..4], &[0, 0, 0, 45]);
        assert_eq!(&f[16..20], &[0, 0, 0x75, 0x30]);
    }

    #[test]
    fn frame_len_rejects_negative_and_huge() {
        assert_eq!(frame_len([0, 0, 0, 16]).unwrap(), 16);
        assert!(frame_len([0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(frame_len([0x72, 0x75, 0x6f, 0x6b]).is_err());
    }

    fn connect_resp(timeout: i32, passwd_len: usize, ro: Option<bool>) -> Vec<u8> {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: timeout,
            session_id: 0x100,
            passwd: vec![7; passwd_len],
            read_only: ro,
        }
        .to_bytes()
    }

    #[test]
    fn connect_response_checks() {
        let ok = parse_connect_response(&connect_resp(4000, 16, Some(false)), true).unwrap();
        assert_eq!((ok.timeout_ms, ok.session_id), (4000, 0x100));
        assert!(parse_connect_response(&connect_resp(4000, 16, None), false).is_ok());
        assert!(matches!(
            parse_connect_response(&connect_resp(0, 16, Some(false)), true),
            Err(ClientError::SessionExpired)
        ));
        // readOnly byte must be present exactly when we sent it.
        assert!(parse_connect_response(&connect_resp(4000, 16, None), true).is_err());
        assert!(parse_connect_response(&connect_resp(4000, 16, Some(false)), false).is_err());
        assert!(parse_connect_response(&connect_resp(4000, 8, Some(false)), true).is_err());
    }

    #[test]
    fn reply_split_and_strict_bodies() {
        let mut w = Writer::new();
        ReplyHeader {
            xid: 3,
            zxid: 9,
            err: 0,
        }
        .encode(&mut w);
        w.i32(42);
        let b = w.into_inner();
        let (h, body) = split_reply(&b).unwrap();
        assert_eq!((h.xid, h.zxid, h.err), (3, 9, 0));
        assert_eq!(decode_exact::<i32>(body).unwrap(), 42);
        assert!(expect_empty(body).is_err());
        assert!(decode_exact::<i32>(&[0, 0, 0, 1, 0]).is_err());
        assert!(split_reply(&b[..15]).is_err());
    }

    #[test]
    fn notification_decodes() {
        let hdr = ReplyHeader {
            xid: -1,
            zxid: -1,
            err: 0,
        };
        let body = WatcherEvent {
            kind: 4,
            state: 3,
            path: "/a".into(),
        }
        .to_bytes();
        let ev = parse_event(&hdr, &body).unwrap();
        assert_eq!(ev.kind, EventType::NodeChildrenChanged);
        assert_eq!((ev.state, ev.path.as_str(), ev.zxid), (3, "/a", -1));
    }
}

//! A client request a learner forwards to its leader (Zab's REQUEST packet body after the
//! session id, cxid and opcode): the client's authenticated ids, which the leader's ACL
//! checks need, then the request record exactly as the client sent it. As in ZooKeeper's
//! `Request.authInfo`, the ids travel with every forwarded request because only the
//! learner saw the client's `addauth`.

use crate::proto::codec::{Decode, DecodeResult, Encode, Reader, Writer};
use crate::proto::records::Id;

/// `ids` then `raw`.
pub fn encode(ids: &[Id], raw: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.i32(ids.len() as i32);
    for id in ids {
        id.encode(&mut w);
    }
    let mut out = w.buf;
    out.extend_from_slice(raw);
    out
}

/// The ids and the request record of a forwarded body.
pub fn decode(body: &[u8]) -> DecodeResult<(Vec<Id>, &[u8])> {
    let mut r = Reader::new(body);
    // Each id is at least two 4-byte length prefixes.
    let n = r.vec_len(8)?.unwrap_or(0);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(Id::decode(&mut r)?);
    }
    Ok((ids, r.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_record_round_trip() {
        let ids = vec![
            Id {
                scheme: "digest".into(),
                id: "alice:x".into(),
            },
            Id {
                scheme: "ip".into(),
                id: "127.0.0.1".into(),
            },
        ];
        let body = encode(&ids, b"\x00\x00\x00\x02/a");
        let (back, raw) = decode(&body).expect("decodes");
        assert_eq!(back, ids);
        assert_eq!(raw, b"\x00\x00\x00\x02/a");
        assert!(decode(&body[..6]).is_err(), "a cut body is an error");
    }
}

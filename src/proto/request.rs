//! Client requests decoded from a frame body, by opcode.

use super::codec::{Decode, DecodeError, Reader};
use super::opcode as op;
use super::records::*;

/// A create of any flavour: `op` is the opcode it arrived as (create, create2,
/// createContainer, createTTL); `ttl` is -1 unless it came as createTTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub op: i32,
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub flags: i32,
    pub ttl: i64,
}

/// One operation inside a `multi` transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    Create(Create),
    Delete(DeleteRequest),
    SetData(SetDataRequest),
    Check(CheckVersionRequest),
}

/// One operation inside a `multiRead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    GetChildren(String),
    GetData(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create(Create),
    Delete(DeleteRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    SetData(SetDataRequest),
    GetAcl(PathRequest),
    SetAcl(SetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildrenRequest),
    Sync(PathRequest),
    Ping,
    Multi(Vec<MultiOp>),
    MultiRead(Vec<ReadOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(WatchesRequest),
    RemoveWatches(WatchesRequest),
    Auth(AuthPacket),
    /// setWatches (101) is carried with empty persistent lists.
    SetWatches(SetWatches2),
    Sasl(SaslRequest),
    GetEphemerals(PathRequest),
    GetAllChildrenNumber(PathRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
}

/// Why a request frame was refused before it reached request processing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Opcode not accepted from clients: UNIMPLEMENTED, then the connection is closed.
    #[error("unknown or disallowed opcode {0}")]
    UnknownOp(i32),
    /// The body did not decode: MARSHALLINGERROR.
    #[error("malformed body for opcode {op}: {err}")]
    Malformed { op: i32, err: DecodeError },
}

impl Request {
    /// True for requests that change state and so travel through the consensus core.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(_)
                | Request::Delete(_)
                | Request::SetData(_)
                | Request::SetAcl(_)
                | Request::Multi(_)
                | Request::Sync(_)
                | Request::CloseSession
                | Request::Reconfig(_)
        )
    }
}

/// Valid CreateMode flag values (persistent .. persistent-sequential-with-ttl).
pub fn valid_create_flags(flags: i32) -> bool {
    (0..=6).contains(&flags)
}

fn decode_create(opcode: i32, r: &mut Reader<'_>) -> Result<Create, DecodeError> {
    if opcode == op::CREATE_TTL {
        let c = CreateTtlRequest::decode(r)?;
        Ok(Create {
            op: opcode,
            path: c.path,
            data: c.data,
            acl: c.acl,
            flags: c.flags,
            ttl: c.ttl,
        })
    } else {
        let c = CreateRequest::decode(r)?;
        Ok(Create {
            op: opcode,
            path: c.path,
            data: c.data,
            acl: c.acl,
            flags: c.flags,
            ttl: -1,
        })
    }
}

fn decode_multi(r: &mut Reader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(ops);
        }
        let o = match h.op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                let mut c = decode_create(h.op, r)?;
                if h.op != op::CREATE_TTL && !valid_create_flags(c.flags) {
                    return Err(DecodeError::Invalid(format!("create flags {}", c.flags)));
                }
                // Valid flags decide a create sub-op's type, as in Java's Op.create: container
                // or TTL flags re-type it, and a createTTL with other valid flags becomes a
                // plain create that drops its ttl. (A createTTL with invalid flags stays one,
                // for prep to refuse.)
                c.op = match c.flags {
                    4 => op::CREATE_CONTAINER,
                    5 | 6 => op::CREATE_TTL,
                    f if c.op == op::CREATE_TTL && valid_create_flags(f) => op::CREATE,
                    _ => c.op,
                };
                if c.op != op::CREATE_TTL {
                    c.ttl = -1;
                }
                MultiOp::Create(c)
            }
            op::DELETE => MultiOp::Delete(DeleteRequest::decode(r)?),
            op::SET_DATA => MultiOp::SetData(SetDataRequest::decode(r)?),
            op::CHECK => MultiOp::Check(CheckVersionRequest::decode(r)?),
            other => return Err(DecodeError::Invalid(format!("multi op type {other}"))),
        };
        ops.push(o);
    }
}

fn decode_multi_read(r: &mut Reader<'_>) -> Result<Vec<ReadOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::decode(r)?;
        if h.done {
            return Ok(ops);
        }
        let o = match h.op {
            op::GET_CHILDREN => ReadOp::GetChildren(GetChildrenRequest::decode(r)?.path),
            op::GET_DATA => ReadOp::GetData(GetDataRequest::decode(r)?.path),
            other => return Err(DecodeError::Invalid(format!("multiRead op type {other}"))),
        };
        ops.push(o);
    }
}

/// Decodes the body that follows a RequestHeader with type `opcode`.
pub fn decode_request(opcode: i32, body: &[u8]) -> Result<Request, RequestError> {
    let r = &mut Reader::new(body);
    let malformed = |err| RequestError::Malformed { op: opcode, err };
    let req = match opcode {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
            Request::Create(decode_create(opcode, r).map_err(malformed)?)
        }
        op::DELETE => Request::Delete(DeleteRequest::decode(r).map_err(malformed)?),
        op::EXISTS => Request::Exists(ExistsRequest::decode(r).map_err(malformed)?),
        op::GET_DATA => Request::GetData(GetDataRequest::decode(r).map_err(malformed)?),
        op::SET_DATA => Request::SetData(SetDataRequest::decode(r).map_err(malformed)?),
        op::GET_ACL => Request::GetAcl(PathRequest::decode(r).map_err(malformed)?),
        op::SET_ACL => Request::SetAcl(SetAclRequest::decode(r).map_err(malformed)?),
        op::GET_CHILDREN => Request::GetChildren(GetChildrenRequest::decode(r).map_err(malformed)?),
        op::GET_CHILDREN2 => {
            Request::GetChildren2(GetChildrenRequest::decode(r).map_err(malformed)?)
        }
        op::SYNC => Request::Sync(PathRequest::decode(r).map_err(malformed)?),
        op::PING => Request::Ping,
        op::MULTI => Request::Multi(decode_multi(r).map_err(malformed)?),
        op::MULTI_READ => Request::MultiRead(decode_multi_read(r).map_err(malformed)?),
        op::RECONFIG => Request::Reconfig(ReconfigRequest::decode(r).map_err(malformed)?),
        op::CHECK_WATCHES => Request::CheckWatches(WatchesRequest::decode(r).map_err(malformed)?),
        op::REMOVE_WATCHES => Request::RemoveWatches(WatchesRequest::decode(r).map_err(malformed)?),
        op::AUTH => Request::Auth(AuthPacket::decode(r).map_err(malformed)?),
        op::SET_WATCHES => {
            let s = SetWatches::decode(r).map_err(malformed)?;
            Request::SetWatches(SetWatches2 {
                relative_zxid: s.relative_zxid,
                data: s.data,
                exist: s.exist,
                child: s.child,
                persistent: vec![],
                persistent_recursive: vec![],
            })
        }
        op::SET_WATCHES2 => Request::SetWatches(SetWatches2::decode(r).map_err(malformed)?),
        op::SASL => Request::Sasl(SaslRequest::decode(r).map_err(malformed)?),
        op::GET_EPHEMERALS => Request::GetEphemerals(PathRequest::decode(r).map_err(malformed)?),
        op::GET_ALL_CHILDREN_NUMBER => {
            Request::GetAllChildrenNumber(PathRequest::decode(r).map_err(malformed)?)
        }
        op::ADD_WATCH => Request::AddWatch(AddWatchRequest::decode(r).map_err(malformed)?),
        op::WHO_AM_I => Request::WhoAmI,
        op::CLOSE_SESSION => Request::CloseSession,
        other => return Err(RequestError::UnknownOp(other)),
    };
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::{Encode, Writer};

    fn multi_body(ops: &[(i32, Vec<u8>)]) -> Vec<u8> {
        let mut w = Writer::new();
        for (t, body) in ops {
            MultiHeader {
                op: *t,
                done: false,
                err: -1,
            }
            .encode(&mut w);
            w.raw(body);
        }
        MultiHeader {
            op: -1,
            done: true,
            err: -1,
        }
        .encode(&mut w);
        w.into_inner()
    }

    #[test]
    fn multi_retypes_container_and_rejects_bad_flags() {
        let c = CreateRequest {
            path: "/c".into(),
            data: None,
            acl: vec![],
            flags: 4,
        };
        let body = multi_body(&[(op::CREATE, c.to_bytes())]);
        match decode_request(op::MULTI, &body).unwrap() {
            Request::Multi(ops) => match &ops[0] {
                MultiOp::Create(c) => assert_eq!(c.op, op::CREATE_CONTAINER),
                o => panic!("{o:?}"),
            },
            r => panic!("{r:?}"),
        }
        let bad = CreateRequest {
            path: "/c".into(),
            data: None,
            acl: vec![],
            flags: 9,
        };
        let body = multi_body(&[(op::CREATE, bad.to_bytes())]);
        assert!(matches!(
            decode_request(op::MULTI, &body),
            Err(RequestError::Malformed { .. })
        ));
        let body = multi_body(&[(op::GET_DATA, GetDataRequest::default().to_bytes())]);
        assert!(decode_request(op::MULTI, &body).is_err());
    }

    /// Found by the `request` fuzz target (a decoded request must re-encode to itself): a
    /// createTTL sub-op with container or persistent flags kept its ttl, so prep refused
    /// it (a non-TTL create must have none) where Java creates the node.
    #[test]
    fn multi_create_ttl_with_other_flags_becomes_their_type() {
        let ttl = |flags| CreateTtlRequest {
            path: "/t".into(),
            data: None,
            acl: vec![],
            flags,
            ttl: 5000,
        };
        for (flags, want_op, want_ttl) in [
            (0, op::CREATE, -1),
            (3, op::CREATE, -1),
            (4, op::CREATE_CONTAINER, -1),
            (5, op::CREATE_TTL, 5000),
            (-203, op::CREATE_TTL, 5000),
        ] {
            let body = multi_body(&[(op::CREATE_TTL, ttl(flags).to_bytes())]);
            let Ok(Request::Multi(ops)) = decode_request(op::MULTI, &body) else {
                panic!("flags {flags}: not a multi");
            };
            let MultiOp::Create(c) = &ops[0] else {
                panic!("flags {flags}: {ops:?}");
            };
            assert_eq!((c.op, c.ttl), (want_op, want_ttl), "flags {flags}");
        }
    }

    #[test]
    fn unknown_ops_are_refused() {
        for o in [0, 10, 13, 20, -10, 999] {
            assert_eq!(decode_request(o, &[]), Err(RequestError::UnknownOp(o)));
        }
    }
}

//! Replicated transactions: what prep produces, the log stores, and apply consumes.
//!
//! The encoding follows Apache ZooKeeper's txn format (`TxnHeader` + the record for its type,
//! spec §12.2) so that our log records and theirs describe the same thing. Everything apply
//! needs is inside the txn (time, session, sequence-derived paths, parent cversion): apply
//! never looks at a clock.

use bytes::Bytes;

use crate::proto::codec::{Decode, DecodeError, DecodeResult, Encode, Reader, Writer};
use crate::proto::opcode as op;
use crate::proto::records::Acl;

/// zxid = (epoch << 32) | counter.
pub type Zxid = i64;
pub type SessionId = i64;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnHeader {
    /// The session the txn was made for (TxnHeader.clientId).
    pub session_id: SessionId,
    pub cxid: i32,
    pub zxid: Zxid,
    /// Leader wall-clock ms when the txn was prepared; becomes ctime/mtime.
    pub time: i64,
}

/// A create of any flavour. `op` is create, create2, createContainer or createTTL and decides
/// the record written to the log; `ephemeral_owner` is the *stored* owner (session id,
/// container marker, TTL marker or 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTxn {
    pub op: i32,
    pub path: String,
    pub data: Option<Bytes>,
    pub acl: Vec<Acl>,
    pub ephemeral_owner: i64,
    /// The parent's stored cversion after this create.
    pub parent_cversion: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    CreateSession {
        timeout_ms: i32,
    },
    /// Deletes `ephemerals` (every ephemeral node the session owned when prepared).
    CloseSession {
        ephemerals: Vec<String>,
    },
    Create(CreateTxn),
    /// `op` is delete or deleteContainer.
    Delete {
        op: i32,
        path: String,
    },
    /// `version` is the node's new data version.
    SetData {
        path: String,
        data: Option<Bytes>,
        version: i32,
    },
    /// `version` is the node's new aversion.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    /// Only inside a multi: a passed version check.
    Check {
        path: String,
        version: i32,
    },
    /// A failed request (or a multi sub-op result: 0 for ops before the failing one).
    Error {
        err: i32,
    },
    Multi(Vec<TxnBody>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub header: TxnHeader,
    pub body: TxnBody,
}

pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN; // 0x8000_0000_0000_0000
const TTL_MASK: i64 = 0xFF00_0000_0000_0000u64 as i64;
/// Largest TTL in ms that fits in the 40 low bits of the marker.
pub const MAX_TTL_MS: i64 = 0x00FF_FFFF_FFFF;

/// The stored ephemeralOwner of a TTL node.
pub fn ttl_ephemeral_owner(ttl_ms: i64) -> i64 {
    TTL_MASK | ttl_ms
}

/// The TTL in ms if `owner` is a TTL marker.
pub fn ttl_of(owner: i64) -> Option<i64> {
    ((owner & TTL_MASK) == TTL_MASK && owner != -1).then_some(owner & MAX_TTL_MS)
}

pub fn is_container(owner: i64) -> bool {
    owner == CONTAINER_EPHEMERAL_OWNER
}

/// True for an owner that is a real session (not 0, container or TTL).
pub fn is_ephemeral(owner: i64) -> bool {
    owner != 0 && !is_container(owner) && ttl_of(owner).is_none()
}

impl TxnBody {
    /// The TxnHeader.type of this body.
    pub fn op(&self) -> i32 {
        match self {
            TxnBody::CreateSession { .. } => op::CREATE_SESSION,
            TxnBody::CloseSession { .. } => op::CLOSE_SESSION,
            TxnBody::Create(c) => c.op,
            TxnBody::Delete { op, .. } => *op,
            TxnBody::SetData { .. } => op::SET_DATA,
            TxnBody::SetAcl { .. } => op::SET_ACL,
            TxnBody::Check { .. } => op::CHECK,
            TxnBody::Error { .. } => op::ERROR,
            TxnBody::Multi(_) => op::MULTI,
        }
    }

    fn encode_record(&self, session_id: SessionId, w: &mut Writer) {
        match self {
            TxnBody::CreateSession { timeout_ms } => {
                w.i32(*timeout_ms);
            }
            TxnBody::CloseSession { ephemerals } => {
                w.vec_ustring(ephemerals);
            }
            TxnBody::Create(c) => {
                w.ustring(&c.path).buffer(c.data.as_deref());
                c.acl.encode(w);
                match c.op {
                    op::CREATE_CONTAINER => {
                        w.i32(c.parent_cversion);
                    }
                    op::CREATE_TTL => {
                        w.i32(c.parent_cversion)
                            .i64(ttl_of(c.ephemeral_owner).unwrap_or(-1));
                    }
                    _ => {
                        debug_assert!(c.ephemeral_owner == 0 || c.ephemeral_owner == session_id);
                        w.bool(c.ephemeral_owner != 0).i32(c.parent_cversion);
                    }
                }
            }
            TxnBody::Delete { path, .. } => {
                w.ustring(path);
            }
            TxnBody::SetData {
                path,
                data,
                version,
            } => {
                w.ustring(path).buffer(data.as_deref()).i32(*version);
            }
            TxnBody::SetAcl { path, acl, version } => {
                w.ustring(path);
                acl.encode(w);
                w.i32(*version);
            }
            TxnBody::Check { path, version } => {
                w.ustring(path).i32(*version);
            }
            TxnBody::Error { err } => {
                w.i32(*err);
            }
            TxnBody::Multi(subs) => {
                w.i32(subs.len() as i32);
                for s in subs {
                    let mut inner = Writer::new();
                    s.encode_record(session_id, &mut inner);
                    w.i32(s.op()).bytes(&inner.buf);
                }
            }
        }
    }

    fn decode_record(kind: i32, session_id: SessionId, r: &mut Reader<'_>) -> DecodeResult<Self> {
        let data = |r: &mut Reader<'_>| -> DecodeResult<Option<Bytes>> {
            Ok(r.buffer()?.map(Bytes::from))
        };
        Ok(match kind {
            op::CREATE_SESSION => TxnBody::CreateSession {
                timeout_ms: r.i32()?,
            },
            op::CLOSE_SESSION => TxnBody::CloseSession {
                ephemerals: if r.is_empty() {
                    vec![]
                } else {
                    r.vec_ustring()?
                },
            },
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                let path = r.ustring()?;
                let d = data(r)?;
                let acl = Vec::<Acl>::decode(r)?;
                let (ephemeral_owner, parent_cversion) = match kind {
                    op::CREATE_CONTAINER => (CONTAINER_EPHEMERAL_OWNER, r.i32()?),
                    op::CREATE_TTL => {
                        let pcv = r.i32()?;
                        (ttl_ephemeral_owner(r.i64()?), pcv)
                    }
                    _ => {
                        let eph = r.bool()?;
                        (if eph { session_id } else { 0 }, r.i32()?)
                    }
                };
                TxnBody::Create(CreateTxn {
                    op: kind,
                    path,
                    data: d,
                    acl,
                    ephemeral_owner,
                    parent_cversion,
                })
            }
            op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete {
                op: kind,
                path: r.ustring()?,
            },
            op::SET_DATA => TxnBody::SetData {
                path: r.ustring()?,
                data: data(r)?,
                version: r.i32()?,
            },
            op::SET_ACL => TxnBody::SetAcl {
                path: r.ustring()?,
                acl: Vec::<Acl>::decode(r)?,
                version: r.i32()?,
            },
            op::CHECK => TxnBody::Check {
                path: r.ustring()?,
                version: r.i32()?,
            },
            op::ERROR => TxnBody::Error { err: r.i32()? },
            op::MULTI => {
                let n = r.vec_len(8)?.unwrap_or(0);
                let mut subs = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = r.i32()?;
                    // Sessions and multis are never inside a multi; a nested multi would also
                    // let a crafted record recurse as deep as its bytes allow.
                    if matches!(t, op::MULTI | op::CREATE_SESSION | op::CLOSE_SESSION) {
                        return Err(DecodeError::Invalid(format!("txn type {t} inside a multi")));
                    }
                    let b = r.buffer_slice()?.unwrap_or_default();
                    subs.push(TxnBody::decode_record(t, session_id, &mut Reader::new(b))?);
                }
                TxnBody::Multi(subs)
            }
            other => return Err(DecodeError::Invalid(format!("txn type {other}"))),
        })
    }
}

impl Txn {
    pub fn zxid(&self) -> Zxid {
        self.header.zxid
    }

    /// `TxnHeader{clientId, cxid, zxid, time, type}` followed by the type's record.
    pub fn encode(&self, w: &mut Writer) {
        w.i64(self.header.session_id)
            .i32(self.header.cxid)
            .i64(self.header.zxid)
            .i64(self.header.time)
            .i32(self.body.op());
        self.body.encode_record(self.header.session_id, w);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        self.encode(&mut w);
        w.into_inner()
    }

    pub fn decode(b: &[u8]) -> DecodeResult<Txn> {
        let r = &mut Reader::new(b);
        let header = TxnHeader {
            session_id: r.i64()?,
            cxid: r.i32()?,
            zxid: r.i64()?,
            time: r.i64()?,
        };
        let kind = r.i32()?;
        let body = TxnBody::decode_record(kind, header.session_id, r)?;
        Ok(Txn { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::Id;

    fn round_trip(body: TxnBody) {
        let t = Txn {
            header: TxnHeader {
                session_id: 0x1234,
                cxid: 7,
                zxid: 0x1_0000_0002,
                time: 1_700_000_000_000,
            },
            body,
        };
        assert_eq!(Txn::decode(&t.to_bytes()).unwrap(), t);
    }

    #[test]
    fn every_body_round_trips() {
        let acl = vec![Acl {
            perms: 31,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }];
        let create = |op, owner| {
            TxnBody::Create(CreateTxn {
                op,
                path: "/a".into(),
                data: Some(Bytes::from_static(b"x")),
                acl: acl.clone(),
                ephemeral_owner: owner,
                parent_cversion: 3,
            })
        };
        round_trip(TxnBody::CreateSession { timeout_ms: 4000 });
        round_trip(TxnBody::CloseSession {
            ephemerals: vec!["/e".into()],
        });
        round_trip(create(op::CREATE, 0));
        round_trip(create(op::CREATE2, 0x1234));
        round_trip(create(op::CREATE_CONTAINER, CONTAINER_EPHEMERAL_OWNER));
        round_trip(create(op::CREATE_TTL, ttl_ephemeral_owner(5000)));
        round_trip(TxnBody::Delete {
            op: op::DELETE,
            path: "/a".into(),
        });
        round_trip(TxnBody::SetData {
            path: "/a".into(),
            data: None,
            version: 2,
        });
        round_trip(TxnBody::SetAcl {
            path: "/a".into(),
            acl: acl.clone(),
            version: 1,
        });
        round_trip(TxnBody::Error { err: -101 });
        round_trip(TxnBody::Multi(vec![
            create(op::CREATE, 0),
            TxnBody::Check {
                path: "/a".into(),
                version: 1,
            },
            TxnBody::Error { err: 0 },
        ]));
    }

    /// Found by the `log` fuzz target: a multi holding a multi (or a session txn) decoded,
    /// nesting as deep as the record's bytes allowed (a stack overflow), and apply met
    /// sub-txns it has no meaning for.
    #[test]
    fn multi_refuses_nested_multis_and_session_txns() {
        for inner in [
            TxnBody::Multi(vec![]),
            TxnBody::CreateSession { timeout_ms: 1 },
            TxnBody::CloseSession { ephemerals: vec![] },
        ] {
            let t = Txn {
                header: TxnHeader::default(),
                body: TxnBody::Multi(vec![inner.clone()]),
            };
            assert!(Txn::decode(&t.to_bytes()).is_err(), "{inner:?}");
        }
        // Nested multis built inside out as bytes: refused at the second level, whatever
        // the depth.
        let mut body = 0i32.to_be_bytes().to_vec();
        for _ in 0..1000 {
            let mut w = Writer::new();
            w.i32(1).i32(op::MULTI).bytes(&body);
            body = w.into_inner();
        }
        let mut w = Writer::new();
        w.i64(1).i32(1).i64(1).i64(1).i32(op::MULTI).raw(&body);
        assert!(Txn::decode(&w.into_inner()).is_err());
    }

    #[test]
    fn owner_markers() {
        assert!(is_container(CONTAINER_EPHEMERAL_OWNER));
        assert_eq!(ttl_of(ttl_ephemeral_owner(MAX_TTL_MS)), Some(MAX_TTL_MS));
        assert!(is_ephemeral(0x1234));
        assert!(!is_ephemeral(0) && !is_ephemeral(ttl_ephemeral_owner(1)));
    }
}

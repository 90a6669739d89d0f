//! multi (14) and multiRead (22) bodies (spec 4.3): encoding ops and strictly decoding
//! results against the ops that were sent.

use super::error::{ClientError, Result};
use super::types::{Op, OpResult, ReadOp, ReadResult};
use crate::proto::codec::{Decode, Encode, Reader, Writer};
use crate::proto::opcode as op;
use crate::proto::records::*;
use crate::proto::ErrorCode;

fn header(w: &mut Writer, kind: i32) {
    MultiHeader {
        op: kind,
        done: false,
        err: -1,
    }
    .encode(w);
}

fn terminator(w: &mut Writer) {
    MultiHeader {
        op: -1,
        done: true,
        err: -1,
    }
    .encode(w);
}

/// The opcode a multi sub-op travels as.
pub fn op_code(o: &Op) -> i32 {
    match o {
        Op::Create { .. } => op::CREATE,
        Op::Create2 { .. } => op::CREATE2,
        Op::CreateTtl { .. } => op::CREATE_TTL,
        Op::Delete { .. } => op::DELETE,
        Op::SetData { .. } => op::SET_DATA,
        Op::Check { .. } => op::CHECK,
    }
}

/// The result type a successful sub-op must come back as.
fn expected_result_type(o: &Op) -> i32 {
    match o {
        Op::Create { .. } => op::CREATE,
        Op::Create2 { .. } | Op::CreateTtl { .. } => op::CREATE2,
        Op::Delete { .. } => op::DELETE,
        Op::SetData { .. } => op::SET_DATA,
        Op::Check { .. } => op::CHECK,
    }
}

pub fn encode_multi(ops: &[Op]) -> Vec<u8> {
    let mut w = Writer::new();
    for o in ops {
        header(&mut w, op_code(o));
        match o {
            Op::Create {
                path,
                data,
                acl,
                mode,
            }
            | Op::Create2 {
                path,
                data,
                acl,
                mode,
            } => CreateRequest {
                path: path.clone(),
                data: Some(data.clone()),
                acl: acl.clone(),
                flags: mode.flags(),
            }
            .encode(&mut w),
            Op::CreateTtl {
                path,
                data,
                acl,
                mode,
                ttl,
            } => CreateTtlRequest {
                path: path.clone(),
                data: Some(data.clone()),
                acl: acl.clone(),
                flags: mode.flags(),
                ttl: *ttl,
            }
            .encode(&mut w),
            Op::Delete { path, version } => DeleteRequest {
                path: path.clone(),
                version: *version,
            }
            .encode(&mut w),
            Op::SetData {
                path,
                data,
                version,
            } => SetDataRequest {
                path: path.clone(),
                data: Some(data.clone()),
                version: *version,
            }
            .encode(&mut w),
            Op::Check { path, version } => CheckVersionRequest {
                path: path.clone(),
                version: *version,
            }
            .encode(&mut w),
        }
    }
    terminator(&mut w);
    w.into_inner()
}

pub fn encode_multi_read(ops: &[ReadOp]) -> Vec<u8> {
    let mut w = Writer::new();
    for o in ops {
        match o {
            ReadOp::GetChildren(path) => {
                header(&mut w, op::GET_CHILDREN);
                GetChildrenRequest {
                    path: path.clone(),
                    watch: false,
                }
                .encode(&mut w);
            }
            ReadOp::GetData(path) => {
                header(&mut w, op::GET_DATA);
                GetDataRequest {
                    path: path.clone(),
                    watch: false,
                }
                .encode(&mut w);
            }
        }
    }
    terminator(&mut w);
    w.into_inner()
}

fn protocol<T>(msg: String) -> Result<T> {
    Err(ClientError::Protocol(msg))
}

/// Reads result headers until the terminator, handing each non-terminal entry to `entry`.
fn walk<T>(
    body: &[u8],
    expected: usize,
    mut entry: impl FnMut(usize, &MultiHeader, &mut Reader<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut r = Reader::new(body);
    let mut out = Vec::with_capacity(expected);
    loop {
        let h = MultiHeader::decode(&mut r)?;
        if h.done {
            if (h.op, h.err) != (-1, -1) {
                return protocol(format!("multi terminator is {h:?}"));
            }
            break;
        }
        if out.len() == expected {
            return protocol(format!("more than {expected} multi results"));
        }
        out.push(entry(out.len(), &h, &mut r)?);
    }
    if out.len() != expected {
        return protocol(format!("{} multi results for {expected} ops", out.len()));
    }
    if !r.is_empty() {
        return protocol(format!("{} bytes after multi terminator", r.remaining()));
    }
    Ok(out)
}

/// An ErrorResult entry: MultiHeader.err must equal the ErrorResponse code.
fn error_entry(h: &MultiHeader, r: &mut Reader<'_>) -> Result<ErrorCode> {
    let e = ErrorResponse::decode(r)?;
    if e.err != h.err {
        return protocol(format!(
            "multi error result: header err {} but body err {}",
            h.err, e.err
        ));
    }
    ErrorCode::from_code(e.err)
        .ok_or_else(|| ClientError::Protocol(format!("unknown multi error code {}", e.err)))
}

pub fn decode_multi(ops: &[Op], body: &[u8]) -> Result<Vec<OpResult>> {
    walk(body, ops.len(), |i, h, r| {
        if h.op == op::ERROR {
            return Ok(OpResult::Error(error_entry(h, r)?));
        }
        let want = expected_result_type(&ops[i]);
        // ZooKeeper 3.8.0 answers create2-style sub-ops with a plain CreateResult (type 1,
        // no Stat); later releases use 15. Accept both; callers that care match on the
        // variant.
        let legacy_create = want == op::CREATE2 && h.op == op::CREATE;
        if (h.op != want && !legacy_create) || h.err != 0 {
            return protocol(format!(
                "multi result {i}: header {h:?}, expected type {want} err 0"
            ));
        }
        Ok(match h.op {
            op::CREATE => OpResult::Create {
                path: CreateResponse::decode(r)?.path,
            },
            op::CREATE2 => {
                let c = Create2Response::decode(r)?;
                OpResult::Create2 {
                    path: c.path,
                    stat: c.stat,
                }
            }
            op::DELETE => OpResult::Delete,
            op::SET_DATA => OpResult::SetData {
                stat: SetDataResponse::decode(r)?.stat,
            },
            _ => OpResult::Check,
        })
    })
}

pub type ReadEntry = std::result::Result<ReadResult, ErrorCode>;

pub fn decode_multi_read(ops: &[ReadOp], body: &[u8]) -> Result<Vec<ReadEntry>> {
    walk(body, ops.len(), |i, h, r| {
        if h.op == op::ERROR {
            return Ok(Err(error_entry(h, r)?));
        }
        let want = match ops[i] {
            ReadOp::GetChildren(_) => op::GET_CHILDREN,
            ReadOp::GetData(_) => op::GET_DATA,
        };
        if h.op != want || h.err != 0 {
            return protocol(format!(
                "multiRead result {i}: header {h:?}, expected type {want} err 0"
            ));
        }
        Ok(Ok(if want == op::GET_CHILDREN {
            ReadResult::Children(GetChildrenResponse::decode(r)?.children)
        } else {
            let d = GetDataResponse::decode(r)?;
            ReadResult::Data(d.data, d.stat)
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::acl::open_unsafe;
    use crate::client::types::CreateMode;
    use crate::proto::request::{decode_request, MultiOp, Request};

    fn result(w: &mut Writer, kind: i32, err: i32) {
        MultiHeader {
            op: kind,
            done: false,
            err,
        }
        .encode(w);
    }

    #[test]
    fn encoded_multi_decodes_with_the_server_decoder() {
        let ops = vec![
            Op::create("/a", b"x", &open_unsafe(), CreateMode::Persistent),
            Op::create2("/b", b"", &open_unsafe(), CreateMode::Ephemeral),
            Op::set_data("/a", b"y", 0),
            Op::check("/a", 1),
            Op::delete("/a", -1),
        ];
        let body = encode_multi(&ops);
        match decode_request(op::MULTI, &body).unwrap() {
            Request::Multi(got) => {
                assert_eq!(got.len(), 5);
                assert!(
                    matches!(&got[1], MultiOp::Create(c) if c.op == op::CREATE2 && c.flags == 1)
                );
                assert!(matches!(&got[3], MultiOp::Check(c) if c.version == 1));
            }
            other => panic!("{other:?}"),
        }
        let rb = encode_multi_read(&[
            ReadOp::GetData("/a".into()),
            ReadOp::GetChildren("/".into()),
        ]);
        assert!(matches!(
            decode_request(op::MULTI_READ, &rb).unwrap(),
            Request::MultiRead(v) if v.len() == 2
        ));
    }

    #[test]
    fn results_decode_and_are_checked_against_ops() {
        let ops = vec![
            Op::create("/a", b"", &open_unsafe(), CreateMode::Persistent),
            Op::create2("/b", b"", &open_unsafe(), CreateMode::Persistent),
            Op::delete("/c", -1),
        ];
        let mut w = Writer::new();
        result(&mut w, 1, 0);
        CreateResponse { path: "/a".into() }.encode(&mut w);
        result(&mut w, 15, 0);
        Create2Response {
            path: "/b".into(),
            stat: Stat::default(),
        }
        .encode(&mut w);
        result(&mut w, -1, -101);
        ErrorResponse { err: -101 }.encode(&mut w);
        terminator(&mut w);
        let body = w.into_inner();
        let got = decode_multi(&ops, &body).unwrap();
        assert_eq!(got[0], OpResult::Create { path: "/a".into() });
        assert_eq!(got[2], OpResult::Error(ErrorCode::NoNode));
        // Wrong count, wrong type and mismatched error codes are all protocol errors.
        assert!(decode_multi(&ops[..2], &body).is_err());
        let swapped = [ops[1].clone(), ops[0].clone(), ops[2].clone()];
        assert!(decode_multi(&swapped, &body).is_err());
        let mut w = Writer::new();
        result(&mut w, -1, -2);
        ErrorResponse { err: 0 }.encode(&mut w);
        terminator(&mut w);
        assert!(decode_multi(&ops[..1], &w.into_inner()).is_err());
    }

    #[test]
    fn multi_read_mixes_results_and_errors() {
        let ops = vec![
            ReadOp::GetChildren("/".into()),
            ReadOp::GetData("/x".into()),
        ];
        let mut w = Writer::new();
        result(&mut w, 8, 0);
        GetChildrenResponse {
            children: vec!["a".into()],
        }
        .encode(&mut w);
        result(&mut w, -1, -101);
        ErrorResponse { err: -101 }.encode(&mut w);
        terminator(&mut w);
        let got = decode_multi_read(&ops, &w.into_inner()).unwrap();
        assert_eq!(got[0], Ok(ReadResult::Children(vec!["a".into()])));
        assert_eq!(got[1], Err(ErrorCode::NoNode));
        let mut w = Writer::new();
        terminator(&mut w);
        assert_eq!(decode_multi_read(&[], &w.into_inner()).unwrap(), vec![]);
    }
}

//! Response frames: ReplyHeader + the record for the request's opcode (only when err == 0).

use crate::consensus::msg::{Reply, ReplyBody};
use crate::proto::codec::{Encode, Writer};
use crate::proto::opcode as op;
use crate::proto::records::*;
use crate::proto::ErrorCode;
use crate::tree::TxnResult;

/// A frame with just a ReplyHeader.
pub fn header_only(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader {
        xid,
        zxid,
        err: err.code(),
    }
    .encode(&mut w);
    w.finish_frame()
}

/// A successful reply with a body.
pub fn ok_with<R: Encode>(xid: i32, zxid: i64, body: &R) -> Vec<u8> {
    let mut w = Writer::framed();
    ReplyHeader { xid, zxid, err: 0 }.encode(&mut w);
    body.encode(&mut w);
    w.finish_frame()
}

pub fn notification(zxid: i64, kind: i32, path: &str) -> Vec<u8> {
    ok_with(
        op::XID_NOTIFICATION,
        zxid,
        &WatcherEvent {
            kind,
            state: op::event::STATE_SYNC_CONNECTED,
            path: path.to_string(),
        },
    )
}

pub fn connect_response(resp: &ConnectResponse) -> Vec<u8> {
    let mut w = Writer::framed();
    resp.encode(&mut w);
    w.finish_frame()
}

fn encode_create(w: &mut Writer, opcode: i32, path: &str, stat: &Stat) -> i32 {
    if opcode == op::CREATE {
        CreateResponse {
            path: path.to_string(),
        }
        .encode(w);
        op::CREATE
    } else {
        Create2Response {
            path: path.to_string(),
            stat: stat.clone(),
        }
        .encode(w);
        op::CREATE2
    }
}

fn multi_body(w: &mut Writer, results: &[TxnResult], sub_ops: &[i32]) {
    for (i, r) in results.iter().enumerate() {
        let sub_op = sub_ops.get(i).copied().unwrap_or(op::CREATE2);
        let mut body = Writer::new();
        let (kind, err) = match r {
            TxnResult::Create { path, stat } => (encode_create(&mut body, sub_op, path, stat), 0),
            TxnResult::Delete => (op::DELETE, 0),
            TxnResult::SetData { stat } => {
                SetDataResponse { stat: stat.clone() }.encode(&mut body);
                (op::SET_DATA, 0)
            }
            TxnResult::Check => (op::CHECK, 0),
            TxnResult::Error(code) => {
                ErrorResponse { err: code.code() }.encode(&mut body);
                (op::ERROR, code.code())
            }
            other => {
                debug_assert!(false, "unexpected multi sub-result {other:?}");
                ErrorResponse {
                    err: ErrorCode::RuntimeInconsistency.code(),
                }
                .encode(&mut body);
                (op::ERROR, ErrorCode::RuntimeInconsistency.code())
            }
        };
        MultiHeader {
            op: kind,
            done: false,
            err,
        }
        .encode(w);
        w.raw(&body.buf);
    }
    MultiHeader {
        op: -1,
        done: true,
        err: -1,
    }
    .encode(w);
}

/// Encodes a reply computed by the consensus core. Handshake replies are handled by the
/// caller.
pub fn encode(r: &Reply) -> Vec<u8> {
    let (xid, zxid) = (r.xid, r.zxid);
    let result = match &r.body {
        ReplyBody::Sync(path) => return ok_with(xid, zxid, &PathRequest { path: path.clone() }),
        ReplyBody::Config { data, stat } => {
            let resp = GetDataResponse {
                data: Some(data.clone()),
                stat: stat.clone(),
            };
            return ok_with(xid, zxid, &resp);
        }
        ReplyBody::Result(res) => res,
        ReplyBody::Connected(_) | ReplyBody::Refused => {
            debug_assert!(false, "handshake replies are not encoded here");
            return header_only(xid, zxid, ErrorCode::MarshallingError);
        }
    };
    let mut w = Writer::framed();
    let err = match result {
        TxnResult::Error(code) => code.code(),
        _ => 0,
    };
    ReplyHeader { xid, zxid, err }.encode(&mut w);
    match result {
        TxnResult::Create { path, stat } => {
            encode_create(&mut w, r.op, path, stat);
        }
        TxnResult::SetData { stat } => SetDataResponse { stat: stat.clone() }.encode(&mut w),
        TxnResult::SetAcl { stat } => SetAclResponse { stat: stat.clone() }.encode(&mut w),
        TxnResult::Multi(results) => multi_body(&mut w, results, &r.sub_ops),
        TxnResult::Delete
        | TxnResult::Check
        | TxnResult::Error(_)
        | TxnResult::SessionCreated
        | TxnResult::SessionClosed => {}
    }
    w.finish_frame()
}

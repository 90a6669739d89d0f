//! One-line renderings of txns, nodes and ACLs, for humans and as JSON lines.

use base64::Engine;

use crate::proto::records::Acl;
use crate::txn::{Txn, TxnBody};

/// How much data a human-readable line shows.
const DATA_SHOWN_BYTES_MAX: usize = 128;

/// Printable ASCII as is, anything else as `\xNN`; long data is cut with `...`.
pub fn data_text(data: Option<&[u8]>) -> String {
    let Some(d) = data else {
        return "null".into();
    };
    let mut s = String::from("\"");
    for &b in d.iter().take(DATA_SHOWN_BYTES_MAX) {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    if d.len() > DATA_SHOWN_BYTES_MAX {
        s.push_str("...");
    }
    s
}

pub fn perms_text(perms: i32) -> String {
    let mut s = String::new();
    for (bit, c) in [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')] {
        if perms & bit != 0 {
            s.push(c);
        }
    }
    s
}

pub fn acl_text(acl: &[Acl]) -> String {
    let parts: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perms_text(a.perms)))
        .collect();
    format!("[{}]", parts.join(","))
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Data as a JSON value: null, or base64 (binary-safe).
pub fn json_data(data: Option<&[u8]>) -> String {
    data.map_or("null".into(), |d| {
        json_str(&base64::engine::general_purpose::STANDARD.encode(d))
    })
}

pub fn json_acl(acl: &[Acl]) -> String {
    let parts: Vec<String> = acl
        .iter()
        .map(|a| {
            format!(
                "{{\"perms\":{},\"scheme\":{},\"id\":{}}}",
                a.perms,
                json_str(&a.id.scheme),
                json_str(&a.id.id)
            )
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// ZooKeeper's name for a txn type (as LogFormatter prints it).
pub fn type_name(op: i32) -> &'static str {
    use crate::proto::opcode as o;
    match op {
        o::CREATE => "create",
        o::CREATE2 => "create2",
        o::CREATE_CONTAINER => "createContainer",
        o::CREATE_TTL => "createTTL",
        o::DELETE => "delete",
        o::DELETE_CONTAINER => "deleteContainer",
        o::SET_DATA => "setData",
        o::SET_ACL => "setACL",
        o::CHECK => "check",
        o::MULTI => "multi",
        o::CREATE_SESSION => "createSession",
        o::CLOSE_SESSION => "closeSession",
        o::ERROR => "error",
        _ => "unknown",
    }
}

fn body_text(b: &TxnBody) -> String {
    match b {
        TxnBody::CreateSession { timeout_ms } => format!("createSession timeout={timeout_ms}"),
        TxnBody::CloseSession { ephemerals } => format!("closeSession delete={ephemerals:?}"),
        TxnBody::Create(c) => format!(
            "{} path={:?} data={} acl={} owner={:#x} parentCVersion={}",
            type_name(c.op),
            c.path,
            data_text(c.data.as_deref()),
            acl_text(&c.acl),
            c.ephemeral_owner,
            c.parent_cversion
        ),
        TxnBody::Delete { op, path } => {
            format!("{} path={path:?}", type_name(*op))
        }
        TxnBody::SetData {
            path,
            data,
            version,
        } => format!(
            "setData path={path:?} data={} version={version}",
            data_text(data.as_deref())
        ),
        TxnBody::SetAcl { path, acl, version } => {
            format!(
                "setACL path={path:?} acl={} version={version}",
                acl_text(acl)
            )
        }
        TxnBody::Check { path, version } => format!("check path={path:?} version={version}"),
        TxnBody::Error { err } => format!("error err={err}"),
        TxnBody::Multi(subs) => {
            let parts: Vec<String> = subs.iter().map(body_text).collect();
            format!("multi [{}]", parts.join("; "))
        }
    }
}

/// LogFormatter-style: `time session cxid zxid type details`.
pub fn txn_line(t: &Txn) -> String {
    format!(
        "time={} session={:#x} cxid={:#x} zxid={:#x} {}",
        t.header.time,
        t.header.session_id,
        t.header.cxid,
        t.header.zxid,
        body_text(&t.body)
    )
}

pub fn txn_json(t: &Txn) -> String {
    format!(
        "{{\"zxid\":{},\"time\":{},\"session\":{},\"cxid\":{},\"type\":{},\"txn\":{}}}",
        t.header.zxid,
        t.header.time,
        t.header.session_id,
        t.header.cxid,
        json_str(type_name(t.body.op())),
        json_str(&body_text(&t.body))
    )
}

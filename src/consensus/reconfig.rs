//! Dynamic reconfiguration, as far as ringkeeper supports it: the membership text that
//! `/zookeeper/config` holds (`server.N=host:q:e:role[;client]` lines, then `version=<hex>`)
//! and ZooKeeper's incremental `reconfig` (joining / leaving lists) for observers.
//!
//! Changing the voting members needs the new quorum to take over at the reconfig's commit
//! (ZooKeeper's COMMITANDACTIVATE with acks from both the old and new quorums); that is not
//! built, so such a request, and a non-incremental one (`newMembers`), answer UNIMPLEMENTED.

use std::collections::BTreeMap;

use crate::proto::records::ReconfigRequest;
use crate::proto::ErrorCode;
use crate::txn::Zxid;

/// The members (id → `host:q:e:role[;client]`) and version of a config text.
pub fn parse(text: &str) -> (BTreeMap<i64, String>, Zxid) {
    let mut members = BTreeMap::new();
    let mut version = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key == "version" {
            version = i64::from_str_radix(value.trim(), 16).unwrap_or(0);
        } else if let Some(id) = key.strip_prefix("server.") {
            if let Ok(id) = id.parse() {
                members.insert(id, value.to_string());
            }
        }
    }
    (members, version)
}

pub fn text(members: &BTreeMap<i64, String>, version: Zxid) -> String {
    let mut s = String::new();
    for (id, spec) in members {
        s.push_str(&format!("server.{id}={spec}\n"));
    }
    s.push_str(&format!("version={version:x}"));
    s
}

pub fn is_observer(spec: &str) -> bool {
    spec.split(';')
        .next()
        .is_some_and(|a| a.ends_with(":observer"))
}

/// The voters of a member list.
pub fn voters(members: &BTreeMap<i64, String>) -> Vec<i64> {
    members
        .iter()
        .filter(|(_, s)| !is_observer(s))
        .map(|(&id, _)| id)
        .collect()
}

/// `host:q:e[:role];[chost:]cport` → the normalised spec, or why not. Three ports are
/// required, as ZooKeeper requires them of a joining server.
fn normalise(spec: &str) -> Result<String, String> {
    let (addr, client) = spec
        .split_once(';')
        .ok_or("each server needs a client address (;[host:]port)")?;
    let parts: Vec<&str> = addr.split(':').collect();
    let (host, q, e, role) = match parts.as_slice() {
        [h, q, e] => (*h, *q, *e, "participant"),
        [h, q, e, r @ ("participant" | "observer")] => (*h, *q, *e, *r),
        _ => return Err(format!("cannot read {addr:?} as host:port:port[:role]")),
    };
    let port = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p:?}"));
    let (q, e) = (port(q)?, port(e)?);
    let (chost, cport) = match client.rsplit_once(':') {
        Some((h, p)) => (h, port(p)?),
        None => ("0.0.0.0", port(client)?),
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    Ok(format!("{host}:{q}:{e}:{role};{chost}:{cport}"))
}

/// The config text after `req`, version `next`, checked as ZooKeeper checks an incremental
/// reconfig (before the ACL check, which the caller makes).
pub fn plan(current: &str, req: &ReconfigRequest, next: Zxid) -> Result<String, ErrorCode> {
    let (mut members, version) = parse(current);
    if req.cur_config_id != -1 && req.cur_config_id != version {
        return Err(ErrorCode::BadVersion);
    }
    if !req.new_members.is_empty() {
        return Err(ErrorCode::Unimplemented);
    }
    let before = voters(&members);
    for leaving in req.leaving_servers.split(',').filter(|s| !s.is_empty()) {
        let id: i64 = leaving
            .trim()
            .parse()
            .map_err(|_| ErrorCode::BadArguments)?;
        members.remove(&id);
    }
    for joining in req.joining_servers.split(',').filter(|s| !s.is_empty()) {
        let (key, spec) = joining
            .trim()
            .split_once('=')
            .ok_or(ErrorCode::BadArguments)?;
        let id: i64 = key
            .rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or(ErrorCode::BadArguments)?;
        let spec = normalise(spec).map_err(|_| ErrorCode::BadArguments)?;
        members.insert(id, spec);
    }
    let after = voters(&members);
    if after.len() < 2 {
        return Err(ErrorCode::BadArguments);
    }
    if after != before {
        // Changing who votes is not supported (module docs).
        return Err(ErrorCode::Unimplemented);
    }
    Ok(text(&members, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(joining: &str, leaving: &str, from: i64) -> ReconfigRequest {
        ReconfigRequest {
            joining_servers: joining.into(),
            leaving_servers: leaving.into(),
            new_members: String::new(),
            cur_config_id: from,
        }
    }

    const BASE: &str = "server.1=127.0.0.1:2888:3888:participant\n\
                        server.2=127.0.0.1:2889:3889:participant\n\
                        server.3=127.0.0.1:2890:3890:participant\nversion=0";

    #[test]
    fn observers_join_and_leave() {
        let j = "server.100=0.0.0.0:1234:2345:observer;0.0.0.0:3456";
        let t = plan(BASE, &req(j, "", -1), 0x1_0000_0005).unwrap();
        assert!(t.contains(j), "{t}");
        assert!(t.ends_with("version=100000005"), "{t}");
        let t2 = plan(&t, &req("", "100", 0x1_0000_0005), 0x1_0000_0009).unwrap();
        assert!(!t2.contains("server.100"), "{t2}");
        assert_eq!(parse(&t2).1, 0x1_0000_0009);
    }

    #[test]
    fn what_zookeeper_refuses_is_refused() {
        let j = "server.100=0.0.0.0:1234:2345:observer;3456";
        assert_eq!(
            plan(BASE, &req("some thing", "", -1), 1),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(plan(BASE, &req(j, "", 7), 1), Err(ErrorCode::BadVersion));
        assert_eq!(
            plan(BASE, &req("server.9=h:1:2", "", -1), 1),
            Err(ErrorCode::BadArguments),
            "a joining server needs a client port"
        );
        assert_eq!(
            plan(BASE, &req("", "x", -1), 1),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(
            plan(BASE, &req("", "3", -1), 1),
            Err(ErrorCode::Unimplemented),
            "voter changes are not supported"
        );
    }
}

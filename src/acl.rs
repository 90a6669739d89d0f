//! Identities and ACL checks, matching ZooKeeper's built-in auth providers (spec §8).
//!
//! Only the providers a stock standalone server registers exist here: `ip` and `digest`.
//! `world:anyone` and `auth` are handled specially, as Java does; `super` is an identity
//! without a provider. Everything is pure so the net cores and prep can share it.

use std::net::IpAddr;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::proto::records::{Acl, ClientInfo, Id};
use crate::proto::ErrorCode;

pub const READ: i32 = 1;
pub const WRITE: i32 = 2;
pub const CREATE: i32 = 4;
pub const DELETE: i32 = 8;
pub const ADMIN: i32 = 16;
pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;

pub fn id(scheme: &str, id: &str) -> Id {
    Id {
        scheme: scheme.into(),
        id: id.into(),
    }
}

pub fn acl(perms: i32, scheme: &str, ident: &str) -> Acl {
    Acl {
        perms,
        id: id(scheme, ident),
    }
}

/// `[31, world:anyone]`
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![acl(ALL, "world", "anyone")]
}

/// `[1, world:anyone]`
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![acl(READ, "world", "anyone")]
}

/// `[31, auth:]`: expanded by `fixup_acl` to the caller's authenticated identities.
pub fn creator_all_acl() -> Vec<Acl> {
    vec![acl(ALL, "auth", "")]
}

/// `user:BASE64(SHA1("user:password"))`; the user is everything before the first ':'.
pub fn digest(user_password: &str) -> String {
    let hash = Sha1::digest(user_password.as_bytes());
    let user = user_password.split(':').next().unwrap_or("");
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The identities an auth packet adds to a connection. `remote_ip` must already be in
/// Java's `getHostAddress()` form (see [`java_host_address`]).
pub fn authenticate(
    scheme: &str,
    auth: &[u8],
    remote_ip: &str,
    super_digest: Option<&str>,
) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" => {
            // Java decodes with `new String(bytes)`: malformed UTF-8 becomes U+FFFD.
            let d = digest(&String::from_utf8_lossy(auth));
            let mut ids = Vec::with_capacity(2);
            // Java adds `super` before the digest id; whoAmI shows that order.
            if super_digest == Some(d.as_str()) {
                ids.push(id("super", ""));
            }
            ids.push(id("digest", &d));
            Ok(ids)
        }
        "ip" => Ok(vec![id("ip", remote_ip)]),
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// The providers a stock server registers (ProviderRegistry: ip + digest).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Provider {
    Ip,
    Digest,
}

fn provider(scheme: &str) -> Option<Provider> {
    match scheme {
        "ip" => Some(Provider::Ip),
        "digest" => Some(Provider::Digest),
        _ => None,
    }
}

impl Provider {
    fn is_authenticated(self) -> bool {
        self == Provider::Digest
    }

    fn is_valid(self, ident: &str) -> bool {
        match self {
            Provider::Digest => java_split_len(ident, ':') == 2,
            Provider::Ip => parse_ip_expr(ident).is_some(),
        }
    }

    fn matches(self, ident: &str, acl_expr: &str) -> bool {
        match self {
            Provider::Digest => ident == acl_expr,
            Provider::Ip => ip_matches(ident, acl_expr),
        }
    }

    fn user_name(self, ident: &str) -> &str {
        match self {
            Provider::Digest => ident.split(':').next().unwrap_or(""),
            Provider::Ip => ident,
        }
    }
}

/// Number of parts Java's `s.split(sep)` returns: trailing empty strings are dropped,
/// which is why `user:` is not a valid digest id but `:hash` is.
fn java_split_len(s: &str, sep: char) -> usize {
    let parts: Vec<&str> = s.split(sep).collect();
    parts
        .iter()
        .rposition(|p| !p.is_empty())
        .map_or(0, |i| i + 1)
}

/// Validates and expands an ACL list for create / setACL (PrepRequestProcessor.fixupACL).
pub fn fixup_acl(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut uniq: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !uniq.contains(&a) {
            uniq.push(a);
        }
    }
    if uniq.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(uniq.len());
    for a in uniq {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            out.push(a.clone());
        } else if a.id.scheme == "auth" {
            let before = out.len();
            for cid in ids {
                if provider(&cid.scheme).is_some_and(Provider::is_authenticated) {
                    out.push(Acl {
                        perms: a.perms,
                        id: cid.clone(),
                    });
                }
            }
            if out.len() == before {
                return Err(ErrorCode::InvalidAcl);
            }
        } else {
            match provider(&a.id.scheme) {
                Some(p) if p.is_valid(&a.id.id) => out.push(a.clone()),
                _ => return Err(ErrorCode::InvalidAcl),
            }
        }
    }
    Ok(out)
}

/// ZooKeeperServer.checkACL: true if any identity grants any bit of `perm`.
pub fn check_acl(node_acl: &[Acl], perm: i32, ids: &[Id], skip_acl: bool) -> bool {
    if skip_acl || node_acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    node_acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        provider(&a.id.scheme).is_some_and(|p| {
            ids.iter()
                .any(|i| i.scheme == a.id.scheme && p.matches(&i.id, &a.id.id))
        })
    })
}

/// getACL for a caller without ADMIN: every digest id `user:hash` becomes `user:x`.
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme != "digest" {
                return a.clone();
            }
            Acl {
                perms: a.perms,
                id: id("digest", &mask_after_colons(&a.id.id)),
            }
        })
        .collect()
}

/// Java's `replaceAll(":.*", ":x")`: `.` stops at line terminators, so each line's tail
/// from its first ':' is replaced.
fn mask_after_colons(s: &str) -> String {
    let is_eol = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(colon) = rest.find(':') {
        out.push_str(&rest[..colon]);
        out.push_str(":x");
        let tail = &rest[colon + 1..];
        let end = tail.find(is_eol).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// whoAmI: one entry per identity; `user` is the provider's user name, "" without one.
pub fn who_am_i(ids: &[Id]) -> Vec<ClientInfo> {
    ids.iter()
        .map(|i| ClientInfo {
            auth_scheme: i.scheme.clone(),
            user: provider(&i.scheme)
                .map(|p| p.user_name(&i.id).to_string())
                .unwrap_or_default(),
        })
        .collect()
}

/// The textual address Java's `InetAddress.getHostAddress()` gives: IPv4 dotted quad
/// (also for IPv4-mapped IPv6), IPv6 as eight uncompressed lower-case hex groups.
pub fn java_host_address(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

/// `addr[/bits]` as (address bytes, prefix bits), or None when Java would reject it.
fn parse_ip_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let bytes = addr_to_bytes(addr)?;
    let max = bytes.len() * 8;
    let bits = match bits {
        None => max,
        Some(b) => {
            let b: i32 = b.parse().ok()?;
            usize::try_from(b).ok().filter(|&b| b <= max)?
        }
    };
    Some((bytes, bits))
}

fn addr_to_bytes(addr: &str) -> Option<Vec<u8>> {
    if addr.contains(':') {
        v6_to_bytes(addr)
    } else if addr.contains('.') {
        v4_to_bytes(addr)
    } else {
        None
    }
}

fn v4_to_bytes(addr: &str) -> Option<Vec<u8>> {
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    parts
        .iter()
        .map(|p| p.parse::<i32>().ok().and_then(|v| u8::try_from(v).ok()))
        .collect()
}

/// Java's hand-written parser: plain hex groups with at most one "::" that must stand for
/// at least one group; no embedded IPv4 and no zone id.
fn v6_to_bytes(addr: &str) -> Option<Vec<u8>> {
    let groups = |s: &str| -> Vec<String> {
        if s.is_empty() {
            vec![]
        } else {
            s.split(':').map(str::to_string).collect()
        }
    };
    let halves: Vec<&str> = addr.split("::").collect();
    let (front, back) = match halves.as_slice() {
        [whole] => {
            let g: Vec<String> = whole.split(':').map(str::to_string).collect();
            if g.len() != 8 {
                return None;
            }
            (g, vec![])
        }
        [a, b] => {
            let (f, k) = (groups(a), groups(b));
            if f.len() + k.len() >= 8 {
                return None;
            }
            (f, k)
        }
        _ => return None,
    };
    let mut out = vec![0u8; 16];
    let mut put = |start: usize, gs: &[String]| -> Option<()> {
        for (i, g) in gs.iter().enumerate() {
            if g.is_empty() || g.chars().count() > 4 {
                return None;
            }
            let v = i32::from_str_radix(g, 16).ok()?;
            out[start + 2 * i] = (v >> 8) as u8;
            out[start + 2 * i + 1] = v as u8;
        }
        Some(())
    };
    put(0, &front)?;
    put(16 - 2 * back.len(), &back)?;
    Some(out)
}

fn mask(bytes: &mut [u8], bits: usize) {
    for (i, b) in bytes.iter_mut().enumerate() {
        let keep = bits.saturating_sub(i * 8).min(8);
        *b &= if keep == 0 { 0 } else { 0xFFu8 << (8 - keep) };
    }
}

fn ip_matches(ident: &str, acl_expr: &str) -> bool {
    let Some((mut want, bits)) = parse_ip_expr(acl_expr) else {
        return false;
    };
    let Some(mut have) = addr_to_bytes(ident) else {
        return false;
    };
    if have.len() != want.len() {
        return false;
    }
    mask(&mut want, bits);
    mask(&mut have, bits);
    want == have
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_known_values() {
        // The value zkCli users see for super:test (widely published).
        assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(digest("bob:secret").len(), "bob:".len() + 28);
        // No ':' at all: the whole string is the user.
        assert!(digest("nocolon").starts_with("nocolon:"));
    }

    #[test]
    fn authenticate_digest_ip_and_failures() {
        let ids = authenticate("digest", b"bob:pw", "10.0.0.1", None).unwrap();
        assert_eq!(ids, vec![id("digest", &digest("bob:pw"))]);
        let sd = digest("super:test");
        let ids = authenticate("digest", b"super:test", "1.2.3.4", Some(&sd)).unwrap();
        assert_eq!(ids, vec![id("super", ""), id("digest", &sd)]);
        assert_eq!(
            authenticate("ip", b"whatever", "10.0.0.1", None).unwrap(),
            vec![id("ip", "10.0.0.1")]
        );
        for s in ["sasl", "world", "foo", ""] {
            assert_eq!(
                authenticate(s, b"x", "1.1.1.1", None),
                Err(ErrorCode::AuthFailed)
            );
        }
    }

    #[test]
    fn fixup_validates_and_expands() {
        let d = id("digest", &digest("u:p"));
        let ids = vec![id("ip", "1.2.3.4"), id("super", ""), d.clone()];
        // Duplicates are dropped before anything else.
        let two = vec![acl(ALL, "world", "anyone"), acl(ALL, "world", "anyone")];
        assert_eq!(fixup_acl(&two, &[]).unwrap(), open_acl_unsafe());
        assert_eq!(fixup_acl(&[], &ids), Err(ErrorCode::InvalidAcl));
        // auth expands to authenticated identities only (not ip, not super).
        assert_eq!(
            fixup_acl(&creator_all_acl(), &ids).unwrap(),
            vec![Acl { perms: ALL, id: d }]
        );
        assert_eq!(
            fixup_acl(&creator_all_acl(), &ids[..2]),
            Err(ErrorCode::InvalidAcl)
        );
        let bad = |s: &str, i: &str| fixup_acl(&[acl(READ, s, i)], &ids);
        assert_eq!(bad("world", "someone"), Err(ErrorCode::InvalidAcl));
        assert_eq!(bad("super", ""), Err(ErrorCode::InvalidAcl));
        assert_eq!(bad("sasl", "bob"), Err(ErrorCode::InvalidAcl));
        for ok in ["user:hash", ":hash"] {
            assert!(bad("digest", ok).is_ok(), "{ok}");
        }
        for no in ["user:", "a:b:c", "nocolon", "", ":", "a::b"] {
            assert_eq!(bad("digest", no), Err(ErrorCode::InvalidAcl), "{no}");
        }
        for ok in [
            "10.0.0.1",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "::1",
            "fe80::/10",
            "1:2:3:4:5:6:7:8/128",
        ] {
            assert!(bad("ip", ok).is_ok(), "{ok}");
        }
        for no in [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.1/33",
            "10.0.0.1/x",
            "host",
            "1::2::3",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4::5:6:7:8",
        ] {
            assert_eq!(bad("ip", no), Err(ErrorCode::InvalidAcl), "{no}");
        }
    }

    #[test]
    fn check_acl_rules() {
        let d = digest("u:p");
        let node = vec![
            acl(READ | WRITE, "digest", &d),
            acl(CREATE, "ip", "10.1.0.0/16"),
        ];
        let me = vec![id("digest", &d)];
        assert!(check_acl(&node, READ, &me, false));
        assert!(check_acl(&node, WRITE, &me, false));
        assert!(!check_acl(&node, ADMIN, &me, false));
        // "any bit" semantics: READ|ADMIN passes with READ alone.
        assert!(check_acl(&node, READ | ADMIN, &me, false));
        assert!(!check_acl(&node, READ, &[id("digest", "u:other")], false));
        assert!(check_acl(&node, CREATE, &[id("ip", "10.1.200.3")], false));
        assert!(!check_acl(&node, CREATE, &[id("ip", "10.2.0.1")], false));
        assert!(!check_acl(&node, READ, &[id("ip", "10.1.0.1")], false));
        assert!(check_acl(&node, ADMIN, &[id("super", "")], false));
        assert!(check_acl(&node, ADMIN, &[], true));
        assert!(check_acl(&[], ADMIN, &[], false));
        assert!(check_acl(&open_acl_unsafe(), DELETE, &[], false));
        assert!(!check_acl(&read_acl_unsafe(), WRITE, &[], false));
    }

    #[test]
    fn ip_cidr_v4_and_v6() {
        assert!(ip_matches("192.168.1.77", "192.168.1.0/24"));
        assert!(!ip_matches("192.168.2.77", "192.168.1.0/24"));
        assert!(ip_matches("192.168.1.77", "192.168.1.64/26"));
        assert!(!ip_matches("192.168.1.10", "192.168.1.64/26"));
        assert!(ip_matches("8.8.8.8", "0.0.0.0/0"));
        assert!(ip_matches("1.2.3.4", "1.2.3.4"));
        assert!(!ip_matches("1.2.3.5", "1.2.3.4"));
        assert!(ip_matches("0:0:0:0:0:0:0:1", "::1"));
        assert!(ip_matches("2001:db8:0:0:0:0:0:5", "2001:db8::/32"));
        assert!(!ip_matches("2001:db9:0:0:0:0:0:5", "2001:db8::/32"));
        assert!(ip_matches("fe80:0:0:0:0:0:0:1", "fe80::/10"));
        assert!(ip_matches("febf:0:0:0:0:0:0:1", "fe80::/10"));
        assert!(!ip_matches("fec0:0:0:0:0:0:0:1", "fe80::/10"));
        // IPv4 and IPv6 never match each other, even with /0.
        assert!(!ip_matches("1.2.3.4", "::/0"));
        assert!(!ip_matches("::1", "0.0.0.0/0"));
    }

    #[test]
    fn masks_digest_hashes_only() {
        let input = vec![
            acl(READ, "digest", "bob:abc=="),
            acl(ALL, "world", "anyone"),
            acl(READ, "digest", "a:b\nc:d"),
        ];
        let out = mask_digests(&input);
        assert_eq!(out[0], acl(READ, "digest", "bob:x"));
        assert_eq!(out[1], input[1]);
        assert_eq!(out[2], acl(READ, "digest", "a:x\nc:x"));
    }

    #[test]
    fn who_am_i_user_names() {
        let ids = vec![
            id("ip", "127.0.0.1"),
            id("super", ""),
            id("digest", "bob:hash"),
            id("x509", "CN=me"),
        ];
        let got: Vec<(String, String)> = who_am_i(&ids)
            .into_iter()
            .map(|c| (c.auth_scheme, c.user))
            .collect();
        let want = [
            ("ip", "127.0.0.1"),
            ("super", ""),
            ("digest", "bob"),
            ("x509", ""),
        ];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
    }

    #[test]
    fn host_address_matches_java() {
        assert_eq!(java_host_address("127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(java_host_address("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
        assert_eq!(
            java_host_address("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1"
        );
        assert_eq!(
            java_host_address("2001:db8::ff00:42:8329".parse().unwrap()),
            "2001:db8:0:0:0:ff00:42:8329"
        );
    }
}

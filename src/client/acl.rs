//! Well-known ACL lists and permission bits (spec 8.1), plus the digest id helper.

use crate::proto::records::{Acl, Id};
use base64::Engine;
use sha1::{Digest, Sha1};

pub const READ: i32 = 1;
pub const WRITE: i32 = 2;
pub const CREATE: i32 = 4;
pub const DELETE: i32 = 8;
pub const ADMIN: i32 = 16;
pub const ALL: i32 = 31;

/// One ACL entry.
pub fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: scheme.into(),
            id: id.into(),
        },
    }
}

/// OPEN_ACL_UNSAFE: everything for world:anyone.
pub fn open_unsafe() -> Vec<Acl> {
    vec![acl(ALL, "world", "anyone")]
}

/// CREATOR_ALL_ACL: everything for the creator's authenticated ids.
pub fn creator_all() -> Vec<Acl> {
    vec![acl(ALL, "auth", "")]
}

/// READ_ACL_UNSAFE: read-only for world:anyone.
pub fn read_unsafe() -> Vec<Acl> {
    vec![acl(READ, "world", "anyone")]
}

/// The stored id for digest auth: `user:base64(sha1("user:password"))`.
pub fn digest_id(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_well_known_super_digest() {
        // The harness configures super:D/InIHSb7yEEbrWz8b9l71RjZJU= for "super:test".
        assert_eq!(
            digest_id("super", "test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }
}

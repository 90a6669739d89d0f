//! kazoo's node naming and ordering rule for lock-like recipes, so that our locks, read/write
//! locks and elections exclude kazoo's on the same path (kazoo 2.11 `recipe/lock.py`).
//!
//! A contender creates the ephemeral sequential node `<path>/<uuid4 hex><name>` where name
//! is `__lock__` (exclusive lock, write lock, election) or `__rlock__` (read lock); the server
//! appends a 10-digit sequence. A contender's predecessor is the child, among those whose
//! name ends in one of the names it is blocked by followed by the sequence, with the largest
//! sequence below its own, comparing sequences as strings (as kazoo does).

/// Node name marker of exclusive locks, write locks and election contenders.
pub const LOCK_NAME: &str = "__lock__";
/// Node name marker of read locks.
pub const READ_LOCK_NAME: &str = "__rlock__";

/// Which kazoo lock class a contender plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// kazoo `Lock` / `Election`: `__lock__`, blocked only by `__lock__` nodes.
    Exclusive,
    /// kazoo `ReadLock`: `__rlock__`, blocked by `__lock__` nodes.
    Read,
    /// kazoo `WriteLock`: `__lock__`, blocked by `__lock__` and `__rlock__` nodes.
    Write,
}

impl LockKind {
    pub fn node_name(self) -> &'static str {
        match self {
            LockKind::Read => READ_LOCK_NAME,
            LockKind::Exclusive | LockKind::Write => LOCK_NAME,
        }
    }

    pub fn blocked_by(self) -> &'static [&'static str] {
        match self {
            LockKind::Exclusive | LockKind::Read => &[LOCK_NAME],
            LockKind::Write => &[LOCK_NAME, READ_LOCK_NAME],
        }
    }
}

/// The 10-digit (optionally negative, after counter overflow) sequence at the end of
/// `child` if it follows one of `names`: kazoo's `(?:names)(-?\d{10})$`.
pub fn sequence_after<'a>(child: &'a str, names: &[&str]) -> Option<&'a str> {
    let b = child.as_bytes();
    if b.len() < 10 || !b[b.len() - 10..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut start = b.len() - 10;
    if start > 0 && b[start - 1] == b'-' {
        start -= 1;
    }
    // With or without the sign, one of the names must end right before it (the regex
    // tries both; the sign-less split matters when a name ends in '-').
    for s in [start, b.len() - 10] {
        if names.iter().any(|n| child[..s].ends_with(n)) {
            return Some(&child[s..]);
        }
    }
    None
}

/// The sequence of our own node (`<prefix><sequence>`).
pub fn own_sequence<'a>(node: &'a str, prefix: &str) -> &'a str {
    node.strip_prefix(prefix).unwrap_or("")
}

/// What a contender should do given the current children.
#[derive(Debug, PartialEq, Eq)]
pub enum Position {
    /// Our node is gone (or was never seen): create again.
    Missing,
    /// Nobody we are blocked by is ahead of us.
    Acquired,
    /// Wait for this child to go away.
    WaitFor(String),
}

pub fn position(children: &[String], node: &str, prefix: &str, kind: LockKind) -> Position {
    if !children.iter().any(|c| c == node) {
        return Position::Missing;
    }
    let ours = own_sequence(node, prefix);
    children
        .iter()
        .filter_map(|c| sequence_after(c, kind.blocked_by()).map(|s| (s, c)))
        .filter(|(s, _)| *s < ours)
        .max()
        .map_or(Position::Acquired, |(_, c)| Position::WaitFor(c.clone()))
}

/// The contenders in order (lowest sequence first), as kazoo's `contenders()` sorts them.
pub fn sorted_contenders(children: &[String], kind: LockKind) -> Vec<String> {
    let names = [LOCK_NAME, READ_LOCK_NAME];
    let mut v: Vec<(&str, &String)> = children
        .iter()
        .filter_map(|c| sequence_after(c, &names).map(|s| (s, c)))
        .collect();
    v.sort();
    let _ = kind;
    v.into_iter().map(|(_, c)| c.clone()).collect()
}

/// A fresh `<uuid4 hex><name>` prefix, unique to one contender, so a create whose reply was
/// lost can be found again among the children.
pub fn new_prefix(kind: LockKind) -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), kind.node_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_sequences_like_kazoos_regex() {
        assert_eq!(
            sequence_after("abc__lock__0000000007", &[LOCK_NAME]),
            Some("0000000007")
        );
        assert_eq!(sequence_after("abc__rlock__0000000007", &[LOCK_NAME]), None);
        assert_eq!(
            sequence_after("abc__rlock__0000000007", &[LOCK_NAME, READ_LOCK_NAME]),
            Some("0000000007")
        );
        assert_eq!(sequence_after("abc__lock__-000000001", &[LOCK_NAME]), None);
        assert_eq!(
            sequence_after("abc__lock__-2147483648", &[LOCK_NAME]),
            Some("-2147483648")
        );
        assert_eq!(sequence_after("lease_holder", &[LOCK_NAME]), None);
        assert_eq!(sequence_after("x__lock__12345", &[LOCK_NAME]), None);
    }

    #[test]
    fn predecessor_is_the_closest_lower_blocker() {
        let kids = v(&[
            "a__lock__0000000003",
            "b__rlock__0000000001",
            "c__lock__0000000000",
            "me__rlock__0000000004",
            "d__lock__0000000005",
            "junk",
        ]);
        assert_eq!(
            position(
                &kids,
                "me__rlock__0000000004",
                "me__rlock__",
                LockKind::Read
            ),
            Position::WaitFor("a__lock__0000000003".into())
        );
        let kids = v(&["b__rlock__0000000001", "me__rlock__0000000004"]);
        assert_eq!(
            position(
                &kids,
                "me__rlock__0000000004",
                "me__rlock__",
                LockKind::Read
            ),
            Position::Acquired
        );
        let kids = v(&["b__rlock__0000000001", "me__lock__0000000004"]);
        assert_eq!(
            position(&kids, "me__lock__0000000004", "me__lock__", LockKind::Write),
            Position::WaitFor("b__rlock__0000000001".into())
        );
        assert_eq!(
            position(
                &kids,
                "me__lock__0000000004",
                "me__lock__",
                LockKind::Exclusive
            ),
            Position::Acquired
        );
        assert_eq!(
            position(
                &kids,
                "me__lock__0000000009",
                "me__lock__",
                LockKind::Exclusive
            ),
            Position::Missing
        );
    }

    #[test]
    fn contenders_sort_by_sequence_not_name() {
        let kids = v(&[
            "z__lock__0000000001",
            "a__lock__0000000002",
            "m__rlock__0000000000",
        ]);
        assert_eq!(
            sorted_contenders(&kids, LockKind::Exclusive),
            v(&[
                "m__rlock__0000000000",
                "z__lock__0000000001",
                "a__lock__0000000002"
            ])
        );
        let p = new_prefix(LockKind::Read);
        assert_eq!(p.len(), 32 + READ_LOCK_NAME.len());
    }
}

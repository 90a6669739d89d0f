//! The session tracker (consensus core only): timeouts, expiry buckets, owners, passwords.
//!
//! Time enters as a monotonic millisecond count passed in by the caller, so the tracker is
//! deterministic under test.

use std::collections::BTreeMap;

use crate::fasthash::{HashMap, HashSet};
use crate::txn::SessionId;

/// A connection somewhere on a net core: (core index, connection number on that core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub core: usize,
    pub conn: u64,
}

#[derive(Debug, Clone)]
struct Tracked {
    timeout_ms: i32,
    expires_at_ms: u64,
    owner: Option<ConnRef>,
    closing: bool,
}

#[derive(Debug)]
pub struct SessionTracker {
    tick_ms: u64,
    sessions: HashMap<SessionId, Tracked>,
    /// expiry time (a multiple of tick_ms) -> sessions due then.
    buckets: BTreeMap<u64, HashSet<SessionId>>,
    next_id: SessionId,
}

impl SessionTracker {
    /// `server_id` goes in the top byte of every id; `now_wall_ms` seeds the counter so ids
    /// from different runs do not collide.
    pub fn new(tick_ms: u64, server_id: u8, now_wall_ms: u64) -> Self {
        let mut base = ((now_wall_ms & 0xFF_FFFF_FFFF) << 16) as i64 | ((server_id as i64) << 56);
        if base == 0 || base == i64::MIN {
            base += 1;
        }
        SessionTracker {
            tick_ms: tick_ms.max(1),
            sessions: HashMap::default(),
            buckets: BTreeMap::new(),
            next_id: base,
        }
    }

    /// A fresh id not used by any tracked session.
    pub fn next_session_id(&mut self) -> SessionId {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != 0 && id != i64::MIN && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn bucket_of(&self, t: u64) -> u64 {
        (t / self.tick_ms + 1) * self.tick_ms
    }

    fn rebucket(&mut self, id: SessionId, now_ms: u64) {
        let Some(s) = self.sessions.get(&id) else {
            return;
        };
        let new_at = self.bucket_of(now_ms + s.timeout_ms as u64);
        let old_at = s.expires_at_ms;
        if new_at == old_at {
            return;
        }
        if let Some(b) = self.buckets.get_mut(&old_at) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&old_at);
            }
        }
        self.buckets.entry(new_at).or_default().insert(id);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.expires_at_ms = new_at;
        }
    }

    /// Starts tracking (new session, or one recovered from the log at start-up).
    pub fn add(&mut self, id: SessionId, timeout_ms: i32, now_ms: u64) {
        self.sessions.insert(
            id,
            Tracked {
                timeout_ms,
                expires_at_ms: 0,
                owner: None,
                closing: false,
            },
        );
        self.rebucket(id, now_ms);
    }

    pub fn remove(&mut self, id: SessionId) -> Option<ConnRef> {
        let s = self.sessions.remove(&id)?;
        if let Some(b) = self.buckets.get_mut(&s.expires_at_ms) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&s.expires_at_ms);
            }
        }
        s.owner
    }

    /// Pushes the expiry of a live session out to now + timeout. Returns false if the session
    /// is unknown or closing.
    pub fn touch(&mut self, id: SessionId, now_ms: u64) -> bool {
        match self.sessions.get(&id) {
            Some(s) if !s.closing => {
                self.rebucket(id, now_ms);
                true
            }
            _ => false,
        }
    }

    /// Re-arms with a newly negotiated timeout (reconnect).
    pub fn set_timeout(&mut self, id: SessionId, timeout_ms: i32, now_ms: u64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.timeout_ms = timeout_ms;
        }
        self.rebucket(id, now_ms);
    }

    pub fn is_alive(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.closing)
    }

    pub fn timeout_ms(&self, id: SessionId) -> Option<i32> {
        self.sessions.get(&id).map(|s| s.timeout_ms)
    }

    /// Marks the session closing: later requests get SESSIONEXPIRED while its close runs.
    pub fn set_closing(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    pub fn owner(&self, id: SessionId) -> Option<ConnRef> {
        self.sessions.get(&id).and_then(|s| s.owner)
    }

    /// Binds the session to a connection; returns the previous one if different.
    pub fn set_owner(&mut self, id: SessionId, conn: ConnRef) -> Option<ConnRef> {
        let s = self.sessions.get_mut(&id)?;
        let old = s.owner.replace(conn);
        old.filter(|o| *o != conn)
    }

    /// Clears the owner if it is still `conn` (the connection went away).
    pub fn clear_owner(&mut self, id: SessionId, conn: ConnRef) {
        if let Some(s) = self.sessions.get_mut(&id) {
            if s.owner == Some(conn) {
                s.owner = None;
            }
        }
    }

    /// Sessions whose expiry time has passed and that are not already closing; they are
    /// marked closing.
    pub fn take_expired(&mut self, now_ms: u64) -> Vec<SessionId> {
        let mut out = Vec::new();
        while let Some((&at, _)) = self.buckets.first_key_value() {
            if at > now_ms {
                break;
            }
            let ids = self.buckets.remove(&at).unwrap_or_default();
            for id in ids {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if !s.closing {
                        s.closing = true;
                        out.push(id);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// (id, timeout, expiry time) of every tracked session, for `dump`.
    pub fn list(&self) -> Vec<(SessionId, i32, u64)> {
        let mut v: Vec<_> = self
            .sessions
            .iter()
            .map(|(id, s)| (*id, s.timeout_ms, s.expires_at_ms))
            .collect();
        v.sort_unstable();
        v
    }
}

/// The session password: 16 bytes of `java.util.Random(sessionId ^ 0xB3415C00)`, as Apache
/// ZooKeeper makes it. A pure function of the id, so sessions survive restarts and any
/// server (ours or theirs) can check it.
pub fn session_password(id: SessionId) -> [u8; 16] {
    const MULT: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;
    let mut seed = ((id ^ 0xB341_5C00) ^ MULT) & MASK;
    let mut next = || {
        seed = (seed.wrapping_mul(MULT).wrapping_add(0xB)) & MASK;
        (seed >> 16) as i32
    };
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        let mut r = next();
        for b in chunk {
            *b = r as u8;
            r >>= 8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_bucketed_by_tick_and_touch_extends_it() {
        let mut t = SessionTracker::new(2000, 0, 1);
        let a = t.next_session_id();
        t.add(a, 4000, 0);
        assert!(t.take_expired(4000).is_empty());
        assert!(t.touch(a, 3000));
        assert!(t.take_expired(6000).is_empty());
        assert_eq!(t.take_expired(8000), vec![a]);
        assert!(!t.is_alive(a));
        assert!(!t.touch(a, 8000));
    }

    #[test]
    fn owners_move_and_clear() {
        let mut t = SessionTracker::new(2000, 1, 1);
        let a = t.next_session_id();
        assert_eq!(a >> 56, 1);
        t.add(a, 4000, 0);
        let c1 = ConnRef { core: 0, conn: 1 };
        let c2 = ConnRef { core: 1, conn: 7 };
        assert_eq!(t.set_owner(a, c1), None);
        assert_eq!(t.set_owner(a, c2), Some(c1));
        t.clear_owner(a, c1);
        assert_eq!(t.owner(a), Some(c2));
        t.clear_owner(a, c2);
        assert_eq!(t.owner(a), None);
    }

    #[test]
    fn password_is_java_random() {
        // Printed by `new java.util.Random(id ^ 0xB3415C00L).nextBytes(new byte[16])` on a JVM.
        let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(session_password(0)), "f22acd4a97e69d6d20a49bb638eadb38");
        assert_eq!(
            hex(session_password(0x0010_0000_abcd_0000)),
            "29c1a79902465990af66c1981b3b90cd"
        );
    }
}

//! Votes, peer states and the order that decides elections (spec §13.2).

/// A server's `myid`. ZooKeeper carries it as a signed long on the wire.
pub type Sid = i64;

/// What a server is doing; its wire code is the notification's `state` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    pub fn code(self) -> i32 {
        match self {
            PeerState::Looking => 0,
            PeerState::Following => 1,
            PeerState::Leading => 2,
            PeerState::Observing => 3,
        }
    }

    pub fn from_code(code: i32) -> Option<PeerState> {
        Some(match code {
            0 => PeerState::Looking,
            1 => PeerState::Following,
            2 => PeerState::Leading,
            3 => PeerState::Observing,
            _ => return None,
        })
    }

    /// The word `srvr`/`stat` print after `Mode:`.
    pub fn mode_name(self) -> &'static str {
        match self {
            PeerState::Looking => "looking",
            PeerState::Following => "follower",
            PeerState::Leading => "leader",
            PeerState::Observing => "observer",
        }
    }
}

/// A proposal for who should lead: the candidate and the history it would bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    pub leader: Sid,
    /// The candidate's last logged zxid.
    pub zxid: i64,
    /// The candidate's current (accepted-and-synced) epoch.
    pub peer_epoch: i64,
}

impl Vote {
    /// Observers propose nobody: every real vote beats this one.
    pub const NOBODY: Vote = Vote {
        leader: i64::MIN,
        zxid: i64::MIN,
        peer_epoch: i64::MIN,
    };

    /// Whether `self` beats `other`: `(peer_epoch, zxid, leader)` compared in that order, the
    /// larger wins. A candidate that cannot vote never wins (`is_voter` false), so an observer
    /// can never be elected whatever its history.
    pub fn beats(&self, other: &Vote, is_voter: impl Fn(Sid) -> bool) -> bool {
        is_voter(self.leader)
            && (self.peer_epoch, self.zxid, self.leader)
                > (other.peer_epoch, other.zxid, other.leader)
    }
}

/// The epoch half of a zxid.
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// `epoch << 32 | counter`.
pub fn make_zxid(epoch: i64, counter: u32) -> i64 {
    (epoch << 32) | counter as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(leader: Sid, zxid: i64, peer_epoch: i64) -> Vote {
        Vote {
            leader,
            zxid,
            peer_epoch,
        }
    }

    #[test]
    fn epoch_then_zxid_then_sid() {
        let all = |_| true;
        assert!(v(1, 0, 2).beats(&v(3, 100, 1), all));
        assert!(v(1, 101, 1).beats(&v(3, 100, 1), all));
        assert!(v(3, 100, 1).beats(&v(2, 100, 1), all));
        assert!(!v(2, 100, 1).beats(&v(2, 100, 1), all));
        assert!(!v(2, 100, 1).beats(&v(3, 100, 1), all));
    }

    #[test]
    fn non_voters_never_win_and_nobody_always_loses() {
        assert!(!v(9, 1 << 40, 5).beats(&v(1, 0, 0), |sid| sid != 9));
        assert!(v(1, 0, 0).beats(&Vote::NOBODY, |_| true));
    }

    #[test]
    fn zxid_halves() {
        let z = make_zxid(7, 42);
        assert_eq!(epoch_of(z), 7);
        assert_eq!(z & 0xffff_ffff, 42);
        assert_eq!(
            PeerState::from_code(PeerState::Observing.code()),
            Some(PeerState::Observing)
        );
        assert_eq!(PeerState::from_code(4), None);
    }
}

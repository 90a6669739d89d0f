//! The leader's proposal → ACK wait, per follower (`ringkeeper_proposal_ack_seconds`, and
//! `zk_proposal_ack_us_follower_<sid>_*` in `mntr`): the figure that shows which follower's
//! disk (or link) holds commits back.
//!
//! ACKs are cumulative (`quorum::zab`): one covers every proposal up to its zxid. Each ACK
//! yields one sample, the wait of the oldest proposal it newly covers, which is the longest
//! any proposal waited for that follower in the batch. A follower's first ACK on a link (its
//! NEWLEADER ack) only sets where it stands.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::fasthash::HashMap;
use crate::quorum::vote::Sid;
use crate::txn::Zxid;

/// Send times kept for a follower that lags this far behind; older ones are dropped (its
/// ACKs for them then yield no sample).
const KEEP: usize = 1 << 16;

#[derive(Default)]
pub(super) struct AckTiming {
    /// Proposals in zxid order with the time they went out, back to the oldest that some
    /// follower has not acked.
    sent: VecDeque<(Zxid, Instant)>,
    /// The newest zxid each follower on a live link has acked.
    acked: HashMap<Sid, Zxid>,
}

impl AckTiming {
    pub(super) fn proposed(&mut self, zxid: Zxid, at: Instant) {
        self.sent.push_back((zxid, at));
        if self.sent.len() > KEEP {
            self.sent.pop_front();
        }
    }

    /// `sid` acked everything up to `zxid` at `now`: the wait of the oldest proposal this
    /// ACK covers that the follower's previous one did not.
    pub(super) fn acked(&mut self, sid: Sid, zxid: Zxid, now: Instant) -> Option<Duration> {
        let prev = self.acked.insert(sid, zxid);
        let wait = prev.filter(|&p| zxid > p).and_then(|prev| {
            let i = self.sent.partition_point(|&(z, _)| z <= prev);
            let &(z, at) = self.sent.get(i)?;
            (z <= zxid).then(|| now.saturating_duration_since(at))
        });
        self.trim();
        wait
    }

    /// The link to `sid` closed: it no longer holds send times back.
    pub(super) fn forget(&mut self, sid: Sid) {
        self.acked.remove(&sid);
        self.trim();
    }

    fn trim(&mut self) {
        let Some(&low) = self.acked.values().min() else {
            return;
        };
        while self.sent.front().is_some_and(|&(z, _)| z <= low) {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ack_times_the_oldest_proposal_it_newly_covers() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut a = AckTiming::default();
        assert_eq!(a.acked(2, 100, ms(0)), None, "the first ACK is a baseline");
        assert_eq!(a.acked(3, 100, ms(0)), None);
        for (z, at) in [(101, 1), (102, 2), (103, 3)] {
            a.proposed(z, ms(at));
        }
        // Follower 2 acks all three at once: 101 waited longest.
        assert_eq!(a.acked(2, 103, ms(10)), Some(Duration::from_millis(9)));
        // Follower 3 acks two, then the third.
        assert_eq!(a.acked(3, 102, ms(12)), Some(Duration::from_millis(11)));
        assert_eq!(a.acked(3, 103, ms(20)), Some(Duration::from_millis(17)));
        // Everything is acked by both: nothing is kept.
        assert!(a.sent.is_empty());
        // A repeated ACK covers nothing new.
        assert_eq!(a.acked(3, 103, ms(21)), None);
    }

    #[test]
    fn a_lagging_follower_keeps_send_times_until_it_acks_or_leaves() {
        let t0 = Instant::now();
        let mut a = AckTiming::default();
        a.acked(2, 0, t0);
        a.acked(3, 0, t0);
        for z in 1..=5 {
            a.proposed(z, t0);
        }
        a.acked(2, 5, t0);
        assert_eq!(a.sent.len(), 5, "3 has acked none of them");
        a.forget(3);
        assert!(a.sent.is_empty());
    }
}

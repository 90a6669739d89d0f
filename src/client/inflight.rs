//! Matching replies to requests. Normal replies must come back strictly FIFO; pings (-2)
//! and auth (-4) replies are exempt (spec rule 0.2) and are matched in their own queues.

use crate::proto::opcode::{XID_AUTH, XID_NOTIFICATION, XID_PING};
use std::collections::VecDeque;

/// Which queue a reply was matched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Ping,
    Auth,
}

/// Requests written but not yet answered; `W` is whatever wakes the caller.
#[derive(Debug)]
pub struct Inflight<W> {
    normal: VecDeque<(i32, Option<W>)>,
    pings: VecDeque<Option<W>>,
    auths: VecDeque<Option<W>>,
}

impl<W> Default for Inflight<W> {
    fn default() -> Self {
        Inflight {
            normal: VecDeque::new(),
            pings: VecDeque::new(),
            auths: VecDeque::new(),
        }
    }
}

impl<W> Inflight<W> {
    /// Records a request in write order. The xid decides the queue, so a raw request with
    /// a custom xid (e.g. the C client's -8 for setWatches) is matched FIFO by echo.
    pub fn push(&mut self, xid: i32, waiter: Option<W>) {
        match xid {
            XID_PING => self.pings.push_back(waiter),
            XID_AUTH => self.auths.push_back(waiter),
            _ => self.normal.push_back((xid, waiter)),
        }
    }

    /// Matches a reply xid (never -1; notifications are handled before this). An error
    /// string means the server broke the ordering rule and the connection is unusable.
    pub fn on_reply(&mut self, xid: i32) -> Result<(Kind, Option<W>), String> {
        debug_assert_ne!(xid, XID_NOTIFICATION);
        match xid {
            XID_PING => match self.pings.pop_front() {
                Some(w) => Ok((Kind::Ping, w)),
                None => Err("ping reply with no ping outstanding".into()),
            },
            XID_AUTH => match self.auths.pop_front() {
                Some(w) => Ok((Kind::Auth, w)),
                None => Err("auth reply with no auth outstanding".into()),
            },
            _ => match self.normal.front() {
                Some((want, _)) if *want == xid => {
                    let (_, w) = self.normal.pop_front().expect("front exists");
                    Ok((Kind::Normal, w))
                }
                Some((want, _)) => Err(format!(
                    "reply xid {xid} does not match the oldest pending xid {want}"
                )),
                None => Err(format!("reply xid {xid} with no request outstanding")),
            },
        }
    }

    /// True when no caller is waiting (unattended pings do not count).
    pub fn no_waiters(&self) -> bool {
        self.normal.is_empty() && self.auths.is_empty() && self.pings.iter().all(Option::is_none)
    }

    /// Every waiter, for failing them all when the connection dies.
    pub fn drain(&mut self) -> Vec<W> {
        let normal = self.normal.drain(..).filter_map(|(_, w)| w);
        let pings = self.pings.drain(..).flatten();
        let auths = self.auths.drain(..).flatten();
        normal.chain(pings).chain(auths).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_match_and_exempt_xids() {
        let mut f = Inflight::default();
        f.push(1, Some("a"));
        f.push(-2, None);
        f.push(2, Some("b"));
        f.push(-4, Some("auth"));
        // Auth and ping replies may overtake normal ones.
        assert_eq!(f.on_reply(-4), Ok((Kind::Auth, Some("auth"))));
        assert_eq!(f.on_reply(1), Ok((Kind::Normal, Some("a"))));
        assert_eq!(f.on_reply(-2), Ok((Kind::Ping, None)));
        assert!(!f.no_waiters());
        assert_eq!(f.on_reply(2), Ok((Kind::Normal, Some("b"))));
        assert!(f.no_waiters());
    }

    #[test]
    fn out_of_order_and_unsolicited_replies_are_violations() {
        let mut f = Inflight::default();
        f.push(1, Some(1));
        f.push(2, Some(2));
        assert!(f.on_reply(2).unwrap_err().contains("oldest pending xid 1"));
        assert_eq!(f.drain(), vec![1, 2]);
        assert!(f.on_reply(3).is_err());
        assert!(f.on_reply(-2).is_err());
        assert!(f.on_reply(-4).is_err());
    }

    #[test]
    fn custom_xids_are_matched_by_echo() {
        let mut f = Inflight::default();
        f.push(-8, Some("sw"));
        f.push(0, Some("zero"));
        assert_eq!(f.on_reply(-8), Ok((Kind::Normal, Some("sw"))));
        assert_eq!(f.on_reply(0), Ok((Kind::Normal, Some("zero"))));
    }
}

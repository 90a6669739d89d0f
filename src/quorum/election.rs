//! Fast leader election as a sans-IO state machine (spec §13.2).
//!
//! The machine owns no socket, thread or clock: the caller feeds it notifications and the
//! current time in milliseconds, and carries out what it returns (`Output::Send` to a peer,
//! `Output::Decided` to leave the election). That is what lets `quorum::sim` run many of them
//! under seeded message loss, reordering and partitions, and what keeps the rules below
//! checkable in one place.
//!
//! The rules are ZooKeeper's FastLeaderElection, restated:
//! - A round starts with `logical_clock + 1` and a vote for ourselves: our last logged zxid
//!   and current epoch (an observer votes for nobody). The vote goes to every voter, us
//!   included.
//! - A LOOKING notification from a later round moves us to that round (forgetting the votes
//!   of ours) and we vote for the better of it and ourselves; one from an earlier round is
//!   ignored; one from our round that beats our vote is adopted. Each adoption is broadcast.
//! - Once a quorum of voters has sent our exact vote, we wait `finalize_wait` for anything
//!   better; if nothing better arrives we decide: LEADING if the vote names us, otherwise
//!   FOLLOWING (or OBSERVING for an observer). During that wait, notifications that are not
//!   better are dropped, as ZooKeeper does.
//! - FOLLOWING/LEADING notifications tell us about an established leader. We join it once a
//!   quorum reports following it and the leader itself reports LEADING (so a crashed leader
//!   is not re-elected by stale followers).
//! - Whatever our state, a LOOKING peer behind us, or any non-voter, is answered with our
//!   current vote so that late starters and observers learn the outcome. An observer answers
//!   nobody (voters only answer it), or it and a LOOKING voter would answer each other
//!   without end.
//! - With nothing received for a while we re-send our vote, backing off from
//!   `min_notification_interval` to `max_notification_interval`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::vote::{PeerState, Sid, Vote};

/// What a notification carries besides its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    pub state: PeerState,
    pub vote: Vote,
    /// The sender's election round (ZooKeeper's `electionEpoch`, its logical clock).
    pub round: i64,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send {
        to: Sid,
        msg: Notification,
    },
    /// The election is over for us: run Zab as `state` under `vote.leader`.
    Decided {
        state: PeerState,
        vote: Vote,
        round: i64,
    },
}

#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub me: Sid,
    /// Participants: the servers whose votes count and who may lead.
    pub voters: BTreeSet<Sid>,
    /// Wait this long after reaching a quorum for a better vote (ZooKeeper: 200 ms).
    pub finalize_wait_ms: u64,
    pub min_notification_interval_ms: u64,
    pub max_notification_interval_ms: u64,
}

impl ElectionConfig {
    pub fn new(me: Sid, voters: impl IntoIterator<Item = Sid>) -> Self {
        ElectionConfig {
            me,
            voters: voters.into_iter().collect(),
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 60_000,
        }
    }

    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    fn is_quorum(&self, acks: usize) -> bool {
        acks * 2 > self.voters.len()
    }
}

/// A vote as recorded from one peer.
#[derive(Debug, Clone, Copy)]
struct Seen {
    vote: Vote,
    round: i64,
    state: PeerState,
}

pub struct Election {
    cfg: ElectionConfig,
    state: PeerState,
    logical_clock: i64,
    /// Our own candidacy for the current round.
    own: Vote,
    proposal: Vote,
    /// After a decision: what we answer LOOKING peers with.
    current: Notification,
    /// Votes of this round.
    recvset: BTreeMap<Sid, Seen>,
    /// FOLLOWING/LEADING reports from any round.
    outofelection: BTreeMap<Sid, Seen>,
    finalize_at: Option<u64>,
    not_timeout_ms: u64,
    last_heard_ms: u64,
}

impl Election {
    /// A machine that has not started a round yet (state LOOKING, round 0).
    pub fn new(cfg: ElectionConfig) -> Self {
        let min = cfg.min_notification_interval_ms;
        Election {
            cfg,
            state: PeerState::Looking,
            logical_clock: 0,
            own: Vote::NOBODY,
            proposal: Vote::NOBODY,
            current: Notification {
                state: PeerState::Looking,
                vote: Vote::NOBODY,
                round: 0,
            },
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            finalize_at: None,
            not_timeout_ms: min,
            last_heard_ms: 0,
        }
    }

    pub fn config(&self) -> &ElectionConfig {
        &self.cfg
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    pub fn round(&self) -> i64 {
        self.logical_clock
    }

    /// The vote we currently stand behind (the decided one once decided).
    pub fn current_vote(&self) -> Vote {
        if self.state == PeerState::Looking {
            self.proposal
        } else {
            self.current.vote
        }
    }

    /// Starts a new round: on start-up and whenever Zab gives up on a leader or a quorum.
    /// `last_zxid` and `current_epoch` describe our own history.
    pub fn start(&mut self, now_ms: u64, last_zxid: i64, current_epoch: i64) -> Vec<Output> {
        self.state = PeerState::Looking;
        self.logical_clock += 1;
        self.recvset.clear();
        self.outofelection.clear();
        self.finalize_at = None;
        self.not_timeout_ms = self.cfg.min_notification_interval_ms;
        self.last_heard_ms = now_ms;
        self.own = if self.cfg.is_voter(self.cfg.me) {
            Vote {
                leader: self.cfg.me,
                zxid: last_zxid,
                peer_epoch: current_epoch,
            }
        } else {
            Vote::NOBODY
        };
        self.proposal = self.own;
        let mut out = Vec::new();
        self.broadcast(now_ms, &mut out);
        out
    }

    /// When to call `on_timer` next, if ever.
    pub fn deadline(&self) -> Option<u64> {
        if self.state != PeerState::Looking || self.logical_clock == 0 {
            return None;
        }
        let resend = self.last_heard_ms + self.not_timeout_ms;
        Some(self.finalize_at.map_or(resend, |f| f.min(resend)))
    }

    pub fn on_timer(&mut self, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.state != PeerState::Looking || self.logical_clock == 0 {
            return out;
        }
        if let Some(at) = self.finalize_at {
            if now_ms >= at {
                self.decide(self.proposal, self.logical_clock, &mut out);
                return out;
            }
        }
        if now_ms >= self.last_heard_ms + self.not_timeout_ms {
            self.not_timeout_ms =
                (self.not_timeout_ms * 2).min(self.cfg.max_notification_interval_ms);
            self.last_heard_ms = now_ms;
            self.broadcast(now_ms, &mut out);
        }
        out
    }

    /// A notification from `from` (possibly ourselves).
    pub fn on_notification(&mut self, now_ms: u64, from: Sid, n: Notification) -> Vec<Output> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(from, n)]);
        while let Some((from, n)) = queue.pop_front() {
            self.receive(now_ms, from, n, &mut out, &mut queue);
        }
        out
    }

    /// ZooKeeper's receiver thread: answers that do not depend on the election loop, then
    /// hands LOOKING-time notifications to the loop.
    fn receive(
        &mut self,
        now_ms: u64,
        from: Sid,
        n: Notification,
        out: &mut Vec<Output>,
        queue: &mut VecDeque<(Sid, Notification)>,
    ) {
        // An observer answers nobody. Voters only answer what it sends, so its own
        // broadcasts (at the start and re-sent with backoff) are all it needs; answering a
        // voter's answer would ping-pong for as long as that voter stays LOOKING in an
        // earlier round than ours, or stays LOOKING while we observe.
        let answers = self.cfg.is_voter(self.cfg.me);
        if !self.cfg.is_voter(from) {
            if answers {
                out.push(Output::Send {
                    to: from,
                    msg: self.answer(),
                });
            }
            return;
        }
        if self.state == PeerState::Looking {
            if self.logical_clock == 0 {
                return; // not started: nothing to compare with yet
            }
            if answers
                && n.state == PeerState::Looking
                && n.round < self.logical_clock
                && from != self.cfg.me
            {
                out.push(Output::Send {
                    to: from,
                    msg: self.answer(),
                });
            }
            self.last_heard_ms = now_ms;
            self.process(now_ms, from, n, out, queue);
        } else if answers && n.state == PeerState::Looking && from != self.cfg.me {
            out.push(Output::Send {
                to: from,
                msg: self.answer(),
            });
        }
    }

    /// Our vote as we would send it to one peer right now.
    fn answer(&self) -> Notification {
        if self.state == PeerState::Looking {
            Notification {
                state: PeerState::Looking,
                vote: self.proposal,
                round: self.logical_clock,
            }
        } else {
            self.current
        }
    }

    /// The election loop body for one notification.
    fn process(
        &mut self,
        now_ms: u64,
        from: Sid,
        n: Notification,
        out: &mut Vec<Output>,
        queue: &mut VecDeque<(Sid, Notification)>,
    ) {
        if !self.cfg.is_voter(n.vote.leader) {
            return;
        }
        if self.finalize_at.is_some() {
            // Waiting out finalize_wait: only a better vote interrupts it; the rest is
            // dropped, as ZooKeeper's loop drops it.
            if !n.vote.beats(&self.proposal, |s| self.cfg.is_voter(s)) {
                return;
            }
            self.finalize_at = None;
        }
        match n.state {
            PeerState::Looking => self.on_looking(now_ms, from, n, out, queue),
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => self.on_established(from, n, out),
        }
    }

    fn on_looking(
        &mut self,
        now_ms: u64,
        from: Sid,
        n: Notification,
        out: &mut Vec<Output>,
        queue: &mut VecDeque<(Sid, Notification)>,
    ) {
        let voter = |s| self.cfg.is_voter(s);
        if self.own.zxid == -1 || n.vote.zxid == -1 {
            return;
        }
        if n.round > self.logical_clock {
            self.logical_clock = n.round;
            self.recvset.clear();
            self.proposal = if n.vote.beats(&self.own, voter) {
                n.vote
            } else {
                self.own
            };
            self.broadcast_into(queue, out);
        } else if n.round < self.logical_clock {
            return;
        } else if n.vote.beats(&self.proposal, voter) {
            self.proposal = n.vote;
            self.broadcast_into(queue, out);
        }
        self.recvset.insert(
            from,
            Seen {
                vote: n.vote,
                round: n.round,
                state: PeerState::Looking,
            },
        );
        let mine = Seen {
            vote: self.proposal,
            round: self.logical_clock,
            state: PeerState::Looking,
        };
        if self.count(&self.recvset, &mine, false) && self.finalize_at.is_none() {
            self.finalize_at = Some(now_ms + self.cfg.finalize_wait_ms);
        }
    }

    fn on_established(&mut self, from: Sid, n: Notification, out: &mut Vec<Output>) {
        let seen = Seen {
            vote: n.vote,
            round: n.round,
            state: n.state,
        };
        if n.round == self.logical_clock {
            self.recvset.insert(from, seen);
            if self.count(&self.recvset, &seen, false)
                && self.leader_confirmed(&self.recvset, n.vote.leader, n.round)
            {
                self.decide(n.vote, n.round, out);
                return;
            }
        }
        self.outofelection.insert(from, seen);
        if self.count(&self.outofelection, &seen, true)
            && self.leader_confirmed(&self.outofelection, n.vote.leader, n.round)
        {
            self.logical_clock = n.round;
            self.decide(n.vote, n.round, out);
        }
    }

    /// Whether a quorum of voters in `votes` stand behind `target`. Two LOOKING-era votes
    /// match on everything; reports from established servers match on the leader (and, out
    /// of election, its epoch), since their zxids move on after the election.
    fn count(&self, votes: &BTreeMap<Sid, Seen>, target: &Seen, out_of_election: bool) -> bool {
        let acks = votes
            .iter()
            .filter(|(sid, _)| self.cfg.is_voter(**sid))
            .filter(|(_, s)| {
                if s.state == PeerState::Looking || target.state == PeerState::Looking {
                    s.vote == target.vote && s.round == target.round
                } else if out_of_election {
                    s.vote.leader == target.vote.leader
                        && s.vote.peer_epoch == target.vote.peer_epoch
                } else {
                    s.vote.leader == target.vote.leader
                }
            })
            .count();
        self.cfg.is_quorum(acks)
    }

    /// A leader other than us must itself be saying LEADING; if it is us, the round must be
    /// ours. This stops stale followers from re-electing a crashed leader.
    fn leader_confirmed(&self, votes: &BTreeMap<Sid, Seen>, leader: Sid, round: i64) -> bool {
        if leader != self.cfg.me {
            votes
                .get(&leader)
                .is_some_and(|s| s.state == PeerState::Leading)
        } else {
            self.logical_clock == round
        }
    }

    fn decide(&mut self, vote: Vote, round: i64, out: &mut Vec<Output>) {
        let state = if vote.leader == self.cfg.me {
            PeerState::Leading
        } else if self.cfg.is_voter(self.cfg.me) {
            PeerState::Following
        } else {
            PeerState::Observing
        };
        self.state = state;
        self.finalize_at = None;
        self.current = Notification { state, vote, round };
        out.push(Output::Decided { state, vote, round });
    }

    /// Sends our proposal to every voter; our copy to ourselves is processed at once.
    fn broadcast(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let mut queue = VecDeque::new();
        self.broadcast_into(&mut queue, out);
        while let Some((from, n)) = queue.pop_front() {
            if self.state != PeerState::Looking {
                break;
            }
            self.process(now_ms, from, n, out, &mut queue);
        }
    }

    fn broadcast_into(&self, queue: &mut VecDeque<(Sid, Notification)>, out: &mut Vec<Output>) {
        let msg = Notification {
            state: PeerState::Looking,
            vote: self.proposal,
            round: self.logical_clock,
        };
        for &sid in &self.cfg.voters {
            if sid == self.cfg.me {
                queue.push_back((sid, msg));
            } else {
                out.push(Output::Send { to: sid, msg });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looking(leader: Sid, zxid: i64, epoch: i64, round: i64) -> Notification {
        Notification {
            state: PeerState::Looking,
            vote: Vote {
                leader,
                zxid,
                peer_epoch: epoch,
            },
            round,
        }
    }

    fn sends(out: &[Output]) -> Vec<(Sid, Notification)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { to, msg } => Some((*to, *msg)),
                _ => None,
            })
            .collect()
    }

    fn decided(out: &[Output]) -> Option<(PeerState, Sid)> {
        out.iter().find_map(|o| match o {
            Output::Decided { state, vote, .. } => Some((*state, vote.leader)),
            _ => None,
        })
    }

    #[test]
    fn start_votes_for_self_and_tells_the_other_voters() {
        let mut e = Election::new(ElectionConfig::new(2, [1, 2, 3]));
        let out = e.start(0, 0x100, 1);
        let s = sends(&out);
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|(_, n)| n.vote.leader == 2 && n.round == 1));
        assert_eq!(e.state(), PeerState::Looking);
        assert_eq!(e.deadline(), Some(200));
    }

    #[test]
    fn adopts_a_better_vote_and_decides_after_finalize_wait() {
        let mut e = Election::new(ElectionConfig::new(1, [1, 2, 3]));
        e.start(0, 0, 0);
        let out = e.on_notification(10, 2, looking(2, 0, 0, 1));
        // Adopted 2's vote and re-broadcast it.
        assert!(sends(&out).iter().all(|(_, n)| n.vote.leader == 2));
        // Self (re-voting 2) + 2 = quorum of 3: waiting for finalize, not decided yet.
        assert_eq!(decided(&out), None);
        assert_eq!(e.deadline(), Some(210));
        let out = e.on_timer(210);
        assert_eq!(decided(&out), Some((PeerState::Following, 2)));
    }

    #[test]
    fn a_better_vote_during_finalize_wait_reopens_the_round() {
        let mut e = Election::new(ElectionConfig::new(1, [1, 2, 3]));
        e.start(0, 0, 0);
        e.on_notification(10, 2, looking(2, 0, 0, 1));
        e.on_notification(50, 3, looking(3, 0, 0, 1));
        assert_eq!(e.current_vote().leader, 3);
        assert_eq!(decided(&e.on_timer(210)), None, "finalize restarted");
        let out = e.on_timer(250);
        assert_eq!(decided(&out), Some((PeerState::Following, 3)));
    }

    #[test]
    fn later_round_resets_votes_and_earlier_round_is_answered() {
        let mut e = Election::new(ElectionConfig::new(3, [1, 2, 3]));
        e.start(0, 5, 1);
        let out = e.on_notification(1, 1, looking(1, 9, 1, 4));
        assert_eq!(e.round(), 4);
        assert_eq!(e.current_vote().leader, 1, "1 has the longer history");
        assert!(!sends(&out).is_empty());
        let out = e.on_notification(2, 2, looking(2, 0, 0, 2));
        let back = sends(&out);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].0, 2);
        assert_eq!(back[0].1.round, 4);
    }

    #[test]
    fn joins_an_established_leader_only_when_it_says_leading() {
        let mut e = Election::new(ElectionConfig::new(3, [1, 2, 3]));
        e.start(0, 0, 0);
        let following = Notification {
            state: PeerState::Following,
            vote: Vote {
                leader: 2,
                zxid: 0,
                peer_epoch: 1,
            },
            round: 1,
        };
        assert_eq!(decided(&e.on_notification(5, 1, following)), None);
        let leading = Notification {
            state: PeerState::Leading,
            ..following
        };
        let out = e.on_notification(6, 2, leading);
        assert_eq!(decided(&out), Some((PeerState::Following, 2)));
        // Now answers a LOOKING latecomer with the established vote.
        let out = e.on_notification(7, 1, looking(1, 0, 0, 1));
        let back = sends(&out);
        assert_eq!(back[0].1.state, PeerState::Following);
        assert_eq!(back[0].1.vote.leader, 2);
    }

    #[test]
    fn out_of_round_reports_need_the_leader_itself() {
        let mut e = Election::new(ElectionConfig::new(1, [1, 2, 3, 4, 5]));
        e.start(0, 0, 0);
        let following = Notification {
            state: PeerState::Following,
            vote: Vote {
                leader: 2,
                zxid: 0x3_0000_0000,
                peer_epoch: 3,
            },
            round: 9,
        };
        for from in [3, 4, 5] {
            let out = e.on_notification(from as u64, from, following);
            assert_eq!(
                decided(&out),
                None,
                "a quorum of followers alone is not enough"
            );
        }
        let leading = Notification {
            state: PeerState::Leading,
            ..following
        };
        let out = e.on_notification(9, 2, leading);
        assert_eq!(decided(&out), Some((PeerState::Following, 2)));
        assert_eq!(e.round(), 9, "adopts the established round");
    }

    #[test]
    fn observers_vote_for_nobody_and_are_always_answered() {
        let mut obs = Election::new(ElectionConfig::new(4, [1, 2, 3]));
        let out = obs.start(0, 7, 1);
        assert!(sends(&out).iter().all(|(_, n)| n.vote == Vote::NOBODY));
        let mut voter = Election::new(ElectionConfig::new(1, [1, 2, 3]));
        voter.start(0, 0, 0);
        let out = voter.on_notification(1, 4, looking(i64::MIN, i64::MIN, i64::MIN, 1));
        assert_eq!(sends(&out), vec![(4, looking(1, 0, 0, 1))]);
        // The observer adopts voters' votes but never counts itself.
        obs.on_notification(2, 2, looking(3, 0, 0, 1));
        obs.on_notification(3, 3, looking(3, 0, 0, 1));
        let out = obs.on_timer(203);
        assert_eq!(decided(&out), Some((PeerState::Observing, 3)));
    }

    /// A LOOKING voter answers every observer notification with its vote; the observer must
    /// not answer back, whether it is LOOKING in a later round or already OBSERVING, or the
    /// two would exchange notifications for as long as the voter stays LOOKING (found by
    /// `quorum::sim`, seed 24112, where duplication made the exchange grow without bound).
    #[test]
    fn an_observer_does_not_answer_a_voters_answer() {
        let mut obs = Election::new(ElectionConfig::new(4, [1, 2, 3]));
        obs.start(0, 7, 1);
        obs.start(10, 7, 1); // a second round: the observer is ahead of the voter
        assert_eq!(obs.round(), 2);
        let mut voter = Election::new(ElectionConfig::new(2, [1, 2, 3]));
        voter.start(0, 3, 0);
        let out = voter.on_notification(11, 4, looking(i64::MIN, i64::MIN, i64::MIN, 2));
        let answer = sends(&out);
        assert_eq!(answer, vec![(4, looking(2, 3, 0, 1))]);
        assert!(sends(&obs.on_notification(12, 2, answer[0].1)).is_empty());
        // Decided, it still sends nothing back to a LOOKING voter.
        obs.on_notification(13, 1, looking(3, 9, 0, 2));
        obs.on_notification(14, 3, looking(3, 9, 0, 2));
        assert_eq!(decided(&obs.on_timer(300)), Some((PeerState::Observing, 3)));
        assert!(sends(&obs.on_notification(301, 2, answer[0].1)).is_empty());
    }

    #[test]
    fn silence_resends_with_backoff() {
        let mut e = Election::new(ElectionConfig::new(1, [1, 2, 3]));
        e.start(0, 0, 0);
        assert_eq!(sends(&e.on_timer(200)).len(), 2);
        assert_eq!(e.deadline(), Some(600));
        assert!(sends(&e.on_timer(599)).is_empty());
        assert_eq!(sends(&e.on_timer(600)).len(), 2);
        assert_eq!(e.deadline(), Some(1400));
    }
}

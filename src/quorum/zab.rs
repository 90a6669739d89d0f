//! Zab (spec §13.3) as sans-IO state machines: `Leader` and `Learner` take messages, the
//! local log's progress and the time, and return what to send, persist, log and apply.
//!
//! The caller owns the log. It tells the machine what it holds (`LogView`), carries out
//! `Append` (then reports `on_durable(zxid)` once the group commit has synced it),
//! `Truncate`, `PersistAcceptedEpoch`/`PersistCurrentEpoch` (durably, before it feeds the
//! machine anything else) and `Apply` (committed txns, strictly in zxid order).
//!
//! Phases, as in ZooKeeper:
//! 1. Discovery: each learner reports its accepted epoch (FOLLOWERINFO); once a quorum of
//!    voters (the leader included) has, the leader picks `max + 1`, sends LEADERINFO; each
//!    learner persists it as its accepted epoch and answers ACKEPOCH with its last zxid.
//! 2. Sync: per learner, DIFF (the committed txns it lacks), TRUNC (drop a tail the leader
//!    never committed) then DIFF, or SNAP (a whole tree) when it is older than the leader's
//!    in-memory history; then the leader's proposals not yet committed, then NEWLEADER. The
//!    learner logs everything, persists the new epoch as current, and ACKs NEWLEADER.
//! 3. Once a quorum of voters has acked NEWLEADER, the leader sends UPTODATE and serves.
//!    Broadcast: PROPOSAL to followers — pipelined, never waiting for acks —, each follower
//!    ACKs once its log sync covers the proposal; a quorum of durable copies (the leader's
//!    own included) commits in zxid order: COMMIT to followers, INFORM to observers.
//!    ACK and COMMIT are cumulative (a follower logs and applies the proposals in order): a
//!    follower sends one ACK per durable report, for the newest proposal it covers, and the
//!    leader one COMMIT per follower for everything a pass commits. (ZooKeeper sends one of
//!    each per proposal; ringkeeper and ZooKeeper members do not share an ensemble.)
//!    A learner acks proposals only after NEWLEADER (the leader counts none before), and
//!    UPTODATE commits only the history before the new epoch.
//!
//! Liveness: the leader pings every tick; a learner answers. A leader that has not heard
//! from a quorum of voters within `sync_limit` steps down; a learner that has not heard from
//! its leader within `sync_limit` (or got no UPTODATE within `init_limit`) gives up. Both then
//! return to the election.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::vote::{epoch_of, make_zxid, Sid};

pub type Zxid = i64;
/// An encoded txn (TxnHeader + body), opaque here.
pub type Payload = Arc<[u8]>;

/// A whole-tree transfer for SNAP sync; opaque here (the caller serialises a tree version).
/// On a real link the leader streams it (`zab_net::SnapshotStream`) and the learner gathers
/// it into one buffer, handed on as `Bytes` without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRef {
    pub zxid: Zxid,
    pub bytes: bytes::Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    // learner -> leader
    FollowerInfo {
        accepted_epoch: i64,
        observer: bool,
    },
    AckEpoch {
        last_zxid: Zxid,
        current_epoch: i64,
    },
    Ack {
        zxid: Zxid,
    },
    /// Answer to PING. The machine sends it empty; the caller fills in the sessions its
    /// clients touched since the last one (id, timeout ms) as it sends it.
    PingReply {
        touches: Vec<(i64, i32)>,
    },
    /// A client write (or session create/close, or sync) forwarded to the leader; handled
    /// by the caller, not the machine.
    Request {
        session_id: i64,
        cxid: i32,
        op: i32,
        body: Payload,
    },
    /// A client reconnecting through a learner: is this session still alive? (caller)
    Revalidate {
        session_id: i64,
        timeout_ms: i32,
    },
    // leader -> learner
    LeaderInfo {
        new_epoch: i64,
    },
    Diff {
        zxid: Zxid,
    },
    Trunc {
        zxid: Zxid,
    },
    Snap(SnapshotRef),
    Proposal {
        zxid: Zxid,
        txn: Payload,
    },
    Commit {
        zxid: Zxid,
    },
    /// Observers get committed txns whole, never proposals.
    Inform {
        zxid: Zxid,
        txn: Payload,
    },
    NewLeader {
        zxid: Zxid,
    },
    UpToDate,
    Ping,
    /// Every txn committed before the learner's forwarded sync has been sent, the last of
    /// them `zxid` (caller).
    SyncDone {
        zxid: Zxid,
    },
    RevalidateReply {
        session_id: i64,
        valid: bool,
    },
}

/// Things the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: Sid,
        msg: Msg,
    },
    /// Durably record the accepted epoch (before anything else is fed in).
    PersistAcceptedEpoch(i64),
    /// Durably record the current epoch.
    PersistCurrentEpoch(i64),
    /// Append to the local log; report `on_durable` once synced.
    Append {
        zxid: Zxid,
        txn: Payload,
    },
    /// Drop every logged txn above `zxid` (never a committed one).
    Truncate {
        zxid: Zxid,
    },
    /// Replace the local state by this snapshot (its txns are committed).
    LoadSnapshot(SnapshotRef),
    /// Leader: send `Msg::Snap` with our applied tree as of `zxid` (every `Apply` before this
    /// action has been carried out, so the tree is exactly there).
    SendSnapshot {
        to: Sid,
        zxid: Zxid,
    },
    /// Apply this committed txn (strictly increasing zxids).
    Apply {
        zxid: Zxid,
        txn: Payload,
    },
    /// The leader can serve clients (the new epoch is established).
    Serving,
    /// Leader: close the link to this learner, which it has given up on (silent for
    /// longer than syncLimit, or initLimit while syncing). It is no longer sent proposals
    /// or commits, so it must find out at once, as ZooKeeper's LearnerHandler closes the
    /// socket: left open, anything else the leader still sends it (a sync's answer) would
    /// keep it serving a tree that no longer moves.
    Disconnect {
        sid: Sid,
        why: String,
    },
    /// Back to the election, with the reason for the log.
    GiveUp(String),
}

#[derive(Debug, Clone)]
pub struct ZabConfig {
    pub me: Sid,
    pub voters: BTreeSet<Sid>,
    pub observers: BTreeSet<Sid>,
    pub tick_ms: u64,
    pub init_limit_ticks: u64,
    pub sync_limit_ticks: u64,
    /// Committed txns the leader keeps in memory for DIFF (ZooKeeper: 500).
    pub commit_log_count: usize,
}

impl ZabConfig {
    fn is_quorum(&self, acks: &BTreeSet<Sid>) -> bool {
        acks.iter().filter(|s| self.voters.contains(s)).count() * 2 > self.voters.len()
    }
}

/// What the local log holds when a role starts (`default()`: nothing, epoch 0).
#[derive(Debug, Clone, Default)]
pub struct LogView {
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    /// Highest zxid applied (committed) locally.
    pub last_committed: Zxid,
    /// The zxid `entries` start after (0: they hold the whole history). A learner whose
    /// log ends here can be brought up to date from `entries` alone.
    pub base: Zxid,
    /// Logged txns, in order, starting after `base` (at or below `last_committed`):
    /// committed ones (for the leader's DIFF window) and, above `last_committed`, ones not
    /// yet known to be committed.
    pub entries: Vec<(Zxid, Payload)>,
}

impl LogView {
    pub fn last_logged(&self) -> Zxid {
        self.entries
            .last()
            .map_or(self.last_committed, |e| e.0.max(self.last_committed))
    }
}

// ---------------------------------------------------------------------------------------
// Leader

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LearnerPhase {
    /// Sent FOLLOWERINFO; waiting for the epoch to be settled.
    Discovery,
    /// Sent LEADERINFO; waiting for ACKEPOCH.
    EpochSent,
    /// Sync packets and NEWLEADER sent; waiting for its ACK.
    Syncing,
    /// Acked NEWLEADER; waiting for the epoch to be established (UPTODATE).
    Synced,
    /// Receiving broadcast.
    Broadcast,
}

#[derive(Debug)]
struct LearnerSlot {
    phase: LearnerPhase,
    observer: bool,
    accepted_epoch: i64,
    last_heard_ms: u64,
}

#[derive(Debug)]
struct Proposal {
    txn: Payload,
    acks: BTreeSet<Sid>,
}

pub struct Leader {
    cfg: ZabConfig,
    /// Epoch we were elected with (our current epoch), and our accepted epoch.
    accepted_epoch: i64,
    new_epoch: Option<i64>,
    learners: BTreeMap<Sid, LearnerSlot>,
    /// Voters (incl. us) that acked NEWLEADER.
    newleader_acks: BTreeSet<Sid>,
    established: bool,
    /// Committed txns kept for DIFF, oldest first.
    committed: VecDeque<(Zxid, Payload)>,
    /// The zxid just before the window's first entry: the oldest point a DIFF starts from.
    window_base: Zxid,
    last_committed: Zxid,
    /// Logged-but-not-committed, by zxid (from before the election and new proposals).
    proposals: BTreeMap<Zxid, Proposal>,
    next_counter: u32,
    durable: Zxid,
    started_ms: u64,
    last_ping_ms: u64,
}

impl Leader {
    /// Becomes leader after winning an election. `log` is our own state.
    pub fn new(cfg: ZabConfig, log: LogView, now_ms: u64) -> (Leader, Vec<Action>) {
        let mut committed = VecDeque::new();
        let mut proposals = BTreeMap::new();
        for (z, t) in log.entries.iter().cloned() {
            if z <= log.last_committed {
                committed.push_back((z, t));
            } else {
                // Our logged tail becomes this epoch's initial history: durable here, and
                // committed once a quorum has synced it (acked NEWLEADER).
                proposals.insert(
                    z,
                    Proposal {
                        txn: t,
                        acks: BTreeSet::from([cfg.me]),
                    },
                );
            }
        }
        let mut window_base = log.base;
        while committed.len() > cfg.commit_log_count {
            if let Some((z, _)) = committed.pop_front() {
                window_base = z;
            }
        }
        let durable = log.last_logged();
        let mut l = Leader {
            accepted_epoch: log.accepted_epoch,
            window_base,
            new_epoch: None,
            learners: BTreeMap::new(),
            newleader_acks: BTreeSet::new(),
            established: false,
            committed,
            last_committed: log.last_committed,
            proposals,
            next_counter: 0,
            durable,
            started_ms: now_ms,
            last_ping_ms: now_ms,
            cfg,
        };
        let mut out = Vec::new();
        l.maybe_settle_epoch(&mut out);
        (l, out)
    }

    pub fn is_established(&self) -> bool {
        self.established
    }

    pub fn epoch(&self) -> Option<i64> {
        self.new_epoch
    }

    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    /// Learners that are receiving broadcast.
    pub fn synced_learners(&self) -> usize {
        self.learners
            .values()
            .filter(|s| s.phase == LearnerPhase::Broadcast)
            .count()
    }

    /// A learner connected (or re-connected) on the quorum port.
    pub fn on_connect(&mut self, sid: Sid, now_ms: u64) {
        self.learners.remove(&sid);
        self.newleader_acks.remove(&sid);
        let _ = now_ms;
    }

    /// Acks already counted stay counted: those txns are durable on that server.
    pub fn on_disconnect(&mut self, sid: Sid) {
        self.learners.remove(&sid);
    }

    /// A committed reconfig changed the observers (voters never change while leading).
    pub fn set_observers(&mut self, observers: BTreeSet<Sid>) {
        self.cfg.observers = observers;
    }

    /// The zxid `propose` would give the next txn (the caller encodes it into the txn).
    pub fn next_zxid(&self) -> Option<Zxid> {
        let epoch = self.new_epoch?;
        (self.established && self.next_counter < u32::MAX)
            .then(|| make_zxid(epoch, self.next_counter + 1))
    }

    /// Proposes a new txn (the caller prepared it). `None` when not established yet or the
    /// counter would overflow (a new election is needed: ZooKeeper's rollover).
    pub fn propose(&mut self, txn: Payload) -> Option<(Zxid, Vec<Action>)> {
        let epoch = self.new_epoch?;
        if !self.established || self.next_counter == u32::MAX {
            return None;
        }
        self.next_counter += 1;
        let zxid = make_zxid(epoch, self.next_counter);
        let mut out = vec![Action::Append {
            zxid,
            txn: txn.clone(),
        }];
        for (&sid, s) in &self.learners {
            if !s.observer
                && matches!(
                    s.phase,
                    LearnerPhase::Syncing | LearnerPhase::Synced | LearnerPhase::Broadcast
                )
            {
                out.push(Action::Send {
                    to: sid,
                    msg: Msg::Proposal {
                        zxid,
                        txn: txn.clone(),
                    },
                });
            }
        }
        self.proposals.insert(
            zxid,
            Proposal {
                txn,
                acks: BTreeSet::new(),
            },
        );
        Some((zxid, out))
    }

    /// Our own log has synced everything up to `zxid`.
    pub fn on_durable(&mut self, zxid: Zxid) -> Vec<Action> {
        self.durable = self.durable.max(zxid);
        let me = self.cfg.me;
        for (_, p) in self.proposals.range_mut(..=zxid) {
            p.acks.insert(me);
        }
        let mut out = Vec::new();
        self.try_commit(&mut out);
        out
    }

    pub fn on_message(&mut self, from: Sid, msg: Msg, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(s) = self.learners.get_mut(&from) {
            s.last_heard_ms = now_ms;
        }
        match msg {
            Msg::FollowerInfo {
                accepted_epoch,
                observer,
            } => {
                let known = self.cfg.voters.contains(&from) || self.cfg.observers.contains(&from);
                if !known || observer != self.cfg.observers.contains(&from) {
                    return out; // not a member in this role; the caller closes the link
                }
                self.learners.insert(
                    from,
                    LearnerSlot {
                        phase: LearnerPhase::Discovery,
                        observer,
                        accepted_epoch,
                        last_heard_ms: now_ms,
                    },
                );
                match self.new_epoch {
                    None => self.maybe_settle_epoch(&mut out),
                    Some(e) => {
                        self.learners.get_mut(&from).expect("inserted").phase =
                            LearnerPhase::EpochSent;
                        out.push(Action::Send {
                            to: from,
                            msg: Msg::LeaderInfo { new_epoch: e },
                        });
                    }
                }
            }
            Msg::AckEpoch {
                last_zxid,
                current_epoch,
            } => {
                let Some(s) = self.learners.get(&from) else {
                    return out;
                };
                if s.phase != LearnerPhase::EpochSent {
                    return out;
                }
                let _ = current_epoch;
                self.sync_learner(from, last_zxid, &mut out);
            }
            Msg::Ack { zxid } => {
                let Some(s) = self.learners.get_mut(&from) else {
                    return out;
                };
                let epoch = self.new_epoch.unwrap_or(-1);
                if zxid == make_zxid(epoch, 0) && s.phase == LearnerPhase::Syncing {
                    // The ACK of NEWLEADER.
                    s.phase = LearnerPhase::Synced;
                    if !s.observer {
                        self.newleader_acks.insert(from);
                        // It has logged the initial history we sent it.
                        for (_, p) in self.proposals.range_mut(..make_zxid(epoch, 0)) {
                            p.acks.insert(from);
                        }
                    }
                    if self.established {
                        self.learners.get_mut(&from).expect("present").phase =
                            LearnerPhase::Broadcast;
                        out.push(Action::Send {
                            to: from,
                            msg: Msg::UpToDate,
                        });
                    } else {
                        self.maybe_establish(&mut out);
                    }
                } else if !s.observer && s.phase != LearnerPhase::Syncing {
                    // Acks are cumulative: a follower logs in zxid order. A learner's acks
                    // count only after its NEWLEADER ack (as ZooKeeper's LearnerHandler
                    // reads none before it): until then its current epoch is the old one.
                    for (_, p) in self.proposals.range_mut(..=zxid) {
                        p.acks.insert(from);
                    }
                    self.try_commit(&mut out);
                }
            }
            Msg::PingReply { .. } => {}
            _ => {} // leader-to-learner messages are not expected here
        }
        out
    }

    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let sync_ms = self.cfg.sync_limit_ticks * self.cfg.tick_ms;
        let init_ms = self.cfg.init_limit_ticks * self.cfg.tick_ms;
        if !self.established {
            if now_ms >= self.started_ms + init_ms {
                out.push(Action::GiveUp(format!(
                    "no quorum of followers synced within initLimit ({init_ms} ms)"
                )));
            }
            return out;
        }
        if now_ms >= self.last_ping_ms + self.cfg.tick_ms / 2 {
            self.last_ping_ms = now_ms;
            for &sid in self.learners.keys() {
                out.push(Action::Send {
                    to: sid,
                    msg: Msg::Ping,
                });
            }
        }
        // Learners that went quiet are dropped; without a quorum of voters we step down.
        self.learners.retain(|&sid, s| {
            let limit = if s.phase == LearnerPhase::Broadcast {
                sync_ms
            } else {
                init_ms
            };
            let quiet = now_ms >= s.last_heard_ms + limit;
            if quiet {
                out.push(Action::Disconnect {
                    sid,
                    why: format!("nothing from it for {limit} ms ({:?})", s.phase),
                });
            }
            !quiet
        });
        let mut alive: BTreeSet<Sid> = self
            .learners
            .iter()
            .filter(|(_, s)| s.phase == LearnerPhase::Broadcast && !s.observer)
            .map(|(&sid, _)| sid)
            .collect();
        alive.insert(self.cfg.me);
        if !self.cfg.is_quorum(&alive) {
            out.push(Action::GiveUp(format!(
                "lost the quorum: only {alive:?} heard within syncLimit ({sync_ms} ms)"
            )));
        }
        out
    }

    /// Discovery ends once a quorum of voters (us included) reported an accepted epoch.
    fn maybe_settle_epoch(&mut self, out: &mut Vec<Action>) {
        if self.new_epoch.is_some() {
            return;
        }
        let mut reported: BTreeSet<Sid> = self.learners.keys().copied().collect();
        reported.insert(self.cfg.me);
        if !self.cfg.is_quorum(&reported) {
            return;
        }
        let max = self
            .learners
            .values()
            .map(|s| s.accepted_epoch)
            .chain([self.accepted_epoch])
            .max()
            .expect("we are there");
        let e = max + 1;
        self.new_epoch = Some(e);
        self.accepted_epoch = e;
        out.push(Action::PersistAcceptedEpoch(e));
        for (&sid, s) in self.learners.iter_mut() {
            s.phase = LearnerPhase::EpochSent;
            out.push(Action::Send {
                to: sid,
                msg: Msg::LeaderInfo { new_epoch: e },
            });
        }
    }

    /// Chooses DIFF, TRUNC+DIFF or SNAP for one learner and queues what it lacks of our
    /// history (committed txns with their COMMIT, then the initial history not yet
    /// committed), then NEWLEADER.
    ///
    /// Our log is authoritative: it holds every committed txn (we won the election against
    /// a quorum, and every commit is on a quorum), and a zxid names one txn (one leader per
    /// epoch), so the learner's log matches ours up to the last zxid both hold.
    fn sync_learner(&mut self, sid: Sid, peer_last: Zxid, out: &mut Vec<Action>) {
        let epoch = self.new_epoch.expect("settled");
        let observer = self.learners[&sid].observer;
        let history: Vec<Zxid> = self
            .committed
            .iter()
            .map(|e| e.0)
            .chain(self.proposals.keys().copied())
            .collect();
        let hist_last = history.last().copied().unwrap_or(self.last_committed);
        // The oldest point a DIFF can start from: just before our in-memory window. (Not
        // "first zxid - 1": zxids jump at every new epoch.)
        let window_start = self.window_base;
        let send_from = if peer_last == hist_last || history.contains(&peer_last) {
            out.push(Action::Send {
                to: sid,
                msg: Msg::Diff { zxid: hist_last },
            });
            Some(peer_last)
        } else if peer_last > window_start {
            // It logged txns we do not have: cut back to the last zxid we share.
            let shared = history
                .iter()
                .rev()
                .copied()
                .find(|&z| z < peer_last)
                .unwrap_or(window_start);
            out.push(Action::Send {
                to: sid,
                msg: Msg::Trunc { zxid: shared },
            });
            Some(shared)
        } else if peer_last == window_start {
            out.push(Action::Send {
                to: sid,
                msg: Msg::Diff { zxid: hist_last },
            });
            Some(peer_last)
        } else {
            None
        };
        let from = match send_from {
            Some(z) => z,
            None => {
                // Too old for the window: the caller sends our tree at `last_committed`.
                out.push(Action::SendSnapshot {
                    to: sid,
                    zxid: self.last_committed,
                });
                self.last_committed
            }
        };
        for (z, t) in self.committed.iter().filter(|e| e.0 > from) {
            let msgs = if observer {
                vec![Msg::Inform {
                    zxid: *z,
                    txn: t.clone(),
                }]
            } else {
                vec![
                    Msg::Proposal {
                        zxid: *z,
                        txn: t.clone(),
                    },
                    Msg::Commit { zxid: *z },
                ]
            };
            for msg in msgs {
                out.push(Action::Send { to: sid, msg });
            }
        }
        self.finish_sync(sid, epoch, observer, from, out);
    }

    /// After the committed history: our uncommitted proposals, then NEWLEADER.
    fn finish_sync(
        &mut self,
        sid: Sid,
        epoch: i64,
        observer: bool,
        from: Zxid,
        out: &mut Vec<Action>,
    ) {
        // Our commit point: it covers what the learner already held and we committed (a
        // DIFF does not resend that). UPTODATE commits only the history before our epoch,
        // so without this a learner restarted within our epoch would serve without its
        // committed tail until the next write's COMMIT or INFORM. An observer's machine
        // takes a COMMIT like a follower's.
        out.push(Action::Send {
            to: sid,
            msg: Msg::Commit {
                zxid: self.last_committed,
            },
        });
        if !observer {
            for (&z, p) in self.proposals.range(from + 1..) {
                out.push(Action::Send {
                    to: sid,
                    msg: Msg::Proposal {
                        zxid: z,
                        txn: p.txn.clone(),
                    },
                });
            }
        }
        out.push(Action::Send {
            to: sid,
            msg: Msg::NewLeader {
                zxid: make_zxid(epoch, 0),
            },
        });
        self.learners.get_mut(&sid).expect("present").phase = LearnerPhase::Syncing;
    }

    fn maybe_establish(&mut self, out: &mut Vec<Action>) {
        let mut acks = self.newleader_acks.clone();
        acks.insert(self.cfg.me);
        if self.established || !self.cfg.is_quorum(&acks) {
            return;
        }
        self.established = true;
        let epoch = self.new_epoch.expect("settled");
        out.push(Action::PersistCurrentEpoch(epoch));
        for (&sid, s) in self.learners.iter_mut() {
            if s.phase == LearnerPhase::Synced {
                s.phase = LearnerPhase::Broadcast;
                out.push(Action::Send {
                    to: sid,
                    msg: Msg::UpToDate,
                });
            }
        }
        out.push(Action::Serving);
        // Proposals inherited from the old epoch commit with this epoch's quorum.
        self.try_commit(out);
    }

    /// Commits, in zxid order, every leading proposal a quorum holds durably.
    fn try_commit(&mut self, out: &mut Vec<Action>) {
        if !self.established {
            return;
        }
        let mut newest = None;
        while let Some(entry) = self.proposals.first_entry() {
            if !self.cfg.is_quorum(&entry.get().acks) {
                break;
            }
            let (zxid, p) = entry.remove_entry();
            self.last_committed = zxid;
            out.push(Action::Apply {
                zxid,
                txn: p.txn.clone(),
            });
            for (&sid, s) in &self.learners {
                if s.observer && hears_commits(s.phase) {
                    out.push(Action::Send {
                        to: sid,
                        msg: Msg::Inform {
                            zxid,
                            txn: p.txn.clone(),
                        },
                    });
                }
            }
            newest = Some(zxid);
            self.committed.push_back((zxid, p.txn));
            if self.committed.len() > self.cfg.commit_log_count {
                if let Some((z, _)) = self.committed.pop_front() {
                    self.window_base = z;
                }
            }
        }
        // A follower applies everything up to a COMMIT (it holds the proposals in order),
        // so one COMMIT covers every txn this pass committed.
        if let Some(zxid) = newest {
            for (&sid, s) in &self.learners {
                if !s.observer && hears_commits(s.phase) {
                    out.push(Action::Send {
                        to: sid,
                        msg: Msg::Commit { zxid },
                    });
                }
            }
        }
    }
}

/// Everyone whose sync has been sent hears of every later commit.
fn hears_commits(phase: LearnerPhase) -> bool {
    matches!(
        phase,
        LearnerPhase::Syncing | LearnerPhase::Synced | LearnerPhase::Broadcast
    )
}

// ---------------------------------------------------------------------------------------
// Learner (follower or observer)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LearnerState {
    AwaitLeaderInfo,
    Syncing,
    Broadcast,
}

pub struct Learner {
    cfg: ZabConfig,
    leader: Sid,
    observer: bool,
    state: LearnerState,
    accepted_epoch: i64,
    current_epoch: i64,
    new_epoch: i64,
    last_logged: Zxid,
    last_committed: Zxid,
    /// Logged but not yet committed, in order.
    pending: BTreeMap<Zxid, Payload>,
    /// Commits that arrived before their proposal was durable... or before the proposal:
    /// apply as soon as both are there.
    commit_upto: Zxid,
    durable: Zxid,
    /// Zxid to ack once durable (NEWLEADER's ack waits for the whole sync to be logged).
    newleader_ack_at: Option<Zxid>,
    /// NEWLEADER was acked (so the new epoch is our current one): only then are proposals
    /// acked. A proposal acked by a learner whose current epoch is still the old one could
    /// commit, then be lost: the next election ranks that learner by its old epoch.
    newleader_acked: bool,
    /// Where our log stood at NEWLEADER. The part before the new epoch is the leader's
    /// initial history, committed by the time it sends UPTODATE.
    synced_upto: Zxid,
    acked: Zxid,
    started_ms: u64,
    last_heard_ms: u64,
    last_hello_ms: u64,
}

impl Learner {
    /// Connects to the elected leader: sends FOLLOWERINFO (OBSERVERINFO for observers).
    pub fn new(cfg: ZabConfig, leader: Sid, log: &LogView, now_ms: u64) -> (Learner, Vec<Action>) {
        let observer = cfg.observers.contains(&cfg.me);
        let pending: BTreeMap<Zxid, Payload> = log
            .entries
            .iter()
            .filter(|e| e.0 > log.last_committed)
            .cloned()
            .collect();
        let l = Learner {
            leader,
            observer,
            state: LearnerState::AwaitLeaderInfo,
            accepted_epoch: log.accepted_epoch,
            current_epoch: log.current_epoch,
            new_epoch: -1,
            last_logged: log.last_logged(),
            last_committed: log.last_committed,
            pending,
            commit_upto: log.last_committed,
            durable: log.last_logged(),
            newleader_ack_at: None,
            newleader_acked: false,
            synced_upto: log.last_committed,
            acked: log.last_logged(),
            started_ms: now_ms,
            last_heard_ms: now_ms,
            last_hello_ms: now_ms,
            cfg,
        };
        let out = vec![l.hello()];
        (l, out)
    }

    /// This machine replaces `earlier` for another connection to the same leader within one
    /// attempt to join it: initLimit keeps counting from the first. Otherwise a leader port
    /// that accepts connections and drops them (a proxy or load balancer whose backend is
    /// gone) would restart the count on every redial and keep the learner from ever giving
    /// up and returning to the election.
    pub fn continue_from(&mut self, earlier: &Learner) {
        if earlier.leader == self.leader {
            self.started_ms = earlier.started_ms;
            self.last_heard_ms = earlier.last_heard_ms;
        }
    }

    fn hello(&self) -> Action {
        Action::Send {
            to: self.leader,
            msg: Msg::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
                observer: self.observer,
            },
        }
    }

    pub fn leader(&self) -> Sid {
        self.leader
    }

    pub fn is_serving(&self) -> bool {
        self.state == LearnerState::Broadcast
    }

    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    pub fn on_message(&mut self, from: Sid, msg: Msg, now_ms: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if from != self.leader {
            return out;
        }
        self.last_heard_ms = now_ms;
        match msg {
            Msg::LeaderInfo { new_epoch } => {
                if self.state != LearnerState::AwaitLeaderInfo {
                    return out;
                }
                if new_epoch < self.accepted_epoch {
                    out.push(Action::GiveUp(format!(
                        "leader proposed epoch {new_epoch}, below our accepted {}",
                        self.accepted_epoch
                    )));
                    return out;
                }
                let current = if new_epoch > self.accepted_epoch {
                    self.accepted_epoch = new_epoch;
                    out.push(Action::PersistAcceptedEpoch(new_epoch));
                    self.current_epoch
                } else {
                    -1 // already accepted this epoch (ZooKeeper's marker)
                };
                self.new_epoch = new_epoch;
                self.state = LearnerState::Syncing;
                out.push(Action::Send {
                    to: self.leader,
                    msg: Msg::AckEpoch {
                        last_zxid: self.last_logged,
                        current_epoch: current,
                    },
                });
            }
            Msg::Diff { .. } => {}
            Msg::Trunc { zxid } => {
                if zxid < self.last_committed {
                    out.push(Action::GiveUp(format!(
                        "leader asked to truncate to {zxid:#x}, below our committed {:#x}",
                        self.last_committed
                    )));
                    return out;
                }
                self.pending.retain(|&z, _| z <= zxid);
                self.last_logged = zxid.min(self.last_logged);
                self.durable = self.durable.min(zxid);
                self.acked = self.acked.min(zxid);
                out.push(Action::Truncate { zxid });
            }
            Msg::Snap(s) => {
                self.pending.clear();
                self.last_logged = s.zxid;
                self.last_committed = s.zxid;
                self.commit_upto = s.zxid;
                self.durable = s.zxid;
                self.acked = s.zxid;
                out.push(Action::LoadSnapshot(s));
            }
            Msg::Proposal { zxid, txn } => {
                if zxid <= self.last_logged {
                    return out; // a re-sent one we already hold
                }
                self.last_logged = zxid;
                self.pending.insert(zxid, txn.clone());
                out.push(Action::Append { zxid, txn });
            }
            Msg::Inform { zxid, txn } => {
                if zxid <= self.last_committed {
                    return out;
                }
                if zxid > self.last_logged {
                    self.last_logged = zxid;
                    self.pending.insert(zxid, txn.clone());
                    out.push(Action::Append { zxid, txn });
                }
                // At or below our log's end it is one we logged before (the sync kept it):
                // the INFORM is its commit.
                self.commit_upto = self.commit_upto.max(zxid);
                self.apply_ready(&mut out);
            }
            Msg::Commit { zxid } => {
                self.commit_upto = self.commit_upto.max(zxid);
                self.apply_ready(&mut out);
            }
            Msg::NewLeader { zxid } => {
                if epoch_of(zxid) != self.new_epoch {
                    out.push(Action::GiveUp("NEWLEADER for another epoch".into()));
                    return out;
                }
                // The new epoch becomes current, and is acked, only once everything the
                // sync sent is durable: a current epoch persisted over a log that then loses
                // its tail in a crash would win the next election with a history that lacks
                // committed txns.
                self.newleader_ack_at = Some(self.last_logged);
                self.synced_upto = self.last_logged;
                self.maybe_ack(&mut out);
            }
            Msg::UpToDate => {
                self.state = LearnerState::Broadcast;
                // UPTODATE comes once a quorum has acked NEWLEADER, which commits the whole
                // initial history: that includes what we held in our log before the sync (a
                // DIFF does not resend it), so it applies now rather than at the next COMMIT.
                // The initial history is what precedes the new epoch. Txns of the new epoch
                // (a leader already serving) are committed by COMMITs only: the one the sync
                // carries for the leader's commit point, and those after it.
                let initial = self.synced_upto.min(make_zxid(self.new_epoch, 0));
                self.commit_upto = self.commit_upto.max(initial);
                self.apply_ready(&mut out);
            }
            Msg::Ping => out.push(Action::Send {
                to: self.leader,
                msg: Msg::PingReply {
                    touches: Vec::new(),
                },
            }),
            _ => {}
        }
        out
    }

    /// Our log has synced everything up to `zxid`.
    pub fn on_durable(&mut self, zxid: Zxid) -> Vec<Action> {
        let mut out = Vec::new();
        self.durable = self.durable.max(zxid);
        self.maybe_ack(&mut out);
        self.apply_ready(&mut out);
        out
    }

    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Action> {
        let limit = if self.state == LearnerState::Broadcast {
            self.cfg.sync_limit_ticks
        } else {
            self.cfg.init_limit_ticks
        } * self.cfg.tick_ms;
        let since = if self.state == LearnerState::Broadcast {
            self.last_heard_ms
        } else {
            self.started_ms.max(self.last_heard_ms)
        };
        if now_ms >= since + limit {
            return vec![Action::GiveUp(format!(
                "nothing from leader {} for {limit} ms",
                self.leader
            ))];
        }
        // The leader may still be finishing its election: knock again every tick, as
        // ZooKeeper's learner retries its connection.
        if self.state == LearnerState::AwaitLeaderInfo
            && now_ms >= self.last_hello_ms + self.cfg.tick_ms
        {
            self.last_hello_ms = now_ms;
            return vec![self.hello()];
        }
        Vec::new()
    }

    fn maybe_ack(&mut self, out: &mut Vec<Action>) {
        if let Some(at) = self.newleader_ack_at {
            if self.durable >= at {
                self.newleader_ack_at = None;
                self.newleader_acked = true;
                self.current_epoch = self.new_epoch;
                out.push(Action::PersistCurrentEpoch(self.new_epoch));
                // NEWLEADER's ack stands for the history before the new epoch (the leader
                // credits it so); proposals of the new epoch that came with the sync are
                // acked below, after it, like any other.
                self.acked = self.acked.max(at.min(make_zxid(self.new_epoch, 0)));
                out.push(Action::Send {
                    to: self.leader,
                    msg: Msg::Ack {
                        zxid: make_zxid(self.new_epoch, 0),
                    },
                });
            } else {
                return; // no proposal acks before NEWLEADER's
            }
        }
        if self.observer || !self.newleader_acked {
            return;
        }
        let upto = self.durable.min(self.last_logged);
        if upto <= self.acked {
            return;
        }
        // Acks are cumulative (the leader counts one for every proposal at or below it; we
        // log its proposals in order), so a durable report is one ACK, for the newest
        // proposal it covers.
        if let Some((&zxid, _)) = self.pending.range(self.acked + 1..=upto).next_back() {
            out.push(Action::Send {
                to: self.leader,
                msg: Msg::Ack { zxid },
            });
        }
        self.acked = upto;
    }

    /// Applies committed txns in order once they are durably logged here.
    fn apply_ready(&mut self, out: &mut Vec<Action>) {
        while let Some((&zxid, _)) = self.pending.first_key_value() {
            if zxid > self.commit_upto || zxid > self.durable {
                break;
            }
            let txn = self.pending.remove(&zxid).expect("present");
            self.last_committed = zxid;
            out.push(Action::Apply { zxid, txn });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(me: Sid) -> ZabConfig {
        ZabConfig {
            me,
            voters: BTreeSet::from([1, 2, 3]),
            observers: BTreeSet::new(),
            tick_ms: 100,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            commit_log_count: 500,
        }
    }

    fn applied(acts: &[Action]) -> Vec<Zxid> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Apply { zxid, .. } => Some(*zxid),
                _ => None,
            })
            .collect()
    }

    /// A log of epoch 1 holding txns 1..=`n`, of which the first is committed.
    fn epoch1_log(n: u32) -> LogView {
        let txn: Payload = Arc::from(&b"t"[..]);
        LogView {
            accepted_epoch: 1,
            current_epoch: 1,
            last_committed: make_zxid(1, 1),
            base: 0,
            entries: (1..=n).map(|c| (make_zxid(1, c), txn.clone())).collect(),
        }
    }

    /// A restarted follower holds a logged tail the new leader also has: DIFF resends none
    /// of it, and UPTODATE (the leader's initial history is committed) applies it.
    #[test]
    fn uptodate_applies_the_tail_the_learner_already_held() {
        let log = epoch1_log(3);
        let (mut l, _) = Learner::new(cfg(1), 2, &log, 0);
        l.on_message(2, Msg::LeaderInfo { new_epoch: 2 }, 1);
        l.on_message(
            2,
            Msg::Diff {
                zxid: 0x1_0000_0003,
            },
            2,
        );
        let acts = l.on_message(
            2,
            Msg::NewLeader {
                zxid: 0x2_0000_0000,
            },
            3,
        );
        assert!(acts.contains(&Action::PersistCurrentEpoch(2)), "{acts:?}");
        assert!(
            applied(&acts).is_empty(),
            "nothing is committed before UPTODATE"
        );
        let acts = l.on_message(2, Msg::UpToDate, 4);
        assert_eq!(applied(&acts), [0x1_0000_0002, 0x1_0000_0003]);
        assert!(l.is_serving());
        assert_eq!(l.last_committed(), 0x1_0000_0003);
    }

    fn acks(acts: &[Action]) -> Vec<Zxid> {
        acts.iter()
            .filter_map(|a| match a {
                Action::Send {
                    msg: Msg::Ack { zxid },
                    ..
                } => Some(*zxid),
                _ => None,
            })
            .collect()
    }

    /// A syncing learner acks no proposal before it has acked NEWLEADER (its current epoch
    /// is the old one until then); afterwards one ACK covers each durable report.
    #[test]
    fn a_learner_acks_proposals_only_after_newleader() {
        let txn: Payload = Arc::from(&b"t"[..]);
        let (mut l, _) = Learner::new(cfg(1), 2, &LogView::default(), 0);
        l.on_message(2, Msg::LeaderInfo { new_epoch: 2 }, 1);
        l.on_message(2, Msg::Diff { zxid: 0 }, 2);
        for z in [0x2_0000_0001, 0x2_0000_0002] {
            let acts = l.on_message(
                2,
                Msg::Proposal {
                    zxid: z,
                    txn: txn.clone(),
                },
                3,
            );
            assert!(matches!(acts[..], [Action::Append { .. }]), "{acts:?}");
        }
        let acts = l.on_durable(0x2_0000_0002);
        assert!(acks(&acts).is_empty(), "acked before NEWLEADER: {acts:?}");
        // NEWLEADER's ack, then the proposals the sync carried (they are of the new epoch,
        // which NEWLEADER's ack does not cover).
        let acts = l.on_message(
            2,
            Msg::NewLeader {
                zxid: 0x2_0000_0000,
            },
            4,
        );
        assert_eq!(acks(&acts), [0x2_0000_0000, 0x2_0000_0002]);
        l.on_message(2, Msg::UpToDate, 5);
        for z in [0x2_0000_0003, 0x2_0000_0004, 0x2_0000_0005] {
            l.on_message(
                2,
                Msg::Proposal {
                    zxid: z,
                    txn: txn.clone(),
                },
                6,
            );
        }
        let acts = l.on_durable(0x2_0000_0004);
        assert_eq!(acks(&acts), [0x2_0000_0004], "one cumulative ack");
        assert!(acks(&l.on_durable(0x2_0000_0004)).is_empty());
        assert_eq!(acks(&l.on_durable(0x2_0000_0005)), [0x2_0000_0005]);
    }

    /// A learner that joins a leader already serving gets the leader's uncommitted
    /// proposals with its sync. UPTODATE commits the history before the new epoch only:
    /// those proposals apply at their COMMIT, never at UPTODATE (the leader may lose its
    /// quorum before they commit). Found by `sim_zab` (seed 11184 of SIM_SEEDS=20000).
    #[test]
    fn uptodate_does_not_commit_the_new_epochs_proposals() {
        let txn: Payload = Arc::from(&b"t"[..]);
        let (mut l, _) = Learner::new(cfg(1), 2, &epoch1_log(2), 0);
        l.on_message(2, Msg::LeaderInfo { new_epoch: 2 }, 1);
        l.on_message(
            2,
            Msg::Diff {
                zxid: 0x1_0000_0002,
            },
            2,
        );
        for z in [0x2_0000_0001, 0x2_0000_0002] {
            l.on_message(
                2,
                Msg::Proposal {
                    zxid: z,
                    txn: txn.clone(),
                },
                3,
            );
        }
        l.on_message(
            2,
            Msg::NewLeader {
                zxid: 0x2_0000_0000,
            },
            4,
        );
        l.on_durable(0x2_0000_0002);
        let acts = l.on_message(2, Msg::UpToDate, 5);
        assert_eq!(applied(&acts), [0x1_0000_0002], "the old epoch's tail only");
        let acts = l.on_message(
            2,
            Msg::Commit {
                zxid: 0x2_0000_0002,
            },
            6,
        );
        assert_eq!(applied(&acts), [0x2_0000_0001, 0x2_0000_0002]);
    }

    /// Carries messages between a leader (sid 3) and learners until nothing moves; logs are
    /// durable at once. Returns what each learner applied.
    fn pump(
        leader: &mut Leader,
        learners: &mut [(Sid, Learner)],
        out: Vec<(Sid, Action)>,
    ) -> Vec<Vec<Zxid>> {
        let mut applied = vec![Vec::new(); learners.len()];
        let mut out = std::collections::VecDeque::from(out);
        let mut step = 0;
        while let Some((from, a)) = out.pop_front() {
            step += 1;
            assert!(step < 10_000, "no quiet point");
            let idx = |sid| learners.iter().position(|(s, _)| *s == sid);
            match (from, a) {
                (3, Action::Send { to, msg }) => {
                    if let Some(i) = idx(to) {
                        out.extend(
                            learners[i]
                                .1
                                .on_message(3, msg, 1)
                                .into_iter()
                                .map(|a| (to, a)),
                        );
                    }
                }
                (3, Action::Append { zxid, .. }) => {
                    out.extend(leader.on_durable(zxid).into_iter().map(|a| (3, a)))
                }
                (sid, Action::Send { msg, .. }) => {
                    out.extend(leader.on_message(sid, msg, 1).into_iter().map(|a| (3, a)))
                }
                (sid, Action::Append { zxid, .. }) => {
                    let i = idx(sid).expect("a learner");
                    out.extend(learners[i].1.on_durable(zxid).into_iter().map(|a| (sid, a)));
                }
                (sid, Action::Apply { zxid, .. }) if sid != 3 => {
                    applied[idx(sid).expect("a learner")].push(zxid)
                }
                _ => {}
            }
        }
        applied
    }

    /// A follower restarted within the leader's epoch holds part of that epoch's committed
    /// txns in its log. The DIFF does not resend them and UPTODATE does not commit them (they
    /// are of the new epoch): the leader's commit point, sent with the sync, does. Without it
    /// the follower served without them (and refused clients that had seen them) until the
    /// next write. kazoo's test_request_queuing_* (a member stopped and restarted) found it.
    #[test]
    fn a_follower_restarted_within_the_epoch_applies_its_committed_tail() {
        restarted_within_the_epoch_applies_its_committed_tail(1);
    }

    #[test]
    fn an_observer_restarted_within_the_epoch_applies_its_committed_tail() {
        restarted_within_the_epoch_applies_its_committed_tail(4);
    }

    /// Member 4 observes; `who` (1 or 4) stops within the leader's epoch and comes back.
    fn restarted_within_the_epoch_applies_its_committed_tail(who: Sid) {
        let cfg = |me| ZabConfig {
            observers: BTreeSet::from([4]),
            ..cfg(me)
        };
        let txn: Payload = Arc::from(&b"t"[..]);
        let log_at = |epoch| LogView {
            accepted_epoch: epoch,
            current_epoch: epoch,
            last_committed: 0,
            base: 0,
            entries: Vec::new(),
        };
        // Leader 3 and follower 2 establish epoch 3 and commit five txns.
        let (mut leader, acts) = Leader::new(cfg(3), log_at(2), 0);
        let (f2, f2_acts) = Learner::new(cfg(2), 3, &log_at(2), 0);
        leader.on_connect(2, 0);
        let mut learners = vec![(2, f2)];
        let mut out: Vec<(Sid, Action)> = acts.into_iter().map(|a| (3, a)).collect();
        out.extend(f2_acts.into_iter().map(|a| (2, a)));
        pump(&mut leader, &mut learners, out);
        assert!(leader.is_established());
        let epoch = leader.epoch().expect("epoch");
        let mut out = Vec::new();
        for _ in 0..5 {
            let (_, acts) = leader.propose(txn.clone()).expect("propose");
            out.extend(acts.into_iter().map(|a| (3, a)));
        }
        pump(&mut leader, &mut learners, out);
        assert_eq!(leader.last_committed(), make_zxid(epoch, 5));
        // `who` was in this epoch too: it logged all five and had applied three when it
        // stopped. It comes back.
        let held = LogView {
            accepted_epoch: epoch,
            current_epoch: epoch,
            last_committed: make_zxid(epoch, 3),
            base: 0,
            entries: (1..=5)
                .map(|c| (make_zxid(epoch, c), txn.clone()))
                .collect(),
        };
        let (back, back_acts) = Learner::new(cfg(who), 3, &held, 0);
        leader.on_connect(who, 0);
        learners.push((who, back));
        let applied = pump(
            &mut leader,
            &mut learners,
            back_acts.into_iter().map(|a| (who, a)).collect(),
        );
        assert!(learners[1].1.is_serving());
        assert_eq!(applied[1], [make_zxid(epoch, 4), make_zxid(epoch, 5)]);
        assert_eq!(learners[1].1.last_committed(), make_zxid(epoch, 5));
    }

    /// The leader counts no proposal ack from a learner that has not acked NEWLEADER.
    #[test]
    fn the_leader_ignores_proposal_acks_before_newleader() {
        let (mut leader, _) = Leader::new(cfg(3), LogView::default(), 0);
        for sid in [1, 2] {
            leader.on_connect(sid, 0);
            leader.on_message(
                sid,
                Msg::FollowerInfo {
                    accepted_epoch: 0,
                    observer: false,
                },
                1,
            );
        }
        let epoch = leader.epoch().expect("epoch chosen");
        for sid in [1, 2] {
            leader.on_message(
                sid,
                Msg::AckEpoch {
                    last_zxid: 0,
                    current_epoch: 0,
                },
                2,
            );
        }
        // Learner 1 acks NEWLEADER; the leader is established with it.
        let mut acts = leader.on_message(
            1,
            Msg::Ack {
                zxid: make_zxid(epoch, 0),
            },
            3,
        );
        acts.extend(leader.on_durable(make_zxid(epoch, 0)));
        assert!(leader.is_established(), "{acts:?}");
        let (z, _) = leader.propose(Arc::from(&b"p"[..])).expect("propose");
        assert!(
            applied(&leader.on_durable(z)).is_empty(),
            "the leader alone"
        );
        // Learner 2 is still syncing: its ack must not make the quorum.
        let acts = leader.on_message(2, Msg::Ack { zxid: z }, 4);
        assert!(
            applied(&acts).is_empty(),
            "committed on a syncing learner's ack: {acts:?}"
        );
        let acts = leader.on_message(1, Msg::Ack { zxid: z }, 5);
        assert_eq!(applied(&acts), [z]);
    }

    fn gives_up(acts: &[Action]) -> bool {
        acts.iter().any(|a| matches!(a, Action::GiveUp(_)))
    }

    /// Redialing a leader that never answers does not restart initLimit (1 s here).
    #[test]
    fn learner_redials_count_init_limit_from_the_first_dial() {
        let (first, _) = Learner::new(cfg(1), 3, &LogView::default(), 0);
        let (mut again, _) = Learner::new(cfg(1), 3, &LogView::default(), 900);
        again.continue_from(&first);
        assert!(!gives_up(&again.on_tick(999)));
        assert!(gives_up(&again.on_tick(1000)));
        // A different leader is a new attempt.
        let (mut other, _) = Learner::new(cfg(1), 2, &LogView::default(), 900);
        other.continue_from(&first);
        assert!(!gives_up(&other.on_tick(1000)));
    }
}

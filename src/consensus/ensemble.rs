//! The consensus core as an ensemble member, ZooKeeper's QuorumPeer: elect, run the elected
//! role (the `quorum::zab` machines) until it gives up, close every client connection, and
//! elect again.
//!
//! - Leader: a write gets its zxid from `Leader::propose`; it is applied to the speculative
//!   tree at once (later writes are prepped against it) and released to the net cores when
//!   the machine's `Apply` says a quorum holds it durably. Requests forwarded by learners
//!   are prepped the same way; their failures are committed as error txns so the learner
//!   answers in order. Sessions expire here only; learners' touches arrive in PING replies.
//! - Follower and observer: writes, session creation and closing, and sync go to the
//!   leader; reconnects are revalidated with it. `Apply` applies a committed txn to the tree
//!   and answers the local client it belongs to, matched by (session, cxid).
//! - Changing role: the uncommitted log tail stays in `history` (it is logged) and the tree
//!   goes back to the last committed version; the next election votes with the last logged
//!   zxid, and the new leader's sync (DIFF, TRUNC or SNAP) settles the tail.
//!
//! At start-up the recovered log is not known to be committed past the snapshot, so the
//! tree starts at the snapshot and every logged txn after it is held as an uncommitted tail
//! (ZooKeeper applies its whole log and reloads on TRUNC; holding it back means TRUNC needs
//! no reload).

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::ack_timing::AckTiming;
use super::msg::{Committed, Reply, ReplyBody};
use super::role::ServerRole;
use super::{forward, granted, reconfig, refused, wall_ms, ConsensusCore, Pending};
use crate::doorbell::Sleeper;
use crate::fasthash::HashMap;
use crate::prep::{self, PrepCtx};
use crate::proto::opcode as op;
use crate::proto::records::ConnectRequest;
use crate::proto::request::{decode_request, Request};
use crate::proto::ErrorCode;
use crate::quorum::election::{Election, ElectionConfig, Notification, Output};
use crate::quorum::election_net::{ElectionNet, ElectionNetConfig};
use crate::quorum::vote::{PeerState, Sid};
use crate::quorum::zab::{Action, Leader, Learner, LogView, Msg, Payload, SnapshotRef, ZabConfig};
use crate::quorum::zab_net::{ZabEvent, ZabNet};
use crate::session::{session_password, ConnRef, SessionTracker};
use crate::settings::EnsembleSettings;
use crate::storage::epochs::{self, EpochFiles};
use crate::storage::group_commit::LogEntry;
use crate::tree::TxnResult;
use crate::txn::{SessionId, Txn, TxnBody, Zxid};

const CONFIG_NODE: &str = "/zookeeper/config";

/// Committed txns kept in memory for DIFF sync (ZooKeeper's `commitLogCount`).
const COMMIT_LOG_COUNT: usize = 500;
/// Pause before dialing a leader that refused or was not listening yet.
const REDIAL_MS: u64 = 200;

pub(super) enum Role {
    Looking,
    Leading(Box<Leader>),
    Following(Box<Learner>),
}

/// A SNAP a helper thread serialised onto a learner's link: for which learner, which
/// request, and the bytes sent (or why not).
pub(super) struct SnapshotDone {
    to: Sid,
    generation: u64,
    sent: Result<u64, String>,
}

/// What the recovered log holds beyond the snapshot the tree was loaded from.
pub struct RecoveredTail {
    /// The snapshot's zxid (the tree's).
    pub base: Zxid,
    /// Logged txns after it, in order, encoded.
    pub entries: Vec<(Zxid, Payload)>,
}

pub(super) struct Ensemble {
    cfg: EnsembleSettings,
    zab_cfg: ZabConfig,
    election: Election,
    election_net: ElectionNet,
    pub(super) election_rx: Receiver<(Sid, Notification)>,
    pub(super) zab_net: ZabNet,
    epochs: EpochFiles,
    accepted_epoch: i64,
    current_epoch: i64,
    pub(super) role: Role,
    serving: bool,
    looking_since: Instant,
    /// Learner: whether the leader has answered on the current link, and when to dial
    /// again if the link closed before it did.
    linked: bool,
    redial_at: Option<u64>,
    /// Logged txns: the newest committed ones (up to COMMIT_LOG_COUNT, for the leader's
    /// DIFF) and every one above the commit point.
    history: VecDeque<(Zxid, Payload)>,
    /// The zxid just before `history`'s first entry.
    history_base: Zxid,
    last_logged: Zxid,
    // Learner: requests waiting for the leader, answered when their txn commits.
    forwarded: HashMap<(SessionId, i32), Reply>,
    connects: HashMap<SessionId, Reply>,
    revalidating: HashMap<SessionId, VecDeque<(ConnRef, ConnectRequest)>>,
    syncs: VecDeque<Reply>,
    pub(super) touched: BTreeSet<SessionId>,
    // Leader: forwarded syncs, answered once everything proposed before them commits.
    sync_waiters: VecDeque<(Zxid, Sid)>,
    /// Leader: learners whose SNAP is being serialised (off this thread), with the messages
    /// that must follow it, held back so the link keeps its order.
    snapshots: HashMap<Sid, (u64, Vec<Msg>)>,
    snapshot_generation: u64,
    snap_tx: crate::doorbell::Sender<SnapshotDone>,
    pub(super) snap_rx: Receiver<SnapshotDone>,
    /// Leader: the member each session's client is connected to, as last created or
    /// revalidated there; writes arriving through another member fail with SESSIONMOVED.
    session_server: HashMap<SessionId, Sid>,
    /// Leader: when each proposal went out, for the per-follower ACK wait metric.
    ack_timing: AckTiming,
}

impl Ensemble {
    /// Binds the election port and starts both transports; nothing is sent until the core
    /// starts looking.
    pub fn start(
        cfg: EnsembleSettings,
        tick_ms: u64,
        data_dir: &std::path::Path,
        tail: RecoveredTail,
        config_text: Vec<u8>,
        sleeper: &Sleeper,
    ) -> anyhow::Result<Ensemble> {
        use anyhow::Context;
        let me = cfg.me;
        let epochs = EpochFiles::new(data_dir);
        let last_logged = tail.entries.last().map_or(tail.base, |e| e.0);
        // A server that never ran in an ensemble has no epoch files: its epoch is its
        // log's (ZooKeeper does the same).
        let log_epoch = crate::quorum::vote::epoch_of(last_logged);
        let current_epoch = epochs
            .read(epochs::CURRENT)
            .context("reading currentEpoch")?
            .unwrap_or(log_epoch);
        let accepted_epoch = epochs
            .read(epochs::ACCEPTED)
            .context("reading acceptedEpoch")?
            .unwrap_or(current_epoch);
        let (etx, election_rx) = sleeper.channel();
        let peers = cfg
            .election_addrs
            .iter()
            .filter(|(&s, _)| s != me)
            .map(|(&s, a)| (s, a.clone()))
            .collect();
        let election_net = ElectionNet::start(
            ElectionNetConfig {
                me,
                listen: cfg.election_listen,
                peers,
                config_text,
            },
            etx,
        )
        .with_context(|| format!("binding the election port {}", cfg.election_listen))?;
        let (snap_tx, snap_rx) = sleeper.channel();
        let zab_net = ZabNet::start(me, sleeper.registry()?, sleeper.bell())
            .context("starting the quorum transport")?;
        let zab_cfg = ZabConfig {
            me,
            voters: cfg.voters.clone(),
            observers: cfg.observers.clone(),
            tick_ms,
            init_limit_ticks: cfg.init_limit_ticks,
            sync_limit_ticks: cfg.sync_limit_ticks,
            commit_log_count: COMMIT_LOG_COUNT,
        };
        let mut ecfg = ElectionConfig::new(me, cfg.voters.iter().copied());
        // The first resend comes soon; later ones back off (ZooKeeper: 200 ms .. 60 s).
        ecfg.max_notification_interval_ms = ecfg.max_notification_interval_ms.min(tick_ms * 4);
        Ok(Ensemble {
            election: Election::new(ecfg),
            election_net,
            election_rx,
            zab_net,
            epochs,
            accepted_epoch,
            current_epoch,
            role: Role::Looking,
            serving: false,
            looking_since: Instant::now(),
            linked: false,
            redial_at: None,
            history: tail.entries.into(),
            history_base: tail.base,
            last_logged,
            forwarded: HashMap::default(),
            connects: HashMap::default(),
            revalidating: HashMap::default(),
            syncs: VecDeque::new(),
            touched: BTreeSet::new(),
            sync_waiters: VecDeque::new(),
            session_server: HashMap::default(),
            ack_timing: AckTiming::default(),
            snapshots: HashMap::default(),
            snapshot_generation: 0,
            snap_tx,
            snap_rx,
            zab_cfg,
            cfg,
        })
    }

    pub(super) fn me(&self) -> Sid {
        self.cfg.me
    }

    pub(super) fn is_serving(&self) -> bool {
        self.serving
    }

    fn is_observer(&self) -> bool {
        self.cfg.observers.contains(&self.cfg.me)
    }

    /// Keeps at most COMMIT_LOG_COUNT committed entries.
    fn trim_history(&mut self, committed: Zxid) {
        // Called on every commit: the history is in zxid order, so no scan.
        let committed_count = self.history.partition_point(|e| e.0 <= committed);
        for _ in COMMIT_LOG_COUNT..committed_count {
            if let Some((z, _)) = self.history.pop_front() {
                self.history_base = z;
            }
        }
    }
}

impl ConsensusCore {
    /// Makes this core an ensemble member; `self.tree` must be the snapshot `tail` follows.
    pub fn with_ensemble(
        mut self,
        cfg: EnsembleSettings,
        tail: RecoveredTail,
    ) -> anyhow::Result<Self> {
        let config_text = self.settings.config_text.clone().into_bytes();
        let sleeper = self
            .sleeper
            .as_ref()
            .expect("the consensus thread's sleeper until it runs");
        let e = Ensemble::start(
            cfg,
            self.settings.tick_time_ms,
            &self.settings.data_dir,
            tail,
            config_text,
            sleeper,
        )?;
        self.last_zxid = self.tree.last_zxid();
        self.durable_zxid = e.last_logged;
        // Each member shows its membership in /zookeeper/config (a reconfig's text, once
        // one committed, comes with the tree).
        let shown = self.tree.get(CONFIG_NODE).and_then(|n| n.data.clone());
        if shown.as_deref().is_none_or(|d| d.is_empty()) {
            let text = reconfig::text(&e.cfg.specs, 0);
            self.tree.set_config_data(text.as_bytes());
            self.committed_tree = Arc::new(self.tree.clone());
        }
        self.shared.role.set(ServerRole::Looking);
        self.ens = Some(Box::new(e));
        Ok(self)
    }

    pub(super) fn is_leading(&self) -> bool {
        self.ens
            .as_ref()
            .is_some_and(|e| e.serving && matches!(e.role, Role::Leading(_)))
    }

    pub(super) fn next_zxid(&self) -> Option<Zxid> {
        match self.ens.as_deref() {
            None => Some(self.last_zxid + 1),
            Some(Ensemble {
                role: Role::Leading(l),
                ..
            }) => l.next_zxid(),
            Some(_) => None,
        }
    }

    fn ens(&mut self) -> &mut Ensemble {
        self.ens.as_mut().expect("an ensemble member")
    }

    // ---- elections ---------------------------------------------------------------------

    /// Leaves the current role (closing every client connection) and starts an election.
    pub(super) fn go_looking(&mut self, why: &str) {
        self.now = Instant::now();
        let now = self.now_ms();
        let was = self.shared.role.get();
        tracing::info!("{}: {why}; LOOKING", was.name());
        self.leave_ensemble();
        let e = self.ens();
        e.looking_since = Instant::now();
        let (last, epoch) = (e.last_logged, e.current_epoch);
        let outs = e.election.start(now, last, epoch);
        self.on_election_outputs(outs);
    }

    /// Drops the role: links closed, clients evicted, work in flight forgotten (its clients
    /// are gone), the log drained, the tree back at the last commit.
    pub(super) fn leave_ensemble(&mut self) {
        let e = self.ens.as_mut().expect("an ensemble member");
        if matches!(e.role, Role::Leading(_)) {
            e.zab_net.stop_listening();
        }
        e.zab_net.close_all();
        e.role = Role::Looking;
        e.serving = false;
        e.linked = false;
        e.redial_at = None;
        e.forwarded.clear();
        e.connects.clear();
        e.revalidating.clear();
        e.syncs.clear();
        e.touched.clear();
        e.sync_waiters.clear();
        e.session_server.clear();
        e.snapshots.clear();
        let last_logged = e.last_logged;
        self.shared.role.set(ServerRole::Looking);
        self.post_evict_all();
        self.pending.clear();
        self.drop_group();
        self.shared.outstanding.store(0, Ordering::Relaxed);
        // Vote with what is durable: wait for the log to sync what it was given.
        while self.durable_zxid < last_logged {
            match self.durable_rx.recv() {
                Ok(z) => self.durable_zxid = self.durable_zxid.max(z),
                Err(_) => break,
            }
        }
        self.now = Instant::now();
        self.refresh_committed_tree();
        self.tree = (*self.committed_tree).clone();
        self.last_zxid = self.committed_zxid;
        // Txns the machine committed but a group still held are the uncommitted tail now:
        // logged, in `history`, settled by the next leader's sync.
        self.commit_point = self.committed_zxid;
        self.flush();
    }

    pub(super) fn on_notification(&mut self, from: Sid, n: Notification) {
        let now = self.now_ms();
        let outs = self.ens().election.on_notification(now, from, n);
        self.on_election_outputs(outs);
    }

    fn on_election_outputs(&mut self, outs: Vec<Output>) {
        let mut queue = VecDeque::from(outs);
        while let Some(o) = queue.pop_front() {
            let me = self.ens().cfg.me;
            match o {
                Output::Send { to, msg } if to == me => {
                    let now = self.now_ms();
                    queue.extend(self.ens().election.on_notification(now, me, msg));
                }
                Output::Send { to, msg } => {
                    let e = self.ens();
                    e.election_net.send(to, &msg, &[]);
                }
                Output::Decided { state, vote, round } => {
                    let took = self.ens().looking_since.elapsed();
                    tracing::info!(
                        "election round {round} decided in {} ms: leader {} (zxid {:#x}, epoch {}), we are {:?}",
                        took.as_millis(),
                        vote.leader,
                        vote.zxid,
                        vote.peer_epoch,
                        state
                    );
                    if let Some(m) = &self.metrics {
                        m.record_election(took.as_millis() as u64);
                    }
                    self.start_role(state, vote.leader);
                }
            }
        }
    }

    fn log_view(&self) -> LogView {
        let e = self.ens.as_ref().expect("an ensemble member");
        LogView {
            accepted_epoch: e.accepted_epoch,
            current_epoch: e.current_epoch,
            last_committed: self.committed_zxid,
            base: e.history_base,
            entries: e.history.iter().cloned().collect(),
        }
    }

    fn start_role(&mut self, state: PeerState, leader: Sid) {
        let now = self.now_ms();
        let log = self.log_view();
        let e = self.ens();
        let cfg = e.zab_cfg.clone();
        if state == PeerState::Leading {
            if let Err(err) = e.zab_net.listen(e.cfg.quorum_listen) {
                let why = format!("cannot listen on {}: {err}", e.cfg.quorum_listen);
                self.go_looking(&why);
                return;
            }
            let (l, acts) = Leader::new(cfg, log, now);
            self.ens().role = Role::Leading(Box::new(l));
            self.ens().ack_timing = AckTiming::default();
            self.run_zab(acts);
        } else {
            let addr = e.cfg.quorum_addrs.get(&leader).cloned().unwrap_or_default();
            let (l, _hello) = Learner::new(cfg, leader, &log, now);
            e.role = Role::Following(Box::new(l));
            e.linked = false;
            // FOLLOWERINFO goes out once the link is up (a fresh machine says it).
            e.zab_net.connect(leader, addr);
        }
    }

    // ---- Zab -----------------------------------------------------------------------------

    pub(super) fn on_zab_event(&mut self, ev: ZabEvent) {
        let now = self.now_ms();
        match ev {
            ZabEvent::Connected(sid) => match &mut self.ens().role {
                Role::Leading(l) => {
                    l.on_connect(sid, now);
                    self.ens().snapshots.remove(&sid);
                }
                Role::Following(l) if l.leader() == sid => {
                    let log = self.log_view();
                    let e = self.ens();
                    let (mut l, acts) = Learner::new(e.zab_cfg.clone(), sid, &log, now);
                    if let Role::Following(earlier) = &e.role {
                        l.continue_from(earlier);
                    }
                    e.role = Role::Following(Box::new(l));
                    self.run_zab(acts);
                }
                _ => {}
            },
            ZabEvent::Disconnected(sid, why) => match &mut self.ens().role {
                Role::Leading(l) => {
                    tracing::info!("learner {sid} disconnected: {why}");
                    l.on_disconnect(sid);
                    self.ens().snapshots.remove(&sid);
                    self.ens().ack_timing.forget(sid);
                }
                Role::Following(l) if l.leader() == sid => {
                    let e = self.ens();
                    if e.linked || e.serving {
                        self.go_looking(&format!("lost the leader {sid}: {why}"));
                    } else {
                        // It may not be listening yet; initLimit, counted from the first
                        // dial (`Learner::continue_from`), bounds the retries.
                        e.redial_at = Some(now + REDIAL_MS);
                    }
                }
                _ => {}
            },
            ZabEvent::Message(from, msg) => self.on_zab_message(from, msg, now),
        }
    }

    fn on_zab_message(&mut self, from: Sid, msg: Msg, now: u64) {
        let e = self.ens();
        let leading = matches!(e.role, Role::Leading(_));
        if let Role::Following(l) = &e.role {
            // The leader answered: from now on losing the link means losing the leader. (A
            // connection that closes before any answer — the leader not listening yet, or a
            // proxy in between whose own dial was refused — is retried within initLimit.)
            e.linked |= l.leader() == from;
        }
        // Messages for the caller, not the machine (the machine still notes the peer is alive).
        match &msg {
            Msg::Request {
                session_id,
                cxid,
                op,
                body,
            } if leading => {
                let (s, c, o, b) = (*session_id, *cxid, *op, body.clone());
                self.leader_request(from, s, c, o, &b);
            }
            Msg::Revalidate {
                session_id,
                timeout_ms,
            } if leading => {
                let (id, timeout) = (*session_id, *timeout_ms);
                let valid = self.sessions.is_alive(id);
                if valid {
                    self.ens().session_server.insert(id, from);
                    self.sessions.set_timeout(id, timeout, now);
                    // The client moved to another server: its connection here goes.
                    if let Some(old) = self.sessions.owner(id) {
                        self.sessions.clear_owner(id, old);
                        self.post_evict(old);
                    }
                }
                self.ens().zab_net.send(
                    from,
                    &Msg::RevalidateReply {
                        session_id: id,
                        valid,
                    },
                );
            }
            Msg::Ack { zxid } if leading => {
                let now = self.now;
                let wait = self.ens().ack_timing.acked(from, *zxid, now);
                if let (Some(w), Some(m)) = (wait, &self.metrics) {
                    m.record_proposal_ack(from, w.as_micros() as u64);
                }
            }
            Msg::PingReply { touches } if leading => {
                for (id, _) in touches {
                    self.sessions.touch(*id, now);
                }
            }
            Msg::SyncDone { zxid } if !leading => {
                if let Some(r) = self.ens().syncs.pop_front() {
                    self.marker_after(r, *zxid);
                }
            }
            Msg::RevalidateReply { session_id, valid } if !leading => {
                self.revalidated(*session_id, *valid);
            }
            _ => {}
        }
        let acts = match &mut self.ens().role {
            Role::Leading(l) => l.on_message(from, msg, now),
            Role::Following(l) => l.on_message(from, msg, now),
            Role::Looking => return,
        };
        self.run_zab(acts);
        self.check_learner_serving();
    }

    fn check_learner_serving(&mut self) {
        let e = self.ens();
        if e.serving {
            return;
        }
        if let Role::Following(l) = &e.role {
            if l.is_serving() {
                e.serving = true;
                let (role, leader) = (
                    if e.is_observer() {
                        ServerRole::Observer
                    } else {
                        ServerRole::Follower
                    },
                    l.leader(),
                );
                self.shared.role.set(role);
                tracing::info!(
                    "{}: synced with leader {leader} at zxid {:#x}; serving clients",
                    role.name().to_uppercase(),
                    self.committed_zxid
                );
            }
        }
    }

    pub(super) fn ensemble_durable(&mut self, z: Zxid) {
        let acts = match &mut self.ens().role {
            Role::Leading(l) => l.on_durable(z),
            Role::Following(l) => l.on_durable(z),
            Role::Looking => return,
        };
        self.run_zab(acts);
        self.check_learner_serving();
    }

    pub(super) fn ensemble_tick(&mut self, now: u64) {
        let e = self.ens();
        if e.redial_at.is_some_and(|at| now >= at) {
            e.redial_at = None;
            if let Role::Following(l) = &e.role {
                let leader = l.leader();
                let addr = e.cfg.quorum_addrs.get(&leader).cloned().unwrap_or_default();
                e.zab_net.connect(leader, addr);
            }
        }
        let acts = match &mut e.role {
            Role::Leading(l) => l.on_tick(now),
            Role::Following(l) => l.on_tick(now),
            Role::Looking => {
                if e.election.deadline().is_some_and(|d| now >= d) {
                    let outs = e.election.on_timer(now);
                    self.on_election_outputs(outs);
                }
                return;
            }
        };
        self.run_zab(acts);
    }

    /// Carries out the machine's actions in order; stops at a GiveUp.
    fn run_zab(&mut self, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Send { to, mut msg } => {
                    if let Msg::PingReply { touches } = &mut msg {
                        let e = self.ens.as_mut().expect("an ensemble member");
                        let touched = std::mem::take(&mut e.touched);
                        touches.extend(
                            touched
                                .into_iter()
                                .map(|id| (id, self.sessions.timeout_ms(id).unwrap_or(0))),
                        );
                    }
                    let e = self.ens();
                    match e.snapshots.get_mut(&to) {
                        Some((_, held)) => held.push(msg),
                        None => e.zab_net.send(to, &msg),
                    }
                }
                Action::PersistAcceptedEpoch(epoch) => {
                    let e = self.ens();
                    if let Err(err) = e.epochs.write(epochs::ACCEPTED, epoch) {
                        crate::storage::fatal(&format!("persisting acceptedEpoch: {err}"));
                    }
                    e.accepted_epoch = epoch;
                }
                Action::PersistCurrentEpoch(epoch) => {
                    let e = self.ens();
                    if let Err(err) = e.epochs.write(epochs::CURRENT, epoch) {
                        crate::storage::fatal(&format!("persisting currentEpoch: {err}"));
                    }
                    e.current_epoch = epoch;
                }
                Action::Append { zxid, txn } => self.append(zxid, txn),
                Action::Truncate { zxid } => self.truncate(zxid),
                Action::LoadSnapshot(s) => {
                    if let Err(why) = self.load_snapshot(s) {
                        self.go_looking(&why);
                        return;
                    }
                }
                Action::SendSnapshot { to, zxid } => self.send_snapshot(to, zxid),
                Action::Apply { zxid, txn } => self.apply_committed(zxid, &txn),
                Action::Serving => {
                    let now = self.now_ms();
                    let mut sessions = SessionTracker::new(
                        self.settings.tick_time_ms,
                        self.settings.server_id,
                        wall_ms() as u64,
                    );
                    for (id, timeout) in self.tree.sessions() {
                        sessions.add(id, timeout, now);
                    }
                    self.sessions = sessions;
                    self.ens().serving = true;
                    self.shared.role.set(ServerRole::Leader);
                    tracing::info!(
                        "LEADING: a quorum synced with us at zxid {:#x}; serving clients",
                        self.committed_zxid
                    );
                }
                Action::Disconnect { sid, why } => {
                    tracing::info!("dropping learner {sid}: {why}");
                    let e = self.ens();
                    e.zab_net.close(sid);
                    e.snapshots.remove(&sid);
                }
                Action::GiveUp(why) => {
                    self.go_looking(&why);
                    return;
                }
            }
        }
    }

    fn append(&mut self, zxid: Zxid, txn: Payload) {
        self.log.append(LogEntry {
            zxid,
            txn: txn.to_vec(),
        });
        let e = self.ens();
        e.history.push_back((zxid, txn));
        e.last_logged = zxid;
        self.publish_log_queue();
    }

    fn truncate(&mut self, zxid: Zxid) {
        match self.log.truncate_after(zxid) {
            Ok(cut) => tracing::warn!(
                "TRUNC from the leader: dropped {} logged txn(s) and {} segment(s) above {zxid:#x}, which it never committed",
                cut.records,
                cut.segments
            ),
            Err(err) => crate::storage::fatal(&format!("truncating the log: {err:#}")),
        }
        let e = self.ens();
        e.history.retain(|h| h.0 <= zxid);
        e.last_logged = zxid;
        self.durable_zxid = self.durable_zxid.min(zxid);
    }

    /// SNAP sync: the leader's tree replaces ours, made durable as a snapshot file before
    /// anything after it is logged (recovery starts from it).
    fn load_snapshot(&mut self, s: SnapshotRef) -> Result<(), String> {
        let tree = crate::storage::snapshot::load_from(&s.bytes[..], s.bytes.len() as u64)
            .map_err(|e| format!("the leader's snapshot does not load: {e}"))?;
        if tree.last_zxid() != s.zxid {
            return Err(format!(
                "the leader's snapshot holds zxid {:#x}, not {:#x}",
                tree.last_zxid(),
                s.zxid
            ));
        }
        // The bytes just loaded are the snapshot, checked: kept as they came.
        if let Err(e) =
            crate::storage::snapshot::write_snapshot_bytes(&self.settings.data_dir, &tree, &s.bytes)
        {
            crate::storage::fatal(&format!("writing the leader's snapshot: {e}"));
        }
        tracing::info!(
            "SNAP from the leader: loaded {} nodes at zxid {:#x}",
            tree.node_count(),
            s.zxid
        );
        self.tree = tree;
        self.last_zxid = s.zxid;
        self.durable_zxid = self.durable_zxid.max(s.zxid);
        let e = self.ens();
        e.history.clear();
        e.history_base = s.zxid;
        e.last_logged = s.zxid;
        self.publish(Committed {
            zxid: s.zxid,
            tree: Some(Arc::new(self.tree.clone())),
            events: Vec::new(),
            reply: None,
            close: None,
        });
        Ok(())
    }

    /// SNAP sync: serialises the committed tree on a helper thread (a large tree takes a
    /// while; the leader keeps committing meanwhile) and holds back what follows it for `to`.
    fn send_snapshot(&mut self, to: Sid, zxid: Zxid) {
        self.refresh_committed_tree();
        let tree = match self.tree_at(zxid) {
            Ok(t) => t,
            Err(why) => {
                tracing::error!("cannot build the tree at {zxid:#x} for SNAP to {to}: {why}");
                self.ens().zab_net.close(to);
                return;
            }
        };
        let e = self.ens();
        // Everything queued for `to` so far goes first; what follows waits in `held` until
        // the helper has written the whole snapshot onto the link.
        let Some(mut link) = e
            .zab_net
            .snapshot_stream(to, crate::storage::snapshot::size_hint(&tree))
        else {
            return; // no link: its Disconnected event follows
        };
        e.snapshot_generation += 1;
        let generation = e.snapshot_generation;
        e.snapshots.insert(to, (generation, Vec::new()));
        let done = e.snap_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("rk-snap-sync".into())
            .spawn(move || {
                let started = Instant::now();
                let sent = crate::storage::snapshot::stream(&mut link, &tree)
                    .map_err(|e| e.to_string())
                    .and_then(|_| link.finish(zxid).map_err(|e| e.to_string()));
                if let Ok(b) = &sent {
                    tracing::info!(
                        "SNAP to {to}: {b} bytes at zxid {zxid:#x} serialised and sent in {} ms",
                        started.elapsed().as_millis()
                    );
                }
                let _ = done.send(SnapshotDone {
                    to,
                    generation,
                    sent,
                });
            });
        if let Err(err) = spawned {
            tracing::error!("cannot start serialising a snapshot for {to}: {err}");
            e.snapshots.remove(&to);
            e.zab_net.close(to);
        }
    }

    /// A SNAP is on the link: send what was held back behind it.
    pub(super) fn on_snapshot_done(&mut self, d: SnapshotDone) {
        let e = self.ens();
        if e.snapshots.get(&d.to).map(|s| s.0) != Some(d.generation) {
            return; // the learner left (or reconnected) meanwhile
        }
        let (_, held) = e.snapshots.remove(&d.to).expect("checked");
        match d.sent {
            Ok(_) => {
                for m in held {
                    e.zab_net.send(d.to, &m);
                }
            }
            Err(err) => {
                tracing::error!("cannot send the tree to {}: {err}", d.to);
                e.zab_net.close(d.to);
            }
        }
    }

    /// The committed tree as of `zxid`: `committed_tree`, plus the committed txns after it
    /// that a group still holds, replayed from `history`.
    fn tree_at(&self, zxid: Zxid) -> Result<Arc<crate::tree::DataTree>, String> {
        let base = self.committed_tree.last_zxid();
        if base == zxid {
            return Ok(self.committed_tree.clone());
        }
        if base > zxid {
            return Err(format!("the committed tree is already at {base:#x}"));
        }
        let e = self.ens.as_ref().expect("an ensemble member");
        let mut tree = (*self.committed_tree).clone();
        for (z, payload) in e.history.iter().filter(|(z, _)| *z > base && *z <= zxid) {
            let txn = Txn::decode(payload).map_err(|err| format!("txn {z:#x}: {err}"))?;
            tree.apply(&txn);
        }
        if tree.last_zxid() != zxid {
            return Err(format!(
                "history reaches {:#x}, not {zxid:#x}",
                tree.last_zxid()
            ));
        }
        Ok(Arc::new(tree))
    }

    /// The machine says `zxid` is committed.
    fn apply_committed(&mut self, zxid: Zxid, payload: &[u8]) {
        // Our own txns are contiguous from the first pending one; some before `zxid` may be
        // held for the rest of their group (`group`).
        let ours = self
            .pending
            .iter()
            .find_map(|p| match p {
                Pending::Txn(c, _) => Some(c.zxid),
                Pending::Marker { .. } => None,
            })
            .is_some_and(|first| first <= zxid);
        self.commit_point = self.commit_point.max(zxid);
        if ours {
            // Prepped here and already in the (speculative) tree.
            self.release(zxid);
        } else {
            self.apply_foreign(zxid, payload);
            let committed = self.committed_zxid;
            self.release(committed);
        }
        let committed = self.committed_zxid;
        self.ens().trim_history(committed);
        self.answer_syncs();
    }

    /// A committed txn this server did not prep: a learner's, or a new leader's inherited
    /// tail.
    fn apply_foreign(&mut self, zxid: Zxid, payload: &[u8]) {
        let txn = match Txn::decode(payload) {
            Ok(t) if t.zxid() == zxid => t,
            Ok(t) => crate::storage::fatal(&format!(
                "committed txn {zxid:#x} carries zxid {:#x}",
                t.zxid()
            )),
            Err(e) => crate::storage::fatal(&format!("committed txn {zxid:#x} is unreadable: {e}")),
        };
        let now = self.now_ms();
        let session = txn.header.session_id;
        // The reply this member owes for the txn, if a client of its own sent it; taken out
        // before the apply so the outbox can make room for it first (`make_room_for_reply`).
        let waiting = {
            let e = self.ens.as_mut().expect("an ensemble member");
            match &txn.body {
                TxnBody::CreateSession { .. } => e.connects.remove(&session),
                _ => e.forwarded.remove(&(session, txn.header.cxid)),
            }
        };
        if let Some(r) = &waiting {
            self.make_room_for_reply(r);
        }
        let applied = self.tree.apply(&txn);
        self.last_zxid = self.last_zxid.max(zxid);
        if let TxnBody::CreateSession { timeout_ms } = &txn.body {
            self.sessions.add(session, *timeout_ms, now);
        }
        let reply = waiting.map(|mut r| {
            r.zxid = zxid;
            match &txn.body {
                TxnBody::CreateSession { .. } => {
                    self.sessions.set_owner(session, r.to);
                }
                _ => r.body = ReplyBody::Result(applied.result.clone()),
            }
            self.config_reply(&mut r);
            r
        });
        let close = match applied.result {
            TxnResult::SessionClosed => {
                let owner = self.sessions.remove(session);
                reply.as_ref().map(|r| r.to).or(owner)
            }
            _ => None,
        };
        // A learner's tree holds nothing speculative: the flush versions its txns together.
        // A leader applies foreign txns only while it holds none of its own in flight.
        let speculative = self.pending.iter().any(|p| matches!(p, Pending::Txn(..)));
        self.publish(Committed {
            zxid,
            tree: speculative.then(|| Arc::new(self.tree.clone())),
            events: applied.events,
            reply,
            close,
        });
    }

    // ---- requests on the leader ------------------------------------------------------------

    /// Submits through Zab: the machine gives the zxid, logs it and sends the proposals.
    pub(super) fn propose(&mut self, zxid: Zxid, txn: Vec<u8>) {
        let acts = match &mut self.ens().role {
            Role::Leading(l) => match l.propose(txn.into()) {
                Some((z, acts)) => {
                    debug_assert_eq!(z, zxid);
                    acts
                }
                None => crate::storage::fatal("proposing without an established epoch"),
            },
            _ => crate::storage::fatal("proposing while not leading"),
        };
        let now = self.now;
        self.ens().ack_timing.proposed(zxid, now);
        self.run_zab(acts);
    }

    /// A client request a learner forwarded. Failures are committed as error txns so the
    /// learner answers its client in order with everything else.
    fn leader_request(
        &mut self,
        from: Sid,
        session: SessionId,
        cxid: i32,
        opcode: i32,
        body: &[u8],
    ) {
        if !self.ens().serving {
            return;
        }
        let now = self.now_ms();
        match opcode {
            op::CREATE_SESSION => {
                let timeout = body
                    .get(..4)
                    .map_or(self.settings.min_session_timeout_ms, |b| {
                        i32::from_be_bytes([b[0], b[1], b[2], b[3]])
                    });
                self.sessions.add(session, timeout, now);
                self.ens().session_server.insert(session, from);
                self.submit(
                    session,
                    0,
                    TxnBody::CreateSession {
                        timeout_ms: timeout,
                    },
                    None,
                    None,
                );
            }
            op::CLOSE_SESSION => {
                if let Some(owner) = self.sessions.owner(session) {
                    self.sessions.clear_owner(session, owner);
                    self.post_evict(owner);
                }
                self.sessions.set_closing(session);
                let body = prep::prep_close_session(&self.tree, session);
                self.submit(session, cxid, body, None, None);
            }
            op::SYNC => {
                // The machine's commit point, not the (group-held) view: the COMMITs up to it
                // are already on the link, so SyncDone follows exactly the txns before it.
                if self.last_zxid <= self.commit_point {
                    let zxid = self.commit_point;
                    self.ens().zab_net.send(from, &Msg::SyncDone { zxid });
                } else {
                    let after = self.last_zxid;
                    self.ens().sync_waiters.push_back((after, from));
                }
            }
            _ => {
                let body = match forward::decode(body)
                    .ok()
                    .and_then(|(ids, raw)| decode_request(opcode, raw).ok().map(|r| (ids, r)))
                {
                    None => TxnBody::Error {
                        err: ErrorCode::MarshallingError.code(),
                    },
                    Some(_) if !self.sessions.touch(session, now) => TxnBody::Error {
                        err: ErrorCode::SessionExpired.code(),
                    },
                    Some(_) if self.moved_away(session, from) => TxnBody::Error {
                        err: ErrorCode::SessionMoved.code(),
                    },
                    Some((ids, Request::Reconfig(r))) => self.prep_reconfig(&r, &ids),
                    Some((ids, req)) => {
                        let ctx = PrepCtx {
                            session_id: session,
                            ids: &ids,
                            settings: &self.settings.prep,
                        };
                        prep::prep(&self.tree, &ctx, &req)
                    }
                };
                self.submit(session, cxid, body, None, None);
            }
        }
    }

    /// Leader: whether `session`'s client is now connected to another member than `via`.
    pub(super) fn moved_away(&self, session: SessionId, via: Sid) -> bool {
        self.ens
            .as_ref()
            .and_then(|e| e.session_server.get(&session))
            .is_some_and(|&s| s != via)
    }

    /// Leader: `session`'s client is connected here now.
    pub(super) fn owned_here(&mut self, session: SessionId) {
        if let Some(e) = self.ens.as_mut() {
            let me = e.cfg.me;
            e.session_server.insert(session, me);
        }
    }

    /// Leader: a session ended; forget where it was.
    pub(super) fn forget_session(&mut self, session: SessionId) {
        if let Some(e) = self.ens.as_mut() {
            e.session_server.remove(&session);
        }
    }

    /// Leader: forwarded syncs whose preceding proposals have all committed.
    fn answer_syncs(&mut self) {
        let committed = self.commit_point;
        let e = self.ens();
        while e.sync_waiters.front().is_some_and(|w| w.0 <= committed) {
            let (_, to) = e.sync_waiters.pop_front().expect("checked");
            e.zab_net.send(to, &Msg::SyncDone { zxid: committed });
        }
    }

    // ---- reconfig ------------------------------------------------------------------------------

    /// Leader: an incremental reconfig, as a setData of `/zookeeper/config` or an error txn,
    /// checked in ZooKeeper's order (enabled, version, arguments, then WRITE on the node).
    pub(super) fn prep_reconfig(
        &self,
        req: &crate::proto::records::ReconfigRequest,
        ids: &[crate::proto::records::Id],
    ) -> TxnBody {
        let error = |code: ErrorCode| TxnBody::Error { err: code.code() };
        if !self.settings.reconfig_enabled {
            return error(ErrorCode::ReconfigDisabled);
        }
        let Some(next) = self.next_zxid() else {
            return error(ErrorCode::RuntimeInconsistency);
        };
        let Some(node) = self.tree.get(CONFIG_NODE) else {
            return error(ErrorCode::NoNode);
        };
        let current = String::from_utf8_lossy(node.data.as_deref().unwrap_or(&[])).to_string();
        let text = match reconfig::plan(&current, req, next) {
            Ok(t) => t,
            Err(code) => return error(code),
        };
        if !crate::acl::check_acl(
            &node.acl,
            crate::acl::WRITE,
            ids,
            self.settings.prep.skip_acl,
        ) {
            return error(ErrorCode::NoAuth);
        }
        TxnBody::SetData {
            path: CONFIG_NODE.into(),
            data: Some(text.into_bytes().into()),
            version: -1,
        }
    }

    /// A reconfig's reply carries the new config (GetDataResponse), not a SetDataResponse.
    pub(super) fn config_reply(&self, r: &mut Reply) {
        if r.op != op::RECONFIG {
            return;
        }
        if let ReplyBody::Result(TxnResult::SetData { stat }) = &r.body {
            let data = self
                .tree
                .get(CONFIG_NODE)
                .and_then(|n| n.data.as_deref().map(<[u8]>::to_vec))
                .unwrap_or_default();
            r.body = ReplyBody::Config {
                data,
                stat: stat.clone(),
            };
        }
    }

    /// The committed `/zookeeper/config` text (reconfig): the observers follow it.
    pub(super) fn follow_config(&mut self, text: &str) {
        let (members, version) = reconfig::parse(text);
        let e = self.ens();
        let observers: BTreeSet<Sid> = members
            .iter()
            .filter(|(_, s)| reconfig::is_observer(s))
            .map(|(&id, _)| id)
            .collect();
        for (&id, spec) in &members {
            let addr = spec.split(';').next().unwrap_or_default();
            let parts: Vec<&str> = addr.split(':').collect();
            if let [host, q, el, ..] = parts.as_slice() {
                e.cfg.quorum_addrs.insert(id, format!("{host}:{q}"));
                e.cfg.election_addrs.insert(id, format!("{host}:{el}"));
            }
        }
        e.cfg.specs = members;
        e.cfg.observers = observers.clone();
        e.zab_cfg.observers = observers.clone();
        if let Role::Leading(l) = &mut e.role {
            l.set_observers(observers.clone());
        }
        tracing::info!("reconfig committed: config version {version:x}, observers {observers:?}");
    }

    // ---- requests on a learner ----------------------------------------------------------------

    fn forward(&mut self, session: SessionId, cxid: i32, opcode: i32, body: Vec<u8>) {
        let e = self.ens();
        if let Role::Following(l) = &e.role {
            let leader = l.leader();
            e.zab_net.send(
                leader,
                &Msg::Request {
                    session_id: session,
                    cxid,
                    op: opcode,
                    body: body.into(),
                },
            );
        }
    }

    /// A handshake on a learner: a new session is created through the leader, an existing
    /// one revalidated with it.
    pub(super) fn learner_connect(&mut self, conn: ConnRef, req: ConnectRequest) {
        let timeout = self.negotiate_timeout(req.timeout_ms);
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            let resp = granted(id, timeout, &req);
            let reply = Reply {
                to: conn,
                xid: 0,
                op: op::CREATE_SESSION,
                zxid: 0,
                body: ReplyBody::Connected(resp),
                sub_ops: vec![],
                follows_read: true,
            };
            self.ens().connects.insert(id, reply);
            self.forward(id, 0, op::CREATE_SESSION, timeout.to_be_bytes().to_vec());
            return;
        }
        let id = req.session_id;
        if let Some(old) = self.sessions.owner(id).filter(|o| *o != conn) {
            self.sessions.clear_owner(id, old);
            self.post_evict(old);
        }
        let e = self.ens();
        let leader = match &e.role {
            Role::Following(l) => l.leader(),
            _ => return,
        };
        e.zab_net.send(
            leader,
            &Msg::Revalidate {
                session_id: id,
                timeout_ms: timeout,
            },
        );
        e.revalidating.entry(id).or_default().push_back((conn, req));
    }

    fn revalidated(&mut self, id: SessionId, valid: bool) {
        let Some((conn, req)) = self
            .ens()
            .revalidating
            .get_mut(&id)
            .and_then(|q| q.pop_front())
        else {
            return;
        };
        let valid = valid && req.passwd == session_password(id);
        let timeout = self.negotiate_timeout(req.timeout_ms);
        let resp = if valid {
            let now = self.now_ms();
            if !self.sessions.is_alive(id) {
                self.sessions.add(id, timeout, now);
            }
            self.sessions.set_owner(id, conn);
            self.sessions.set_timeout(id, timeout, now);
            granted(id, timeout, &req)
        } else {
            refused(id, &req)
        };
        self.marker(Reply {
            to: conn,
            xid: 0,
            op: op::CREATE_SESSION,
            zxid: self.committed_zxid,
            body: ReplyBody::Connected(resp),
            sub_ops: vec![],
            follows_read: true,
        });
    }

    /// A write on a learner goes to the leader; its reply waits for its commit.
    pub(super) fn forward_write(
        &mut self,
        reply: Reply,
        session: SessionId,
        ids: &[crate::proto::records::Id],
        req: Request,
        raw: &[u8],
    ) {
        let (xid, opcode) = (reply.xid, reply.op);
        match req {
            Request::Sync(p) => {
                let mut r = reply;
                r.body = ReplyBody::Sync(p.path);
                self.ens().syncs.push_back(r);
                self.forward(session, xid, op::SYNC, Vec::new());
            }
            Request::CloseSession => {
                self.sessions.set_closing(session);
                self.ens().forwarded.insert((session, xid), reply);
                self.forward(session, xid, op::CLOSE_SESSION, Vec::new());
            }
            _ => {
                self.ens().forwarded.insert((session, xid), reply);
                self.forward(session, xid, opcode, forward::encode(ids, raw));
            }
        }
    }
}

/// The new `/zookeeper/config` text if the txn `zxid` (just applied to `tree`) changed it.
pub(super) fn config_change(tree: &crate::tree::DataTree, zxid: Zxid) -> Option<String> {
    let node = tree.get(CONFIG_NODE)?;
    (node.stat.mzxid == zxid)
        .then(|| String::from_utf8_lossy(node.data.as_deref().unwrap_or(&[])).to_string())
}

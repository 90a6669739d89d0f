//! The consensus core: one thread that owns the authoritative tree, preps every write into a
//! txn, hands it to the log stage, and — once the log reports it durable — posts it, applied,
//! to every net core in commit order.
//!
//! Prep validates against `tree`, which already has every prepped-but-not-yet-durable txn
//! applied (ZooKeeper's "outstanding changes"): in standalone every prepped txn commits or
//! the process stops, so the speculative tree is exactly the state later writes must see.
//! Nothing leaves this thread before its txn is durable.

mod ack_timing;
mod ensemble;
pub use ensemble::RecoveredTail;
mod forward;
mod group;
pub mod msg;
mod outbox;
mod reconfig;
pub mod role;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{never, Receiver, Sender, TryRecvError};

use crate::doorbell::Sleeper;
use crate::prep::{self, PrepCtx};
use crate::proto::opcode as op;
use crate::proto::records::{ConnectRequest, ConnectResponse};
use crate::proto::request::Request;
use crate::proto::ErrorCode;
use crate::session::{session_password, ConnRef, SessionTracker};
use crate::settings::Settings;
use crate::storage::group_commit::LogEntry;
use crate::storage::log_stage::LogStage;
use crate::storage::snapshotter::SnapshotTrigger;
use crate::tree::{DataTree, TxnResult};
use crate::txn::{SessionId, Txn, TxnBody, TxnHeader, Zxid};
use msg::{Committed, Reply, ReplyBody, SessionList, ToConsensus, ToCore};

/// A net core's mailbox as seen from the consensus core.
#[derive(Clone)]
pub struct CoreMailbox {
    pub tx: Sender<ToCore>,
    pub wake: Arc<tokio::sync::Notify>,
    /// Which paths the core's watches may be on: a batch wakes the core only if it has
    /// something for it (`outbox`).
    pub hint: Arc<crate::watch::WatchHint>,
}

impl CoreMailbox {
    pub(crate) fn post(&self, m: ToCore) {
        // A core that is gone has no connections left to answer.
        if self.tx.send(m).is_ok() {
            self.wake.notify_one();
        }
    }
}

/// Figures other threads read without asking the consensus core.
#[derive(Debug, Default)]
pub struct SharedState {
    pub last_committed_zxid: AtomicI64,
    pub outstanding: AtomicUsize,
    pub sessions: AtomicUsize,
    /// Txns handed to the log and not yet durable (the log queue depth).
    pub log_queue: AtomicUsize,
    pub role: role::RoleCell,
    /// The newest outbox batch every net core has been sent (`outbox`).
    pub flushed: AtomicU64,
}

enum Pending {
    /// A txn waiting for its log sync, and when it was prepped (commit latency).
    Txn(Committed, Instant),
    /// A reply that changes nothing but must follow every txn before it.
    Marker { after: Zxid, reply: Reply },
}

pub struct ConsensusCore {
    settings: Arc<Settings>,
    tree: DataTree,
    /// Highest zxid prepped (the speculative tree's).
    last_zxid: Zxid,
    /// Highest zxid durable and posted.
    committed_zxid: Zxid,
    durable_zxid: Zxid,
    pending: VecDeque<Pending>,
    sessions: SessionTracker,
    cores: Vec<CoreMailbox>,
    log: LogStage,
    durable_rx: Receiver<Zxid>,
    /// Where the loop sleeps (taken by `run`): its channels' senders and its Zab links'
    /// sockets wake it.
    sleeper: Option<Sleeper>,
    /// The tree as of `committed_zxid`: what a new role starts from and SNAP sends.
    committed_tree: Arc<DataTree>,
    /// The ensemble this server is a member of; `None` in standalone mode.
    ens: Option<Box<ensemble::Ensemble>>,
    started: Instant,
    /// The time as of this loop iteration (`run`): one clock read per wake-up, not one per
    /// message, request, and commit.
    now: Instant,
    next_reap_ms: u64,
    shared: Arc<SharedState>,
    /// Hands committed tree versions to the snapshot thread every so many commits.
    snapshots: Option<SnapshotTrigger>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// What the net cores have not been sent yet.
    outbox: outbox::Outbox,
    /// The prepped txns at the tail of `pending` still waiting for a version (`group`).
    group: group::Group,
    /// Highest zxid known committed (durable in standalone, `Apply`d in an ensemble); ahead
    /// of `committed_zxid` while the rest of its group is open.
    commit_point: Zxid,
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn error_only(body: &TxnBody) -> Option<TxnResult> {
    match body {
        TxnBody::Error { err } => Some(TxnResult::Error(
            ErrorCode::from_code(*err).unwrap_or(ErrorCode::MarshallingError),
        )),
        TxnBody::Multi(subs)
            if !subs.is_empty() && subs.iter().all(|s| matches!(s, TxnBody::Error { .. })) =>
        {
            Some(TxnResult::Multi(
                subs.iter()
                    .map(|s| match s {
                        TxnBody::Error { err } => TxnResult::Error(
                            ErrorCode::from_code(*err).unwrap_or(ErrorCode::MarshallingError),
                        ),
                        _ => unreachable!("checked above"),
                    })
                    .collect(),
            ))
        }
        _ => None,
    }
}

impl ConsensusCore {
    /// `tree` is the recovered state; every session in it is tracked again with its full
    /// timeout, so clients can resume after a restart.
    pub fn new(
        settings: Arc<Settings>,
        tree: DataTree,
        cores: Vec<CoreMailbox>,
        log: LogStage,
        durable_rx: Receiver<Zxid>,
        sleeper: Sleeper,
        shared: Arc<SharedState>,
    ) -> Self {
        let started = Instant::now();
        let mut sessions =
            SessionTracker::new(settings.tick_time_ms, settings.server_id, wall_ms() as u64);
        for (id, timeout) in tree.sessions() {
            sessions.add(id, timeout, 0);
        }
        let z = tree.last_zxid();
        shared.last_committed_zxid.store(z, Ordering::Relaxed);
        shared.sessions.store(sessions.len(), Ordering::Relaxed);
        ConsensusCore {
            next_reap_ms: settings.container_check_interval_ms,
            settings,
            committed_tree: Arc::new(tree.clone()),
            tree,
            last_zxid: z,
            committed_zxid: z,
            durable_zxid: z,
            pending: VecDeque::new(),
            sessions,
            cores,
            log,
            durable_rx,
            sleeper: Some(sleeper),
            ens: None,
            started,
            now: started,
            shared,
            snapshots: None,
            metrics: None,
            outbox: outbox::Outbox::default(),
            group: group::Group::default(),
            commit_point: z,
        }
    }

    /// Snapshot the committed tree as `trigger` decides (no snapshots without one).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn with_snapshots(mut self, trigger: SnapshotTrigger) -> Self {
        self.snapshots = Some(trigger);
        self
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    fn now_ms(&self) -> u64 {
        self.now.duration_since(self.started).as_millis() as u64
    }

    /// Runs until a Shutdown message arrives or every sender is gone.
    pub fn run(mut self, rx: Receiver<ToConsensus>) {
        // Timers (expiry buckets, the container reaper) are checked at least this often; fine
        // enough that a 100 ms reaper interval means ~100 ms.
        let tick = Duration::from_millis((self.settings.tick_time_ms / 40).clamp(5, 50));
        let mut sleeper = self.sleeper.take().expect("run once");
        let durable_rx = self.durable_rx.clone();
        let (election_rx, snap_rx) = match &self.ens {
            Some(e) => (e.election_rx.clone(), e.snap_rx.clone()),
            None => (never(), never()),
        };
        if self.ens.is_some() {
            self.go_looking("starting");
        }
        let mut shutting_down = false;
        // Zab sockets the poll reported readable, and the events read from them.
        let mut ready = Vec::new();
        let mut zab_events = Vec::new();
        loop {
            // One of each kind of work per turn, Zab links read as far as they go: none
            // waits behind a burst of another.
            let mut worked = false;
            match rx.try_recv() {
                Ok(ToConsensus::Shutdown) | Err(TryRecvError::Disconnected) => shutting_down = true,
                Ok(m) => {
                    worked = true;
                    self.handle(m);
                }
                Err(TryRecvError::Empty) => {}
            }
            match durable_rx.try_recv() {
                Ok(z) => {
                    worked = true;
                    self.on_durable(z);
                }
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            if let Ok((from, n)) = election_rx.try_recv() {
                worked = true;
                self.on_notification(from, n);
            }
            if let Ok(d) = snap_rx.try_recv() {
                worked = true;
                self.on_snapshot_done(d);
            }
            if let Some(e) = &self.ens {
                e.zab_net.poll(&ready, &mut zab_events);
                ready.clear();
                for ev in zab_events.drain(..) {
                    worked = true;
                    self.on_zab_event(ev);
                }
            }
            if !worked && !shutting_down {
                sleeper.sleep(tick, || self.input_waiting(&rx), &mut ready);
            }
            self.now = Instant::now();
            if shutting_down {
                self.cut_group();
                self.flush();
                // Finish what is in flight, then stop: the log thread syncs the batch it
                // holds and ends.
                if self.ens.is_none() {
                    while self.durable_zxid < self.last_zxid {
                        match durable_rx.recv() {
                            Ok(z) => self.on_durable(z),
                            Err(_) => break,
                        }
                    }
                } else {
                    self.leave_ensemble();
                }
                self.flush();
                self.log.stop();
                return;
            }
            self.on_timers();
            let idle = ready.is_empty() && !self.input_waiting(&rx);
            if idle || self.outbox.len() >= outbox::FLUSH_MAX {
                // Proposals and commits first: waking a net core can take this CPU away
                // for a while, and the followers' half of the pipeline should not wait.
                if let Some(e) = &self.ens {
                    e.zab_net.flush();
                }
                self.cut_group();
                self.flush();
            }
        }
    }

    /// Whether anything waits to be handled without sleeping first: a message on one of
    /// the loop's channels, or Zab input already arrived (sockets the poll reported
    /// readable are the caller's to check).
    fn input_waiting(&self, rx: &Receiver<ToConsensus>) -> bool {
        !rx.is_empty()
            || !self.durable_rx.is_empty()
            || self.ens.as_ref().is_some_and(|e| {
                !e.election_rx.is_empty() || !e.snap_rx.is_empty() || e.zab_net.has_more()
            })
    }

    fn on_timers(&mut self) {
        let now = self.now_ms();
        if self.ens.is_some() {
            self.ensemble_tick(now);
            if !self.is_leading() {
                // Sessions expire, and containers are reaped, on the leader only.
                return;
            }
        }
        for id in self.sessions.take_expired(now) {
            tracing::info!(
                "Expiring session 0x{id:x}, timeout of {}ms exceeded",
                self.sessions.timeout_ms(id).unwrap_or(0)
            );
            let body = prep::prep_close_session(&self.tree, id);
            let close = self.sessions.owner(id);
            self.submit(id, 0, body, None, close);
        }
        if now >= self.next_reap_ms {
            self.next_reap_ms = now + self.settings.container_check_interval_ms.max(1);
            for path in self.tree.reap_candidates(wall_ms()) {
                if let Some(body) = prep::prep_delete_container(&self.tree, &path) {
                    self.submit(0, 0, body, None, None);
                }
            }
        }
        self.shared
            .sessions
            .store(self.sessions.len(), Ordering::Relaxed);
    }

    fn handle(&mut self, m: ToConsensus) {
        match m {
            ToConsensus::Connect { conn, req } => self.on_connect(conn, req),
            ToConsensus::Write {
                conn,
                session,
                xid,
                follows_read,
                ids,
                req,
                raw,
            } => self.on_write((conn, follows_read), session, xid, &ids, req, &raw),
            ToConsensus::Touch(ids) => {
                let now = self.now_ms();
                for id in ids {
                    self.sessions.touch(id, now);
                    if let Some(e) = &mut self.ens {
                        e.touched.insert(id);
                    }
                }
            }
            ToConsensus::ConnClosed { conn, session } => self.sessions.clear_owner(session, conn),
            ToConsensus::ListSessions(reply) => {
                let now = self.now_ms();
                let sessions = self
                    .sessions
                    .list()
                    .into_iter()
                    .map(|(id, to, at)| (id, to, at.saturating_sub(now)))
                    .collect();
                let _ = reply.send(SessionList {
                    now_wall_ms: wall_ms(),
                    sessions,
                });
            }
            ToConsensus::Shutdown => {}
        }
    }

    fn negotiate_timeout(&self, requested: i32) -> i32 {
        requested.clamp(
            self.settings.min_session_timeout_ms,
            self.settings.max_session_timeout_ms,
        )
    }

    fn on_connect(&mut self, conn: ConnRef, req: ConnectRequest) {
        let reply = |zxid, body| Reply {
            to: conn,
            xid: 0,
            op: op::CREATE_SESSION,
            zxid,
            body,
            // Handshakes are rare: they keep to one reply per batch.
            follows_read: true,
            sub_ops: vec![],
        };
        if self.ens.as_ref().is_some_and(|e| !e.is_serving()) {
            // ZooKeeper closes the connection of a server that is not serving yet.
            self.marker(reply(self.committed_zxid, ReplyBody::Refused));
            return;
        }
        if req.last_zxid_seen > self.committed_zxid {
            tracing::info!(
                "Refusing session request for client as it has seen zxid 0x{:x} our last zxid is 0x{:x} client must try another server",
                req.last_zxid_seen,
                self.committed_zxid
            );
            self.marker(reply(self.committed_zxid, ReplyBody::Refused));
            return;
        }
        if self.ens.is_some() && !self.is_leading() {
            self.learner_connect(conn, req);
            return;
        }
        let timeout = self.negotiate_timeout(req.timeout_ms);
        let now = self.now_ms();
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            self.sessions.add(id, timeout, now);
            self.sessions.set_owner(id, conn);
            self.owned_here(id);
            let resp = granted(id, timeout, &req);
            let body = TxnBody::CreateSession {
                timeout_ms: timeout,
            };
            let r = reply(0, ReplyBody::Connected(resp));
            self.submit(id, 0, body, Some(r), None);
            return;
        }
        let id = req.session_id;
        // As ZooKeeper: the connection currently bound to the session goes first, even if
        // this attempt then fails the password check.
        if let Some(old) = self.sessions.owner(id).filter(|o| *o != conn) {
            self.sessions.clear_owner(id, old);
            self.post_evict(old);
        }
        let valid = self.sessions.is_alive(id) && req.passwd == session_password(id);
        let resp = if valid {
            self.sessions.set_owner(id, conn);
            self.owned_here(id);
            self.sessions.set_timeout(id, timeout, now);
            granted(id, timeout, &req)
        } else {
            refused(id, &req)
        };
        self.marker(reply(self.last_zxid, ReplyBody::Connected(resp)));
    }

    fn on_write(
        &mut self,
        (conn, follows_read): (ConnRef, bool),
        session: SessionId,
        xid: i32,
        ids: &[crate::proto::records::Id],
        req: Request,
        raw: &[u8],
    ) {
        if self.ens.as_ref().is_some_and(|e| !e.is_serving()) {
            // Sent before the role change reached its connection, which is being closed.
            self.post_evict(conn);
            return;
        }
        let opcode = request_op(&req);
        let sub_ops: Vec<i32> = match &req {
            Request::Multi(ops) => ops.iter().map(multi_op_code).collect(),
            _ => vec![],
        };
        let reply = |zxid, body| Reply {
            to: conn,
            xid,
            op: opcode,
            zxid,
            body,
            sub_ops: sub_ops.clone(),
            follows_read,
        };
        if !self.sessions.touch(session, self.now_ms()) {
            self.marker(reply(
                self.last_zxid,
                ReplyBody::Result(TxnResult::Error(ErrorCode::SessionExpired)),
            ));
            return;
        }
        let me = self.ens.as_ref().map(|e| e.me());
        if me.is_some_and(|me| self.moved_away(session, me)) {
            // The client reconnected through another member; this connection is stale.
            self.marker(reply(
                self.last_zxid,
                ReplyBody::Result(TxnResult::Error(ErrorCode::SessionMoved)),
            ));
            return;
        }
        if self.ens.is_some() && !self.is_leading() {
            let r = reply(0, ReplyBody::Result(TxnResult::Check));
            self.forward_write(r, session, ids, req, raw);
            return;
        }
        match req {
            Request::Sync(p) => self.marker(reply(self.last_zxid, ReplyBody::Sync(p.path))),
            Request::Reconfig(r) if self.ens.is_some() => {
                let body = self.prep_reconfig(&r, ids);
                match error_only(&body) {
                    Some(result) => self.marker(reply(self.last_zxid, ReplyBody::Result(result))),
                    None => {
                        let r = reply(0, ReplyBody::Result(TxnResult::Check));
                        self.submit(session, xid, body, Some(r), None);
                    }
                }
            }
            Request::Reconfig(_) => {
                let code = if self.settings.reconfig_enabled {
                    ErrorCode::Unimplemented
                } else {
                    ErrorCode::ReconfigDisabled
                };
                self.marker(reply(
                    self.last_zxid,
                    ReplyBody::Result(TxnResult::Error(code)),
                ));
            }
            Request::CloseSession => {
                // The requester may have just lost the session to a reconnect; the
                // connection that owns it now goes too, or it would keep serving a session
                // that is gone.
                if let Some(owner) = self.sessions.owner(session).filter(|o| *o != conn) {
                    self.sessions.clear_owner(session, owner);
                    self.post_evict(owner);
                }
                self.sessions.set_closing(session);
                let body = prep::prep_close_session(&self.tree, session);
                let r = reply(0, ReplyBody::Result(TxnResult::SessionClosed));
                self.submit(session, xid, body, Some(r), Some(conn));
            }
            req => {
                let ctx = PrepCtx {
                    session_id: session,
                    ids,
                    settings: &self.settings.prep,
                };
                let body = prep::prep(&self.tree, &ctx, &req);
                match error_only(&body) {
                    Some(result) => self.marker(reply(self.last_zxid, ReplyBody::Result(result))),
                    None => {
                        let r = reply(0, ReplyBody::Result(TxnResult::Check));
                        self.submit(session, xid, body, Some(r), None);
                    }
                }
            }
        }
    }

    /// Assigns the next zxid, applies to the speculative tree, sends to the log, and queues
    /// the outcome until the log says it is durable. `reply.body` is replaced by the apply
    /// result unless it is a handshake or close answer.
    fn submit(
        &mut self,
        session: SessionId,
        cxid: i32,
        body: TxnBody,
        reply: Option<Reply>,
        close: Option<ConnRef>,
    ) {
        let Some(zxid) = self.next_zxid() else {
            // A leader out of zxids in its epoch (counter rollover) or not established: the
            // client retries once a new epoch serves.
            tracing::warn!(
                "no zxid to assign (epoch not established or exhausted); dropping a write"
            );
            if let Some(r) = reply {
                self.post_evict(r.to);
            }
            return;
        };
        self.make_room_in_group(reply.as_ref());
        let reply_to = reply.as_ref().map(|r| r.to);
        self.last_zxid = zxid;
        let txn = Txn {
            header: TxnHeader {
                session_id: session,
                cxid,
                zxid,
                time: wall_ms(),
            },
            body,
        };
        // `tree` is about to hold a speculative txn: `committed_tree` must not be derived
        // from it afterwards.
        self.refresh_committed_tree();
        let applied = self.tree.apply(&txn);
        if let TxnResult::SessionClosed = applied.result {
            let _ = self.sessions.remove(session);
            self.forget_session(session);
        }
        let reply = reply.map(|mut r| {
            r.zxid = zxid;
            if !matches!(r.body, ReplyBody::Connected(_)) {
                r.body = ReplyBody::Result(applied.result.clone());
                self.config_reply(&mut r);
            }
            r
        });
        if self.ens.is_some() {
            self.propose(zxid, txn.to_bytes());
        } else {
            self.log.append(LogEntry {
                zxid,
                txn: txn.to_bytes(),
            });
        }
        self.pending.push_back(Pending::Txn(
            Committed {
                zxid,
                tree: None,
                events: applied.events,
                reply,
                close,
            },
            self.now,
        ));
        self.joined_group(reply_to);
        self.publish_log_queue();
        self.shared
            .outstanding
            .store(self.pending.len(), Ordering::Relaxed);
    }

    fn marker(&mut self, reply: Reply) {
        // `after` must be a txn with a version: the marker is released with it.
        self.cut_group();
        if self.pending.is_empty() {
            self.post_reply(reply);
        } else {
            self.pending.push_back(Pending::Marker {
                after: self.last_zxid,
                reply,
            });
        }
    }

    /// A reply that must follow every txn up to `after` (a follower's sync: the leader's
    /// commit point when it answered).
    fn marker_after(&mut self, reply: Reply, after: Zxid) {
        if self.pending.is_empty() && after <= self.committed_zxid {
            self.post_reply(reply);
        } else {
            self.pending.push_back(Pending::Marker { after, reply });
        }
    }

    fn on_durable(&mut self, z: Zxid) {
        self.durable_zxid = self.durable_zxid.max(z);
        if self.ens.is_some() {
            // Durable is not committed in an ensemble: the Zab machine decides.
            self.ensemble_durable(z);
        } else {
            self.commit_point = self.commit_point.max(z);
            self.release(z);
        }
        self.publish_log_queue();
    }

    /// Posts, in order, every pending txn up to `upto` (now committed) and every marker
    /// queued behind them; whole groups only (`group`): a txn without a version waits for
    /// the one that ends its group.
    fn release(&mut self, upto: Zxid) {
        let mut limit = self.committed_zxid;
        for p in &self.pending {
            match p {
                Pending::Txn(c, _) if c.zxid > upto => break,
                Pending::Txn(c, _) if c.tree.is_some() => limit = c.zxid,
                _ => {}
            }
        }
        let mut in_group = false;
        while let Some(front) = self.pending.front() {
            let ready = match front {
                Pending::Txn(c, _) => c.zxid <= limit,
                Pending::Marker { after, .. } => *after <= limit,
            };
            if !ready {
                break;
            }
            if !in_group && matches!(front, Pending::Txn(..)) && self.front_group_collides() {
                self.flush();
            }
            match self.pending.pop_front() {
                Some(Pending::Txn(c, prepped)) => {
                    if let Some(m) = &self.metrics {
                        m.record_commit(self.now.duration_since(prepped).as_micros() as u64);
                    }
                    in_group = c.tree.is_none();
                    self.publish(c);
                }
                Some(Pending::Marker { mut reply, .. }) => {
                    reply.zxid = self.committed_zxid;
                    self.post_reply(reply);
                }
                None => break,
            }
        }
        self.shared
            .outstanding
            .store(self.pending.len(), Ordering::Relaxed);
    }

    /// Makes one committed txn visible: queued for every core (`outbox`).
    fn publish(&mut self, c: Committed) {
        if self.ens.is_some() {
            let tree = c.tree.as_deref().unwrap_or(&self.tree);
            if let Some(text) = ensemble::config_change(tree, c.zxid) {
                self.follow_config(&text);
            }
        }
        self.committed_zxid = c.zxid;
        self.shared
            .last_committed_zxid
            .store(c.zxid, Ordering::Relaxed);
        self.post_txn(c);
    }

    fn publish_log_queue(&self) {
        let queued = (self.last_zxid - self.durable_zxid).max(0) as usize;
        self.shared.log_queue.store(queued, Ordering::Relaxed);
    }
}

/// The handshake answer for a session that is (re)established.
fn granted(id: SessionId, timeout: i32, req: &ConnectRequest) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        timeout_ms: timeout,
        session_id: id,
        passwd: session_password(id).to_vec(),
        read_only: req.read_only.map(|_| false),
    }
}

/// The handshake answer for a session that is gone (timeout 0: the client sees it expired).
fn refused(id: SessionId, req: &ConnectRequest) -> ConnectResponse {
    tracing::info!("Invalid session 0x{id:x} for client, probably expired");
    ConnectResponse {
        protocol_version: 0,
        timeout_ms: 0,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: req.read_only.map(|_| false),
    }
}

fn multi_op_code(o: &crate::proto::request::MultiOp) -> i32 {
    use crate::proto::request::MultiOp;
    match o {
        MultiOp::Create(c) => c.op,
        MultiOp::Delete(_) => op::DELETE,
        MultiOp::SetData(_) => op::SET_DATA,
        MultiOp::Check(_) => op::CHECK,
    }
}

/// The opcode a request arrived as (for the response record shape).
pub fn request_op(req: &Request) -> i32 {
    match req {
        Request::Create(c) => c.op,
        Request::Delete(_) => op::DELETE,
        Request::SetData(_) => op::SET_DATA,
        Request::SetAcl(_) => op::SET_ACL,
        Request::Multi(_) => op::MULTI,
        Request::Sync(_) => op::SYNC,
        Request::CloseSession => op::CLOSE_SESSION,
        Request::Reconfig(_) => op::RECONFIG,
        Request::Exists(_) => op::EXISTS,
        Request::GetData(_) => op::GET_DATA,
        Request::GetAcl(_) => op::GET_ACL,
        Request::GetChildren(_) => op::GET_CHILDREN,
        Request::GetChildren2(_) => op::GET_CHILDREN2,
        Request::Ping => op::PING,
        Request::MultiRead(_) => op::MULTI_READ,
        Request::CheckWatches(_) => op::CHECK_WATCHES,
        Request::RemoveWatches(_) => op::REMOVE_WATCHES,
        Request::Auth(_) => op::AUTH,
        Request::SetWatches(_) => op::SET_WATCHES2,
        Request::Sasl(_) => op::SASL,
        Request::GetEphemerals(_) => op::GET_EPHEMERALS,
        Request::GetAllChildrenNumber(_) => op::GET_ALL_CHILDREN_NUMBER,
        Request::AddWatch(_) => op::ADD_WATCH,
        Request::WhoAmI => op::WHO_AM_I,
    }
}

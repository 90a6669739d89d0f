//! A net core's state: its tree view, its connections, its watch table, its mailbox.
//!
//! All of it lives on one thread (a current-thread tokio runtime) behind `Rc<RefCell<_>>`;
//! borrows are never held across an await. The view only advances by draining the mailbox,
//! where the consensus core posts committed txns in batches, in order: for each txn this
//! core fires its watches and sends the reply that belongs to it; after the batch it
//! advances its view and serves the reads that waited behind those replies.

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::consensus::msg::{Committed, Item, Published, Reply, ReplyBody, ToConsensus, ToCore};
use crate::consensus::{request_op, SharedState};
use crate::fasthash::{HashMap, HashSet};
use crate::proto::codec::{Decode, Reader};
use crate::proto::opcode as op;
use crate::proto::records::{Id, RequestHeader};
use crate::proto::request::{decode_request, Request, RequestError};
use crate::proto::ErrorCode;
use crate::session::ConnRef;
use crate::settings::Settings;
use crate::tree::DataTree;
use crate::txn::SessionId;
use crate::watch::{ConnNo, WatchTable};

use super::reply;
use super::stats::{ConnStats, ServerStats};

/// Requests of one connection waiting for an earlier write's reply.
#[derive(Debug)]
pub(crate) enum Queued {
    /// A write sent to the consensus core; its reply arrives through the mailbox.
    Write { started: Instant, op: i32 },
    /// A read that must see the writes queued before it.
    Read {
        xid: i32,
        req: Request,
        started: Instant,
    },
    /// An answer already built (a decode error) that must keep its place in the order.
    Ready(Vec<u8>),
}

pub(crate) struct Conn {
    pub out: mpsc::UnboundedSender<Vec<u8>>,
    pub session: SessionId,
    pub ids: Arc<Vec<Id>>,
    pub remote: SocketAddr,
    pub queue: VecDeque<Queued>,
    pub handshake: Option<oneshot::Sender<bool>>,
    pub closed: Rc<Notify>,
    pub outbound: Rc<Outbound>,
    pub stats: Arc<ConnStats>,
}

/// What a connection's writer task shares with the core.
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// Bytes handed to the writer and not yet written to the socket.
    pub queued_bytes: Cell<usize>,
    /// Tells the writer to drop what it holds and close the socket now.
    pub abort: Notify,
    /// Wakes a reader paused because too many requests or reply bytes were queued.
    pub drained: Notify,
}

/// Requests one connection may have waiting behind its writes before the server stops
/// reading from it (ZooKeeper's globalOutstandingLimit default, applied per connection).
pub const QUEUED_REQUESTS_MAX: usize = 1000;

/// The server stops reading a connection's requests while this many reply bytes (or half of
/// maxClientOutboundBytes, if less) wait for its socket: a client that reads slowly is slowed
/// down, and only what it cannot stop (watch events) can push it to the limit.
pub const OUTBOUND_PAUSE_BYTES: usize = 1 << 20;

/// After a connection is closed, what is queued for it gets this long to reach the socket.
const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// Things every core shares (read-mostly).
pub struct CoreShared {
    pub settings: Arc<Settings>,
    pub stats: Arc<ServerStats>,
    pub consensus: Arc<SharedState>,
    pub to_consensus: crate::doorbell::Sender<ToConsensus>,
    pub log_stats: Arc<crate::storage::group_commit::LogStats>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Every core's mailbox (inspections ask all of them).
    pub mailboxes: Vec<crate::consensus::CoreMailbox>,
    /// The trace mask `gtmk`/`stmk` read and set.
    pub trace_mask: std::sync::atomic::AtomicI64,
    /// Set on SIGTERM: new connections are closed at once while the log drains.
    pub stopping: std::sync::atomic::AtomicBool,
}

pub struct Core {
    pub id: usize,
    pub shared: Arc<CoreShared>,
    pub view: Arc<DataTree>,
    pub(crate) conns: HashMap<ConnNo, Conn>,
    pub watches: WatchTable,
    mailbox: Receiver<ToCore>,
    /// Batches received but not yet released to every core (`drain_mailbox`).
    unreleased: VecDeque<Arc<Published>>,
    pub touched: HashSet<SessionId>,
    next_conn: ConnNo,
    per_ip: HashMap<std::net::IpAddr, usize>,
}

/// What the connection task should do after handing a frame to the core.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameOutcome {
    Continue,
    Close,
}

impl Core {
    pub fn new(
        id: usize,
        shared: Arc<CoreShared>,
        view: Arc<DataTree>,
        mailbox: Receiver<ToCore>,
    ) -> Self {
        let watches = WatchTable::with_hint(shared.mailboxes[id].hint.clone());
        Core {
            id,
            shared,
            view,
            conns: HashMap::default(),
            watches,
            mailbox,
            unreleased: VecDeque::new(),
            touched: HashSet::default(),
            next_conn: 1,
            per_ip: HashMap::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    fn conn_ref(&self, conn: ConnNo) -> ConnRef {
        ConnRef {
            core: self.id,
            conn,
        }
    }

    /// Admits a connection (maxClientCnxns is per client IP); `None` means refuse it.
    pub(crate) fn open_conn(
        &mut self,
        remote: SocketAddr,
        out: mpsc::UnboundedSender<Vec<u8>>,
        outbound: Rc<Outbound>,
    ) -> Option<(ConnNo, Rc<Notify>)> {
        let max = self.settings().max_client_cnxns;
        let n = self.per_ip.entry(remote.ip()).or_default();
        // Per core; with N cores a client IP may hold up to N*max connections in the worst
        // case, which errs on the side of serving.
        if max > 0 && *n >= max {
            tracing::warn!("Too many connections from {} - max is {max}", remote.ip());
            return None;
        }
        *n += 1;
        let no = self.next_conn;
        self.next_conn += 1;
        let closed = Rc::new(Notify::new());
        let stats = Arc::new(ConnStats::new(remote, wall_ms()));
        self.shared.stats.register(self.conn_ref(no), stats.clone());
        let ip = match remote.ip() {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(|v4| v4.to_string())
                .unwrap_or_else(|| v6.to_string()),
            v4 => v4.to_string(),
        };
        self.conns.insert(
            no,
            Conn {
                out,
                session: 0,
                ids: Arc::new(vec![Id {
                    scheme: "ip".into(),
                    id: ip,
                }]),
                remote,
                queue: VecDeque::new(),
                handshake: None,
                closed: closed.clone(),
                outbound,
                stats,
            },
        );
        Some((no, closed))
    }

    /// Forgets a connection: its watches go, its session lives on until it expires.
    pub fn close_conn(&mut self, no: ConnNo) {
        let Some(c) = self.conns.remove(&no) else {
            return;
        };
        if let Some(n) = self.per_ip.get_mut(&c.remote.ip()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&c.remote.ip());
            }
        }
        self.watches.remove_conn(no);
        self.shared.stats.unregister(self.conn_ref(no));
        if c.session != 0 {
            let _ = self.shared.to_consensus.send(ToConsensus::ConnClosed {
                conn: self.conn_ref(no),
                session: c.session,
            });
        }
        c.closed.notify_one();
        // Dropping `out` lets the writer flush what is queued and then close the socket; a
        // client that does not read gets CLOSE_LINGER for that, then the socket is closed.
        if c.outbound.queued_bytes.get() > 0 {
            let outbound = c.outbound.clone();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(CLOSE_LINGER).await;
                outbound.abort.notify_one();
            });
        }
    }

    /// Queues a frame for a connection's socket. A connection with more than
    /// maxClientOutboundBytes waiting is closed instead: it stopped reading, and keeping
    /// everything for it would let it take the server's memory.
    pub fn send(&mut self, no: ConnNo, frame: Vec<u8>) {
        let Some(c) = self.conns.get(&no) else {
            return;
        };
        let queued = c.outbound.queued_bytes.get();
        let limit = self.shared.settings.max_client_outbound_bytes;
        if queued > 0 && queued + frame.len() > limit {
            tracing::warn!(
                "closing connection from {} (session {:#x}): {} bytes wait to be sent to it, \
                 over maxClientOutboundBytes={limit}; it is not reading its socket",
                c.remote,
                c.session,
                queued + frame.len()
            );
            c.outbound.abort.notify_one();
            self.shared
                .stats
                .outbound_closed
                .fetch_add(1, Ordering::Relaxed);
            self.close_conn(no);
            return;
        }
        // A closed channel means the writer has stopped (socket error): nothing is queued.
        let len = frame.len();
        if c.out.send(frame).is_ok() {
            c.outbound.queued_bytes.set(queued + len);
            c.stats.sent.fetch_add(1, Ordering::Relaxed);
            self.shared.stats.sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reply bytes queued for a connection at which its requests stop being read.
    pub fn outbound_pause_bytes(&self) -> usize {
        OUTBOUND_PAUSE_BYTES.min(self.settings().max_client_outbound_bytes / 2)
    }

    /// Starts a handshake: the consensus core creates or resumes the session; the reply
    /// arrives through the mailbox and completes `done`.
    pub fn begin_handshake(
        &mut self,
        no: ConnNo,
        req: crate::proto::records::ConnectRequest,
        done: oneshot::Sender<bool>,
    ) {
        if let Some(c) = self.conns.get_mut(&no) {
            c.handshake = Some(done);
        }
        let conn = self.conn_ref(no);
        let _ = self
            .shared
            .to_consensus
            .send(ToConsensus::Connect { conn, req });
    }

    /// Applies everything in the mailbox, in order. A batch is taken up only once every
    /// core has been sent it (`consensus::outbox`); until then it waits in `unreleased`.
    ///
    /// The consensus core wakes a core only for batches with something for it, judging
    /// events by the core's `WatchHint`. A watch added here after it judged a batch would
    /// miss that batch's event until some later wake, so while draining adds watches (reads
    /// queued behind a reply), and after any read that adds one (`on_frame`), the drain runs
    /// again: with the fence below on this side and the one after the flush on the other,
    /// either the consensus core saw the watch and woke us, or this drain sees the batch.
    pub fn drain_mailbox(&mut self) {
        let mut inspections = Vec::new();
        loop {
            let added = self.watches.added();
            fence(Ordering::SeqCst);
            // `flushed` first: every batch up to it was sent before it was raised, so the
            // channel holds them all now.
            let flushed = self.shared.consensus.flushed.load(Ordering::Acquire);
            while let Ok(m) = self.mailbox.try_recv() {
                match m {
                    ToCore::Published(b) => self.unreleased.push_back(b),
                    ToCore::Inspect(answer, detail) => inspections.push((answer, detail)),
                }
            }
            while self.unreleased.front().is_some_and(|b| b.seq <= flushed) {
                if let Some(b) = self.unreleased.pop_front() {
                    self.on_published(&b);
                }
            }
            if self.watches.added() == added {
                break;
            }
        }
        for (answer, detail) in inspections {
            let _ = answer.send(self.report(detail));
        }
    }

    /// For each txn: fire this core's watches, then send its reply if it is ours. The view
    /// advances to the batch's tree only after every event in the batch has fired, and the
    /// reads that waited behind a write are served after that: a client never reads data
    /// whose watch event it has not been sent.
    fn on_published(&mut self, b: &Published) {
        let mut reads = Vec::new();
        for item in &b.items {
            match item {
                Item::Txn(c) => self.on_committed(c, &mut reads),
                Item::Reply(r) if r.to.core == self.id => self.deliver(r.clone(), &mut reads),
                Item::Reply(_) => {}
                Item::Evict(c) if c.core == self.id => {
                    tracing::info!(
                        "Closing connection {} on core {}: client reconnected elsewhere",
                        c.conn,
                        self.id
                    );
                    self.close_conn(c.conn);
                }
                Item::Evict(_) => {}
                Item::EvictAll => {
                    let all: Vec<_> = self.conns.keys().copied().collect();
                    if !all.is_empty() {
                        tracing::info!(
                            "Closing {} connection(s) on core {}: the server left its ensemble role",
                            all.len(),
                            self.id
                        );
                    }
                    for no in all {
                        self.close_conn(no);
                    }
                }
            }
        }
        self.view = b.tree.clone();
        for no in reads {
            self.serve_queued_reads(no);
        }
    }

    fn on_committed(&mut self, c: &Committed, reads: &mut Vec<ConnNo>) {
        for ev in &c.events {
            let targets = self.watches.trigger(ev.kind, &ev.path);
            for no in targets {
                let Some(conn) = self.conns.get(&no) else {
                    continue;
                };
                // Delivery is filtered by READ on the node the event is about.
                if !crate::acl::check_acl(
                    &ev.acl,
                    crate::acl::READ,
                    &conn.ids,
                    self.shared.settings.prep.skip_acl,
                ) {
                    continue;
                }
                let frame = reply::notification(c.zxid, ev.kind, &ev.path);
                self.send(no, frame);
            }
        }
        if let Some(r) = &c.reply {
            if r.to.core == self.id {
                self.deliver(r.clone(), reads);
            }
        }
        if let Some(cl) = c.close {
            if cl.core == self.id {
                self.close_conn(cl.conn);
            }
        }
    }

    /// Sends one reply; the connection's reads queued behind it are served by the caller
    /// once the view has caught up (`reads`).
    fn deliver(&mut self, r: Reply, reads: &mut Vec<ConnNo>) {
        let no = r.to.conn;
        let Some(conn) = self.conns.get_mut(&no) else {
            return;
        };
        match &r.body {
            ReplyBody::Connected(resp) => {
                let ok = resp.timeout_ms > 0;
                if ok {
                    conn.session = resp.session_id;
                    conn.stats.session.store(resp.session_id, Ordering::Relaxed);
                    conn.stats
                        .timeout_ms
                        .store(resp.timeout_ms, Ordering::Relaxed);
                }
                let frame = reply::connect_response(resp);
                let done = conn.handshake.take();
                self.send(no, frame);
                if let Some(d) = done {
                    let _ = d.send(ok);
                }
                if !ok {
                    self.close_conn(no);
                }
            }
            ReplyBody::Refused => {
                if let Some(d) = conn.handshake.take() {
                    let _ = d.send(false);
                }
                self.close_conn(no);
            }
            _ => {
                let (started, opcode) = match conn.queue.pop_front() {
                    Some(Queued::Write { started, op }) => (started, op),
                    other => {
                        // The consensus core answers each connection's writes in order; a
                        // reply with no write waiting is a broken invariant.
                        panic!("reply for conn {no} with no write queued (front: {other:?})");
                    }
                };
                let zxid = r.zxid;
                self.record_served(no, opcode, started, zxid);
                let frame = reply::encode(&r);
                self.send(no, frame);
                reads.push(no);
            }
        }
    }

    /// Books one answered request: the per-op histogram (metrics, and srvr's min/avg/max)
    /// and the connection's figures (cons).
    fn record_served(&mut self, no: ConnNo, opcode: i32, started: Instant, zxid: i64) {
        let us = started.elapsed().as_micros() as u64;
        self.shared.metrics.record_request(self.id, opcode, us);
        if let Some(c) = self.conns.get(&no) {
            c.stats.record_response(us, zxid, wall_ms());
        }
    }

    /// This core's connections and watches, for an inspection. Watches are listed only
    /// when asked for (`Detail`): a core answers on its request thread, and with many
    /// watches a full list is a stall that a counter or a metrics scrape need not cause.
    fn report(&self, detail: super::inspect::Detail) -> super::inspect::CoreReport {
        use super::inspect::{ConnInfo, CoreReport, Detail, WatchEntry};
        let session_of = |no: ConnNo| self.conns.get(&no).map_or(0, |c| c.session);
        CoreReport {
            core: self.id,
            view: self.view.clone(),
            conns: self
                .conns
                .values()
                .map(|c| ConnInfo {
                    stats: c.stats.clone(),
                    queued: c.queue.len(),
                })
                .collect(),
            watch_counts: self.watches.zk_counts(),
            data_paths: match detail {
                Detail::Paths => self.watches.data_paths(),
                Detail::Counts | Detail::Watches => Vec::new(),
            },
            watches: match detail {
                Detail::Counts | Detail::Paths => Vec::new(),
                Detail::Watches => self
                    .watches
                    .entries()
                    .map(|(no, kind, path)| WatchEntry {
                        session: session_of(no),
                        kind,
                        path: path.clone(),
                    })
                    .collect(),
            },
        }
    }

    /// Serves the reads that were waiting behind a write, up to the next write.
    fn serve_queued_reads(&mut self, no: ConnNo) {
        loop {
            let Some(conn) = self.conns.get_mut(&no) else {
                return;
            };
            let frame = match conn.queue.front() {
                Some(Queued::Read { .. } | Queued::Ready(_)) => match conn.queue.pop_front() {
                    Some(Queued::Read { xid, req, started }) => {
                        let opcode = request_op(&req);
                        let f = self.serve_read(no, xid, req);
                        let zxid = self.view.last_zxid();
                        self.record_served(no, opcode, started, zxid);
                        f
                    }
                    Some(Queued::Ready(f)) => Some(f),
                    _ => None,
                },
                _ => {
                    if conn.queue.len() < QUEUED_REQUESTS_MAX / 2 {
                        conn.outbound.drained.notify_one();
                    }
                    return;
                }
            };
            if let Some(f) = frame {
                self.send(no, f);
            }
        }
    }

    /// Handles one request frame from an established connection.
    pub fn on_frame(&mut self, no: ConnNo, frame: &[u8]) -> FrameOutcome {
        let started = Instant::now();
        self.shared.stats.received.fetch_add(1, Ordering::Relaxed);
        let mut r = Reader::new(frame);
        let Ok(hdr) = RequestHeader::decode(&mut r) else {
            tracing::warn!("closing connection {no}: request frame too short for a header");
            return FrameOutcome::Close;
        };
        let Some(conn) = self.conns.get(&no) else {
            return FrameOutcome::Close;
        };
        conn.stats.received.fetch_add(1, Ordering::Relaxed);
        conn.stats.last_op.store(hdr.op, Ordering::Relaxed);
        if hdr.xid >= 0 {
            conn.stats.last_cxid.store(hdr.xid, Ordering::Relaxed);
        }
        let session = conn.session;
        let body = r.rest();
        let req = match decode_request(hdr.op, body) {
            Ok(req) => req,
            Err(RequestError::UnknownOp(o)) => {
                tracing::warn!(
                    "closing connection from {}: unknown or disallowed opcode {o}",
                    conn.remote
                );
                let zxid = self.view.last_zxid();
                self.send(
                    no,
                    reply::header_only(hdr.xid, zxid, ErrorCode::Unimplemented),
                );
                return FrameOutcome::Close;
            }
            Err(e @ RequestError::Malformed { .. }) => {
                tracing::warn!(
                    "request from {} (xid {}) could not be decoded: {e}",
                    conn.remote,
                    hdr.xid
                );
                let frame =
                    reply::header_only(hdr.xid, self.view.last_zxid(), ErrorCode::MarshallingError);
                self.enqueue_ready(no, frame);
                return FrameOutcome::Continue;
            }
        };
        if !matches!(req, Request::Auth(_) | Request::Sasl(_)) {
            self.touched.insert(session);
        }
        match req {
            Request::Auth(a) => return self.on_auth(no, hdr.xid, a),
            Request::Ping => {
                let zxid = self.view.last_zxid();
                self.send(no, reply::header_only(op::XID_PING, zxid, ErrorCode::Ok));
                return FrameOutcome::Continue;
            }
            _ => {}
        }
        if req.is_write() {
            let conn = self.conns.get_mut(&no).expect("checked above");
            // Only what sits right behind the previous write matters: anything further
            // back is behind a write that was itself marked.
            let follows_read = conn
                .queue
                .back()
                .is_some_and(|q| !matches!(q, Queued::Write { .. }));
            conn.queue.push_back(Queued::Write {
                started,
                op: hdr.op,
            });
            let ids = conn.ids.clone();
            let _ = self.shared.to_consensus.send(ToConsensus::Write {
                conn: self.conn_ref(no),
                session,
                xid: hdr.xid,
                follows_read,
                ids,
                req,
                raw: body.into(),
            });
            return FrameOutcome::Continue;
        }
        debug_assert!(request_op(&req) != op::CLOSE_SESSION);
        let conn = self.conns.get_mut(&no).expect("checked above");
        if conn.queue.is_empty() {
            // Reads see everything committed before they arrived, on any core.
            self.drain_mailbox();
            let still_idle = self.conns.get(&no).is_some_and(|c| c.queue.is_empty());
            if still_idle {
                let opcode = request_op(&req);
                let added = self.watches.added();
                if let Some(f) = self.serve_read(no, hdr.xid, req) {
                    self.send(no, f);
                }
                let zxid = self.view.last_zxid();
                self.record_served(no, opcode, started, zxid);
                if self.watches.added() != added {
                    // A batch may have been judged before this watch existed.
                    self.drain_mailbox();
                }
                return FrameOutcome::Continue;
            }
            if !self.conns.contains_key(&no) {
                return FrameOutcome::Close;
            }
        }
        if let Some(conn) = self.conns.get_mut(&no) {
            conn.queue.push_back(Queued::Read {
                xid: hdr.xid,
                req,
                started,
            });
        }
        FrameOutcome::Continue
    }

    /// Sends an already-built answer in request order: now if nothing is queued, else after
    /// the queued requests (as a read that yields a fixed frame).
    fn enqueue_ready(&mut self, no: ConnNo, frame: Vec<u8>) {
        let idle = self.conns.get(&no).is_some_and(|c| c.queue.is_empty());
        if idle {
            self.send(no, frame);
        } else if let Some(c) = self.conns.get_mut(&no) {
            c.queue.push_back(Queued::Ready(frame));
        }
    }

    fn on_auth(
        &mut self,
        no: ConnNo,
        xid: i32,
        a: crate::proto::records::AuthPacket,
    ) -> FrameOutcome {
        let Some(conn) = self.conns.get_mut(&no) else {
            return FrameOutcome::Close;
        };
        let ip = conn
            .ids
            .iter()
            .find(|i| i.scheme == "ip")
            .map(|i| i.id.clone())
            .unwrap_or_default();
        let super_digest = self.shared.settings.super_digest.as_deref();
        match crate::acl::authenticate(
            &a.scheme,
            a.auth.as_deref().unwrap_or_default(),
            &ip,
            super_digest,
        ) {
            Ok(new_ids) => {
                let mut ids = (*conn.ids).clone();
                for id in new_ids {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                conn.ids = Arc::new(ids);
                self.send(no, reply::header_only(xid, 0, ErrorCode::Ok));
                FrameOutcome::Continue
            }
            Err(code) => {
                tracing::warn!(
                    "Authentication failed for scheme: {} from {}",
                    a.scheme,
                    conn.remote
                );
                self.shared
                    .stats
                    .auth_failed
                    .fetch_add(1, Ordering::Relaxed);
                self.send(no, reply::header_only(xid, 0, code));
                FrameOutcome::Close
            }
        }
    }

    /// Sends the sessions that saw traffic to the consensus core (their expiry moves out).
    pub fn flush_touches(&mut self) {
        if self.touched.is_empty() {
            return;
        }
        let ids: Vec<SessionId> = self.touched.drain().filter(|s| *s != 0).collect();
        if !ids.is_empty() {
            let _ = self.shared.to_consensus.send(ToConsensus::Touch(ids));
        }
    }

    /// `Some(outbound)` when the connection has so many queued requests, or so many reply
    /// bytes waiting for its socket, that its reader should wait for `outbound.drained`
    /// before reading more.
    pub(crate) fn backpressure(&self, no: ConnNo) -> Option<Rc<Outbound>> {
        let c = self.conns.get(&no)?;
        let paused = c.queue.len() >= QUEUED_REQUESTS_MAX
            || c.outbound.queued_bytes.get() >= self.outbound_pause_bytes();
        paused.then(|| c.outbound.clone())
    }
}

pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

//! Messages between the net cores and the consensus core.

use std::sync::Arc;

use crate::proto::records::{ConnectRequest, ConnectResponse, Id};
use crate::proto::request::Request;
use crate::session::ConnRef;
use crate::tree::{DataTree, TxnResult, WatchEvent};
use crate::txn::{SessionId, Zxid};

/// Net core → consensus core.
#[derive(Debug)]
pub enum ToConsensus {
    /// A handshake: create or resume a session.
    Connect { conn: ConnRef, req: ConnectRequest },
    /// A request that changes state (or must be ordered with changes, like sync).
    Write {
        conn: ConnRef,
        session: SessionId,
        xid: i32,
        /// The connection has a read (or another answer that keeps its place) queued
        /// between its previous write and this one (`Reply::follows_read`).
        follows_read: bool,
        ids: Arc<Vec<Id>>,
        req: Request,
        /// The request record as it arrived (a follower forwards it to the leader).
        raw: Box<[u8]>,
    },
    /// Sessions that saw traffic since the last batch.
    Touch(Vec<SessionId>),
    /// A connection closed; its session lives on until it expires.
    ConnClosed { conn: ConnRef, session: SessionId },
    /// Every tracked session with its timeout and expiry, for `dump` and the admin server.
    ListSessions(tokio::sync::oneshot::Sender<SessionList>),
    /// Stop the consensus core after the log drains.
    Shutdown,
}

/// The consensus core's session table as `dump` shows it.
#[derive(Debug, Clone)]
pub struct SessionList {
    /// Wall-clock time (ms since the epoch) the list was taken.
    pub now_wall_ms: i64,
    /// (session id, timeout ms, ms until it expires unless touched).
    pub sessions: Vec<(SessionId, i32, u64)>,
}

/// The answer to one request (or handshake), encoded by the owning core.
#[derive(Debug, Clone)]
pub struct Reply {
    pub to: ConnRef,
    pub xid: i32,
    /// The request opcode (decides the response record shape).
    pub op: i32,
    /// ReplyHeader.zxid.
    pub zxid: Zxid,
    pub body: ReplyBody,
    /// For a multi: the opcode of each sub-op, which decides each result record's shape.
    pub sub_ops: Vec<i32>,
    /// Something the connection's core answers between the previous reply to this
    /// connection and this one (a read queued behind a write) must see the tree as of that
    /// previous reply. A core serves such reads only once it has handled a whole batch, so
    /// this reply may not share a batch (`outbox`), nor a tree version (`group`), with the
    /// previous one. Replies to back-to-back writes can: pipelined writers are batched.
    pub follows_read: bool,
}

#[derive(Debug, Clone)]
pub enum ReplyBody {
    Connected(ConnectResponse),
    /// The client has seen a newer zxid than this server has: close without answering.
    Refused,
    Result(TxnResult),
    Sync(String),
    /// A reconfig's answer: the new `/zookeeper/config` data and stat (GetDataResponse).
    Config {
        data: Vec<u8>,
        stat: crate::proto::records::Stat,
    },
}

/// One committed (durable and applied) txn, posted to every core in commit order.
#[derive(Debug)]
pub struct Committed {
    pub zxid: Zxid,
    /// The tree as of this txn, when one was made for it: the leader's speculative versions
    /// are; a learner's applied txns share one version per flush (`consensus::outbox`).
    pub tree: Option<Arc<DataTree>>,
    pub events: Vec<WatchEvent>,
    /// Only the core owning `reply.to` sends it, after firing the events.
    pub reply: Option<Reply>,
    /// A connection to close after the reply (closeSession, expiry).
    pub close: Option<ConnRef>,
}

/// One item of a [`Published`] batch, in the order the consensus core produced them.
#[derive(Debug)]
pub enum Item {
    Txn(Committed),
    /// A reply that changes no state (errors, sync, reconnect), ordered after every txn
    /// before it.
    Reply(Reply),
    /// Close a connection whose session was taken over by another connection.
    Evict(ConnRef),
    /// Close every connection: the server left its ensemble role (clients reconnect to a
    /// member that serves).
    EvictAll,
}

/// What one flush of the consensus core's outbox made visible; every core gets the same.
#[derive(Debug)]
pub struct Published {
    /// A core handles this batch only once `SharedState::flushed` has reached `seq`.
    pub seq: u64,
    pub items: Vec<Item>,
    /// The committed tree after every txn in `items`: the core's new view.
    pub tree: Arc<DataTree>,
}

/// Consensus core → net core mailbox.
#[derive(Debug)]
pub enum ToCore {
    Published(Arc<Published>),
    /// Report connections and watches (4lw, admin server, metrics); answered on drain.
    Inspect(
        tokio::sync::mpsc::UnboundedSender<crate::server::inspect::CoreReport>,
        crate::server::inspect::Detail,
    ),
}

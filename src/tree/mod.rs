//! The data tree: a persistent (copy-on-write) map from path to node.
//!
//! Cloning a `DataTree` is O(1): the consensus core applies txns to its own copy and
//! publishes `Arc<DataTree>` versions that net cores and the snapshot writer read without
//! locks. `apply` is a pure function of (tree, txn).

mod access;
mod apply;
mod node;
mod nodes;
pub mod path;
pub mod read;
mod restore;

#[cfg(test)]
mod model_tests;

use std::sync::Arc;

use bytes::Bytes;

pub use node::Children;
pub use restore::StoredNode;

use crate::proto::records::{Acl, Stat};
use crate::proto::ErrorCode;
use crate::txn::{SessionId, Zxid};

/// What is stored per node (ZooKeeper's StatPersisted). `cversion` here is the stored
/// counter: incremented once per child created, never on delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatPersisted {
    pub czxid: Zxid,
    pub mzxid: Zxid,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: Zxid,
}

/// ZooKeeper's StatPersisted record layout (the same field order on disk as in its snapshots).
impl crate::proto::codec::Encode for StatPersisted {
    fn encode(&self, w: &mut crate::proto::codec::Writer) {
        w.i64(self.czxid)
            .i64(self.mzxid)
            .i64(self.ctime)
            .i64(self.mtime);
        w.i32(self.version).i32(self.cversion).i32(self.aversion);
        w.i64(self.ephemeral_owner).i64(self.pzxid);
    }
}

impl crate::proto::codec::Decode for StatPersisted {
    fn decode(r: &mut crate::proto::codec::Reader<'_>) -> crate::proto::codec::DecodeResult<Self> {
        Ok(StatPersisted {
            czxid: r.i64()?,
            mzxid: r.i64()?,
            ctime: r.i64()?,
            mtime: r.i64()?,
            version: r.i32()?,
            cversion: r.i32()?,
            aversion: r.i32()?,
            ephemeral_owner: r.i64()?,
            pzxid: r.i64()?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    /// `None` when created with a null buffer; kept distinct from empty.
    pub data: Option<Bytes>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
    /// Child names (not paths).
    pub children: Children,
}

/// A watch trigger produced by apply, in the order the changes happened.
/// `acl` is the ACL of the node the event is about (for NodeChildrenChanged: the parent),
/// as it stood when the event fired: delivery is filtered by READ on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: i32,
    pub path: Arc<str>,
    pub acl: Arc<Vec<Acl>>,
}

/// The client-visible outcome of applying one txn (or one multi sub-txn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResult {
    Create { path: String, stat: Stat },
    Delete,
    SetData { stat: Stat },
    SetAcl { stat: Stat },
    Check,
    Error(ErrorCode),
    Multi(Vec<TxnResult>),
    SessionCreated,
    SessionClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub result: TxnResult,
    pub events: Vec<WatchEvent>,
}

/// The whole replicated state: nodes, the indexes beside them, and the live sessions with
/// their negotiated timeouts (so a snapshot of one version carries everything).
#[derive(Debug, Clone)]
pub struct DataTree {
    /// One reference per entry (`nodes.rs`): imbl's hash-map chunks reserve room for a
    /// whole chunk of entries, so small entries keep the empty slots cheap.
    pub(crate) nodes: nodes::Nodes,
    pub(crate) ephemerals: crate::fasthash::PersistentMap<SessionId, imbl::OrdSet<Arc<str>>>,
    pub(crate) containers: imbl::OrdSet<Arc<str>>,
    pub(crate) ttls: imbl::OrdSet<Arc<str>>,
    pub(crate) sessions: crate::fasthash::PersistentMap<SessionId, i32>,
    pub(crate) last_zxid: Zxid,
    pub(crate) approximate_data_size: i64,
}

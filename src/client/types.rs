//! Value types of the client API: create modes, watch events, multi ops and results.

use crate::proto::opcode::{add_watch_mode, event, watcher_type};
use crate::proto::records::{Acl, Stat};
use crate::proto::ErrorCode;

/// CreateMode flag values (spec 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    pub fn flags(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }
}

/// WatcherEvent.type of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
    /// A type the server should never send; kept so tests can assert on it.
    Other(i32),
}

impl EventType {
    pub fn from_code(c: i32) -> Self {
        match c {
            event::NODE_CREATED => EventType::NodeCreated,
            event::NODE_DELETED => EventType::NodeDeleted,
            event::NODE_DATA_CHANGED => EventType::NodeDataChanged,
            event::NODE_CHILDREN_CHANGED => EventType::NodeChildrenChanged,
            other => EventType::Other(other),
        }
    }
}

/// A watch notification (xid -1) as it arrived on the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    pub kind: EventType,
    /// KeeperState; servers always send 3 (SyncConnected).
    pub state: i32,
    pub path: String,
    /// ReplyHeader.zxid of the notification: -1 on 3.8, the firing txn's zxid on 3.9.
    pub zxid: i64,
}

/// addWatch modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

impl AddWatchMode {
    pub fn code(self) -> i32 {
        match self {
            AddWatchMode::Persistent => add_watch_mode::PERSISTENT,
            AddWatchMode::PersistentRecursive => add_watch_mode::PERSISTENT_RECURSIVE,
        }
    }
}

/// WatcherType of checkWatches / removeWatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
    Persistent,
    PersistentRecursive,
}

impl WatcherType {
    pub fn code(self) -> i32 {
        match self {
            WatcherType::Children => watcher_type::CHILDREN,
            WatcherType::Data => watcher_type::DATA,
            WatcherType::Any => watcher_type::ANY,
            WatcherType::Persistent => watcher_type::PERSISTENT,
            WatcherType::PersistentRecursive => watcher_type::PERSISTENT_RECURSIVE,
        }
    }
}

/// One operation of a `multi` transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sent as opcode 1; result is `OpResult::Create`.
    Create {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    /// Sent as opcode 15; result is `OpResult::Create2`.
    Create2 {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
    },
    /// Sent as opcode 21 with a CreateTTLRequest; result is `OpResult::Create2`.
    CreateTtl {
        path: String,
        data: Vec<u8>,
        acl: Vec<Acl>,
        mode: CreateMode,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

impl Op {
    pub fn create(path: &str, data: &[u8], acl: &[Acl], mode: CreateMode) -> Op {
        Op::Create {
            path: path.into(),
            data: data.into(),
            acl: acl.into(),
            mode,
        }
    }

    pub fn create2(path: &str, data: &[u8], acl: &[Acl], mode: CreateMode) -> Op {
        Op::Create2 {
            path: path.into(),
            data: data.into(),
            acl: acl.into(),
            mode,
        }
    }

    pub fn delete(path: &str, version: i32) -> Op {
        Op::Delete {
            path: path.into(),
            version,
        }
    }

    pub fn set_data(path: &str, data: &[u8], version: i32) -> Op {
        Op::SetData {
            path: path.into(),
            data: data.into(),
            version,
        }
    }

    pub fn check(path: &str, version: i32) -> Op {
        Op::Check {
            path: path.into(),
            version,
        }
    }
}

/// One entry of a multi response (spec 4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Create {
        path: String,
    },
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    /// An ErrorResult: `ErrorCode::Ok` for ops rolled back before the failing one,
    /// `RuntimeInconsistency` for ops after it.
    Error(ErrorCode),
}

/// One operation of a `multiRead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    GetChildren(String),
    GetData(String),
}

/// One successful entry of a multiRead response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    Children(Vec<String>),
    Data(Option<Vec<u8>>, Stat),
}

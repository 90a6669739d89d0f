//! Operation codes (RequestHeader.type), special xids, and watch-related numbers.

pub const NOTIFICATION: i32 = 0;
pub const CREATE: i32 = 1;
pub const DELETE: i32 = 2;
pub const EXISTS: i32 = 3;
pub const GET_DATA: i32 = 4;
pub const SET_DATA: i32 = 5;
pub const GET_ACL: i32 = 6;
pub const SET_ACL: i32 = 7;
pub const GET_CHILDREN: i32 = 8;
pub const SYNC: i32 = 9;
pub const PING: i32 = 11;
pub const GET_CHILDREN2: i32 = 12;
pub const CHECK: i32 = 13;
pub const MULTI: i32 = 14;
pub const CREATE2: i32 = 15;
pub const RECONFIG: i32 = 16;
pub const CHECK_WATCHES: i32 = 17;
pub const REMOVE_WATCHES: i32 = 18;
pub const CREATE_CONTAINER: i32 = 19;
pub const DELETE_CONTAINER: i32 = 20;
pub const CREATE_TTL: i32 = 21;
pub const MULTI_READ: i32 = 22;
pub const AUTH: i32 = 100;
pub const SET_WATCHES: i32 = 101;
pub const SASL: i32 = 102;
pub const GET_EPHEMERALS: i32 = 103;
pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
pub const SET_WATCHES2: i32 = 105;
pub const ADD_WATCH: i32 = 106;
pub const WHO_AM_I: i32 = 107;
pub const CREATE_SESSION: i32 = -10;
pub const CLOSE_SESSION: i32 = -11;
pub const ERROR: i32 = -1;

pub const XID_NOTIFICATION: i32 = -1;
pub const XID_PING: i32 = -2;
pub const XID_AUTH: i32 = -4;

/// WatcherEvent.type values the server sends.
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    /// KeeperState SyncConnected: the only state the server puts in notifications.
    pub const STATE_SYNC_CONNECTED: i32 = 3;
}

/// WatcherType values of checkWatches / removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    pub const PERSISTENT: i32 = 4;
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// AddWatch modes.
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

/// Four-letter `lop` abbreviations as `cons` prints them.
pub fn short_name(op: i32) -> &'static str {
    match op {
        CREATE | CREATE2 | CREATE_CONTAINER | CREATE_TTL => "CREA",
        DELETE => "DELE",
        SET_DATA => "SETD",
        GET_DATA => "GETD",
        EXISTS => "EXIS",
        GET_CHILDREN | GET_CHILDREN2 => "GETC",
        GET_ACL => "GETA",
        SET_ACL => "SETA",
        SYNC => "SYNC",
        PING => "PING",
        CREATE_SESSION => "SESS",
        CLOSE_SESSION => "CLOS",
        MULTI => "MULT",
        MULTI_READ => "MLTR",
        CHECK => "CHEC",
        SET_WATCHES => "SETW",
        SET_WATCHES2 => "STW2",
        ADD_WATCH => "ADDW",
        CHECK_WATCHES => "CHKW",
        REMOVE_WATCHES => "REMW",
        WHO_AM_I => "HOMI",
        GET_EPHEMERALS => "GETE",
        GET_ALL_CHILDREN_NUMBER => "GETACN",
        RECONFIG => "RECO",
        _ => "NA",
    }
}

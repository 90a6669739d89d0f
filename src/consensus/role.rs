//! What this server is in the ensemble, as `srvr`, `mntr`, `status` and the admin server
//! report it. Standalone today; the ensemble's election sets the others.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    Standalone,
    Looking,
    Leader,
    Follower,
    Observer,
}

impl ServerRole {
    /// ZooKeeper's spelling (`Mode: …` in srvr, `zk_server_state` in mntr).
    pub fn name(self) -> &'static str {
        match self {
            ServerRole::Standalone => "standalone",
            ServerRole::Looking => "looking",
            ServerRole::Leader => "leader",
            ServerRole::Follower => "follower",
            ServerRole::Observer => "observer",
        }
    }

    /// Whether client requests are served (ZooKeeper says "not currently serving" otherwise).
    pub fn serving(self) -> bool {
        self != ServerRole::Looking
    }
}

/// The current role, published by the thread that decides it and read by any.
#[derive(Debug, Default)]
pub struct RoleCell(AtomicU8);

impl RoleCell {
    pub fn get(&self) -> ServerRole {
        match self.0.load(Ordering::Relaxed) {
            1 => ServerRole::Looking,
            2 => ServerRole::Leader,
            3 => ServerRole::Follower,
            4 => ServerRole::Observer,
            _ => ServerRole::Standalone,
        }
    }

    pub fn set(&self, r: ServerRole) {
        let v = match r {
            ServerRole::Standalone => 0,
            ServerRole::Looking => 1,
            ServerRole::Leader => 2,
            ServerRole::Follower => 3,
            ServerRole::Observer => 4,
        };
        self.0.store(v, Ordering::Relaxed);
    }
}

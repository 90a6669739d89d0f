//! The effective runtime settings the server threads read, derived once from `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::prep::PrepSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub client_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub tick_time_ms: u64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// Per client IP; 0 = unlimited.
    pub max_client_cnxns: usize,
    pub jute_max_buffer: usize,
    pub net_cores: usize,
    pub super_digest: Option<String>,
    pub prep: PrepSettings,
    pub enable_eager_acl_check: bool,
    pub container_check_interval_ms: u64,
    pub reconfig_enabled: bool,
    pub force_sync: bool,
    pub fsync_warning_threshold_ms: u64,
    pub snap_count: u64,
    pub server_id: u8,
    /// Four-letter words that may run (srvr always may).
    pub four_letter_words: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    /// `key=value` lines for `conf`/`envi`.
    pub conf_lines: Vec<(String, String)>,
}

impl Settings {
    pub fn four_letter_word_allowed(&self, w: &str) -> bool {
        w == "srvr" || (self.four_letter_words)(w)
    }
}

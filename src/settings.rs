//! The effective runtime settings the server threads read, derived once from `Config`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{Config, WalIo};
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
    /// Bytes queued for one client beyond which its connection is closed.
    pub max_client_outbound_bytes: usize,
    /// 0 = one per CPU.
    pub net_cores: usize,
    /// How long the consensus thread polls before it sleeps (`consensusSpinMicros`).
    pub consensus_spin: std::time::Duration,
    pub super_digest: Option<String>,
    pub prep: PrepSettings,
    pub container_check_interval_ms: u64,
    pub reconfig_enabled: bool,
    pub force_sync: bool,
    pub fsync_warning_threshold_ms: u64,
    /// Log backend choice (`walIo`, `--wal-io`).
    pub wal_io: WalIo,
    /// Log segment size (`preAllocSize`, given in KiB).
    pub segment_bytes: u64,
    pub server_id: u8,
    pub four_letter_words: BTreeSet<String>,
    /// Committed txns between snapshots (the roll point is drawn in [n/2+1, n] per start).
    pub snap_count: u64,
    /// Snapshots autopurge keeps (>= 3).
    pub autopurge_snap_retain_count: usize,
    /// Hours between autopurge runs; 0 = no autopurge.
    pub autopurge_purge_interval_hours: u32,
    /// The admin HTTP server's address (`admin.*`), None when `admin.enableServer=false`.
    pub admin_addr: Option<SocketAddr>,
    pub admin_command_url: String,
    /// The Prometheus endpoint's address (`metricsProvider.*`), None unless configured.
    pub metrics_addr: Option<SocketAddr>,
    /// The config's entries as `key=value` lines (admin `initial_configuration`).
    pub config_text: String,
    /// The config file's name (or the built-in default's), for the start-up banner.
    pub config_origin: String,
    /// The ensemble this server is a member of; `None` in standalone mode.
    pub ensemble: Option<EnsembleSettings>,
}

/// An ensemble member's view of the `server.N` lines.
#[derive(Debug, Clone)]
pub struct EnsembleSettings {
    pub me: i64,
    pub voters: BTreeSet<i64>,
    pub observers: BTreeSet<i64>,
    /// Every member's quorum address, `host:port`.
    pub quorum_addrs: BTreeMap<i64, String>,
    /// Every member's election address, `host:port`.
    pub election_addrs: BTreeMap<i64, String>,
    /// Where we listen on the quorum and election ports.
    pub quorum_listen: SocketAddr,
    pub election_listen: SocketAddr,
    pub init_limit_ticks: u64,
    pub sync_limit_ticks: u64,
    /// Every member's line as `/zookeeper/config` shows it (`host:q:e:role[;client]`).
    pub specs: BTreeMap<i64, String>,
}

impl EnsembleSettings {
    /// The ensemble described by `c` as seen by server `me` (already checked to be in it).
    pub fn from_config(c: &Config, me: u64) -> anyhow::Result<EnsembleSettings> {
        use crate::config::PeerRole;
        let mut s = EnsembleSettings {
            me: me as i64,
            voters: BTreeSet::new(),
            observers: BTreeSet::new(),
            quorum_addrs: BTreeMap::new(),
            election_addrs: BTreeMap::new(),
            quorum_listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            election_listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            init_limit_ticks: u64::from(c.init_limit_ticks.unwrap_or(10)),
            sync_limit_ticks: u64::from(c.sync_limit_ticks.unwrap_or(5)),
            specs: BTreeMap::new(),
        };
        for (&id, spec) in &c.servers {
            let sid = id as i64;
            match spec.role {
                PeerRole::Participant => s.voters.insert(sid),
                PeerRole::Observer => s.observers.insert(sid),
            };
            s.quorum_addrs
                .insert(sid, format!("{}:{}", spec.host, spec.quorum_port));
            s.election_addrs
                .insert(sid, format!("{}:{}", spec.host, spec.election_port));
            let role = match spec.role {
                PeerRole::Participant => "participant",
                PeerRole::Observer => "observer",
            };
            let client = spec
                .client
                .as_ref()
                .map_or(String::new(), |e| format!(";{}:{}", e.host, e.port));
            s.specs.insert(
                sid,
                format!(
                    "{}:{}:{}:{role}{client}",
                    spec.host, spec.quorum_port, spec.election_port
                ),
            );
            if id == me {
                let resolve = |port: u16, key: &str| -> anyhow::Result<SocketAddr> {
                    if c.quorum_listen_on_all_ips {
                        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
                    }
                    std::net::ToSocketAddrs::to_socket_addrs(&(spec.host.as_str(), port))
                        .ok()
                        .and_then(|mut a| a.next())
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "{}:{}: server.{id}: cannot resolve {} for the {key} port",
                                c.origin,
                                spec.line,
                                spec.host
                            )
                        })
                };
                s.quorum_listen = resolve(spec.quorum_port, "quorum")?;
                s.election_listen = resolve(spec.election_port, "election")?;
            }
        }
        if c.peer_type == PeerRole::Observer && !s.observers.contains(&s.me) {
            anyhow::bail!(
                "{}: peerType=observer but server.{me} is not marked :observer",
                c.origin
            );
        }
        Ok(s)
    }
}

impl Settings {
    /// `client_addr` comes from the caller: it depends on the mode and myid.
    pub fn from_config(c: &Config, client_addr: SocketAddr) -> Settings {
        Settings {
            client_addr,
            data_dir: c.data_dir.clone(),
            data_log_dir: c.data_log_dir.clone(),
            tick_time_ms: u64::from(c.tick_time_ms),
            min_session_timeout_ms: c.min_session_timeout_ms as i32,
            max_session_timeout_ms: c.max_session_timeout_ms as i32,
            max_client_cnxns: c.max_client_cnxns as usize,
            jute_max_buffer: c.jute_max_buffer_bytes as usize,
            max_client_outbound_bytes: usize::try_from(c.max_client_outbound_bytes)
                .unwrap_or(usize::MAX),
            net_cores: c.net_cores as usize,
            consensus_spin: std::time::Duration::from_micros(c.consensus_spin_us),
            super_digest: c.super_digest.clone(),
            prep: PrepSettings {
                extended_types: c.extended_types_enabled,
                skip_acl: c.skip_acl,
            },
            container_check_interval_ms: c.container_check_interval_ms,
            reconfig_enabled: c.reconfig_enabled,
            force_sync: c.force_sync,
            fsync_warning_threshold_ms: c.fsync_warning_threshold_ms,
            wal_io: c.wal_io,
            segment_bytes: c.pre_alloc_size_kib.saturating_mul(1024),
            server_id: 0,
            // Config's rule: isro is allowed whenever read-only mode is enabled.
            four_letter_words: c
                .four_letter_words
                .iter()
                .map(|s| s.to_string())
                .chain(c.read_only_mode_enabled.then(|| "isro".to_string()))
                .collect(),
            snap_count: u64::from(c.snap_count),
            autopurge_snap_retain_count: c.autopurge_snap_retain_count as usize,
            autopurge_purge_interval_hours: c.autopurge_purge_interval_hours,
            admin_addr: c
                .admin_enable_server
                .then(|| SocketAddr::new(c.admin_server_address, c.admin_server_port)),
            admin_command_url: c.admin_command_url.clone(),
            // Validated by the caller (`Config::prometheus_addr` names the bad key).
            metrics_addr: c.prometheus_addr().ok().flatten(),
            config_text: c
                .raw
                .iter()
                .map(|e| format!("{}={}\n", e.key, e.value))
                .collect(),
            config_origin: c.origin.clone(),
            ensemble: None,
        }
    }

    /// `srvr` always runs: zkServer.sh-style status depends on it.
    pub fn four_letter_word_allowed(&self, w: &str) -> bool {
        w == "srvr" || self.four_letter_words.contains(w)
    }
}

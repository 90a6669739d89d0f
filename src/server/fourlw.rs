//! Four-letter words on the client port (spec §10). Output formats follow ZooKeeper's so
//! scripts and monitoring that parse them keep working.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::core::Core;
use crate::watch::WatchKind;

pub const VERSION: &str = concat!("3.9.4-ringkeeper-", env!("CARGO_PKG_VERSION"));

const WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The word spelled by a connection's first four bytes, if it is one.
pub fn word(first: i32) -> Option<&'static str> {
    let b = first.to_be_bytes();
    WORDS.iter().copied().find(|w| w.as_bytes() == b)
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn server_stats(c: &Core, with_clients: bool) -> String {
    let st = &c.shared.stats;
    let mut s = String::new();
    let _ = writeln!(s, "Zookeeper version: {VERSION}, built on unknown");
    if with_clients {
        s.push_str("Clients:\n");
        for cs in st.connections() {
            let _ = writeln!(
                s,
                " /{}[1](queued=0,recved={},sent={})",
                cs.remote,
                cs.received.load(Ordering::Relaxed),
                cs.sent.load(Ordering::Relaxed)
            );
        }
        s.push('\n');
    }
    let (min, avg, max) = st.latency_ms();
    let _ = writeln!(s, "Latency min/avg/max: {min}/{avg:?}/{max}");
    let _ = writeln!(s, "Received: {}", st.received.load(Ordering::Relaxed));
    let _ = writeln!(s, "Sent: {}", st.sent.load(Ordering::Relaxed));
    let _ = writeln!(s, "Connections: {}", st.connections().len());
    let _ = writeln!(
        s,
        "Outstanding: {}",
        c.shared.consensus.outstanding.load(Ordering::Relaxed)
    );
    let _ = writeln!(s, "Zxid: 0x{:x}", c.view.last_zxid());
    s.push_str("Mode: standalone\n");
    let _ = writeln!(s, "Node count: {}", c.view.node_count());
    s
}

fn mntr(c: &Core) -> String {
    let st = &c.shared.stats;
    let log = &c.shared.log_stats;
    let (min, avg, max) = st.latency_ms();
    let syncs = log.syncs.load(Ordering::Relaxed);
    let mut lines: Vec<(String, String)> = vec![
        ("version".into(), format!("{VERSION}, built on unknown")),
        ("server_state".into(), "standalone".into()),
        ("avg_latency".into(), format!("{avg:?}")),
        ("max_latency".into(), max.to_string()),
        ("min_latency".into(), min.to_string()),
        (
            "packets_received".into(),
            st.received.load(Ordering::Relaxed).to_string(),
        ),
        (
            "packets_sent".into(),
            st.sent.load(Ordering::Relaxed).to_string(),
        ),
        (
            "num_alive_connections".into(),
            st.connections().len().to_string(),
        ),
        (
            "outstanding_requests".into(),
            c.shared
                .consensus
                .outstanding
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        (
            "uptime".into(),
            st.started.elapsed().as_millis().to_string(),
        ),
        ("znode_count".into(), c.view.node_count().to_string()),
        ("watch_count".into(), c.watches.total().to_string()),
        (
            "ephemerals_count".into(),
            c.view.ephemeral_count().to_string(),
        ),
        (
            "approximate_data_size".into(),
            c.view.approximate_data_size().to_string(),
        ),
        (
            "global_sessions".into(),
            c.shared
                .consensus
                .sessions
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        ("local_sessions".into(), "0".into()),
        ("open_file_descriptor_count".into(), open_fds().to_string()),
        ("max_file_descriptor_count".into(), max_fds().to_string()),
        (
            "auth_failed_count".into(),
            st.auth_failed.load(Ordering::Relaxed).to_string(),
        ),
        ("log_sync_count".into(), syncs.to_string()),
        (
            "log_txn_count".into(),
            log.txns.load(Ordering::Relaxed).to_string(),
        ),
        (
            "log_sync_us_avg".into(),
            (log.sync_us_total.load(Ordering::Relaxed) / syncs.max(1)).to_string(),
        ),
        (
            "log_sync_us_max".into(),
            log.sync_us_max.load(Ordering::Relaxed).to_string(),
        ),
        (
            "log_batch_txns_max".into(),
            log.batch_txns_max.load(Ordering::Relaxed).to_string(),
        ),
    ];
    lines.push((
        "log_backend".into(),
        log.backend.get().copied().unwrap_or("starting").to_string(),
    ));
    lines.push((
        "log_segment_rolls".into(),
        log.segment_rolls.load(Ordering::Relaxed).to_string(),
    ));
    // A copy under the lock the log thread publishes through (it never waits for it).
    let h = log.histograms.lock().map(|h| h.clone()).unwrap_or_default();
    for (name, hist) in [
        ("log_batch_txns", &h.batch_txns),
        ("log_fsync_us", &h.sync_us),
    ] {
        for (suffix, q) in [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)] {
            lines.push((
                format!("{name}_{suffix}"),
                hist.value_at_quantile(q).to_string(),
            ));
        }
        lines.push((format!("{name}_max"), hist.max().to_string()));
    }
    lines.retain(|(k, _)| !k.is_empty());
    lines
        .into_iter()
        .map(|(k, v)| format!("zk_{k}\t{v}\n"))
        .collect()
}

fn envi() -> String {
    let mut s = String::from("Environment:\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let kv = [
        ("zookeeper.version", format!("{VERSION}, built on unknown")),
        ("host.name", host.trim().to_string()),
        (
            "java.version",
            "none (ringkeeper is written in Rust)".into(),
        ),
        ("os.name", std::env::consts::OS.into()),
        ("os.arch", std::env::consts::ARCH.into()),
        (
            "os.version",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        ("user.name", std::env::var("USER").unwrap_or_default()),
        ("user.home", std::env::var("HOME").unwrap_or_default()),
        (
            "user.dir",
            std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ];
    for (k, v) in kv {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

fn conf(c: &Core) -> String {
    let st = c.settings();
    let mut s = String::new();
    let _ = writeln!(s, "clientPort={}", st.client_addr.port());
    let _ = writeln!(s, "secureClientPort=-1");
    let _ = writeln!(s, "dataDir={}", st.data_dir.display());
    let _ = writeln!(s, "dataDirSize={}", dir_size(&st.data_dir));
    let _ = writeln!(s, "dataLogDir={}", st.data_log_dir.display());
    let _ = writeln!(s, "dataLogSize={}", dir_size(&st.data_log_dir));
    let _ = writeln!(s, "tickTime={}", st.tick_time_ms);
    let _ = writeln!(s, "maxClientCnxns={}", st.max_client_cnxns);
    let _ = writeln!(s, "minSessionTimeout={}", st.min_session_timeout_ms);
    let _ = writeln!(s, "maxSessionTimeout={}", st.max_session_timeout_ms);
    let _ = writeln!(s, "clientPortListenBacklog=-1");
    let _ = writeln!(s, "serverId={}", st.server_id);
    s
}

/// Runs `word` (already known to be a four-letter word) and returns its output.
pub fn run(c: &mut Core, word: &str, arg: Option<i64>) -> String {
    if !c.settings().four_letter_word_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".into(),
        "isro" => "rw".into(),
        "srvr" => server_stats(c, false),
        "stat" => server_stats(c, true),
        "mntr" => mntr(c),
        "envi" => envi(),
        "conf" => conf(c),
        "srst" => {
            c.shared.stats.reset();
            "Server stats reset.\n".into()
        }
        "crst" => "Connection stats reset.\n".into(),
        "dirs" => {
            let st = c.settings();
            format!(
                "datadir_size: {}\nlogdir_size: {}\n",
                dir_size(&st.data_dir),
                dir_size(&st.data_log_dir)
            )
        }
        "gtmk" => "0".into(),
        "stmk" => arg.unwrap_or(0).to_string(),
        "wchs" => format!(
            "{} connections watching {} paths\nTotal watches:{}\n",
            c.watches.connections(),
            c.watches.paths(WatchKind::Data),
            c.watches.count(WatchKind::Data)
        ),
        other => format!("{other} is not available in this ringkeeper version yet.\n"),
    }
}

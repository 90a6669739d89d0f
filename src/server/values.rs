//! The figures behind the four-letter words and the admin commands, computed once from the
//! shared counters and a server-wide report, then printed as text (4lw) or JSON (admin).

use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;

use super::core::CoreShared;
use super::inspect::ServerReport;
use crate::metrics;

pub const VERSION: &str = concat!("3.9.4-ringkeeper-", env!("CARGO_PKG_VERSION"));

/// The version as ZooKeeper prints it (`<version>, built on <date>`); we have no build date.
pub fn full_version() -> String {
    format!("{VERSION}, built on unknown")
}

/// A `mntr` / `monitor` value: mntr prints it as text, the admin server as a JSON scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            // Java prints doubles with at least one decimal (8.0, 8.4).
            Value::Float(v) => write!(f, "{v:?}"),
            Value::Text(v) => f.write_str(v),
        }
    }
}

impl Value {
    pub fn json(&self) -> serde_json::Value {
        match self {
            Value::Int(v) => (*v).into(),
            Value::Float(v) => (*v).into(),
            Value::Text(v) => v.clone().into(),
        }
    }
}

fn int(v: impl TryInto<i64>) -> Value {
    Value::Int(v.try_into().unwrap_or(i64::MAX))
}

pub fn dir_size(p: &std::path::Path) -> u64 {
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

pub fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// p50/p90/p99/p999/max of a histogram as mntr lines `<name>_<q>`; nothing when empty, so
/// no figure is printed for something that was never measured.
fn percentiles(out: &mut Vec<(String, Value)>, name: &str, h: &Histogram<u64>) {
    if h.is_empty() {
        return;
    }
    for (suffix, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        out.push((format!("{name}_{suffix}"), int(h.value_at_quantile(q))));
    }
    out.push((format!("{name}_max"), int(h.max())));
}

/// `mntr` / `monitor`: ZooKeeper's `zk_*` keys (without the prefix) that apply to us, then
/// ringkeeper's percentile lines.
pub fn monitor(shared: &CoreShared, report: &ServerReport) -> Vec<(String, Value)> {
    let st = &shared.stats;
    let log = &shared.log_stats;
    let cs = &shared.consensus;
    let (min, avg, max) = shared.metrics.latency_ms();
    let syncs = log.syncs.load(Ordering::Relaxed);
    let view = report.view();
    let mut v: Vec<(String, Value)> = vec![
        ("version".into(), Value::Text(full_version())),
        (
            "server_state".into(),
            Value::Text(cs.role.get().name().into()),
        ),
        ("avg_latency".into(), Value::Float(avg)),
        ("max_latency".into(), int(max)),
        ("min_latency".into(), int(min)),
        (
            "packets_received".into(),
            int(st.received.load(Ordering::Relaxed)),
        ),
        ("packets_sent".into(), int(st.sent.load(Ordering::Relaxed))),
        ("num_alive_connections".into(), int(report.conns().count())),
        (
            "outstanding_requests".into(),
            int(cs.outstanding.load(Ordering::Relaxed)),
        ),
        ("uptime".into(), int(st.started.elapsed().as_millis())),
        (
            "znode_count".into(),
            int(view.map_or(0, |t| t.node_count())),
        ),
        ("watch_count".into(), int(report.watch_count())),
        (
            "ephemerals_count".into(),
            int(view.map_or(0, |t| t.ephemeral_count())),
        ),
        (
            "approximate_data_size".into(),
            int(view.map_or(0, |t| t.approximate_data_size())),
        ),
        (
            "global_sessions".into(),
            int(cs.sessions.load(Ordering::Relaxed)),
        ),
        ("local_sessions".into(), int(0)),
        (
            "open_file_descriptor_count".into(),
            int(metrics::open_fds()),
        ),
        ("max_file_descriptor_count".into(), int(max_fds())),
        (
            "auth_failed_count".into(),
            int(st.auth_failed.load(Ordering::Relaxed)),
        ),
        (
            "connections_closed_outbound_full".into(),
            int(st.outbound_closed.load(Ordering::Relaxed)),
        ),
        (
            "log_backend".into(),
            Value::Text(log.backend.get().copied().unwrap_or("starting").into()),
        ),
        ("log_sync_count".into(), int(syncs)),
        (
            "log_txn_count".into(),
            int(log.txns.load(Ordering::Relaxed)),
        ),
        (
            "log_sync_us_avg".into(),
            int(log.sync_us_total.load(Ordering::Relaxed) / syncs.max(1)),
        ),
        (
            "log_sync_us_max".into(),
            int(log.sync_us_max.load(Ordering::Relaxed)),
        ),
        (
            "log_batch_txns_max".into(),
            int(log.batch_txns_max.load(Ordering::Relaxed)),
        ),
        (
            "log_segment_rolls".into(),
            int(log.segment_rolls.load(Ordering::Relaxed)),
        ),
        (
            "log_queue".into(),
            int(cs.log_queue.load(Ordering::Relaxed)),
        ),
    ];
    if let Some(rss) = metrics::resident_bytes() {
        v.push(("resident_memory_bytes".into(), int(rss)));
    }
    // A copy under the lock the log thread publishes through (it never waits for it).
    let h = log.histograms.lock().map(|h| h.clone()).unwrap_or_default();
    percentiles(&mut v, "log_batch_txns", &h.batch_txns);
    percentiles(&mut v, "log_fsync_us", &h.sync_us);
    let mut all = metrics::latency_histogram();
    for hist in shared.metrics.requests().by_op.values() {
        let _ = all.add(hist);
    }
    percentiles(&mut v, "request_latency_us", &all);
    percentiles(&mut v, "commit_latency_us", &shared.metrics.commit());
    percentiles(&mut v, "snapshot_duration_ms", &shared.metrics.snapshot());
    if shared.settings.ensemble.is_some() {
        percentiles(&mut v, "election_time_ms", &shared.metrics.election());
        for (sid, h) in shared.metrics.proposal_acks() {
            percentiles(&mut v, &format!("proposal_ack_us_follower_{sid}"), &h);
        }
    }
    v
}

/// `conf` / `configuration`, in ZooKeeper's order, with its 4lw key spellings.
pub fn conf(shared: &CoreShared) -> Vec<(&'static str, &'static str, Value)> {
    let st = &shared.settings;
    vec![
        ("clientPort", "client_port", int(st.client_addr.port())),
        ("secureClientPort", "", int(-1)),
        (
            "dataDir",
            "data_dir",
            Value::Text(st.data_dir.display().to_string()),
        ),
        ("dataDirSize", "", int(dir_size(&st.data_dir))),
        (
            "dataLogDir",
            "data_log_dir",
            Value::Text(st.data_log_dir.display().to_string()),
        ),
        ("dataLogSize", "", int(dir_size(&st.data_log_dir))),
        ("tickTime", "tick_time", int(st.tick_time_ms)),
        (
            "maxClientCnxns",
            "max_client_cnxns",
            int(st.max_client_cnxns),
        ),
        (
            "minSessionTimeout",
            "min_session_timeout",
            int(st.min_session_timeout_ms),
        ),
        (
            "maxSessionTimeout",
            "max_session_timeout",
            int(st.max_session_timeout_ms),
        ),
        (
            "clientPortListenBacklog",
            "client_port_listen_backlog",
            int(-1),
        ),
        ("serverId", "server_id", int(st.server_id)),
    ]
}

/// `envi` / `environment`: ZooKeeper's keys, with what a Rust process can say for them.
pub fn environment() -> Vec<(&'static str, String)> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    vec![
        ("zookeeper.version", full_version()),
        ("host.name", read("/proc/sys/kernel/hostname")),
        (
            "java.version",
            "none (ringkeeper is written in Rust)".into(),
        ),
        ("os.name", std::env::consts::OS.into()),
        ("os.arch", std::env::consts::ARCH.into()),
        ("os.version", read("/proc/sys/kernel/osrelease")),
        ("user.name", std::env::var("USER").unwrap_or_default()),
        ("user.home", std::env::var("HOME").unwrap_or_default()),
        (
            "user.dir",
            std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
}

/// `Sun Nov 22 07:24:10 UTC 2026`, as Java's `Date.toString` prints a UTC time.
pub fn java_date_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {day:02} {h:02}:{m:02}:{s:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_dates() {
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        // The time ZooKeeper 3.8.0 printed in a `dump` on this machine.
        assert_eq!(
            java_date_utc(1_795_332_250_000),
            "Sun Nov 22 07:24:10 UTC 2026"
        );
        assert_eq!(
            java_date_utc(951_782_400_000),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
    }

    #[test]
    fn values_print_like_java() {
        assert_eq!(Value::Float(8.0).to_string(), "8.0");
        assert_eq!(Value::Float(8.4).to_string(), "8.4");
        assert_eq!(Value::Int(-1).to_string(), "-1");
    }
}

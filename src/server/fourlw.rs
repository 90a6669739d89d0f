//! Four-letter words on the client port (spec §10). Output formats follow ZooKeeper 3.8's
//! byte for byte where we have the same facts, so scripts and monitoring keep working.
//!
//! Connections and watches live on every net core, so a word asks all of them for a report
//! (`inspect`) and awaits it; the connection's own core answers too, between tasks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::core::CoreShared;
use super::inspect::{self, ConnInfo, ServerReport};
use super::values::{self, full_version};
use crate::proto::opcode;

pub use super::values::VERSION;

const WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// ZooKeeper's default trace mask (request + client ping + server packet traces = 0x132);
/// `gtmk` reports it and `stmk` changes it. ringkeeper keeps the value for compatibility;
/// its own tracing is set with --log-level / RUST_LOG.
pub const DEFAULT_TRACE_MASK: i64 = 0x132;

/// The word spelled by a connection's first four bytes, if it is one.
pub fn word(first: i32) -> Option<&'static str> {
    let b = first.to_be_bytes();
    WORDS.iter().copied().find(|w| w.as_bytes() == b)
}

/// ` /127.0.0.1:5000[1](queued=0,recved=5,sent=5` — shared by `stat` and `cons`.
fn conn_head(s: &mut String, c: &ConnInfo) {
    let st = &c.stats;
    let _ = write!(
        s,
        " /{}[1](queued={},recved={},sent={}",
        st.remote,
        c.queued,
        st.received.load(Ordering::Relaxed),
        st.sent.load(Ordering::Relaxed)
    );
}

/// One `cons` line: the brief form plus, once the session exists, its details.
fn cons_line(s: &mut String, c: &ConnInfo) {
    let st = &c.stats;
    conn_head(s, c);
    let sid = st.session.load(Ordering::Relaxed);
    if sid != 0 {
        let (llat, minlat, avglat, maxlat) = st.latency_ms();
        let lop = st.last_op.load(Ordering::Relaxed);
        let _ =
            write!(
            s,
            ",sid=0x{sid:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat={llat},\
             minlat={minlat},avglat={avglat},maxlat={maxlat}",
            if lop < 0 { "NA" } else { opcode::short_name(lop) },
            st.established_ms,
            st.timeout_ms.load(Ordering::Relaxed),
            st.last_cxid.load(Ordering::Relaxed),
            st.last_zxid.load(Ordering::Relaxed),
            st.last_response_ms.load(Ordering::Relaxed),
        );
    }
    s.push_str(")\n");
}

fn server_stats(shared: &CoreShared, report: &ServerReport, with_clients: bool) -> String {
    let st = &shared.stats;
    let mut s = String::new();
    let _ = writeln!(s, "Zookeeper version: {}", full_version());
    if with_clients {
        s.push_str("Clients:\n");
        for c in report.conns() {
            conn_head(&mut s, c);
            s.push_str(")\n");
        }
        s.push('\n');
    }
    let (min, avg, max) = shared.metrics.latency_ms();
    let _ = writeln!(s, "Latency min/avg/max: {min}/{avg:?}/{max}");
    let _ = writeln!(s, "Received: {}", st.received.load(Ordering::Relaxed));
    let _ = writeln!(s, "Sent: {}", st.sent.load(Ordering::Relaxed));
    let _ = writeln!(s, "Connections: {}", report.conns().count());
    let _ = writeln!(
        s,
        "Outstanding: {}",
        shared.consensus.outstanding.load(Ordering::Relaxed)
    );
    let view = report.view();
    let _ = writeln!(s, "Zxid: 0x{:x}", view.map_or(0, |v| v.last_zxid()));
    let _ = writeln!(s, "Mode: {}", shared.consensus.role.get().name());
    let _ = writeln!(s, "Node count: {}", view.map_or(0, |v| v.node_count()));
    s
}

/// `dump`: sessions grouped by expiry time (rounded up to a tick, as ZooKeeper's expiry
/// buckets are), then the ephemeral nodes of each session.
async fn dump(shared: &CoreShared, report: &ServerReport) -> Result<String, inspect::InspectError> {
    let list = inspect::sessions(&shared.to_consensus).await?;
    let tick = shared.settings.tick_time_ms.max(1) as i64;
    let mut buckets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (id, _timeout, in_ms) in &list.sessions {
        let at = list.now_wall_ms + *in_ms as i64;
        let rounded = (at + tick - 1) / tick * tick;
        buckets.entry(rounded).or_default().push(*id);
    }
    let mut s = String::from("SessionTracker dump:\n");
    let _ = writeln!(
        s,
        "Session Sets ({})/({}):",
        buckets.len(),
        list.sessions.len()
    );
    for (at, ids) in &buckets {
        let _ = writeln!(s, "{} expire at {}:", ids.len(), values::java_date_utc(*at));
        for id in ids {
            let _ = writeln!(s, "\t0x{id:x}");
        }
    }
    s.push_str("ephemeral nodes dump:\n");
    let eph = report
        .view()
        .map(|v| v.ephemerals_by_session())
        .unwrap_or_default();
    let _ = writeln!(s, "Sessions with Ephemerals ({}):", eph.len());
    for (id, paths) in eph {
        let _ = writeln!(s, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    Ok(s)
}

fn mntr(shared: &CoreShared, report: &ServerReport) -> String {
    values::monitor(shared, report)
        .into_iter()
        .map(|(k, v)| format!("zk_{k}\t{v}\n"))
        .collect()
}

fn envi() -> String {
    let mut s = String::from("Environment:\n");
    for (k, v) in values::environment() {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

fn conf(shared: &CoreShared) -> String {
    let mut s = String::new();
    for (k, _, v) in values::conf(shared) {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

/// Resets every connection's figures (`crst`).
pub fn reset_connections(report: &ServerReport) {
    for c in report.conns() {
        c.stats.reset();
    }
}

/// Whether `word` needs the server-wide report.
fn needs_report(word: &str) -> bool {
    matches!(
        word,
        "srvr" | "stat" | "mntr" | "cons" | "crst" | "dump" | "wchc" | "wchp" | "wchs"
    )
}

/// Runs `word` (already known to be a four-letter word) and returns its output.
pub async fn run(shared: &CoreShared, word: &str, arg: Option<i64>) -> String {
    if !shared.settings.four_letter_word_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    if needs_report(word) && !shared.consensus.role.get().serving() {
        // An ensemble member between roles, as ZooKeeper answers then.
        return "This ZooKeeper instance is not currently serving requests\n".into();
    }
    let report = if needs_report(word) {
        let detail = match word {
            "wchs" => inspect::Detail::Paths,
            "wchc" | "wchp" => inspect::Detail::Watches,
            _ => inspect::Detail::Counts,
        };
        match inspect::gather(&shared.mailboxes, detail).await {
            Ok(r) => Some(r),
            Err(e) => return format!("{word} failed: {e}\n"),
        }
    } else {
        None
    };
    let r = report.as_ref();
    match (word, r) {
        ("ruok", _) => "imok".into(),
        ("isro", _) => "rw".into(),
        ("srvr", Some(r)) => server_stats(shared, r, false),
        ("stat", Some(r)) => server_stats(shared, r, true),
        ("mntr", Some(r)) => mntr(shared, r),
        ("envi", _) => envi(),
        ("conf", _) => conf(shared),
        ("srst", _) => {
            shared.stats.reset();
            shared.metrics.reset_requests();
            "Server stats reset.\n".into()
        }
        ("crst", Some(r)) => {
            reset_connections(r);
            "Connection stats reset.\n".into()
        }
        ("cons", Some(r)) => {
            let mut s = String::new();
            for c in r.conns() {
                cons_line(&mut s, c);
            }
            s.push('\n');
            s
        }
        ("dump", Some(r)) => dump(shared, r)
            .await
            .unwrap_or_else(|e| format!("dump failed: {e}\n")),
        ("dirs", _) => {
            let st = &shared.settings;
            format!(
                "datadir_size: {}\nlogdir_size: {}\n",
                values::dir_size(&st.data_dir),
                values::dir_size(&st.data_log_dir)
            )
        }
        ("gtmk", _) => shared.trace_mask.load(Ordering::Relaxed).to_string(),
        ("stmk", _) => {
            let mask = arg.unwrap_or(0);
            shared.trace_mask.store(mask, Ordering::Relaxed);
            mask.to_string()
        }
        ("wchs", Some(r)) => {
            let (conns, paths, total) = r.watch_summary();
            format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
        }
        ("wchc", Some(r)) => {
            let mut s = String::new();
            for (id, paths) in r.data_watches_by_session() {
                let _ = writeln!(s, "0x{id:x}");
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
            s.push('\n');
            s
        }
        ("wchp", Some(r)) => {
            let mut s = String::new();
            for (path, ids) in r.data_watches_by_path() {
                let _ = writeln!(s, "{path}");
                for id in ids {
                    let _ = writeln!(s, "\t0x{id:x}");
                }
            }
            s.push('\n');
            s
        }
        // ZooKeeper prints its digest log; ringkeeper computes no tree digests, so the log
        // is empty, as ZooKeeper's is with digests disabled.
        ("hash", _) => String::new(),
        (other, _) => format!("{other} is not available in this ringkeeper version.\n"),
    }
}

//! Latency histograms (hdrhistogram) and the Prometheus text exposition.
//!
//! Each recorder owns its histograms behind a `Mutex` nobody else takes except the scraper:
//! a net core locks only its own `request_us` slot, the consensus core only `commit_us`, the
//! snapshot thread only `snapshot_ms`. The scraper clones under the lock and merges, so the
//! request path never waits for another request thread.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};

use hdrhistogram::Histogram;

use crate::proto::opcode as op;

/// Quantiles reported for every summary (p50, p90, p99, p99.9; max is the 1.0 quantile).
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];

/// Highest latency a histogram tracks exactly; larger values are clamped to it.
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// A latency histogram in one unit, with 2 significant figures (1% error) to stay small:
/// one per op type per net core.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 2).expect("static histogram bounds are valid")
}

fn record(h: &mut Histogram<u64>, v: u64) {
    h.saturating_record(v.clamp(1, LATENCY_US_MAX));
}

/// Request latencies of one net core, by ZooKeeper opcode.
#[derive(Debug, Default, Clone)]
pub struct OpLatencies {
    pub by_op: BTreeMap<i32, Histogram<u64>>,
}

impl OpLatencies {
    pub fn record(&mut self, opcode: i32, us: u64) {
        record(
            self.by_op.entry(opcode).or_insert_with(latency_histogram),
            us,
        );
    }

    fn merge(&mut self, other: &OpLatencies) {
        for (op, h) in &other.by_op {
            let mine = self.by_op.entry(*op).or_insert_with(latency_histogram);
            // Same bounds on both sides: adding cannot fail.
            let _ = mine.add(h);
        }
    }
}

/// The server's metric registry.
#[derive(Debug)]
pub struct Metrics {
    /// One slot per net core: request received → reply handed to the socket writer.
    request_us: Vec<Mutex<OpLatencies>>,
    /// Write received by the consensus core → durable in the log and posted to the cores.
    /// In standalone this is the quorum commit (a quorum of one).
    commit_us: Mutex<Histogram<u64>>,
    /// One snapshot written, from start to the final rename.
    snapshot_ms: Mutex<Histogram<u64>>,
    /// Leader elections, from LOOKING to a decided vote (ZooKeeper's `election_time`).
    election_ms: Mutex<Histogram<u64>>,
    /// Leader: proposal sent → ACK, by follower sid (`consensus::ack_timing`).
    proposal_ack_us: Mutex<BTreeMap<i64, Histogram<u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A recorder that panicked stops the process (critical threads); the data is still fine.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    pub fn new(net_cores: usize) -> Metrics {
        Metrics {
            request_us: (0..net_cores).map(|_| Mutex::default()).collect(),
            commit_us: Mutex::new(latency_histogram()),
            snapshot_ms: Mutex::new(latency_histogram()),
            election_ms: Mutex::new(latency_histogram()),
            proposal_ack_us: Mutex::default(),
        }
    }

    pub fn record_request(&self, core: usize, opcode: i32, us: u64) {
        if let Some(slot) = self.request_us.get(core) {
            lock(slot).record(opcode, us);
        }
    }

    pub fn record_commit(&self, us: u64) {
        record(&mut lock(&self.commit_us), us);
    }

    pub fn record_snapshot(&self, ms: u64) {
        record(&mut lock(&self.snapshot_ms), ms);
    }

    pub fn record_election(&self, ms: u64) {
        record(&mut lock(&self.election_ms), ms);
    }

    pub fn record_proposal_ack(&self, follower: i64, us: u64) {
        let mut all = lock(&self.proposal_ack_us);
        record(all.entry(follower).or_insert_with(latency_histogram), us);
    }

    /// Proposal → ACK waits by follower sid, accumulated over every term this server led.
    pub fn proposal_acks(&self) -> BTreeMap<i64, Histogram<u64>> {
        lock(&self.proposal_ack_us).clone()
    }

    pub fn election(&self) -> Histogram<u64> {
        lock(&self.election_ms).clone()
    }

    /// Request latencies of every core merged.
    pub fn requests(&self) -> OpLatencies {
        let mut all = OpLatencies::default();
        for slot in &self.request_us {
            let copy = lock(slot).clone();
            all.merge(&copy);
        }
        all
    }

    /// (min, avg, max) request latency in ms over every op, as `srvr` prints them.
    pub fn latency_ms(&self) -> (u64, f64, u64) {
        let mut all = latency_histogram();
        for h in self.requests().by_op.values() {
            let _ = all.add(h);
        }
        if all.is_empty() {
            return (0, 0.0, 0);
        }
        let avg = all.mean() / 1000.0;
        (
            all.min() / 1000,
            (avg * 10000.0).round() / 10000.0,
            all.max() / 1000,
        )
    }

    pub fn commit(&self) -> Histogram<u64> {
        lock(&self.commit_us).clone()
    }

    pub fn snapshot(&self) -> Histogram<u64> {
        lock(&self.snapshot_ms).clone()
    }

    /// Clears the request latencies (the `srst` word resets them with the other stats).
    pub fn reset_requests(&self) {
        for slot in &self.request_us {
            *lock(slot) = OpLatencies::default();
        }
    }
}

/// The op label of request latency metrics: ZooKeeper's request type names.
pub fn op_label(opcode: i32) -> &'static str {
    match opcode {
        op::CREATE => "create",
        op::CREATE2 => "create2",
        op::CREATE_CONTAINER => "createContainer",
        op::CREATE_TTL => "createTTL",
        op::DELETE => "delete",
        op::DELETE_CONTAINER => "deleteContainer",
        op::EXISTS => "exists",
        op::GET_DATA => "getData",
        op::SET_DATA => "setData",
        op::GET_ACL => "getACL",
        op::SET_ACL => "setACL",
        op::GET_CHILDREN => "getChildren",
        op::GET_CHILDREN2 => "getChildren2",
        op::SYNC => "sync",
        op::PING => "ping",
        op::CHECK => "check",
        op::MULTI => "multi",
        op::MULTI_READ => "multiRead",
        op::RECONFIG => "reconfig",
        op::CHECK_WATCHES => "checkWatches",
        op::REMOVE_WATCHES => "removeWatches",
        op::AUTH => "auth",
        op::SET_WATCHES => "setWatches",
        op::SET_WATCHES2 => "setWatches2",
        op::SASL => "sasl",
        op::GET_EPHEMERALS => "getEphemerals",
        op::GET_ALL_CHILDREN_NUMBER => "getAllChildrenNumber",
        op::ADD_WATCH => "addWatch",
        op::WHO_AM_I => "whoAmI",
        op::CREATE_SESSION => "createSession",
        op::CLOSE_SESSION => "closeSession",
        _ => "unknown",
    }
}

/// Builds a Prometheus text-format (0.0.4) page.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

/// Metric names that belong to the ensemble: documented, never emitted by a standalone
/// server (a zero there would claim a measurement that did not happen).
pub const ENSEMBLE_METRICS: [(&str, &str); 2] = [
    (
        "ringkeeper_election_duration_seconds",
        "Leader election, from LOOKING to LEADING/FOLLOWING (summary).",
    ),
    (
        "ringkeeper_proposal_ack_seconds",
        "Proposal sent → ACK received, by follower sid (summary).",
    ),
];

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, "gauge", help);
        let _ = writeln!(self.out, "{name} {value}");
    }

    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, "counter", help);
        let _ = writeln!(self.out, "{name} {value}");
    }

    /// A summary from a histogram recorded in `unit_per_second` units per second (1e6 for
    /// microseconds, 1e3 for milliseconds); values are exported in seconds.
    pub fn summary(
        &mut self,
        name: &str,
        help: &str,
        series: &[(&str, &Histogram<u64>)],
        unit_per_second: f64,
    ) {
        self.header(name, "summary", help);
        for (labels, h) in series {
            let sep = if labels.is_empty() { "" } else { "," };
            for q in QUANTILES {
                let v = if h.is_empty() {
                    f64::NAN
                } else if q >= 1.0 {
                    h.max() as f64 / unit_per_second
                } else {
                    h.value_at_quantile(q) as f64 / unit_per_second
                };
                let _ = writeln!(self.out, "{name}{{{labels}{sep}quantile=\"{q}\"}} {v}");
            }
            let sum = h.mean() * h.len() as f64 / unit_per_second;
            let braces = |s: &str| {
                if s.is_empty() {
                    String::new()
                } else {
                    format!("{{{s}}}")
                }
            };
            let _ = writeln!(self.out, "{name}_sum{} {sum}", braces(labels));
            let _ = writeln!(self.out, "{name}_count{} {}", braces(labels), h.len());
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Resident set size in bytes, from /proc/self/statm (pages × page size).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // The kernel exposes the page size to unprivileged code in the aux vector; without
    // `unsafe` (sysconf) the smaps "KernelPageSize" line gives it.
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("KernelPageSize:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb * 1024)
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_cores_and_summary_lines() {
        let m = Metrics::new(2);
        for us in [100, 200, 300] {
            m.record_request(0, op::GET_DATA, us);
        }
        m.record_request(1, op::GET_DATA, 1_000);
        m.record_request(1, op::SET_DATA, 5_000);
        let r = m.requests();
        assert_eq!(r.by_op[&op::GET_DATA].len(), 4);
        assert_eq!(r.by_op[&op::SET_DATA].len(), 1);
        let mut e = Exposition::default();
        let get = &r.by_op[&op::GET_DATA];
        e.summary("x_seconds", "help", &[("op=\"getData\"", get)], 1e6);
        let text = e.finish();
        assert!(text.contains("# TYPE x_seconds summary"), "{text}");
        assert!(text.contains("x_seconds_count{op=\"getData\"} 4"), "{text}");
        let max_line = text
            .lines()
            .find(|l| l.starts_with("x_seconds{op=\"getData\",quantile=\"1\"}"))
            .expect("max line");
        let max: f64 = max_line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((0.00099..=0.00101).contains(&max), "{max_line}");
        m.reset_requests();
        assert!(m.requests().by_op.is_empty());
    }

    #[test]
    fn empty_summary_says_nan_not_zero() {
        let mut e = Exposition::default();
        e.summary("y_seconds", "help", &[("", &latency_histogram())], 1e3);
        let text = e.finish();
        assert!(text.contains("y_seconds{quantile=\"0.5\"} NaN"), "{text}");
        assert!(text.contains("y_seconds_count 0"), "{text}");
    }

    #[test]
    fn rss_is_read() {
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}

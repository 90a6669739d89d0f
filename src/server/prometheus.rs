//! The `/metrics` page: every metric ringkeeper exports, in Prometheus text format. The
//! README's "Observability" section lists the same names; keep them together.

use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;

use super::core::CoreShared;
use super::inspect::ServerReport;
use crate::metrics::{self, op_label, Exposition};

pub fn render(shared: &CoreShared, r: &ServerReport) -> String {
    let mut e = Exposition::default();
    let requests = shared.metrics.requests();
    let labels: Vec<(String, &hdrhistogram::Histogram<u64>)> = requests
        .by_op
        .iter()
        .map(|(op, h)| (format!("op=\"{}\"", op_label(*op)), h))
        .collect();
    let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> =
        labels.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    e.summary(
        "ringkeeper_request_latency_seconds",
        "Request received to reply queued on the socket, by op type.",
        &series,
        1e6,
    );
    let log = shared
        .log_stats
        .histograms
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default();
    e.summary(
        "ringkeeper_log_sync_seconds",
        "One group-commit write + fdatasync of the transaction log.",
        &[("", &log.sync_us)],
        1e6,
    );
    e.summary(
        "ringkeeper_log_batch_txns",
        "Txns made durable by one log sync (group-commit batch size).",
        &[("", &log.batch_txns)],
        1.0,
    );
    e.summary(
        "ringkeeper_commit_latency_seconds",
        "Write prepped to durable commit (standalone: the log sync; ensemble: quorum ack).",
        &[("", &shared.metrics.commit())],
        1e6,
    );
    e.summary(
        "ringkeeper_snapshot_duration_seconds",
        "Writing one snapshot, start to rename.",
        &[("", &shared.metrics.snapshot())],
        1e3,
    );
    if shared.settings.ensemble.is_some() {
        let (name, help) = crate::metrics::ENSEMBLE_METRICS[0];
        e.summary(name, help, &[("", &shared.metrics.election())], 1e3);
        let acks = shared.metrics.proposal_acks();
        if !acks.is_empty() {
            let labels: Vec<String> = acks.keys().map(|s| format!("follower=\"{s}\"")).collect();
            let series: Vec<(&str, &Histogram<u64>)> = labels
                .iter()
                .map(String::as_str)
                .zip(acks.values())
                .collect();
            let (name, help) = crate::metrics::ENSEMBLE_METRICS[1];
            e.summary(name, help, &series, 1e6);
        }
    }
    let cs = &shared.consensus;
    let st = &shared.stats;
    let view = r.view();
    e.gauge(
        "ringkeeper_outstanding_requests",
        "Writes in the consensus pipeline, not yet answered.",
        cs.outstanding.load(Ordering::Relaxed) as f64,
    );
    e.gauge(
        "ringkeeper_log_queue_txns",
        "Txns handed to the log thread and not yet durable.",
        cs.log_queue.load(Ordering::Relaxed) as f64,
    );
    e.gauge(
        "ringkeeper_sessions",
        "Live sessions.",
        cs.sessions.load(Ordering::Relaxed) as f64,
    );
    e.gauge(
        "ringkeeper_connections",
        "Open client connections.",
        r.conns().count() as f64,
    );
    e.gauge(
        "ringkeeper_watches",
        "Registered watches of every kind.",
        r.watch_count() as f64,
    );
    e.gauge(
        "ringkeeper_znodes",
        "Nodes in the tree.",
        view.map_or(0, |v| v.node_count()) as f64,
    );
    e.gauge(
        "ringkeeper_ephemerals",
        "Ephemeral nodes in the tree.",
        view.map_or(0, |v| v.ephemeral_count()) as f64,
    );
    e.gauge(
        "ringkeeper_approximate_data_size_bytes",
        "Sum of node path and data sizes (ZooKeeper's approximate_data_size).",
        view.map_or(0, |v| v.approximate_data_size()) as f64,
    );
    e.gauge(
        "ringkeeper_last_zxid",
        "Zxid of the newest applied txn.",
        view.map_or(0, |v| v.last_zxid()) as f64,
    );
    if let Some(rss) = metrics::resident_bytes() {
        e.gauge(
            "ringkeeper_resident_memory_bytes",
            "Resident set size (/proc/self/statm).",
            rss as f64,
        );
    }
    e.gauge(
        "ringkeeper_open_fds",
        "Open file descriptors.",
        metrics::open_fds() as f64,
    );
    e.counter(
        "ringkeeper_packets_received_total",
        "Requests received (since start or the last srst).",
        st.received.load(Ordering::Relaxed),
    );
    e.counter(
        "ringkeeper_packets_sent_total",
        "Packets sent (since start or the last srst).",
        st.sent.load(Ordering::Relaxed),
    );
    let ls = &shared.log_stats;
    e.counter(
        "ringkeeper_log_syncs_total",
        "Transaction log syncs.",
        ls.syncs.load(Ordering::Relaxed),
    );
    e.counter(
        "ringkeeper_log_txns_total",
        "Txns written to the transaction log.",
        ls.txns.load(Ordering::Relaxed),
    );
    e.counter(
        "ringkeeper_log_bytes_total",
        "Bytes written to the transaction log.",
        ls.bytes.load(Ordering::Relaxed),
    );
    e.gauge(
        "ringkeeper_uptime_seconds",
        "Seconds since the server started.",
        st.started.elapsed().as_secs_f64(),
    );
    e.finish()
}

//! The log thread: group commit. Take everything that queued while the previous sync was in
//! flight, write it as one batch, sync once, then report the highest durable zxid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::log_file::LogBackend;
use super::record::encode_into;
use crate::txn::Zxid;

/// One txn on its way to the disk.
#[derive(Debug)]
pub struct LogEntry {
    pub zxid: Zxid,
    pub txn: Vec<u8>,
}

/// Limits on one batch, so one sync never waits on an unbounded write.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub txns_max: usize,
    pub bytes_max: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            txns_max: 4096,
            bytes_max: 8 << 20,
        }
    }
}

/// Counters the operator surface reads.
#[derive(Debug, Default)]
pub struct LogStats {
    pub syncs: AtomicU64,
    pub txns: AtomicU64,
    pub bytes: AtomicU64,
    pub sync_us_max: AtomicU64,
    pub sync_us_total: AtomicU64,
    pub batch_txns_max: AtomicU64,
}

/// Runs the group-commit loop until `rx` closes. A failed write or sync stops the process:
/// after a failed fdatasync the page cache state is unknown, and retrying could report
/// success for data that is gone.
pub fn run(
    mut backend: Box<dyn LogBackend>,
    rx: Receiver<LogEntry>,
    durable: Sender<Zxid>,
    limits: BatchLimits,
    warn_threshold_ms: u64,
    stats: Arc<LogStats>,
) {
    let mut buf = Vec::with_capacity(1 << 20);
    while let Ok(first) = rx.recv() {
        buf.clear();
        let mut last = first.zxid;
        encode_into(&mut buf, first.zxid, &first.txn);
        let mut n = 1usize;
        while n < limits.txns_max && buf.len() < limits.bytes_max {
            match rx.try_recv() {
                Ok(e) => {
                    debug_assert!(e.zxid > last, "log entries must arrive in zxid order");
                    last = e.zxid;
                    encode_into(&mut buf, e.zxid, &e.txn);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        if let Err(e) = backend.append_durable(&buf) {
            crate::storage::fatal(&format!(
                "writing or syncing the transaction log failed ({} backend, {} txns up to zxid {last:#x}): {e}",
                backend.kind(),
                n
            ));
        }
        let us = started.elapsed().as_micros() as u64;
        if us / 1000 > warn_threshold_ms {
            tracing::warn!(
                "fsync-ing the write ahead log took {}ms which will adversely effect operation latency",
                us / 1000
            );
        }
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        stats.txns.fetch_add(n as u64, Ordering::Relaxed);
        stats.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        stats.sync_us_total.fetch_add(us, Ordering::Relaxed);
        stats.sync_us_max.fetch_max(us, Ordering::Relaxed);
        stats.batch_txns_max.fetch_max(n as u64, Ordering::Relaxed);
        if durable.send(last).is_err() {
            return;
        }
    }
}

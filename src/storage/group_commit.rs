//! The log thread: group commit. Whatever queued while the previous sync was in flight
//! becomes the next batch (capped by bytes and count; no timer), written into the active
//! segment and synced once; then the highest durable zxid is reported.
//!
//! With io_uring the next batch's write is submitted while the current sync runs; the
//! backend reports a batch durable only after a sync that started after its write finished.
//! Because the consensus thread cannot wake the ring, the loop looks at its inbox every
//! `INBOX_POLL_WHILE_SYNCING` while a sync is in flight and the write slot is free.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};
use hdrhistogram::Histogram;

use super::log_file::{Batch, Durable, LogBackend, SyncBackend};
use super::record::{encode_into, framed_len};
use super::segment::Segments;
use crate::txn::Zxid;

/// How often the inbox is checked while a sync is in flight (io_uring only).
const INBOX_POLL_WHILE_SYNCING: Duration = Duration::from_micros(100);

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
    /// ZooKeeper's `maxBatchSize` is 1000 txns; RocksDB caps a write group at 1 MiB.
    fn default() -> Self {
        BatchLimits {
            txns_max: 1000,
            bytes_max: 1 << 20,
        }
    }
}

/// Latency and size distributions of the log, as last published by the log thread.
#[derive(Debug, Clone)]
pub struct LogHistograms {
    /// Txns per batch.
    pub batch_txns: Histogram<u64>,
    /// Duration of each data sync, microseconds.
    pub sync_us: Histogram<u64>,
}

impl Default for LogHistograms {
    fn default() -> Self {
        LogHistograms {
            batch_txns: Histogram::new_with_bounds(1, 1 << 20, 3).expect("valid bounds"),
            // Up to a minute; slower syncs are recorded as a minute (and logged).
            sync_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
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
    pub segment_rolls: AtomicU64,
    /// "uring" or "sync", once the log thread runs.
    pub backend: OnceLock<&'static str>,
    /// Published by the log thread (`try_lock`, never waiting); readers clone under the lock.
    pub histograms: Mutex<LogHistograms>,
}

/// Which backend the log thread builds (the ring must be built on the thread that uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Uring,
    Sync,
}

impl BackendKind {
    /// Chooses the backend for `mode`, probing io_uring in `dir` unless `sync` is forced.
    /// `auto` falls back with one log line saying why; `uring` that fails is an error.
    pub fn select(mode: crate::config::WalIo, dir: &std::path::Path) -> anyhow::Result<Self> {
        use crate::config::WalIo;
        match mode {
            WalIo::Sync => {
                tracing::info!("transaction log backend: sync (pwrite + fdatasync), as configured");
                Ok(BackendKind::Sync)
            }
            WalIo::Uring => match super::uring::probe(dir) {
                Ok(()) => {
                    tracing::info!("transaction log backend: io_uring, as configured");
                    Ok(BackendKind::Uring)
                }
                Err(why) => anyhow::bail!(
                    "walIo=uring but io_uring is unavailable in {}: {why}",
                    dir.display()
                ),
            },
            WalIo::Auto => match super::uring::probe(dir) {
                Ok(()) => {
                    tracing::info!("transaction log backend: io_uring (probe passed)");
                    Ok(BackendKind::Uring)
                }
                Err(why) => {
                    tracing::warn!(
                        "io_uring unavailable ({why}); transaction log falls back to the sync \
                         backend (pwrite + fdatasync), same file format"
                    );
                    Ok(BackendKind::Sync)
                }
            },
        }
    }

    pub fn create(self, force_sync: bool) -> std::io::Result<Box<dyn LogBackend>> {
        let backend: Box<dyn LogBackend> = match self {
            BackendKind::Uring => Box::new(super::uring::UringBackend::new(force_sync)?),
            BackendKind::Sync => Box::new(SyncBackend::new(force_sync)),
        };
        #[cfg(feature = "fault-injection")]
        let backend = super::fault::wrap(backend)?;
        Ok(backend)
    }
}

/// Starts the log thread.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    kind: BackendKind,
    force_sync: bool,
    segments: Segments,
    rx: Receiver<LogEntry>,
    durable: crate::doorbell::Sender<Zxid>,
    limits: BatchLimits,
    warn_threshold_ms: u64,
    stats: Arc<LogStats>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rk-log".into())
        .spawn(move || {
            let backend = kind.create(force_sync).unwrap_or_else(|e| {
                crate::storage::fatal(&format!("creating the {kind:?} log backend: {e}"))
            });
            run(
                backend,
                segments,
                rx,
                durable,
                limits,
                warn_threshold_ms,
                stats,
            )
        })
}

impl LogHistograms {
    /// Adds everything recorded here to `into` and empties this one. Walks every bucket.
    fn move_into(&mut self, into: &mut LogHistograms) {
        // Same bounds on both sides: add cannot fail.
        let _ = into.batch_txns.add(&self.batch_txns);
        let _ = into.sync_us.add(&self.sync_us);
        self.batch_txns.reset();
        self.sync_us.reset();
    }

    fn record(&mut self, txns: usize, sync_us: Option<u64>) {
        self.batch_txns.saturating_record(txns as u64);
        if let Some(us) = sync_us {
            self.sync_us.saturating_record(us.max(1));
        }
    }
}

/// Records each batch into the shared histograms when their lock is free (a reader holds
/// it for a moment), else into local ones folded in later. Folding walks every bucket, so
/// it is done only after such a miss, never per batch. (Every batch records its size, so
/// the local histograms hold something exactly when `batch_txns` is not empty.)
struct Recorder {
    local: LogHistograms,
    warn_threshold_ms: u64,
    stats: Arc<LogStats>,
}

impl Recorder {
    fn record(&mut self, done: &[Durable], durable: &crate::doorbell::Sender<Zxid>) -> bool {
        let Some(last) = done.last() else {
            return true;
        };
        // The consensus core first: the bookkeeping below is not on a write's path.
        let delivered = durable.send(last.last_zxid).is_ok();
        let mut shared = self.stats.histograms.try_lock().ok();
        if let Some(h) = shared.as_deref_mut() {
            if !self.local.batch_txns.is_empty() {
                self.local.move_into(h);
            }
        }
        for d in done {
            let sync_us = d.sync.map(|s| s.as_micros() as u64);
            shared
                .as_deref_mut()
                .unwrap_or(&mut self.local)
                .record(d.txns, sync_us);
            self.stats.txns.fetch_add(d.txns as u64, Ordering::Relaxed);
            self.stats
                .bytes
                .fetch_add(d.bytes.len() as u64, Ordering::Relaxed);
            self.stats
                .batch_txns_max
                .fetch_max(d.txns as u64, Ordering::Relaxed);
            if let Some(us) = sync_us {
                self.stats.syncs.fetch_add(1, Ordering::Relaxed);
                self.stats.sync_us_total.fetch_add(us, Ordering::Relaxed);
                self.stats.sync_us_max.fetch_max(us, Ordering::Relaxed);
                if us / 1000 > self.warn_threshold_ms {
                    tracing::warn!(
                        "fsync-ing the write ahead log took {}ms which will adversely effect operation latency. File size is {} bytes. See the ZooKeeper troubleshooting guide",
                        us / 1000,
                        d.bytes.len()
                    );
                }
            }
        }
        delivered
    }

    /// Folds what a busy lock left in the local histograms into the shared ones.
    fn publish(&mut self) {
        if self.local.batch_txns.is_empty() {
            return;
        }
        if let Ok(mut shared) = self.stats.histograms.try_lock() {
            self.local.move_into(&mut shared);
        }
    }
}

/// Runs the group-commit loop until `rx` closes and everything taken from it is durable.
/// A failed write or sync stops the process: after a failed fdatasync the page cache state
/// is unknown, and retrying could report success for data that is gone.
pub fn run(
    mut backend: Box<dyn LogBackend>,
    mut segments: Segments,
    rx: Receiver<LogEntry>,
    durable: crate::doorbell::Sender<Zxid>,
    limits: BatchLimits,
    warn_threshold_ms: u64,
    stats: Arc<LogStats>,
) {
    let kind = backend.kind();
    let _ = stats.backend.set(kind);
    let mut rec = Recorder {
        local: LogHistograms::default(),
        warn_threshold_ms,
        stats: stats.clone(),
    };
    let fail = |what: &str, e: std::io::Error| -> ! {
        let hint = if e.raw_os_error() == Some(libc::ENOSPC) {
            " (dataLogDir is full; everything acknowledged is in the log: free space and restart)"
        } else {
            ""
        };
        crate::storage::fatal(&format!("{what} ({kind} backend): {e}{hint}"))
    };
    let mut carry: Option<LogEntry> = None;
    let mut closed = false;
    let mut done: Vec<Durable> = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    loop {
        if backend.can_submit() {
            let first = match carry.take() {
                Some(e) => Some(e),
                None if closed => None,
                None if backend.in_flight() == 0 => {
                    rec.publish();
                    match rx.recv() {
                        Ok(e) => Some(e),
                        Err(_) => {
                            closed = true;
                            None
                        }
                    }
                }
                None => match rx.try_recv() {
                    Ok(e) => Some(e),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        None
                    }
                },
            };
            if let Some(first) = first {
                if !segments.fits(framed_len(first.txn.len())) {
                    // Everything in the old segment is durable before the new one is used.
                    while backend.in_flight() > 0 {
                        backend
                            .poll_durable(None, &mut done)
                            .unwrap_or_else(|e| fail("writing the transaction log", e));
                        if !rec.record(&done, &durable) {
                            return;
                        }
                        spare.extend(done.drain(..).map(|d| d.bytes));
                    }
                    segments.roll(first.zxid).unwrap_or_else(|e| {
                        fail(
                            &format!(
                                "starting log segment {} in {}",
                                super::log_file::log_file_name(first.zxid),
                                segments.dir().display()
                            ),
                            e,
                        )
                    });
                    stats.segment_rolls.fetch_add(1, Ordering::Relaxed);
                }
                let room = segments.remaining().max(framed_len(first.txn.len()) as u64);
                let mut buf = spare.pop().unwrap_or_default();
                buf.clear();
                let mut last = first.zxid;
                encode_into(&mut buf, first.zxid, &first.txn);
                let mut n = 1usize;
                while n < limits.txns_max && buf.len() < limits.bytes_max {
                    match rx.try_recv() {
                        Ok(e) => {
                            assert!(e.zxid > last, "log entries must arrive in zxid order");
                            if (buf.len() + framed_len(e.txn.len())) as u64 > room {
                                carry = Some(e);
                                break;
                            }
                            last = e.zxid;
                            encode_into(&mut buf, e.zxid, &e.txn);
                            n += 1;
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            closed = true;
                            break;
                        }
                    }
                }
                let place = segments.place(buf.len());
                backend
                    .submit(Batch {
                        place,
                        bytes: buf,
                        last_zxid: last,
                        txns: n,
                    })
                    .unwrap_or_else(|e| {
                        fail(
                            &format!(
                                "writing {n} txns up to zxid {last:#x} to the transaction log"
                            ),
                            e,
                        )
                    });
            }
        }
        if backend.in_flight() > 0 {
            let timeout = (backend.can_submit() && carry.is_none() && !closed)
                .then_some(INBOX_POLL_WHILE_SYNCING);
            backend
                .poll_durable(timeout, &mut done)
                .unwrap_or_else(|e| fail("writing or syncing the transaction log", e));
            if !rec.record(&done, &durable) {
                return;
            }
            spare.extend(done.drain(..).map(|d| d.bytes));
            spare.truncate(4);
        } else if closed && carry.is_none() {
            rec.publish();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::recovery;

    fn run_log(kind: BackendKind, segment_bytes: u64, entries: usize) -> Vec<Zxid> {
        let dir = tempfile::tempdir().unwrap();
        if kind == BackendKind::Uring && super::super::uring::probe(dir.path()).is_err() {
            return (1..=entries as i64).collect();
        }
        let segs = Segments::open(dir.path(), segment_bytes, None, 1).unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let (dtx, drx) = crossbeam_channel::unbounded();
        let stats = Arc::new(LogStats::default());
        let t = spawn(
            kind,
            true,
            segs,
            rx,
            dtx.into(),
            BatchLimits::default(),
            1000,
            stats.clone(),
        )
        .unwrap();
        for z in 1..=entries as i64 {
            tx.send(LogEntry {
                zxid: z,
                txn: vec![z as u8; 50 + (z as usize % 200)],
            })
            .unwrap();
        }
        drop(tx);
        t.join().unwrap();
        let reported: Vec<Zxid> = drx.iter().collect();
        assert!(reported.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(reported.last(), Some(&(entries as i64)));
        assert_eq!(stats.txns.load(Ordering::Relaxed), entries as u64);
        assert!(!stats.histograms.lock().unwrap().batch_txns.is_empty());
        let files = recovery::list_log_files(dir.path()).unwrap();
        assert!(files.len() > 1, "small segments roll");
        let mut zxids = Vec::new();
        for (first, path) in files {
            let data = std::fs::read(&path).unwrap();
            assert!(data.len() as u64 >= segment_bytes.min(4096));
            let mut pos = 0;
            let mut first_seen = None;
            while let crate::storage::record::Scan::Record { zxid, txn, next } =
                crate::storage::record::scan(&data, pos)
            {
                assert_eq!(txn, vec![zxid as u8; 50 + (zxid as usize % 200)]);
                first_seen.get_or_insert(zxid);
                zxids.push(zxid);
                pos = next;
            }
            assert_eq!(
                first_seen,
                Some(first),
                "a segment is named by its first zxid"
            );
        }
        zxids
    }

    #[test]
    fn both_backends_write_every_entry_across_segments() {
        for kind in [BackendKind::Sync, BackendKind::Uring] {
            let zxids = run_log(kind, 4096, 3000);
            assert_eq!(zxids, (1..=3000).collect::<Vec<_>>(), "{kind:?}");
        }
    }
}

//! The log thread as the consensus core holds it: a channel to append on, and the means to
//! stop it, cut the log back (Zab's TRUNC) and start it again on the shortened files.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender};

use super::group_commit::{self, BackendKind, BatchLimits, LogEntry, LogStats};
use super::recovery::{self, Truncated};
use super::segment::Segments;
use crate::txn::Zxid;

/// How the log thread is (re)started.
#[derive(Debug, Clone)]
pub struct LogParams {
    pub kind: BackendKind,
    pub force_sync: bool,
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub limits: BatchLimits,
    pub warn_threshold_ms: u64,
    pub stats: Arc<LogStats>,
}

pub struct LogStage {
    params: LogParams,
    tx: Option<Sender<LogEntry>>,
    thread: Option<JoinHandle<()>>,
    durable_tx: crate::doorbell::Sender<Zxid>,
    /// The consensus core's end of `durable_tx`, to drain reports of a stopped thread.
    durable_rx: Receiver<Zxid>,
}

impl LogStage {
    /// Starts the log thread on `segments`; durable reports go to `durable_tx`.
    pub fn start(
        params: LogParams,
        segments: Segments,
        durable_tx: crate::doorbell::Sender<Zxid>,
        durable_rx: Receiver<Zxid>,
    ) -> std::io::Result<LogStage> {
        let mut s = LogStage {
            params,
            tx: None,
            thread: None,
            durable_tx,
            durable_rx,
        };
        s.spawn(segments)?;
        Ok(s)
    }

    fn spawn(&mut self, segments: Segments) -> std::io::Result<()> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let p = &self.params;
        let thread = group_commit::spawn(
            p.kind,
            p.force_sync,
            segments,
            rx,
            self.durable_tx.clone(),
            p.limits,
            p.warn_threshold_ms,
            p.stats.clone(),
        )?;
        self.tx = Some(tx);
        self.thread = Some(thread);
        Ok(())
    }

    /// Queues a txn; the durable channel reports it once synced. A log thread that is gone
    /// stopped the process already (fsync failures are fatal), so this cannot be lost quietly.
    pub fn append(&self, e: LogEntry) {
        match &self.tx {
            Some(tx) if tx.send(e).is_ok() => {}
            _ => crate::storage::fatal("the log thread is gone"),
        }
    }

    /// Lets the thread sync what it holds and end; its last durable reports stay queued.
    pub fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Zab's TRUNC: stops the thread, drops every logged txn above `zxid`, and starts the
    /// thread again appending after it. Durable reports of the stopped thread are dropped:
    /// they may name txns that no longer exist.
    pub fn truncate_after(&mut self, zxid: Zxid) -> Result<Truncated> {
        self.stop();
        while self.durable_rx.try_recv().is_ok() {}
        let dir = self.params.dir.clone();
        let cut = recovery::truncate_after(&dir, zxid)
            .with_context(|| format!("truncating the log in {} after {zxid:#x}", dir.display()))?;
        let rec = recovery::recover_after(&dir, zxid)
            .with_context(|| format!("reopening the log in {}", dir.display()))?;
        let segments = Segments::open(&dir, self.params.segment_bytes, rec.active, zxid + 1)
            .with_context(|| format!("opening the log in {}", dir.display()))?;
        self.spawn(segments).context("restarting the log thread")?;
        Ok(cut)
    }
}

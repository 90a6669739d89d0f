//! Server-wide views for the four-letter words, the admin server and the metrics page.
//!
//! Connections and watches are owned by the net cores, sessions by the consensus core;
//! nothing is shared behind a lock. A report is asked for through each owner's mailbox and
//! answered when that owner next drains it, so an inspection never blocks a request thread
//! and a core that asks (a 4lw on that core) simply awaits its own answer too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::consensus::msg::{SessionList, ToConsensus, ToCore};
use crate::consensus::CoreMailbox;
use crate::fasthash::HashSet;
use crate::tree::DataTree;
use crate::txn::SessionId;
use crate::watch::{WatchCounts, WatchKind};

use super::stats::ConnStats;

/// How long an inspection waits for the server's threads; a busy server answers in
/// microseconds, so hitting this means a thread is stuck and the report says so.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub stats: Arc<ConnStats>,
    /// Requests waiting behind this connection's writes.
    pub queued: usize,
}

#[derive(Debug, Clone)]
pub struct WatchEntry {
    pub session: SessionId,
    pub kind: WatchKind,
    pub path: Arc<str>,
}

/// How much of its watches a core lists in its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Counts only (mntr, metrics, stat...): no walk over every watch's path.
    Counts,
    /// Counts and each data-watched path once (wchs: paths watched over all cores).
    Paths,
    /// Counts and every watch (wchc, wchp, the admin server's watch lists), without the
    /// path list: `ServerReport::watch_summary` needs `Paths`.
    Watches,
}

/// One net core's answer.
#[derive(Debug, Clone)]
pub struct CoreReport {
    pub core: usize,
    pub view: Arc<DataTree>,
    pub conns: Vec<ConnInfo>,
    pub watch_counts: WatchCounts,
    /// With `Detail::Paths` only: this core's data-watched paths, each once.
    pub data_paths: Vec<Arc<str>>,
    /// With `Detail::Watches` only.
    pub watches: Vec<WatchEntry>,
}

/// Every core's answer.
#[derive(Debug, Clone)]
pub struct ServerReport {
    pub cores: Vec<CoreReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("net core threads did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the server is shutting down")]
    Stopped,
}

/// Asks every core for its report, with watches to `detail`, and waits for all of them.
pub async fn gather(
    mailboxes: &[CoreMailbox],
    detail: Detail,
) -> Result<ServerReport, InspectError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for m in mailboxes {
        m.post(ToCore::Inspect(tx.clone(), detail));
    }
    drop(tx);
    let mut cores = Vec::with_capacity(mailboxes.len());
    let collect = async {
        while let Some(r) = rx.recv().await {
            cores.push(r);
        }
    };
    tokio::time::timeout(ANSWER_TIMEOUT, collect)
        .await
        .map_err(|_| InspectError::Timeout(ANSWER_TIMEOUT))?;
    if cores.len() < mailboxes.len() {
        return Err(InspectError::Stopped);
    }
    cores.sort_by_key(|c| c.core);
    Ok(ServerReport { cores })
}

/// The consensus core's session table.
pub async fn sessions(
    to_consensus: &crate::doorbell::Sender<ToConsensus>,
) -> Result<SessionList, InspectError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    to_consensus
        .send(ToConsensus::ListSessions(tx))
        .map_err(|_| InspectError::Stopped)?;
    match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
        Ok(Ok(list)) => Ok(list),
        Ok(Err(_)) => Err(InspectError::Stopped),
        Err(_) => Err(InspectError::Timeout(ANSWER_TIMEOUT)),
    }
}

impl ServerReport {
    /// The newest tree view among the cores (they differ only by txns in flight).
    pub fn view(&self) -> Option<&Arc<DataTree>> {
        self.cores
            .iter()
            .map(|c| &c.view)
            .max_by_key(|v| v.last_zxid())
    }

    pub fn conns(&self) -> impl Iterator<Item = &ConnInfo> {
        self.cores.iter().flat_map(|c| c.conns.iter())
    }

    /// ZooKeeper's `watch_count`: entries in its data-watch table plus its child-watch
    /// table. Persistent watches sit in both, recursive ones in the data table only. A
    /// session's watches are all on its connection's core, so the cores' counts add up.
    pub fn watch_count(&self) -> usize {
        self.cores
            .iter()
            .map(|c| c.watch_counts.data + c.watch_counts.child)
            .sum()
    }

    /// What ZooKeeper's wchc/wchp/wchs list (its data-watch table: data and exist watches,
    /// persistent and persistent-recursive ones), session → paths, sorted.
    pub fn data_watches_by_session(&self) -> BTreeMap<SessionId, Vec<Arc<str>>> {
        let mut m: BTreeMap<SessionId, Vec<Arc<str>>> = BTreeMap::new();
        for w in self.data_watches() {
            m.entry(w.session).or_default().push(w.path.clone());
        }
        for paths in m.values_mut() {
            paths.sort();
            paths.dedup();
        }
        m
    }

    /// The same watches, path → sessions, sorted.
    pub fn data_watches_by_path(&self) -> BTreeMap<Arc<str>, Vec<SessionId>> {
        let mut m: BTreeMap<Arc<str>, Vec<SessionId>> = BTreeMap::new();
        for w in self.data_watches() {
            m.entry(w.path.clone()).or_default().push(w.session);
        }
        for ids in m.values_mut() {
            ids.sort_unstable();
            ids.dedup();
        }
        m
    }

    fn data_watches(&self) -> impl Iterator<Item = &WatchEntry> {
        self.cores
            .iter()
            .flat_map(|c| c.watches.iter())
            .filter(|w| w.kind != WatchKind::Child)
    }

    /// (connections watching, paths watched, total watches) over data watches, as `wchs`.
    /// Needs a report gathered with `Detail::Paths`: one path may be watched on several
    /// cores.
    pub fn watch_summary(&self) -> (usize, usize, usize) {
        let mut paths: HashSet<&str> = HashSet::default();
        for c in &self.cores {
            paths.extend(c.data_paths.iter().map(|p| &**p));
        }
        let sum =
            |f: fn(&WatchCounts) -> usize| self.cores.iter().map(|c| f(&c.watch_counts)).sum();
        (sum(|w| w.data_conns), paths.len(), sum(|w| w.data))
    }
}

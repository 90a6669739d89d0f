//! The snapshot thread and the trigger the consensus core calls on every commit.
//!
//! The consensus core hands the committed, immutable `Arc<DataTree>` (an O(1) clone) to
//! the snapshot thread through a rendezvous channel: the hand-off succeeds only while the
//! thread is idle, so at most one snapshot runs and the write path never waits for one.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::snapshot;
use crate::tree::DataTree;

/// Counts commits and asks for a snapshot every `roll_txns` of them.
#[derive(Debug)]
pub struct SnapshotTrigger {
    roll_txns: u64,
    since_txns: u64,
    tx: Sender<Arc<DataTree>>,
}

/// Where in `[snap_count/2 + 1, snap_count]` this server rolls, from a random `draw`
/// (ZooKeeper randomises it so that servers of an ensemble do not snapshot together).
pub fn roll_point(snap_count: u64, draw: u64) -> u64 {
    let snap_count = snap_count.max(2);
    let half = snap_count / 2;
    half + 1 + draw % (snap_count - half)
}

impl SnapshotTrigger {
    /// Call after every `txns` commits, in commit order, with the tree as of the last one.
    pub fn on_commits(&mut self, txns: u64, tree: &Arc<DataTree>) {
        self.since_txns += txns;
        if self.since_txns < self.roll_txns {
            return;
        }
        self.since_txns = 0;
        match self.tx.try_send(tree.clone()) {
            Ok(()) => tracing::debug!(
                "snapshot of zxid {:#x} handed to the snapshot thread",
                tree.last_zxid()
            ),
            Err(TrySendError::Full(_)) => tracing::debug!(
                "snapshot due at zxid {:#x} skipped: the previous one is still being written",
                tree.last_zxid()
            ),
            Err(TrySendError::Disconnected(_)) => {
                crate::storage::fatal("the snapshot thread is gone")
            }
        }
    }
}

/// Starts the snapshot thread writing into `data_dir`. `roll_txns` commits between
/// snapshots (see `roll_point`). The thread ends once the trigger is dropped.
pub fn spawn(
    data_dir: PathBuf,
    roll_txns: u64,
    metrics: Arc<crate::metrics::Metrics>,
) -> std::io::Result<(SnapshotTrigger, std::thread::JoinHandle<()>)> {
    assert!(roll_txns >= 1);
    let (tx, rx) = crossbeam_channel::bounded(0);
    let handle = std::thread::Builder::new()
        .name("rk-snapshot".into())
        .spawn(move || run(data_dir, rx, &metrics))?;
    Ok((
        SnapshotTrigger {
            roll_txns,
            since_txns: 0,
            tx,
        },
        handle,
    ))
}

fn run(data_dir: PathBuf, rx: Receiver<Arc<DataTree>>, metrics: &crate::metrics::Metrics) {
    for tree in rx {
        match snapshot::write_snapshot(&data_dir, &tree) {
            Ok(w) => {
                metrics.record_snapshot(w.elapsed.as_millis() as u64);
                tracing::info!(
                    "snapshot {} written: {} nodes, {} sessions, {} bytes in {} ms",
                    w.path.display(),
                    w.nodes,
                    w.sessions,
                    w.size_bytes,
                    w.elapsed.as_millis()
                )
            }
            // The log still holds every txn: a failed snapshot loses nothing, it only
            // leaves recovery a longer log to replay. Purge never counts it.
            Err(e) => tracing::error!(
                "writing the snapshot of zxid {:#x} to {} failed: {e}",
                tree.last_zxid(),
                data_dir.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_point_stays_in_range() {
        for snap_count in [2u64, 3, 50, 100_000] {
            for draw in 0..1000 {
                let r = roll_point(snap_count, draw * 7919);
                assert!(
                    (snap_count / 2 + 1..=snap_count).contains(&r),
                    "{snap_count} {r}"
                );
            }
        }
        assert_eq!(roll_point(50, 0), 26);
        assert_eq!(roll_point(50, 24), 50);
    }

    #[test]
    fn busy_thread_means_skip_not_wait() {
        let (tx, rx) = crossbeam_channel::bounded(0);
        let mut t = SnapshotTrigger {
            roll_txns: 2,
            since_txns: 0,
            tx,
        };
        let tree = Arc::new(DataTree::new());
        // Nobody is receiving: both due snapshots are skipped at once.
        for _ in 0..4 {
            t.on_commits(1, &tree);
        }
        assert_eq!(t.since_txns, 0);
        drop(rx);
    }
}

//! Start-up state: the newest valid snapshot plus the log txns after it.
//!
//! 1. Snapshots are tried newest first; one that fails its checks (bad checksum,
//!    truncated, undecodable) is skipped with a warning and the previous one is tried.
//!    With none usable the tree starts empty and the whole log is replayed.
//! 2. The log is read (and a torn tail cut) by `recovery::recover`; txns with a zxid
//!    above the snapshot's are replayed in order.
//! 3. If the log does not continue from the snapshot — its first txn after the snapshot is
//!    beyond `zxid + 1` and it holds nothing at or below `zxid + 1` — start-up stops: the
//!    txns in between are gone (purged or lost), and guessing would serve a wrong tree.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use thiserror::Error;

use super::recovery;
use super::snapshot;
use crate::tree::DataTree;
use crate::txn::{Txn, Zxid};

/// What start-up recovered.
#[derive(Debug)]
pub struct RecoveredState {
    pub tree: DataTree,
    /// The snapshot the tree was loaded from.
    pub snapshot: Option<(Zxid, PathBuf)>,
    /// Newer snapshots that failed their checks, with the reason.
    pub skipped_snapshots: Vec<(PathBuf, String)>,
    /// Log txns applied on top of the snapshot.
    pub replayed_txns: usize,
    /// The log file to keep appending to and where its valid data ends.
    pub active_log: Option<(PathBuf, u64)>,
    /// The tree as the snapshot left it and the logged txns after it: an ensemble member
    /// does not know which of those are committed until its leader says so.
    pub snapshot_tree: DataTree,
    pub log_tail: Vec<Txn>,
}

/// The log does not continue from the snapshot.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "the transaction log does not continue from the snapshot: the snapshot ends at zxid \
     {snapshot_zxid:#x} but the first logged txn after it is {first_after:#x} and the log \
     holds nothing at or below {next:#x}; txns in between are missing (purged or lost). \
     Refusing to start rather than serve a tree with a hole in it",
    next = snapshot_zxid.saturating_add(1)
)]
pub struct GapError {
    pub snapshot_zxid: Zxid,
    pub first_after: Zxid,
}

/// Checks that replaying `txns` (sorted by zxid) on a snapshot at `snapshot_zxid` leaves
/// no hole. Pure, so the rule is tested without files.
pub fn check_continuity(snapshot_zxid: Zxid, txns: &[Txn]) -> Result<(), GapError> {
    let Some(first_after) = txns.iter().map(Txn::zxid).find(|z| *z > snapshot_zxid) else {
        return Ok(());
    };
    let next = snapshot_zxid.saturating_add(1);
    let covered = txns.first().is_some_and(|t| t.zxid() <= next);
    // An ensemble's history starts at counter 1 of its first epoch, (e, 1) with e >= 1:
    // with no snapshot that is a complete log. (After a snapshot, a later epoch's first
    // txn still needs the log to show the snapshot's epoch ended there: `covered`.)
    let first_epoch_start = snapshot_zxid == 0 && first_after & 0xffff_ffff == 1;
    if first_after > next && !covered && !first_epoch_start {
        return Err(GapError {
            snapshot_zxid,
            first_after,
        });
    }
    Ok(())
}

/// A snapshot that loaded: its zxid, file and tree.
pub type LoadedSnapshot = (Zxid, PathBuf, DataTree);
/// Snapshots that failed their checks, with the reason.
pub type SkippedSnapshots = Vec<(PathBuf, String)>;

/// Loads the newest snapshot of `data_dir` that passes every check, and says which newer
/// ones did not and why. Read-only.
pub fn load_newest_snapshot(data_dir: &Path) -> Result<(Option<LoadedSnapshot>, SkippedSnapshots)> {
    let mut skipped = Vec::new();
    let list = snapshot::list(data_dir)
        .with_context(|| format!("listing snapshots in {}", data_dir.display()))?;
    for (zxid, path) in list {
        match snapshot::load(&path) {
            Ok(tree) if tree.last_zxid() == zxid => return Ok((Some((zxid, path, tree)), skipped)),
            Ok(tree) => skipped.push((
                path,
                format!(
                    "holds zxid {:#x} but is named for {zxid:#x}",
                    tree.last_zxid()
                ),
            )),
            Err(e) => skipped.push((path, e.to_string())),
        }
    }
    Ok((None, skipped))
}

/// Recovers the state the server starts from (see the module doc). Cuts a torn log tail
/// and removes snapshot temp files a crash left behind.
pub fn recover_state(data_dir: &Path, data_log_dir: &Path) -> Result<RecoveredState> {
    let stale = snapshot::remove_stale_temp_files(data_dir)
        .with_context(|| format!("cleaning {}", data_dir.display()))?;
    if stale > 0 {
        tracing::info!(
            "removed {stale} unfinished snapshot temp file(s) from {}",
            data_dir.display()
        );
    }
    let (loaded, skipped) = load_newest_snapshot(data_dir)?;
    for (path, why) in &skipped {
        tracing::warn!(
            "snapshot {} is not usable ({why}); falling back to the previous one",
            path.display()
        );
    }
    let (mut tree, snapshot) = match loaded {
        Some((zxid, path, tree)) => (tree, Some((zxid, path))),
        None => (DataTree::new(), None),
    };
    let base = tree.last_zxid();
    // Segments wholly covered by the snapshot are not even read.
    let log = recovery::recover_after(data_log_dir, base)
        .with_context(|| format!("recovering {}", data_log_dir.display()))?;
    check_continuity(base, &log.txns).with_context(|| match &snapshot {
        Some((_, p)) => format!("recovering from {}", p.display()),
        None if skipped.is_empty() => "recovering from the log alone (no snapshot)".to_string(),
        None => format!(
            "recovering from the log alone ({} snapshot(s) unusable)",
            skipped.len()
        ),
    })?;
    let snapshot_tree = tree.clone();
    let log_tail: Vec<Txn> = log.txns.into_iter().filter(|t| t.zxid() > base).collect();
    for t in &log_tail {
        tree.apply(t);
    }
    let replayed = log_tail.len();
    Ok(RecoveredState {
        tree,
        snapshot,
        skipped_snapshots: skipped,
        replayed_txns: replayed,
        active_log: log.active,
        snapshot_tree,
        log_tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{TxnBody, TxnHeader};

    fn txns(zxids: &[Zxid]) -> Vec<Txn> {
        zxids
            .iter()
            .map(|&zxid| Txn {
                header: TxnHeader {
                    session_id: 1,
                    cxid: 0,
                    zxid,
                    time: 0,
                },
                body: TxnBody::CreateSession { timeout_ms: 4000 },
            })
            .collect()
    }

    /// A log of `n` txns (sessions) and snapshots after `snap_at` of them; returns the tree
    /// the whole log gives.
    fn setup(dir: &Path, n: i64, snap_at: &[i64]) -> DataTree {
        let mut buf = Vec::new();
        let mut tree = DataTree::new();
        for t in txns(&(1..=n).collect::<Vec<_>>()) {
            let mut t = t;
            t.header.session_id = t.zxid();
            super::super::record::encode_into(&mut buf, t.zxid(), &t.to_bytes());
            tree.apply(&t);
            if snap_at.contains(&t.zxid()) {
                snapshot::write_snapshot(dir, &tree).unwrap();
            }
        }
        std::fs::write(dir.join("log.1"), &buf).unwrap();
        tree
    }

    #[test]
    fn snapshot_plus_log_tail_and_fallback() {
        let d = tempfile::tempdir().unwrap();
        let full = setup(d.path(), 30, &[10, 20]);
        let r = recover_state(d.path(), d.path()).unwrap();
        assert_eq!(r.snapshot.as_ref().unwrap().0, 20);
        assert_eq!(r.replayed_txns, 10);
        snapshot::tests::assert_same_tree(&r.tree, &full);

        // A damaged newest snapshot: fall back to the previous one, replay more.
        let newest = d.path().join(snapshot::file_name(20));
        let mut b = std::fs::read(&newest).unwrap();
        let at = b.len() - 20;
        b[at] ^= 1;
        std::fs::write(&newest, &b).unwrap();
        let r = recover_state(d.path(), d.path()).unwrap();
        assert_eq!(r.snapshot.as_ref().unwrap().0, 10);
        assert_eq!(r.skipped_snapshots.len(), 1);
        assert_eq!(r.replayed_txns, 20);
        snapshot::tests::assert_same_tree(&r.tree, &full);

        // A truncated one too; with both gone the whole log is replayed.
        let older = d.path().join(snapshot::file_name(10));
        let len = std::fs::metadata(&older).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&older)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let r = recover_state(d.path(), d.path()).unwrap();
        assert!(r.snapshot.is_none());
        assert_eq!(r.replayed_txns, 30);
        snapshot::tests::assert_same_tree(&r.tree, &full);
    }

    #[test]
    fn a_purged_log_under_a_damaged_snapshot_stops_start_up() {
        let d = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        setup(d.path(), 30, &[10, 20]);
        // Keep only txns 21.. in the log, as if purged up to the newest snapshot.
        let mut buf = Vec::new();
        for mut t in txns(&(21..=30).collect::<Vec<_>>()) {
            t.header.session_id = t.zxid();
            super::super::record::encode_into(&mut buf, t.zxid(), &t.to_bytes());
        }
        std::fs::write(logs.path().join("log.15"), &buf).unwrap();
        assert_eq!(
            recover_state(d.path(), logs.path()).unwrap().replayed_txns,
            10
        );
        let newest = d.path().join(snapshot::file_name(20));
        let len = std::fs::metadata(&newest).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let e = recover_state(d.path(), logs.path()).unwrap_err();
        assert!(
            format!("{e:#}").contains("does not continue from the snapshot"),
            "{e:#}"
        );
    }

    /// Found by the `log` fuzz target: a snapshot zxid of i64::MAX overflowed `zxid + 1`.
    #[test]
    fn continuity_at_the_largest_zxid() {
        assert_eq!(check_continuity(Zxid::MAX, &txns(&[1, 2])), Ok(()));
        assert_eq!(check_continuity(Zxid::MAX - 1, &txns(&[Zxid::MAX])), Ok(()));
    }

    #[test]
    fn gap_rules() {
        // Log continues right after the snapshot, or overlaps it.
        assert!(check_continuity(5, &txns(&[6, 7])).is_ok());
        assert!(check_continuity(5, &txns(&[1, 2, 3, 4, 5, 6])).is_ok());
        // Nothing after the snapshot, or no log at all.
        assert!(check_continuity(5, &txns(&[1, 2])).is_ok());
        assert!(check_continuity(5, &[]).is_ok());
        // No snapshot: the log must start at zxid 1.
        assert!(check_continuity(0, &txns(&[1, 2])).is_ok());
        assert_eq!(
            check_continuity(0, &txns(&[3, 4])),
            Err(GapError {
                snapshot_zxid: 0,
                first_after: 3
            })
        );
        // The log starts after a hole.
        assert_eq!(
            check_continuity(5, &txns(&[8, 9])),
            Err(GapError {
                snapshot_zxid: 5,
                first_after: 8
            })
        );
        // A new epoch right after the snapshot is still a hole when the log cannot show
        // that the old epoch ended at the snapshot.
        assert!(check_continuity(0x1_0000_0005, &txns(&[0x2_0000_0001])).is_err());
        assert!(check_continuity(0x1_0000_0005, &txns(&[0x1_0000_0005, 0x2_0000_0001])).is_ok());
        // An ensemble's log with no snapshot starts at its first epoch's first txn.
        assert!(check_continuity(0, &txns(&[0x1_0000_0001, 0x1_0000_0002])).is_ok());
        assert!(check_continuity(0, &txns(&[0x3_0000_0001])).is_ok());
        assert!(check_continuity(0, &txns(&[0x1_0000_0002])).is_err());
    }
}

//! Purge: keep the newest N valid snapshots and every log file a kept snapshot needs.
//!
//! With `oldest` the zxid of the oldest kept snapshot, recovery from it replays txns from
//! `oldest + 1` on. Those live in the log file with the greatest first zxid `<= oldest + 1`
//! and in every later file; only files before that one are deleted. Snapshots older than
//! `oldest` are deleted. Damaged snapshots do not count towards N (they cannot be
//! recovered from) and are deleted only when older than `oldest`. With no valid snapshot
//! nothing is deleted: the whole log is the only copy of the state.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{recovery, snapshot};
use crate::txn::Zxid;

/// ZooKeeper's PurgeTxnLog refuses to keep fewer.
pub const RETAIN_COUNT_MIN: usize = 3;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PurgePlan {
    pub delete_snapshots: Vec<PathBuf>,
    pub delete_logs: Vec<PathBuf>,
    /// The zxid of the oldest kept snapshot.
    pub oldest_kept_zxid: Option<Zxid>,
}

/// Decides what to delete. `snapshots`: (zxid, path, valid) in any order; `logs`: (first
/// zxid, path) in any order.
pub fn plan(
    snapshots: &[(Zxid, PathBuf, bool)],
    logs: &[(Zxid, PathBuf)],
    retain: usize,
) -> PurgePlan {
    assert!(retain >= 1, "purge must keep at least one snapshot");
    let mut snaps: Vec<&(Zxid, PathBuf, bool)> = snapshots.iter().collect();
    snaps.sort_by_key(|s| std::cmp::Reverse(s.0));
    let Some(oldest) = snaps
        .iter()
        .filter(|s| s.2)
        .take(retain)
        .last()
        .map(|s| s.0)
    else {
        return PurgePlan::default();
    };
    let delete_snapshots = snaps
        .iter()
        .filter(|s| s.0 < oldest)
        .map(|s| s.1.clone())
        .collect();
    let mut logs: Vec<&(Zxid, PathBuf)> = logs.iter().collect();
    logs.sort();
    // The file in which txn `oldest + 1` is (or would be); everything before it goes.
    let first_needed = logs.iter().rposition(|l| l.0 <= oldest + 1).unwrap_or(0);
    let delete_logs = logs[..first_needed].iter().map(|l| l.1.clone()).collect();
    PurgePlan {
        delete_snapshots,
        delete_logs,
        oldest_kept_zxid: Some(oldest),
    }
}

/// Plans and carries out a purge of `data_dir` (snapshots) and `data_log_dir` (logs).
pub fn purge(data_dir: &Path, data_log_dir: &Path, retain: usize) -> Result<PurgePlan> {
    anyhow::ensure!(
        retain >= RETAIN_COUNT_MIN,
        "purge must keep at least {RETAIN_COUNT_MIN} snapshots (asked for {retain})"
    );
    let snaps: Vec<(Zxid, PathBuf, bool)> = snapshot::list(data_dir)
        .with_context(|| format!("listing {}", data_dir.display()))?
        .into_iter()
        .map(|(z, p)| {
            let ok = snapshot::quick_check(&p);
            (z, p, ok)
        })
        .collect();
    let logs = recovery::list_log_files(data_log_dir)?;
    let plan = plan(&snaps, &logs, retain);
    for p in plan.delete_snapshots.iter().chain(&plan.delete_logs) {
        std::fs::remove_file(p).with_context(|| format!("deleting {}", p.display()))?;
        tracing::info!("purge: deleted {}", p.display());
    }
    Ok(plan)
}

/// Runs `purge` now and then every `interval` on a background thread (autopurge).
pub fn spawn_autopurge(
    data_dir: PathBuf,
    data_log_dir: PathBuf,
    retain: usize,
    interval: std::time::Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rk-purge".into())
        .spawn(move || loop {
            match purge(&data_dir, &data_log_dir, retain) {
                Ok(p) => tracing::info!(
                    "autopurge: kept {retain} snapshots, deleted {} snapshot(s) and {} log file(s)",
                    p.delete_snapshots.len(),
                    p.delete_logs.len()
                ),
                Err(e) => tracing::warn!("autopurge failed: {e:#}"),
            }
            std::thread::sleep(interval);
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snaps(v: &[(Zxid, bool)]) -> Vec<(Zxid, PathBuf, bool)> {
        v.iter()
            .map(|&(z, ok)| (z, PathBuf::from(format!("snapshot.{z:x}")), ok))
            .collect()
    }

    fn logs(v: &[Zxid]) -> Vec<(Zxid, PathBuf)> {
        v.iter()
            .map(|&z| (z, PathBuf::from(format!("log.{z:x}"))))
            .collect()
    }

    fn names(v: &[PathBuf]) -> Vec<String> {
        v.iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn keeps_newest_n_and_the_logs_they_need() {
        let s = snaps(&[
            (0x10, true),
            (0x20, true),
            (0x30, true),
            (0x40, true),
            (0x50, true),
        ]);
        let l = logs(&[0x1, 0x15, 0x25, 0x2f, 0x45]);
        let p = plan(&s, &l, 3);
        assert_eq!(p.oldest_kept_zxid, Some(0x30));
        assert_eq!(names(&p.delete_snapshots), ["snapshot.20", "snapshot.10"]);
        // txn 0x31 lives in log.2f (first zxid <= 0x31): it and later logs stay.
        assert_eq!(names(&p.delete_logs), ["log.1", "log.15", "log.25"]);
    }

    #[test]
    fn a_log_starting_right_after_the_snapshot_is_enough() {
        let s = snaps(&[(0x10, true), (0x20, true), (0x30, true)]);
        let l = logs(&[0x1, 0x11, 0x31]);
        let p = plan(&s, &l, 1);
        assert_eq!(names(&p.delete_logs), ["log.1", "log.11"]);
        // With 3 kept, the oldest is 0x10, whose txns start in log.11.
        assert_eq!(names(&plan(&s, &l, 3).delete_logs), ["log.1"]);
        // ... unless log.11 does not exist: then they start in log.1.
        assert!(plan(&s, &logs(&[0x1, 0x31]), 3).delete_logs.is_empty());
    }

    #[test]
    fn damaged_snapshots_do_not_count() {
        let s = snaps(&[
            (0x10, true),
            (0x20, true),
            (0x30, true),
            (0x40, false),
            (0x35, true),
        ]);
        let p = plan(&s, &logs(&[0x1, 0x12, 0x22]), 3);
        assert_eq!(p.oldest_kept_zxid, Some(0x20));
        assert_eq!(names(&p.delete_snapshots), ["snapshot.10"]);
        assert_eq!(names(&p.delete_logs), ["log.1"]);
    }

    #[test]
    fn fewer_snapshots_than_n_or_none() {
        // Fewer than N: keep all of them, still drop logs none of them needs.
        let p = plan(&snaps(&[(0x10, true)]), &logs(&[0x1, 0x5, 0x11]), 3);
        assert!(p.delete_snapshots.is_empty());
        assert_eq!(names(&p.delete_logs), ["log.1", "log.5"]);
        // No valid snapshot: the log is the only copy.
        let p = plan(&snaps(&[(0x10, false)]), &logs(&[0x1, 0x5]), 3);
        assert_eq!(p, PurgePlan::default());
        // No logs at all.
        assert!(plan(&snaps(&[(0x10, true)]), &[], 3).delete_logs.is_empty());
        // Only logs newer than the snapshot: keep them all.
        assert!(plan(&snaps(&[(0x10, true)]), &logs(&[0x20]), 3)
            .delete_logs
            .is_empty());
    }

    #[test]
    fn purge_on_disk_refuses_fewer_than_three() {
        let d = tempfile::tempdir().unwrap();
        assert!(purge(d.path(), d.path(), 2).is_err());
        assert_eq!(purge(d.path(), d.path(), 3).unwrap(), PurgePlan::default());
    }
}

//! `ringkeeper import-zk`: converts an Apache ZooKeeper 3.x dataDir/dataLogDir into a
//! ringkeeper dataDir holding one snapshot (nodes, ACLs, stats and sessions).
//!
//! As ZooKeeper's own restore: take the newest snapshot that parses and passes its
//! Adler32 check (older ones if not), then replay every logged txn with a greater zxid,
//! starting from the log file with the greatest first zxid at or below the snapshot's.
//! ZooKeeper snapshots are fuzzy, so replay tolerates NODEEXISTS/NONODE (apply does).

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

use super::zk_files::{self, read_log, read_snapshot};
use crate::storage::{recovery, snapshot, state};
use crate::tree::DataTree;
use crate::txn::Zxid;

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    pub zk_snapshot: Option<PathBuf>,
    pub replayed_txns: usize,
    pub written: snapshot::Written,
    pub warnings: Vec<String>,
}

/// `dir/version-2` when it exists, else `dir` itself.
fn version2(dir: &Path) -> PathBuf {
    let v = dir.join("version-2");
    if v.is_dir() {
        v
    } else {
        dir.to_path_buf()
    }
}

/// Loads the newest usable ZooKeeper snapshot of `dir` into a tree.
fn load_zk_snapshot(
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<(Zxid, PathBuf, DataTree)>> {
    let zk_files::Listing {
        files: snaps,
        compressed,
    } = zk_files::list(dir, "snapshot")?;
    for p in compressed {
        warnings.push(format!(
            "{} is compressed; decompress it (gunzip -k / snappy) to snapshot.<zxid> to import it",
            p.display()
        ));
    }
    for (zxid, path) in snaps.into_iter().rev() {
        let parsed = std::fs::read(&path)
            .map_err(anyhow::Error::from)
            .and_then(|b| read_snapshot(&b));
        match parsed.and_then(|s| {
            DataTree::restore(s.nodes, s.sessions, zxid).map_err(|e| anyhow::anyhow!(e))
        }) {
            Ok(tree) => return Ok(Some((zxid, path, tree))),
            Err(e) => warnings.push(format!("skipping {}: {e:#}", path.display())),
        }
    }
    Ok(None)
}

/// Converts `zk_data_dir` (+ `zk_log_dir`, default the same) into `out`.
pub fn import(zk_data_dir: &Path, zk_log_dir: Option<&Path>, out: &Path) -> Result<Imported> {
    let snap_dir = version2(zk_data_dir);
    let log_dir = version2(zk_log_dir.unwrap_or(zk_data_dir));
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    ensure!(
        snapshot::list(out)?.is_empty() && recovery::list_log_files(out)?.is_empty(),
        "{} already holds ringkeeper snapshots or logs; import into an empty directory",
        out.display()
    );
    let mut warnings = Vec::new();
    let (base, zk_snapshot, mut tree) = match load_zk_snapshot(&snap_dir, &mut warnings)? {
        Some((z, p, t)) => (z, Some(p), t),
        None => (0, None, DataTree::new()),
    };
    let logs = zk_files::list(&log_dir, "log")?.files;
    if zk_snapshot.is_none() && logs.is_empty() {
        bail!(
            "no ZooKeeper snapshot or log found in {} / {}",
            snap_dir.display(),
            log_dir.display()
        );
    }
    // The file holding txn `base + 1` is the last one starting at or below it.
    let from = logs.iter().rposition(|l| l.0 <= base + 1).unwrap_or(0);
    let mut txns = Vec::new();
    for (i, (_, path)) in logs.iter().enumerate().skip(from) {
        let (mut t, torn) = read_log(path)?;
        if let Some(why) = torn {
            let msg = format!(
                "{}: {why}; the rest of that file is ignored",
                path.display()
            );
            if i + 1 != logs.len() {
                warnings.push(format!("{msg} (not the newest log file)"));
            } else {
                warnings.push(msg);
            }
        }
        txns.append(&mut t);
    }
    for w in txns.windows(2) {
        ensure!(
            w[0].zxid() < w[1].zxid(),
            "ZooKeeper log txns out of order: {:#x} then {:#x}",
            w[0].zxid(),
            w[1].zxid()
        );
    }
    state::check_continuity(base, &txns)?;
    let mut replayed = 0;
    for t in txns.iter().filter(|t| t.zxid() > base) {
        tree.apply(t);
        replayed += 1;
    }
    let written = snapshot::write_snapshot(out, &tree)?;
    Ok(Imported {
        zk_snapshot,
        replayed_txns: replayed,
        written,
        warnings,
    })
}

//! Start-up recovery: read the log files of dataLogDir in zxid order, verify every record,
//! cut a torn tail off (and say so), and hand back the txns to replay.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::log_file::{parse_log_file_name, sync_dir};
use super::record::{scan, Scan};
use crate::txn::{Txn, Zxid};

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovered {
    pub txns: Vec<Txn>,
    /// The file to keep appending to and the offset where valid data ends.
    pub active: Option<(PathBuf, u64)>,
    /// Bytes cut off a torn tail, if any.
    pub truncated_bytes: u64,
}

/// The `log.*` files of `dir`, sorted by their first zxid.
pub fn list_log_files(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>> {
    let mut files = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in rd {
        let entry = entry?;
        if let Some(z) = entry.file_name().to_str().and_then(parse_log_file_name) {
            files.push((z, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and verifies every log file. A torn record at the end of the newest file is cut off
/// (the write it belonged to was never acknowledged); damage anywhere else is refused, since
/// acknowledged txns could follow it.
pub fn recover(dir: &Path) -> Result<Recovered> {
    let files = list_log_files(dir)?;
    let mut out = Recovered::default();
    let mut last_zxid: Zxid = 0;
    for (i, (_, path)) in files.iter().enumerate() {
        let newest = i + 1 == files.len();
        let buf = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut pos = 0usize;
        loop {
            match scan(&buf, pos) {
                Scan::Record { zxid, txn, next } => {
                    let t = Txn::decode(txn).with_context(|| {
                        format!("{}: undecodable txn at offset {pos}", path.display())
                    })?;
                    if t.zxid() != zxid || zxid <= last_zxid {
                        bail!(
                            "{}: zxid {zxid:#x} at offset {pos} is out of order (after {last_zxid:#x})",
                            path.display()
                        );
                    }
                    last_zxid = zxid;
                    out.txns.push(t);
                    pos = next;
                }
                Scan::End => break,
                Scan::Torn { why } => {
                    if !newest {
                        bail!(
                            "{}: damaged record at offset {pos} ({why}) in a log file that is \
                             not the newest; refusing to start rather than drop later txns",
                            path.display()
                        );
                    }
                    if let Some(at) = intact_record_after(&buf, pos) {
                        bail!(
                            "{}: damaged record at offset {pos} ({why}) is followed by an intact \
                             record at offset {at}: this is not a torn tail, and cutting here would \
                             drop acknowledged txns; refusing to start",
                            path.display()
                        );
                    }
                    let dropped = (buf.len() - pos) as u64;
                    tracing::warn!(
                        file = %path.display(),
                        offset = pos,
                        dropped_bytes = dropped,
                        "log tail is torn ({why}): truncating it; the txn it held was never acknowledged"
                    );
                    let f = OpenOptions::new().write(true).open(path)?;
                    f.set_len(pos as u64)?;
                    f.sync_all()?;
                    if let Some(d) = path.parent() {
                        sync_dir(d)?;
                    }
                    out.truncated_bytes = dropped;
                    break;
                }
            }
        }
        if newest {
            out.active = Some((path.clone(), pos as u64));
        }
    }
    Ok(out)
}

/// If the damaged record at `pos` still has a plausible length and an intact record starts
/// right after it, the damage is corruption in the middle of the log, not a torn write.
fn intact_record_after(buf: &[u8], pos: usize) -> Option<usize> {
    let len = buf.get(pos..pos + 4)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let next = pos.checked_add(super::record::HEADER_BYTES + len)?;
    match scan(buf, next) {
        Scan::Record { .. } if next < buf.len() => Some(next),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::record::encode_into;
    use crate::txn::{TxnBody, TxnHeader};

    fn txn(zxid: Zxid) -> Vec<u8> {
        Txn {
            header: TxnHeader {
                session_id: 1,
                cxid: 1,
                zxid,
                time: 5,
            },
            body: TxnBody::CreateSession { timeout_ms: 4000 },
        }
        .to_bytes()
    }

    #[test]
    fn torn_tail_is_truncated_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        let mut buf = Vec::new();
        for z in 1..=3 {
            encode_into(&mut buf, z, &txn(z));
        }
        let good = buf.len();
        encode_into(&mut buf, 4, &txn(4));
        buf.truncate(buf.len() - 3);
        std::fs::write(&p, &buf).unwrap();

        let r = recover(dir.path()).unwrap();
        assert_eq!(r.txns.len(), 3);
        assert_eq!(r.active, Some((p.clone(), good as u64)));
        assert!(r.truncated_bytes > 0);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), good as u64);
        // A second recovery finds a clean log.
        assert_eq!(recover(dir.path()).unwrap().truncated_bytes, 0);
    }

    #[test]
    fn damage_followed_by_intact_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        let mut buf = Vec::new();
        for z in 1..=3 {
            encode_into(&mut buf, z, &txn(z));
        }
        let second = buf.len() / 3;
        buf[second + 20] ^= 1;
        std::fs::write(&p, &buf).unwrap();
        let err = recover(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a torn tail"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), buf, "nothing truncated");
    }

    #[test]
    fn damage_in_an_older_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = Vec::new();
        encode_into(&mut a, 1, &txn(1));
        a[10] ^= 1;
        std::fs::write(dir.path().join("log.1"), &a).unwrap();
        let mut b = Vec::new();
        encode_into(&mut b, 2, &txn(2));
        std::fs::write(dir.path().join("log.2"), &b).unwrap();
        assert!(recover(dir.path()).is_err());
    }
}

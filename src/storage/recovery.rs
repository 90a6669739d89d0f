//! Start-up recovery: read the log segments of dataLogDir in zxid order, verify every record,
//! clean a torn tail off the newest segment (and say so), and hand back the txns to replay.
//!
//! Segments are preallocated with zeros, so a zero length field is the clean end of a
//! segment. Past the last valid record of the newest segment there may be garbage from
//! writes that were in flight at a crash (never acknowledged: a batch is acknowledged only
//! after a sync that covers it and everything before it). Those bytes are overwritten with
//! zeros rather than cut off, so the file keeps its preallocated size and the next append,
//! which lands right after the last valid record, finds zeros after itself. Anything but
//! zeros after the end of an older segment is damage to acknowledged data: start-up stops.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::log_file::parse_log_file_name;
use super::record::{scan, Scan};
use crate::txn::{Txn, Zxid};

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The txns to replay, in zxid order (for `recover_after(dir, z)`: only zxid > z).
    pub txns: Vec<Txn>,
    /// The segment to keep appending to and the offset where its valid data ends.
    pub active: Option<(PathBuf, u64)>,
    /// Bytes of garbage zeroed after the last valid record, if any.
    pub truncated_bytes: u64,
    /// The highest zxid in the log (0 when it is empty), whatever `after` was.
    pub last_zxid: Zxid,
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

/// Whether segment `i` of `files` (sorted) may hold a zxid greater than `zxid`. A segment
/// holds zxids from its name up to (excluding) the next segment's name; the newest one is
/// open-ended.
fn may_hold_after(files: &[(Zxid, PathBuf)], i: usize, zxid: Zxid) -> bool {
    files
        .get(i + 1)
        .is_none_or(|(next_first, _)| *next_first > zxid.saturating_add(1))
}

/// The segments that may hold zxids greater than `zxid`, oldest first: the ones a
/// snapshot at `zxid` still needs. Every other segment is covered by that snapshot.
pub fn segments_after(dir: &Path, zxid: Zxid) -> Result<Vec<(Zxid, PathBuf)>> {
    let files = list_log_files(dir)?;
    Ok(files
        .iter()
        .enumerate()
        .filter(|(i, _)| may_hold_after(&files, *i, zxid))
        .map(|(_, f)| f.clone())
        .collect())
}

/// Reads and verifies every log segment; see `recover_after`.
pub fn recover(dir: &Path) -> Result<Recovered> {
    recover_after(dir, Zxid::MIN)
}

/// Recovers the log for replay on top of a snapshot taken at `after`: returns only txns with
/// a zxid greater than `after`, and does not read segments that hold only older ones. A torn
/// or corrupt tail of the newest segment is zeroed (the writes it held were never
/// acknowledged); damage anywhere else is refused, since acknowledged txns could follow it.
pub fn recover_after(dir: &Path, after: Zxid) -> Result<Recovered> {
    let files = list_log_files(dir)?;
    let (out, torn) = plan_recovery(&files, after, |path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    })?;
    if let Some(t) = torn {
        tracing::warn!(
            file = %t.path.display(),
            offset = t.start,
            dropped_bytes = t.end - t.start,
            "log tail is torn ({}): zeroing it; the txns it held were never acknowledged",
            t.why
        );
        let f = OpenOptions::new()
            .write(true)
            .open(&t.path)
            .with_context(|| format!("opening {} to clean its tail", t.path.display()))?;
        f.write_all_at(&vec![0u8; t.end - t.start], t.start as u64)
            .and_then(|()| f.sync_data())
            .with_context(|| format!("zeroing the torn tail of {}", t.path.display()))?;
    }
    Ok(out)
}

/// The torn tail of the newest segment that recovery zeroes: bytes `start..end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    pub start: usize,
    pub end: usize,
    pub why: &'static str,
}

/// Everything `recover_after` decides, without writing anything: the txns to replay, where
/// the active segment ends, and the torn tail to zero (only ever in the newest segment).
/// `read` returns a segment's bytes. Kept free of writes so that it can be run on arbitrary
/// bytes (`fuzzing::log`).
pub fn plan_recovery(
    files: &[(Zxid, PathBuf)],
    after: Zxid,
    mut read: impl FnMut(&Path) -> Result<Vec<u8>>,
) -> Result<(Recovered, Option<TornTail>)> {
    let mut out = Recovered::default();
    let mut torn = None;
    let mut last_zxid: Zxid = 0;
    for (i, (first, path)) in files.iter().enumerate() {
        let newest = i + 1 == files.len();
        if !may_hold_after(files, i, after) {
            continue;
        }
        let buf = read(path)?;
        let mut pos = 0usize;
        let end_why = loop {
            match scan(&buf, pos) {
                Scan::Record { zxid, txn, next } => {
                    let t = Txn::decode(txn).with_context(|| {
                        format!("{}: undecodable txn at offset {pos}", path.display())
                    })?;
                    if t.zxid() != zxid || zxid <= last_zxid || zxid < *first {
                        bail!(
                            "{}: zxid {zxid:#x} at offset {pos} is out of order (after {last_zxid:#x}, \
                             in a segment starting at {first:#x})",
                            path.display()
                        );
                    }
                    last_zxid = zxid;
                    if zxid > after {
                        out.txns.push(t);
                    }
                    pos = next;
                }
                Scan::End => break "a zero length field",
                Scan::Torn { why } => break why,
            }
        };
        let garbage_end = buf[pos..]
            .iter()
            .rposition(|b| *b != 0)
            .map_or(pos, |i| pos + i + 1);
        if garbage_end > pos {
            if !newest {
                bail!(
                    "{}: damaged record at offset {pos} ({end_why}, {} non-zero bytes follow) in a \
                     log segment that is not the newest; refusing to start rather than drop the \
                     acknowledged txns after it",
                    path.display(),
                    garbage_end - pos
                );
            }
            if let Some(at) = intact_record_after(&buf, pos) {
                bail!(
                    "{}: damaged record at offset {pos} ({end_why}) is followed by an intact \
                     record at offset {at}: this is not a torn tail, and cutting here would \
                     drop acknowledged txns; refusing to start",
                    path.display()
                );
            }
            out.truncated_bytes = (garbage_end - pos) as u64;
            torn = Some(TornTail {
                path: path.clone(),
                start: pos,
                end: garbage_end,
                why: end_why,
            });
        }
        if newest {
            out.active = Some((path.clone(), pos as u64));
        }
    }
    out.last_zxid = last_zxid;
    Ok((out, torn))
}

/// What `truncate_after` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Truncated {
    /// Records dropped from the segment that now ends the log.
    pub records: usize,
    /// Whole segments deleted (every record in them was newer).
    pub segments: usize,
    /// The log's last zxid afterwards.
    pub last_zxid: Zxid,
}

/// Drops every logged txn with a zxid greater than `zxid`: Zab's TRUNC, when a new leader
/// never committed the tail this server logged. Whole newer segments are deleted and the
/// tail of the segment holding `zxid` is zeroed and synced, so recovery and later appends
/// see the log end at `zxid`. Run it with the log thread stopped. Refuses a log it cannot
/// read rather than guess where it ends.
pub fn truncate_after(dir: &Path, zxid: Zxid) -> Result<Truncated> {
    let files = list_log_files(dir)?;
    let mut out = Truncated::default();
    for (i, (first, path)) in files.iter().enumerate() {
        if *first > zxid {
            std::fs::remove_file(path)
                .with_context(|| format!("removing log segment {}", path.display()))?;
            out.segments += 1;
            continue;
        }
        let buf = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut pos = 0usize;
        let mut keep_end = 0usize;
        while let Scan::Record { zxid: z, next, .. } = scan(&buf, pos) {
            if z <= zxid {
                keep_end = next;
                out.last_zxid = z;
            } else {
                out.records += 1;
            }
            pos = next;
        }
        if !may_hold_after(&files, i, zxid) || keep_end == pos {
            continue;
        }
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("opening {} to truncate it", path.display()))?;
        f.write_all_at(&vec![0u8; pos - keep_end], keep_end as u64)
            .and_then(|()| f.sync_data())
            .with_context(|| format!("truncating {} after {zxid:#x}", path.display()))?;
    }
    if out.segments > 0 {
        super::log_file::sync_dir(dir)
            .with_context(|| format!("syncing {} after removing segments", dir.display()))?;
    }
    if out.records > 0 || out.segments > 0 {
        tracing::warn!(
            records = out.records,
            segments = out.segments,
            "log truncated after {zxid:#x} (txns the new leader never committed)"
        );
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
            body: TxnBody::CreateSession {
                timeout_ms: 4000 + (zxid % 7) as i32,
            },
        }
        .to_bytes()
    }

    fn records(zxids: std::ops::RangeInclusive<Zxid>) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for z in zxids {
            encode_into(&mut buf, z, &txn(z));
            ends.push(buf.len());
        }
        (buf, ends)
    }

    fn zxids(r: &Recovered) -> Vec<Zxid> {
        r.txns.iter().map(Txn::zxid).collect()
    }

    /// A preallocated segment: `data` then zeros up to `size`.
    fn write_segment(path: &Path, data: &[u8], size: usize) {
        let mut b = data.to_vec();
        b.resize(size.max(data.len()), 0);
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn torn_tail_is_zeroed_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        let (mut buf, ends) = records(1..=4);
        buf.truncate(buf.len() - 3);
        std::fs::write(&p, &buf).unwrap();

        let r = recover(dir.path()).unwrap();
        assert_eq!(zxids(&r), [1, 2, 3]);
        assert_eq!(r.active, Some((p.clone(), ends[2] as u64)));
        assert!(r.truncated_bytes > 0);
        let after = std::fs::read(&p).unwrap();
        assert_eq!(&after[..ends[2]], &buf[..ends[2]]);
        assert!(after[ends[2]..].iter().all(|b| *b == 0));
        // A second recovery finds a clean log.
        assert_eq!(recover(dir.path()).unwrap().truncated_bytes, 0);
    }

    #[test]
    fn damage_followed_by_intact_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        let (mut buf, ends) = records(1..=3);
        buf[ends[0] + 20] ^= 1;
        std::fs::write(&p, &buf).unwrap();
        let err = recover(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a torn tail"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), buf, "nothing changed");
    }

    #[test]
    fn damage_in_an_older_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, _) = records(1..=1);
        a[10] ^= 1;
        std::fs::write(dir.path().join("log.1"), &a).unwrap();
        let (b, _) = records(2..=2);
        std::fs::write(dir.path().join("log.2"), &b).unwrap();
        let e = recover(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not the newest"), "{e}");
    }

    #[test]
    fn stale_bytes_after_a_zero_header_in_an_older_segment_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, ends) = records(1..=3);
        // Record 2's length zeroed: reads as a clean end, but record 3 follows it.
        a[ends[0]..ends[0] + 4].fill(0);
        write_segment(&dir.path().join("log.1"), &a, 4096);
        let (b, _) = records(4..=4);
        write_segment(&dir.path().join("log.4"), &b, 4096);
        assert!(recover(dir.path()).is_err());
    }

    /// Cuts the newest segment at every offset over its last records, leaving either zeros
    /// (an unwritten tail) or garbage (a torn write) after the cut. Recovery must return
    /// exactly the records wholly before the cut, and appends after it must survive.
    #[test]
    fn every_cut_of_the_newest_segment_keeps_exactly_the_whole_records() {
        let (old, _) = records(1..=5);
        let (new, ends) = records(6..=12);
        let seg_size = 4096;
        let lo = ends[2];
        for cut in lo..new.len() {
            for garbage in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                write_segment(&dir.path().join("log.1"), &old, seg_size);
                let p = dir.path().join("log.6");
                let mut data = new[..cut].to_vec();
                if garbage {
                    // What a torn write leaves: bytes that are not the record.
                    data.extend((cut..new.len()).map(|i| (i as u8).wrapping_mul(31) | 1));
                }
                write_segment(&p, &data, seg_size);
                let r = recover(dir.path()).unwrap();
                let whole = ends.iter().filter(|e| **e <= cut).count() as i64;
                let expect: Vec<Zxid> = (1..=5 + whole).collect();
                assert_eq!(zxids(&r), expect, "cut {cut} garbage {garbage}");
                let end = if whole == 0 {
                    0
                } else {
                    ends[whole as usize - 1]
                };
                assert_eq!(r.active, Some((p.clone(), end as u64)), "cut {cut}");
                assert_eq!(std::fs::metadata(&p).unwrap().len(), seg_size as u64);

                // An append after recovery lands right after the last valid record.
                let next = 6 + whole;
                let mut rec = Vec::new();
                encode_into(&mut rec, next, &txn(next));
                let f = OpenOptions::new().write(true).open(&p).unwrap();
                f.write_all_at(&rec, end as u64).unwrap();
                let r2 = recover(dir.path()).unwrap();
                assert_eq!(r2.truncated_bytes, 0, "cut {cut}: tail was cleaned");
                assert_eq!(*zxids(&r2).last().unwrap(), next, "cut {cut}");
            }
        }
    }

    #[test]
    fn corrupt_byte_in_the_newest_segment_cuts_there() {
        let (new, ends) = records(1..=6);
        for i in ends[4]..ends[5] {
            let dir = tempfile::tempdir().unwrap();
            let mut data = new.clone();
            data[i] ^= 0x40;
            write_segment(&dir.path().join("log.1"), &data, 4096);
            let r = recover(dir.path()).unwrap();
            // The last record is damaged: 1..=5 survive, nothing that was not written appears.
            assert_eq!(zxids(&r), [1, 2, 3, 4, 5], "byte {i}");
        }
        // Damage to record 5 with record 6 intact after it is corruption, not a torn tail:
        // refused (or, where the length field itself was hit, cut with nothing invented).
        for i in ends[3]..ends[4] {
            let dir = tempfile::tempdir().unwrap();
            let mut data = new.clone();
            data[i] ^= 0x40;
            write_segment(&dir.path().join("log.1"), &data, 4096);
            if let Ok(r) = recover(dir.path()) {
                assert_eq!(zxids(&r), [1, 2, 3, 4], "byte {i}");
            }
        }
    }

    #[test]
    fn recover_after_skips_what_a_snapshot_covers() {
        let dir = tempfile::tempdir().unwrap();
        for (first, last) in [(1, 10), (11, 20), (21, 25)] {
            let (b, _) = records(first..=last);
            write_segment(&dir.path().join(format!("log.{first:x}")), &b, 4096);
        }
        // A damaged segment that a snapshot covers is not even read.
        let p1 = dir.path().join("log.1");
        let mut d = std::fs::read(&p1).unwrap();
        d[20] ^= 1;
        std::fs::write(&p1, d).unwrap();
        let r = recover_after(dir.path(), 14).unwrap();
        assert_eq!(zxids(&r), (15..=25).collect::<Vec<_>>());
        assert_eq!(r.last_zxid, 25);
        assert!(recover(dir.path()).is_err());
        let r = recover_after(dir.path(), 25).unwrap();
        assert!(r.txns.is_empty());
        assert_eq!(r.active.unwrap().0, dir.path().join("log.15"));

        let names = |z| -> Vec<Zxid> {
            segments_after(dir.path(), z)
                .unwrap()
                .into_iter()
                .map(|(f, _)| f)
                .collect()
        };
        assert_eq!(names(0), [1, 11, 21]);
        assert_eq!(names(9), [1, 11, 21]);
        assert_eq!(names(10), [11, 21]);
        assert_eq!(names(20), [21]);
        assert_eq!(names(1000), [21]);
    }

    #[test]
    fn truncate_after_drops_newer_records_and_segments() {
        let dir = tempfile::tempdir().unwrap();
        for (first, last) in [(1, 10), (11, 20), (21, 25)] {
            let (b, _) = records(first..=last);
            write_segment(&dir.path().join(format!("log.{first:x}")), &b, 4096);
        }
        let t = truncate_after(dir.path(), 14).unwrap();
        assert_eq!(
            t,
            Truncated {
                records: 6,
                segments: 1,
                last_zxid: 14
            }
        );
        assert!(!dir.path().join("log.15").exists());
        let r = recover(dir.path()).unwrap();
        assert_eq!(zxids(&r), (1..=14).collect::<Vec<_>>());
        assert_eq!(r.truncated_bytes, 0, "the cut is clean, not a torn tail");
        // Appends continue right after 14, where recovery says the log ends.
        let (p, end) = r.active.unwrap();
        let mut rec = Vec::new();
        encode_into(&mut rec, 15, &txn(15));
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all_at(&rec, end).unwrap();
        assert_eq!(*zxids(&recover(dir.path()).unwrap()).last().unwrap(), 15);
    }

    #[test]
    fn truncate_at_or_past_the_end_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (b, _) = records(1..=5);
        write_segment(&dir.path().join("log.1"), &b, 4096);
        let before = std::fs::read(dir.path().join("log.1")).unwrap();
        assert_eq!(truncate_after(dir.path(), 5).unwrap().records, 0);
        assert_eq!(truncate_after(dir.path(), 99).unwrap().last_zxid, 5);
        assert_eq!(std::fs::read(dir.path().join("log.1")).unwrap(), before);
        // Truncating to before everything leaves an empty log.
        let t = truncate_after(dir.path(), 0).unwrap();
        assert_eq!((t.records, t.segments, t.last_zxid), (0, 1, 0));
        assert!(recover(dir.path()).unwrap().txns.is_empty());
    }
}

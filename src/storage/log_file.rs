//! The log backend seam and the plain-thread backend (`pwrite` + `fdatasync`).
//!
//! The group-commit loop (`group_commit.rs`) frames records into one buffer per batch, picks
//! its place in a segment (`segment.rs`) and hands it to a `LogBackend`, which writes it and
//! syncs it, and reports batches durable strictly in submission order. Any error is fatal to
//! the caller. `SyncBackend` does both steps inline; the io_uring backend (`uring.rs`)
//! submits them and lets the next batch's write overlap the current sync.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::segment::Placement;
use crate::txn::Zxid;

/// One group-commit batch: framed records for one contiguous range of one segment.
#[derive(Debug)]
pub struct Batch {
    pub place: Placement,
    pub bytes: Vec<u8>,
    pub last_zxid: Zxid,
    pub txns: usize,
}

/// A batch that is now durable.
#[derive(Debug)]
pub struct Durable {
    pub last_zxid: Zxid,
    pub txns: usize,
    /// The batch's buffer, handed back for reuse.
    pub bytes: Vec<u8>,
    /// Duration of the data sync that made it durable, on the last batch that sync covered
    /// (so each sync is counted once).
    pub sync: Option<Duration>,
}

/// Where the log stage appends. One owner (the log thread); never shared.
pub trait LogBackend: Send {
    /// A short name for logs and metrics ("sync", "uring").
    fn kind(&self) -> &'static str;

    /// Whether `submit` may be called now.
    fn can_submit(&self) -> bool;

    /// Starts writing `batch` at its place and making it durable.
    fn submit(&mut self, batch: Batch) -> io::Result<()>;

    /// Batches submitted and not yet returned by `poll_durable`.
    fn in_flight(&self) -> usize;

    /// Appends the batches that became durable to `out`, in submission order. If none is
    /// ready, waits for progress: up to `timeout`, or until something completes when `None`.
    /// May return with nothing new (a write finished, a sync did not).
    fn poll_durable(&mut self, timeout: Option<Duration>, out: &mut Vec<Durable>)
        -> io::Result<()>;
}

/// `log.<zxid in lower-case hex>`, the zxid being the first one the file may hold.
pub fn log_file_name(first_zxid: Zxid) -> String {
    format!("log.{first_zxid:x}")
}

/// Parses a `log.<hex>` file name.
pub fn parse_log_file_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("log.")?;
    i64::from_str_radix(hex, 16).ok()
}

/// Makes a directory entry (a created or renamed file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The fallback backend: `pwrite` then `fdatasync`, inline on the log thread.
#[derive(Debug)]
pub struct SyncBackend {
    /// `forceSync=no`: skip fdatasync (the operator accepted losing acknowledged writes).
    force_sync: bool,
    done: VecDeque<Durable>,
}

impl SyncBackend {
    pub fn new(force_sync: bool) -> SyncBackend {
        SyncBackend {
            force_sync,
            done: VecDeque::new(),
        }
    }
}

impl LogBackend for SyncBackend {
    fn kind(&self) -> &'static str {
        "sync"
    }

    fn can_submit(&self) -> bool {
        true
    }

    fn submit(&mut self, batch: Batch) -> io::Result<()> {
        // write_all_at continues after a short write and fails on a zero-length one.
        batch
            .place
            .file
            .write_all_at(&batch.bytes, batch.place.offset)?;
        let mut sync = None;
        if self.force_sync {
            let started = Instant::now();
            batch.place.file.sync_data()?;
            sync = Some(started.elapsed());
        }
        self.done.push_back(Durable {
            last_zxid: batch.last_zxid,
            txns: batch.txns,
            bytes: batch.bytes,
            sync,
        });
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }

    fn poll_durable(
        &mut self,
        _timeout: Option<Duration>,
        out: &mut Vec<Durable>,
    ) -> io::Result<()> {
        out.extend(self.done.drain(..));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn names_round_trip() {
        assert_eq!(log_file_name(0x1_0000_0001), "log.100000001");
        assert_eq!(parse_log_file_name("log.100000001"), Some(0x1_0000_0001));
        assert_eq!(parse_log_file_name("snapshot.1"), None);
        assert_eq!(parse_log_file_name("log.xyz"), None);
        assert_eq!(parse_log_file_name("next.1.prealloc.tmp"), None);
    }

    #[test]
    fn sync_backend_writes_at_the_placement() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        std::fs::write(&p, [0u8; 16]).unwrap();
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .unwrap(),
        );
        let mut b = SyncBackend::new(true);
        for (off, data) in [(0u64, &b"hello "[..]), (6, b"world")] {
            b.submit(Batch {
                place: Placement {
                    file: file.clone(),
                    offset: off,
                },
                bytes: data.to_vec(),
                last_zxid: off as i64 + 1,
                txns: 1,
            })
            .unwrap();
        }
        let mut out = Vec::new();
        b.poll_durable(None, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[1].sync.is_some());
        assert_eq!(&std::fs::read(&p).unwrap()[..12], b"hello world\0");
    }
}

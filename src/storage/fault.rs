//! Disk faults for tests, compiled only with the `fault-injection` cargo feature.
//!
//! `RINGKEEPER_FAULTS` (read once, when the log backend is created) wraps the real backend in
//! a [`FaultyBackend`]. A comma-separated list of:
//!
//! - `write-error@N`: the Nth batch is written through a read-only handle of its segment, so
//!   the backend's own write fails (EBADF from the kernel) and nothing of it reaches the file.
//! - `torn-write@N`: the Nth batch is written and synced up to 6 bytes into the record that
//!   spans its midpoint, then the write fails: the file ends in a torn record, as after a
//!   failing disk or a crash mid-write.
//! - `fsync-error@N`: the Nth batch goes to `/dev/null`: the write succeeds, the data is gone
//!   and the backend's own fdatasync fails (EINVAL). This is what a failed writeback looks like
//!   to a process: the write was accepted, the sync is the first to say it was lost.
//! - `sync-delay-ms=D`: each durable report is held D ms more and D is added to the reported
//!   sync time: a slow log disk, as the server's fsync figures and warnings see it.
//! - `hold-while=PATH`: while PATH exists, the next batch waits before it is written (tests
//!   use it to hold a write "in the disk" for as long as they need, without timing).
//!
//! Batches count from 1 per process. The real backends do the failing I/O, so their own error
//! paths (io_uring CQEs, pwrite/fdatasync results) are what the tests exercise.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::log_file::{Batch, Durable, LogBackend};
use super::record::{scan, Scan};
use crate::txn::Zxid;

/// The environment variable holding the fault plan.
pub const ENV: &str = "RINGKEEPER_FAULTS";

/// What to break, parsed from [`ENV`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub write_error_at: Option<u64>,
    pub torn_write_at: Option<u64>,
    pub fsync_error_at: Option<u64>,
    pub sync_delay: Duration,
    pub hold_while: Option<PathBuf>,
}

impl Plan {
    pub fn parse(spec: &str) -> Result<Plan, String> {
        let mut plan = Plan::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let at = |v: &str| -> Result<Option<u64>, String> {
                match v.parse::<u64>() {
                    Ok(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(format!("{item}: the batch number counts from 1")),
                }
            };
            if let Some(v) = item.strip_prefix("write-error@") {
                plan.write_error_at = at(v)?;
            } else if let Some(v) = item.strip_prefix("torn-write@") {
                plan.torn_write_at = at(v)?;
            } else if let Some(v) = item.strip_prefix("fsync-error@") {
                plan.fsync_error_at = at(v)?;
            } else if let Some(v) = item.strip_prefix("sync-delay-ms=") {
                let ms = v
                    .parse::<u64>()
                    .map_err(|_| format!("{item}: not a number of milliseconds"))?;
                plan.sync_delay = Duration::from_millis(ms);
            } else if let Some(v) = item.strip_prefix("hold-while=") {
                plan.hold_while = Some(PathBuf::from(v));
            } else {
                return Err(format!(
                    "{item}: unknown fault (write-error@N, torn-write@N, fsync-error@N, \
                     sync-delay-ms=D, hold-while=PATH)"
                ));
            }
        }
        Ok(plan)
    }
}

/// Wraps `inner` when [`ENV`] asks for faults; a plan that does not parse is an error.
pub fn wrap(inner: Box<dyn LogBackend>) -> io::Result<Box<dyn LogBackend>> {
    let Ok(spec) = std::env::var(ENV) else {
        return Ok(inner);
    };
    let plan = Plan::parse(&spec)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{ENV}={spec:?}: {e}")))?;
    if plan == Plan::default() {
        return Ok(inner);
    }
    tracing::warn!("FAULT INJECTION is on for the transaction log ({ENV}={spec:?}): {plan:?}");
    Ok(Box::new(FaultyBackend {
        inner,
        plan,
        batches: 0,
        held: Vec::new(),
        fenced: None,
    }))
}

pub struct FaultyBackend {
    inner: Box<dyn LogBackend>,
    plan: Plan,
    batches: u64,
    /// Durable reports taken from `inner` while draining it before a faulty batch.
    held: Vec<Durable>,
    /// The last zxid of a faulty batch in flight: nothing more is taken until its error
    /// surfaces. Its file differs from the segment's, and the io_uring backend's rule that one
    /// sync covers every earlier batch holds only within one file.
    fenced: Option<Zxid>,
}

impl FaultyBackend {
    /// Lets every batch already submitted become durable (or fail) first.
    fn drain(&mut self) -> io::Result<()> {
        while self.inner.in_flight() > 0 {
            self.inner.poll_durable(None, &mut self.held)?;
        }
        Ok(())
    }

    fn hold(&self, n: u64) {
        let Some(path) = &self.plan.hold_while else {
            return;
        };
        if path.exists() {
            tracing::warn!(
                "fault injection: batch {n} held while {} exists",
                path.display()
            );
            while path.exists() {
                std::thread::sleep(Duration::from_millis(1));
            }
            tracing::warn!("fault injection: batch {n} released");
        }
    }
}

/// Where to cut a batch of framed records so that the file ends in a torn one: 6 bytes into
/// the record that spans the batch's midpoint (its length whole, its checksum cut).
fn torn_length(bytes: &[u8]) -> usize {
    let half = bytes.len() / 2;
    let mut pos = 0;
    while let Scan::Record { next, .. } = scan(bytes, pos) {
        if next > half {
            break;
        }
        pos = next;
    }
    (pos + 6).min(bytes.len())
}

/// A second handle on the same file that cannot write.
fn read_only_twin(file: &File) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .open(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

impl LogBackend for FaultyBackend {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn can_submit(&self) -> bool {
        self.fenced.is_none() && self.inner.can_submit()
    }

    fn submit(&mut self, mut batch: Batch) -> io::Result<()> {
        self.batches += 1;
        let n = self.batches;
        self.hold(n);
        let at = Some(n);
        if at == self.plan.torn_write_at {
            let cut = torn_length(&batch.bytes);
            batch
                .place
                .file
                .write_all_at(&batch.bytes[..cut], batch.place.offset)?;
            batch.place.file.sync_data()?;
            let what = format!("batch {n} torn after {cut} of {} bytes", batch.bytes.len());
            tracing::warn!("fault injection: {what}");
            return Err(io::Error::other(format!("injected I/O error: {what}")));
        }
        if at == self.plan.write_error_at {
            self.drain()?;
            tracing::warn!("fault injection: batch {n} written through a read-only handle");
            batch.place.file = Arc::new(read_only_twin(&batch.place.file)?);
            self.fenced = Some(batch.last_zxid);
        } else if at == self.plan.fsync_error_at {
            self.drain()?;
            tracing::warn!("fault injection: batch {n} goes to /dev/null; its sync will fail");
            batch.place.file = Arc::new(OpenOptions::new().write(true).open("/dev/null")?);
            self.fenced = Some(batch.last_zxid);
        }
        self.inner.submit(batch)
    }

    fn in_flight(&self) -> usize {
        self.inner.in_flight() + self.held.len()
    }

    fn poll_durable(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Durable>,
    ) -> io::Result<()> {
        if !self.held.is_empty() {
            out.append(&mut self.held);
            return Ok(());
        }
        let before = out.len();
        self.inner.poll_durable(timeout, out)?;
        if let Some(z) = self.fenced {
            if out[before..].iter().any(|d| d.last_zxid >= z) {
                // The error the fault guarantees never came: the backend reported data as
                // durable that went nowhere. Say so loudly and let the test find the loss.
                tracing::error!(
                    "fault injection: the {} backend reported the faulty batch (up to zxid \
                     {z:#x}) durable; its data is not on disk",
                    self.inner.kind()
                );
                self.fenced = None;
            }
        }
        let delay = self.plan.sync_delay;
        if !delay.is_zero() && out.len() > before {
            std::thread::sleep(delay);
            for d in &mut out[before..] {
                if let Some(s) = &mut d.sync {
                    *s += delay;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::log_file::SyncBackend;
    use crate::storage::segment::Placement;

    #[test]
    fn plans_parse_and_bad_ones_say_why() {
        let p = Plan::parse("write-error@3, sync-delay-ms=20,hold-while=/tmp/x").unwrap();
        assert_eq!(p.write_error_at, Some(3));
        assert_eq!(p.sync_delay, Duration::from_millis(20));
        assert_eq!(p.hold_while, Some(PathBuf::from("/tmp/x")));
        assert_eq!(Plan::parse("").unwrap(), Plan::default());
        assert!(Plan::parse("fsync-error@0").unwrap_err().contains("from 1"));
        assert!(Plan::parse("melt@1").unwrap_err().contains("unknown fault"));
    }

    fn faulty(plan: Plan) -> FaultyBackend {
        FaultyBackend {
            inner: Box::new(SyncBackend::new(true)),
            plan,
            batches: 0,
            held: Vec::new(),
            fenced: None,
        }
    }

    /// Two framed records of 58 bytes each.
    fn batch(file: &Arc<File>, offset: u64, byte: u8) -> Batch {
        let mut bytes = Vec::new();
        for z in 0..2 {
            crate::storage::record::encode_into(&mut bytes, i64::from(byte) * 10 + z, &[byte; 42]);
        }
        Batch {
            place: Placement {
                file: file.clone(),
                offset,
            },
            bytes,
            last_zxid: i64::from(byte) * 10 + 1,
            txns: 2,
        }
    }

    #[test]
    fn each_fault_hits_its_batch_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let file = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap(),
        );
        let cases = [
            ("write-error@2", 0),
            ("fsync-error@2", 0),
            // Into the second record: its length whole, its checksum cut.
            ("torn-write@2", 58 + 6),
        ];
        for (spec, lands) in cases {
            std::fs::write(&path, [0u8; 1000]).unwrap();
            let mut b = faulty(Plan::parse(spec).unwrap());
            let first = batch(&file, 0, 1);
            let first_bytes = first.bytes.clone();
            b.submit(first).unwrap();
            let mut out = Vec::new();
            b.poll_durable(None, &mut out).unwrap();
            assert_eq!(out.len(), 1, "{spec}: batch 1 is untouched");
            let second = batch(&file, 116, 2);
            let second_bytes = second.bytes.clone();
            assert!(b.submit(second).is_err(), "{spec}");
            assert!(!b.can_submit() || spec.starts_with("torn"), "{spec}");
            let data = std::fs::read(&path).unwrap();
            assert_eq!(&data[..116], &first_bytes[..], "{spec}");
            assert_eq!(&data[116..116 + lands], &second_bytes[..lands], "{spec}");
            assert!(data[116 + lands..].iter().all(|x| *x == 0), "{spec}");
            let mut pos = 0;
            while let Scan::Record { next, .. } = scan(&data, pos) {
                pos = next;
            }
            let torn = matches!(scan(&data, pos), Scan::Torn { .. });
            assert_eq!(torn, lands > 0, "{spec}: the file ends torn or clean");
        }
    }

    #[test]
    fn delay_is_added_to_the_reported_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        std::fs::write(&path, [0u8; 1000]).unwrap();
        let file = Arc::new(OpenOptions::new().write(true).open(&path).unwrap());
        let mut b = faulty(Plan {
            sync_delay: Duration::from_millis(30),
            ..Plan::default()
        });
        b.submit(batch(&file, 0, 1)).unwrap();
        let mut out = Vec::new();
        b.poll_durable(None, &mut out).unwrap();
        assert!(out[0].sync.unwrap() >= Duration::from_millis(30));
    }
}

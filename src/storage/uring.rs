//! The io_uring log backend: each batch is one `WRITE`; a `FSYNC(DATASYNC)` follows it,
//! linked (`IOSQE_IO_LINK`) when no sync is running, so the pair costs one submission.
//!
//! Pipelining: while a sync is in flight the next batch's write is submitted on its own
//! (one write in flight at a time, so writes complete in log order). When the running sync
//! completes, one sync is issued for every batch whose write has *completed* by then: a batch
//! is reported durable only after a sync that started after its write completed. Batches are
//! reported in submission order.
//!
//! This is the only module with `unsafe`: pushing an SQE promises the kernel that the buffer
//! and the file descriptor stay valid until the CQE arrives. Both are owned by `InFlight`
//! entries that are dropped only after their write's CQE (and `Drop` waits for stragglers).
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring, Probe};

use super::log_file::{Batch, Durable, LogBackend};

const RING_ENTRIES: u32 = 64;

/// user_data: `seq << 1 | kind`.
const KIND_WRITE: u64 = 0;
const KIND_SYNC: u64 = 1;

/// Builds a ring with the cheapest flags the kernel accepts, dropping the newest flag on
/// EINVAL: SINGLE_ISSUER|DEFER_TASKRUN (6.1), SINGLE_ISSUER (6.0), COOP_TASKRUN (5.19), none.
/// The ring must be used by the thread that built it (SINGLE_ISSUER).
fn build_ring() -> io::Result<IoUring> {
    let attempts: [&dyn Fn(&mut io_uring::Builder); 4] = [
        &|b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_coop_taskrun();
        },
        &|b| {
            b.setup_single_issuer().setup_coop_taskrun();
        },
        &|b| {
            b.setup_coop_taskrun();
        },
        &|_| {},
    ];
    let mut last = None;
    for set in attempts {
        let mut b = IoUring::builder();
        set(&mut b);
        match b.build(RING_ENTRIES) {
            Ok(r) => return Ok(r),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}

/// Why io_uring cannot be used here, phrased for the operator.
fn explain(step: &str, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::EPERM) => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into());
            format!(
                "EPERM: blocked by a seccomp profile (Docker >= 25, containerd 2 RuntimeDefault) or by \
                 sysctl kernel.io_uring_disabled (now {sysctl})"
            )
        }
        Some(libc::ENOSYS) => {
            "ENOSYS: kernel built without io_uring, or a sandbox such as gVisor".into()
        }
        Some(libc::ENOMEM) => "ENOMEM: locked-memory limit too low (ulimit -l)".into(),
        _ => e.to_string(),
    };
    format!("{step}: {hint}")
}

/// Checks that io_uring works for the log in `dir`: ring setup, WRITE and FSYNC in the
/// opcode probe, and a linked write + fdatasync of a temporary file in `dir`. `Err` is the
/// reason, for the one log line that announces the fallback.
pub fn probe(dir: &Path) -> Result<(), String> {
    let mut ring = build_ring().map_err(|e| explain("io_uring_setup", &e))?;
    let mut p = Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| explain("io_uring probe", &e))?;
    for (name, code) in [
        ("WRITE", opcode::Write::CODE),
        ("FSYNC", opcode::Fsync::CODE),
    ] {
        if !p.is_supported(code) {
            return Err(format!("the kernel's io_uring lacks IORING_OP_{name}"));
        }
    }
    let path = dir.join(format!(".wal-probe.{}", std::process::id()));
    let data = vec![0xa5u8; 4096];
    let result = (|| {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        let write = opcode::Write::new(types::Fd(f.as_raw_fd()), data.as_ptr(), data.len() as u32)
            .offset(0)
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(1);
        let sync = opcode::Fsync::new(types::Fd(f.as_raw_fd()))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(2);
        // SAFETY: `data` outlives the operations: we wait for both CQEs below, and if waiting
        // fails, `data` is leaked rather than freed (see the end of `probe`). The kernel
        // holds its own reference to the file while an operation uses it.
        unsafe {
            let mut sq = ring.submission();
            sq.push(&write)
                .map_err(|_| "submission queue full".to_string())?;
            sq.push(&sync)
                .map_err(|_| "submission queue full".to_string())?;
        }
        let mut seen = 0;
        while seen < 2 {
            ring.submit_and_wait(2 - seen)
                .map_err(|e| explain("io_uring_enter", &e))?;
            for cqe in ring.completion() {
                seen += 1;
                let res = cqe.result();
                if res < 0 {
                    let e = io::Error::from_raw_os_error(-res);
                    return Err(explain(
                        if cqe.user_data() == 1 {
                            "test write"
                        } else {
                            "test fdatasync"
                        },
                        &e,
                    ));
                }
                if cqe.user_data() == 1 && res as usize != data.len() {
                    return Err(format!("test write was short ({res} of {})", data.len()));
                }
            }
        }
        let back = std::fs::read(&path).map_err(|e| format!("reading back the test file: {e}"))?;
        if back != data {
            return Err("test write read back wrong".into());
        }
        Ok(())
    })();
    if result.is_err() {
        // The kernel may still hold the buffer of an operation we did not see finish.
        std::mem::forget(data);
    }
    let _ = std::fs::remove_file(&path);
    result
}

#[derive(Debug)]
struct InFlight {
    seq: u64,
    file: Arc<File>,
    /// The kernel reads from this until the write's CQE.
    bytes: Vec<u8>,
    last_zxid: i64,
    txns: usize,
    written: bool,
    synced: bool,
    /// Set on the last batch a sync covered.
    sync: Option<Duration>,
}

#[derive(Debug)]
struct SyncInFlight {
    /// Highest batch seq it covers.
    covers: u64,
    started: Instant,
    /// Keeps the fd alive while the kernel uses it.
    _file: Arc<File>,
}

/// The io_uring backend. Create it on the thread that will use it.
pub struct UringBackend {
    ring: IoUring,
    force_sync: bool,
    batches: VecDeque<InFlight>,
    write_in_flight: bool,
    sync_in_flight: Option<SyncInFlight>,
    next_seq: u64,
}

impl UringBackend {
    pub fn new(force_sync: bool) -> io::Result<UringBackend> {
        Ok(UringBackend {
            ring: build_ring()?,
            force_sync,
            batches: VecDeque::new(),
            write_in_flight: false,
            sync_in_flight: None,
            next_seq: 0,
        })
    }

    /// Queues a sync of `file` covering batches up to `covers`.
    fn push_sync(&mut self, file: &Arc<File>, covers: u64, link_after: Option<squeue::Entry>) {
        let sync = opcode::Fsync::new(types::Fd(file.as_raw_fd()))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(covers << 1 | KIND_SYNC);
        // SAFETY: the fd belongs to `file`, which `SyncInFlight` (and the batch, for the
        // linked write) keeps open until the CQEs; a linked write's buffer is owned by its
        // `InFlight` entry, dropped only after the write's CQE. The ring has RING_ENTRIES
        // slots and at most one write and one sync are ever outstanding, so push cannot fail.
        unsafe {
            let mut sq = self.ring.submission();
            if let Some(w) = link_after {
                sq.push(&w.flags(squeue::Flags::IO_LINK))
                    .expect("submission queue has room");
            }
            sq.push(&sync).expect("submission queue has room");
        }
        self.sync_in_flight = Some(SyncInFlight {
            covers,
            started: Instant::now(),
            _file: file.clone(),
        });
    }

    fn on_cqe(&mut self, user_data: u64, res: i32) -> io::Result<()> {
        let seq = user_data >> 1;
        if user_data & 1 == KIND_WRITE {
            self.write_in_flight = false;
            let b = self
                .batches
                .iter_mut()
                .find(|b| b.seq == seq)
                .expect("a write CQE belongs to a batch in flight");
            if res < 0 {
                let e = io::Error::from_raw_os_error(-res);
                return Err(io::Error::new(e.kind(), format!("io_uring write: {e}")));
            }
            if res as usize != b.bytes.len() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("io_uring write was short: {res} of {} bytes", b.bytes.len()),
                ));
            }
            b.written = true;
            if !self.force_sync {
                b.synced = true;
            }
        } else {
            let s = self
                .sync_in_flight
                .take()
                .expect("a sync CQE belongs to the sync in flight");
            debug_assert_eq!(s.covers, seq);
            if res < 0 {
                let e = io::Error::from_raw_os_error(-res);
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "io_uring fdatasync: {e} (never retried: the page cache state is unknown)"
                    ),
                ));
            }
            let elapsed = s.started.elapsed();
            for b in self.batches.iter_mut().filter(|b| b.seq <= s.covers) {
                b.synced = true;
                if b.seq == s.covers {
                    b.sync = Some(elapsed);
                }
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let r = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl LogBackend for UringBackend {
    fn kind(&self) -> &'static str {
        "uring"
    }

    fn can_submit(&self) -> bool {
        !self.write_in_flight
    }

    fn submit(&mut self, batch: Batch) -> io::Result<()> {
        assert!(!self.write_in_flight, "one log write in flight at a time");
        let len = u32::try_from(batch.bytes.len()).expect("batch fits in one write");
        let seq = self.next_seq;
        self.next_seq += 1;
        let file = batch.place.file;
        let entry = InFlight {
            seq,
            file: file.clone(),
            bytes: batch.bytes,
            last_zxid: batch.last_zxid,
            txns: batch.txns,
            written: false,
            synced: false,
            sync: None,
        };
        let write = opcode::Write::new(types::Fd(file.as_raw_fd()), entry.bytes.as_ptr(), len)
            .offset(batch.place.offset)
            .build()
            .user_data(seq << 1 | KIND_WRITE);
        // The buffer's heap allocation does not move when `entry` moves into the deque.
        self.batches.push_back(entry);
        self.write_in_flight = true;
        if self.force_sync && self.sync_in_flight.is_none() {
            self.push_sync(&file, seq, Some(write));
        } else {
            // SAFETY: the buffer is owned by the `InFlight` entry just queued, which is
            // dropped only after this write's CQE; the fd by its `file`. At most one write
            // and one sync are outstanding, so the queue has room.
            unsafe {
                self.ring
                    .submission()
                    .push(&write)
                    .expect("submission queue has room");
            }
        }
        self.ring.submit()?;
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.batches.len()
    }

    fn poll_durable(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Durable>,
    ) -> io::Result<()> {
        if self
            .batches
            .front()
            .is_none_or(|b| !(b.written && b.synced))
        {
            self.wait(timeout)?;
        }
        let cqes: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (ud, res) in cqes {
            self.on_cqe(ud, res)?;
        }
        // Start a sync for every batch written since the last one started.
        if self.force_sync && self.sync_in_flight.is_none() {
            if let Some(b) = self.batches.iter().rev().find(|b| b.written && !b.synced) {
                let (file, covers) = (b.file.clone(), b.seq);
                self.push_sync(&file, covers, None);
                self.ring.submit()?;
            }
        }
        while self.batches.front().is_some_and(|b| b.written && b.synced) {
            let b = self.batches.pop_front().expect("front exists");
            out.push(Durable {
                last_zxid: b.last_zxid,
                txns: b.txns,
                bytes: b.bytes,
                sync: b.sync,
            });
        }
        Ok(())
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        // The kernel may still read buffers owned by `batches`: wait for every CQE before
        // they are freed. Errors here no longer matter (the caller stopped or is stopping).
        let mut outstanding =
            usize::from(self.write_in_flight) + usize::from(self.sync_in_flight.is_some());
        while outstanding > 0 {
            if self.ring.submit_and_wait(1).is_err() {
                break;
            }
            outstanding = outstanding.saturating_sub(self.ring.completion().count());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::segment::Placement;

    #[test]
    fn probe_succeeds_here() {
        let dir = tempfile::tempdir().unwrap();
        if let Err(why) = probe(dir.path()) {
            eprintln!("io_uring unavailable on this machine, skipping: {why}");
            return;
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "probe cleans up"
        );
    }

    #[test]
    fn pipelined_batches_are_durable_in_order() {
        let dir = tempfile::tempdir().unwrap();
        if probe(dir.path()).is_err() {
            return;
        }
        let p = dir.path().join("log.1");
        std::fs::write(&p, vec![0u8; 1 << 16]).unwrap();
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(&p).unwrap());
        let mut b = UringBackend::new(true).unwrap();
        let mut out = Vec::new();
        let mut offset = 0u64;
        let mut expect = Vec::new();
        for i in 0..200u8 {
            while !b.can_submit() {
                b.poll_durable(None, &mut out).unwrap();
            }
            let data = vec![i.wrapping_add(1); 100 + i as usize];
            expect.extend_from_slice(&data);
            b.submit(Batch {
                place: Placement {
                    file: file.clone(),
                    offset,
                },
                bytes: data,
                last_zxid: i64::from(i) + 1,
                txns: 1,
            })
            .unwrap();
            offset += 100 + u64::from(i);
            b.poll_durable(Some(Duration::from_micros(10)), &mut out)
                .unwrap();
        }
        while b.in_flight() > 0 {
            b.poll_durable(None, &mut out).unwrap();
        }
        let zxids: Vec<i64> = out.iter().map(|d| d.last_zxid).collect();
        assert_eq!(zxids, (1..=200).collect::<Vec<_>>());
        assert!(out.iter().any(|d| d.sync.is_some()));
        assert_eq!(&std::fs::read(&p).unwrap()[..expect.len()], &expect[..]);
    }
}

//! Log segments in dataLogDir: `log.<first zxid hex>`, each preallocated by writing zeros.
//!
//! A segment is zero-filled and fsynced *before* it gets its name, so every later append is an
//! overwrite of allocated blocks: `fdatasync` then has data to flush but no size or extent
//! metadata (a bare `fallocate` would leave unwritten extents whose conversion is metadata).
//! A preparer thread fills the next segment in the background while the current one is
//! written, so a roll is a rename plus a directory fsync, not 64 MiB of writes.
//!
//! Roll rule: a batch never straddles two segments. A record that does not fit in the space
//! left starts a new segment named by its zxid (an empty segment takes any record, growing the
//! file if the record is larger than the segment size).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::log_file::{log_file_name, sync_dir};
use crate::txn::Zxid;

/// Suffix of a segment being zero-filled; such files are garbage at start-up.
pub const PREPARING_SUFFIX: &str = ".prealloc.tmp";
/// Zero-fill in chunks of this size.
const FILL_CHUNK_BYTES: usize = 1 << 20;

/// The segment size when `preAllocSize` is not set (ZooKeeper's default, 64 MiB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Creates `path` and writes `size_bytes` zeros into it, then fsyncs it. On failure the
/// partial file is removed so that a full disk is not made fuller (an existing file is an
/// error and left alone).
pub fn zero_filled_file(path: &Path, size_bytes: u64) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let result = (|| {
        let zeros = AlignedZeros::new();
        // Direct I/O skips copying 64 MiB of zeros through the page cache (a third of a
        // busy member's log-side CPU when snapshots roll segments often) and leaves the cache
        // to the data that will be read. Filesystems without it (tmpfs) get buffered writes.
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .ok();
        let mut off = 0u64;
        if let Some(d) = &direct {
            let aligned = size_bytes - size_bytes % DIRECT_ALIGN as u64;
            while off < aligned {
                let n = (aligned - off).min(FILL_CHUNK_BYTES as u64) as usize;
                match d.write_all_at(&zeros.get()[..n], off) {
                    Ok(()) => off += n as u64,
                    // Accepted at open, refused at write: the rest goes buffered.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        while off < size_bytes {
            let n = (size_bytes - off).min(FILL_CHUNK_BYTES as u64) as usize;
            f.write_all_at(&zeros.get()[..n], off)?;
            off += n as u64;
        }
        f.sync_all()?;
        Ok(f)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Offsets, lengths and buffer addresses of direct I/O are multiples of this (the largest
/// logical block size in use).
const DIRECT_ALIGN: usize = 4096;

/// `FILL_CHUNK_BYTES` zeros at a `DIRECT_ALIGN`-aligned address, found inside a slightly
/// larger buffer rather than allocated with a custom layout.
struct AlignedZeros {
    buf: Vec<u8>,
    start: usize,
}

impl AlignedZeros {
    fn new() -> Self {
        let buf = vec![0u8; FILL_CHUNK_BYTES + DIRECT_ALIGN];
        let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
        AlignedZeros { buf, start }
    }

    fn get(&self) -> &[u8] {
        &self.buf[self.start..self.start + FILL_CHUNK_BYTES]
    }
}

/// Removes leftovers of segment preparation that a crash interrupted.
fn remove_preparing_leftovers(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(PREPARING_SUFFIX))
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

type Prepared = io::Result<(PathBuf, File)>;

/// The background thread that zero-fills the next segment.
struct Preparer {
    request: Option<Sender<()>>,
    ready: Receiver<Prepared>,
    /// A request is out and its answer not yet taken.
    pending: bool,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    fn start(dir: PathBuf, size_bytes: u64) -> io::Result<Preparer> {
        let (req_tx, req_rx) = crossbeam_channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Prepared>(1);
        let thread = std::thread::Builder::new()
            .name("rk-log-prealloc".into())
            .spawn(move || {
                let mut n = 0u64;
                while req_rx.recv().is_ok() {
                    n += 1;
                    let path = dir.join(format!("next.{n}{PREPARING_SUFFIX}"));
                    let r = zero_filled_file(&path, size_bytes).map(|f| (path.clone(), f));
                    if let Err(e) = &r {
                        tracing::error!(
                            "cannot preallocate the next log segment {} ({size_bytes} bytes): {e}; \
                             the server will stop when the current segment is full unless space is freed",
                            path.display()
                        );
                    }
                    if ready_tx.send(r).is_err() {
                        let _ = std::fs::remove_file(&path);
                        return;
                    }
                }
            })?;
        Ok(Preparer {
            request: Some(req_tx),
            ready: ready_rx,
            pending: false,
            thread: Some(thread),
        })
    }

    fn request(&mut self) {
        if !self.pending {
            if let Some(tx) = &self.request {
                // Capacity 1 and at most one request out: never blocks.
                let _ = tx.send(());
                self.pending = true;
            }
        }
    }

    /// Waits for the prepared segment (usually long done).
    fn take(&mut self) -> Option<Prepared> {
        if !self.pending {
            return None;
        }
        self.pending = false;
        self.ready.recv().ok()
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        // Closing the request channel ends the thread after its current fill; at most one
        // answer is outstanding and the answer channel holds one, so the join cannot hang.
        self.request = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // A prepared but unused segment is removed (the next start would remove it anyway).
        while let Ok(r) = self.ready.try_recv() {
            if let Ok((path, _)) = r {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Where the next batch goes.
#[derive(Debug, Clone)]
pub struct Placement {
    pub file: Arc<File>,
    pub offset: u64,
}

/// The segments of one log: the active file, where its data ends, and the next one in
/// preparation. Owned by the log thread.
pub struct Segments {
    dir: PathBuf,
    segment_bytes: u64,
    active: Arc<File>,
    active_path: PathBuf,
    /// Where valid data ends in the active segment; the next append goes here.
    end: u64,
    /// Length of the active file (its preallocated size).
    capacity: u64,
    preparer: Preparer,
    /// A prepared segment already taken from the preparer (see `wait_prepared`).
    ready: Option<Prepared>,
    rolls: u64,
}

impl Segments {
    /// Opens the log for appending. `active` is what recovery returned (the newest segment
    /// and where its valid data ends); without one, a first segment named `next_zxid` is
    /// created. Starts preparing the next segment at once.
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        active: Option<(PathBuf, u64)>,
        next_zxid: Zxid,
    ) -> io::Result<Segments> {
        assert!(segment_bytes > 0, "segment size must be positive");
        std::fs::create_dir_all(dir)?;
        remove_preparing_leftovers(dir)?;
        let (file, path, end) = match active {
            Some((path, end)) => {
                let f = OpenOptions::new().read(true).write(true).open(&path)?;
                (f, path, end)
            }
            None => {
                let path = dir.join(log_file_name(next_zxid));
                let tmp = dir.join(format!("first{PREPARING_SUFFIX}"));
                let f = zero_filled_file(&tmp, segment_bytes)?;
                std::fs::rename(&tmp, &path)?;
                sync_dir(dir)?;
                (f, path, 0)
            }
        };
        let capacity = file.metadata()?.len();
        let mut preparer = Preparer::start(dir.to_path_buf(), segment_bytes)?;
        preparer.request();
        Ok(Segments {
            dir: dir.to_path_buf(),
            segment_bytes,
            active: Arc::new(file),
            active_path: path,
            end,
            capacity,
            preparer,
            ready: None,
            rolls: 0,
        })
    }

    /// Whether a batch of `bytes` can go into the active segment.
    pub fn fits(&self, bytes: usize) -> bool {
        self.end == 0 || self.end + bytes as u64 <= self.capacity
    }

    /// Bytes left in the active segment (0 when full; an empty segment still takes one
    /// record of any size, see `fits`).
    pub fn remaining(&self) -> u64 {
        self.capacity.saturating_sub(self.end)
    }

    /// Reserves `bytes` at the end of the active segment for a batch.
    pub fn place(&mut self, bytes: usize) -> Placement {
        debug_assert!(self.fits(bytes));
        let p = Placement {
            file: self.active.clone(),
            offset: self.end,
        };
        self.end += bytes as u64;
        p
    }

    /// Makes the prepared segment the active one under the name `log.<first_zxid>`. The
    /// caller must have every batch of the current segment durable first (so an older
    /// segment never ends in a torn record).
    pub fn roll(&mut self, first_zxid: Zxid) -> io::Result<()> {
        let prepared = self.ready.take().or_else(|| self.preparer.take());
        let (tmp, file) = match prepared {
            Some(Ok(p)) => p,
            // The background attempt failed (or never ran): one more try here, in case
            // space was freed meanwhile; a second failure is the caller's to report.
            Some(Err(_)) | None => {
                let tmp = self.dir.join(format!("roll{PREPARING_SUFFIX}"));
                let _ = std::fs::remove_file(&tmp);
                let f = zero_filled_file(&tmp, self.segment_bytes)?;
                (tmp, f)
            }
        };
        let path = self.dir.join(log_file_name(first_zxid));
        if path.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("log segment {} already exists", path.display()),
            ));
        }
        std::fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        self.capacity = file.metadata()?.len();
        self.active = Arc::new(file);
        self.active_path = path;
        self.end = 0;
        self.rolls += 1;
        self.preparer.request();
        Ok(())
    }

    /// Blocks until the next segment is prepared (benchmarks use it so that the background
    /// zero-fill does not overlap their measurements).
    pub fn wait_prepared(&mut self) {
        if self.ready.is_none() {
            self.ready = self.preparer.take();
        }
    }

    pub fn active_path(&self) -> &Path {
        &self.active_path
    }

    /// Segments started since open.
    pub fn rolls(&self) -> u64 {
        self.rolls
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_segment_is_zero_filled_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segments::open(dir.path(), 4096, None, 0x1_0000_0001).unwrap();
        assert_eq!(s.active_path(), dir.path().join("log.100000001"));
        let data = std::fs::read(s.active_path()).unwrap();
        assert_eq!(data.len(), 4096);
        assert!(data.iter().all(|b| *b == 0));
    }

    #[test]
    fn rolls_into_prepared_segments_and_cleans_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("next.9{PREPARING_SUFFIX}")), b"x").unwrap();
        let mut s = Segments::open(dir.path(), 1000, None, 1).unwrap();
        assert!(
            s.fits(1000) && s.fits(5000),
            "an empty segment takes anything"
        );
        let p = s.place(600);
        assert_eq!(p.offset, 0);
        assert!(s.fits(400) && !s.fits(401));
        assert_eq!(s.remaining(), 400);
        s.roll(7).unwrap();
        assert_eq!(s.active_path(), dir.path().join("log.7"));
        assert_eq!(s.place(10).offset, 0);
        assert_eq!(std::fs::metadata(s.active_path()).unwrap().len(), 1000);
        assert!(s.roll(7).is_err(), "a segment name is never reused");
        drop(s);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["log.1", "log.7"]);
    }

    #[test]
    fn zero_fill_covers_sizes_direct_io_cannot_write_alone() {
        let dir = tempfile::tempdir().unwrap();
        // Over one chunk, and ending off the direct-I/O alignment: the tail goes buffered.
        let size = (FILL_CHUNK_BYTES + 3 * DIRECT_ALIGN + 1024) as u64;
        let path = dir.path().join("z");
        let mut f = zero_filled_file(&path, size).unwrap();
        // The handle returned is an ordinary one: unaligned appends work.
        f.write_all_at(b"abc", 5).unwrap();
        use std::io::Write;
        f.flush().unwrap();
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data.len() as u64, size);
        assert_eq!(&data[5..8], b"abc");
        assert!(data[..5].iter().chain(&data[8..]).all(|b| *b == 0));
        assert!(
            zero_filled_file(&path, 10).is_err(),
            "an existing file is never overwritten"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    }
}

//! Log append benchmarks, for each backend (sync, uring) and each directory:
//!
//! - `commit/<backend>/<dir>/<n>`: one commit = `n` records of ~100 bytes framed into one
//!   batch, written into a preallocated segment and made durable (closed loop, nothing
//!   else in flight). Time per iteration is the commit latency; elements/s is records/s.
//! - `stream/<backend>/<dir>`: the whole log thread (group commit) fed 10 000 records as fast
//!   as a producer can send them; elements/s is sustained records/s with adaptive batching.
//!
//! Directories: `RK_BENCH_DIRS` (colon-separated), default `/tmp`, this crate's `target/`
//! (on /work) and `/dev/shm` (tmpfs) when present. Run with
//! `cargo bench --bench log_append`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringkeeper::storage::group_commit::{self, BackendKind, BatchLimits, LogEntry, LogStats};
use ringkeeper::storage::log_file::{Batch, Durable, LogBackend};
use ringkeeper::storage::record::encode_into;
use ringkeeper::storage::segment::{Segments, DEFAULT_SEGMENT_BYTES};
use ringkeeper::storage::uring;

const TXN_BYTES: usize = 100 - 16; // + 16 bytes of framing = 100 bytes per record
const STREAM_RECORDS: i64 = 10_000;

fn dirs() -> Vec<(String, PathBuf)> {
    let list = std::env::var("RK_BENCH_DIRS").unwrap_or_else(|_| {
        let mut v = vec![
            "/tmp".to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_string(),
        ];
        if std::path::Path::new("/dev/shm").is_dir() {
            v.push("/dev/shm".into());
        }
        v.join(":")
    });
    list.split(':')
        .filter(|s| !s.is_empty())
        .map(|d| {
            let label = if d.ends_with("/target") {
                "work".to_string()
            } else {
                d.trim_start_matches('/').replace('/', "_")
            };
            (label, PathBuf::from(d))
        })
        .collect()
}

fn backends(dir: &std::path::Path) -> Vec<BackendKind> {
    let mut v = vec![BackendKind::Sync];
    match uring::probe(dir) {
        Ok(()) => v.push(BackendKind::Uring),
        Err(why) => eprintln!("io_uring unavailable in {}: {why}", dir.display()),
    }
    v
}

fn name(k: BackendKind) -> &'static str {
    match k {
        BackendKind::Uring => "uring",
        BackendKind::Sync => "sync",
    }
}

struct Log {
    backend: Box<dyn LogBackend>,
    segments: Segments,
    zxid: i64,
    buf: Vec<u8>,
    out: Vec<Durable>,
}

impl Log {
    fn commit(&mut self, n: usize) {
        let txn = [7u8; TXN_BYTES];
        self.buf.clear();
        let first = self.zxid;
        for _ in 0..n {
            encode_into(&mut self.buf, self.zxid, &txn);
            self.zxid += 1;
        }
        if !self.segments.fits(self.buf.len()) {
            self.segments.roll(first).expect("roll");
        }
        let place = self.segments.place(self.buf.len());
        self.backend
            .submit(Batch {
                place,
                bytes: std::mem::take(&mut self.buf),
                last_zxid: self.zxid - 1,
                txns: n,
            })
            .expect("submit");
        while self.out.is_empty() {
            self.backend
                .poll_durable(None, &mut self.out)
                .expect("poll");
        }
        self.buf = self.out.pop().expect("durable").bytes;
        assert!(self.out.is_empty());
    }
}

fn commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("commit");
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for (label, root) in dirs() {
        for kind in backends(&root) {
            let dir = tempfile::tempdir_in(&root).expect("temp dir");
            let mut segments =
                Segments::open(dir.path(), DEFAULT_SEGMENT_BYTES, None, 1).expect("segments");
            // Start measuring after the background zero-fill of the next segment.
            segments.wait_prepared();
            let mut log = Log {
                backend: kind.create(true).expect("backend"),
                segments,
                zxid: 1,
                buf: Vec::new(),
                out: Vec::new(),
            };
            for n in [1usize, 10, 100, 1000] {
                g.throughput(Throughput::Elements(n as u64));
                g.bench_with_input(
                    BenchmarkId::new(format!("{}/{label}", name(kind)), n),
                    &n,
                    |b, &n| b.iter(|| log.commit(n)),
                );
            }
        }
    }
    g.finish();
}

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("stream");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(STREAM_RECORDS as u64));
    for (label, root) in dirs() {
        for kind in backends(&root) {
            let dir = tempfile::tempdir_in(&root).expect("temp dir");
            let mut segments =
                Segments::open(dir.path(), DEFAULT_SEGMENT_BYTES, None, 1).expect("segments");
            segments.wait_prepared();
            let (tx, rx) = crossbeam_channel::unbounded();
            let (dtx, drx) = crossbeam_channel::unbounded();
            let stats = Arc::new(LogStats::default());
            let thread = group_commit::spawn(
                kind,
                true,
                segments,
                rx,
                dtx.into(),
                BatchLimits::default(),
                u64::MAX,
                stats.clone(),
            )
            .expect("log thread");
            let mut zxid = 1i64;
            g.bench_function(format!("{}/{label}", name(kind)), |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let last = zxid + STREAM_RECORDS - 1;
                        for z in zxid..=last {
                            tx.send(LogEntry {
                                zxid: z,
                                txn: vec![7u8; TXN_BYTES],
                            })
                            .expect("send");
                        }
                        zxid = last + 1;
                        while drx.recv().expect("durable") < last {}
                    }
                    started.elapsed()
                })
            });
            drop(tx);
            thread.join().expect("log thread");
            let h = stats.histograms.lock().expect("stats").clone();
            eprintln!(
                "stream/{}/{label}: batch txns p50 {} p99 {} max {}; fsync us p50 {} p99 {} p99.9 {} max {}",
                name(kind),
                h.batch_txns.value_at_quantile(0.5),
                h.batch_txns.value_at_quantile(0.99),
                h.batch_txns.max(),
                h.sync_us.value_at_quantile(0.5),
                h.sync_us.value_at_quantile(0.99),
                h.sync_us.value_at_quantile(0.999),
                h.sync_us.max()
            );
        }
    }
    g.finish();
}

criterion_group!(benches, commit, stream);
criterion_main!(benches);

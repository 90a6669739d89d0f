//! `ringkeeper bench`: a closed-loop load generator speaking the ZooKeeper protocol with
//! our own client. Latencies go into an hdrhistogram per run; the report gives ops/s and
//! p50/p90/p99/p99.9/p99.99/max.
//!
//! Closed loop: each session keeps `inflight` requests outstanding and issues the next one
//! when a reply arrives, so the figures are service latencies at the offered concurrency.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use crate::client::{acl, Client, ClientError, CreateMode};
use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// setData on existing keys.
    Set,
    /// getData on existing keys.
    Get,
    /// getData with probability `read_ratio`, else setData.
    Mixed,
    /// create then delete of a fresh key.
    CreateDelete,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// host:port of the server.
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub server: String,
    #[arg(long, value_enum, default_value = "set")]
    pub workload: Workload,
    /// Sessions (one connection each).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Requests outstanding per session.
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured warm-up in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Fraction of reads in the mixed workload.
    #[arg(long, default_value_t = 0.9)]
    pub read_ratio: f64,
    /// Parent znode for the keys.
    #[arg(long, default_value = "/rk-bench")]
    pub root: String,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default)]
struct Totals {
    ops: u64,
    errors: u64,
}

async fn prepare(args: &BenchArgs) -> Result<()> {
    let c = Client::connect(&args.server, Duration::from_secs(30))
        .await
        .with_context(|| format!("connecting to {}", args.server))?;
    let open = acl::open_unsafe();
    match c
        .create(&args.root, b"", &open, CreateMode::Persistent)
        .await
    {
        Ok(_) | Err(ClientError::Keeper(crate::proto::ErrorCode::NodeExists)) => {}
        Err(e) => return Err(e).context("creating the bench root"),
    }
    let value = vec![b'x'; args.value_size];
    let mut pending = Vec::new();
    for k in 0..args.keys {
        pending.push(c.create(
            &format!("{}/k{k}", args.root),
            &value,
            &open,
            CreateMode::Persistent,
        ));
        if pending.len() >= 256 {
            for p in pending.drain(..) {
                match p.await {
                    Ok(_) | Err(ClientError::Keeper(crate::proto::ErrorCode::NodeExists)) => {}
                    Err(e) => return Err(e).context("creating bench keys"),
                }
            }
        }
    }
    for p in pending {
        match p.await {
            Ok(_) | Err(ClientError::Keeper(crate::proto::ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e).context("creating bench keys"),
        }
    }
    c.close().await.ok();
    Ok(())
}

async fn one_request(
    c: &Client,
    args: &BenchArgs,
    rng: &mut Rng,
    value: &[u8],
    seq: &mut u64,
) -> std::result::Result<(), ClientError> {
    let key = format!("{}/k{}", args.root, rng.below(args.keys as u64));
    let read = match args.workload {
        Workload::Get => true,
        Workload::Set => false,
        Workload::Mixed => rng.unit() < args.read_ratio,
        Workload::CreateDelete => {
            *seq += 1;
            let p = format!("{}/cd-{:x}-{}", args.root, rng.next_u64(), seq);
            c.create(&p, value, &acl::open_unsafe(), CreateMode::Persistent)
                .await?;
            return c.delete(&p, -1).await;
        }
    };
    if read {
        c.get_data(&key, false).await.map(|_| ())
    } else {
        c.set_data(&key, value, -1).await.map(|_| ())
    }
}

/// The final figures of one run.
#[derive(Debug)]
pub struct Report {
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub hist: Histogram<u64>,
}

impl Report {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn text(&self, args: &BenchArgs) -> String {
        format!(
            "workload={:?} clients={} inflight={} value={}B: {:.0} ops/s, errors {}\n\
             latency us: p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  p99.99 {:.0}  max {:.0}",
            args.workload,
            args.clients,
            args.inflight,
            args.value_size,
            self.ops_per_sec(),
            self.errors,
            self.us(0.5),
            self.us(0.9),
            self.us(0.99),
            self.us(0.999),
            self.us(0.9999),
            self.hist.max() as f64 / 1000.0
        )
    }

    pub fn json(&self, args: &BenchArgs) -> String {
        format!(
            "{{\"workload\":\"{:?}\",\"clients\":{},\"inflight\":{},\"value_size\":{},\
             \"ops\":{},\"errors\":{},\"seconds\":{:.3},\"ops_per_sec\":{:.1},\
             \"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\
             \"p9999_us\":{:.1},\"max_us\":{:.1}}}",
            args.workload,
            args.clients,
            args.inflight,
            args.value_size,
            self.ops,
            self.errors,
            self.seconds,
            self.ops_per_sec(),
            self.us(0.5),
            self.us(0.9),
            self.us(0.99),
            self.us(0.999),
            self.us(0.9999),
            self.hist.max() as f64 / 1000.0
        )
    }
}

/// Runs one benchmark: prepares the keys, warms up, measures, prints a progress line per
/// second on stderr.
pub async fn run(args: &BenchArgs) -> Result<Report> {
    prepare(args).await?;
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
    ));
    let totals = Rc::new(RefCell::new(Totals::default()));
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let end = warm_end + Duration::from_secs_f64(args.duration);
    let value = Rc::new(vec![b'v'; args.value_size]);
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(Rc::new(
            Client::connect(&args.server, Duration::from_secs(30))
                .await
                .with_context(|| format!("connecting to {}", args.server))?,
        ));
    }
    let local = tokio::task::LocalSet::new();
    for (i, c) in clients.iter().enumerate() {
        for j in 0..args.inflight {
            let (c, hist, totals, value, args) = (
                c.clone(),
                hist.clone(),
                totals.clone(),
                value.clone(),
                args.clone(),
            );
            local.spawn_local(async move {
                let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ ((i as u64) << 20 | j as u64));
                let mut seq = 0;
                loop {
                    let t0 = Instant::now();
                    if t0 >= end {
                        return;
                    }
                    let r = one_request(&c, &args, &mut rng, &value, &mut seq).await;
                    if t0 < warm_end {
                        continue;
                    }
                    let ns = t0.elapsed().as_nanos() as u64;
                    match r {
                        Ok(()) => {
                            hist.borrow_mut().saturating_record(ns.max(1));
                            totals.borrow_mut().ops += 1;
                        }
                        Err(_) => totals.borrow_mut().errors += 1,
                    }
                }
            });
        }
    }
    {
        let (hist, totals) = (hist.clone(), totals.clone());
        local.spawn_local(async move {
            let mut last_ops = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            while Instant::now() < end {
                tick.tick().await;
                if Instant::now() < warm_end {
                    continue;
                }
                let t = totals.borrow();
                let h = hist.borrow();
                eprintln!(
                    "{:>8} ops/s  p99 {:>8.0} us  errors {}",
                    t.ops - last_ops,
                    h.value_at_quantile(0.99) as f64 / 1000.0,
                    t.errors
                );
                last_ops = t.ops;
            }
        });
    }
    local.await;
    let t = totals.borrow();
    let hist = hist.borrow().clone();
    Ok(Report {
        ops: t.ops,
        errors: t.errors,
        seconds: args.duration,
        hist,
    })
}

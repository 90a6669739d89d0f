//! `ringkeeper bench`: a load generator speaking the ZooKeeper protocol with our own client.
//! Latencies go into an hdrhistogram per run; the report gives ops/s,
//! p50/p90/p99/p99.9/p99.99/max and errors by kind (`--hgrm` writes the whole distribution
//! in HdrHistogram's percentile-distribution text format).
//!
//! Closed loop (default): each session keeps `inflight` requests outstanding and issues the
//! next one when a reply arrives, so the figures are service latencies at the offered
//! concurrency.
//!
//! Open loop (`--rate R`): requests are issued on a fixed schedule, R per second spread over
//! the sessions, whether or not earlier ones have been answered, and each latency is
//! measured from the request's *scheduled* time. A server that stalls for a second is thus
//! charged for every request that should have gone out during the stall, not just the one
//! that was waiting (coordinated omission). A session with more than `MAX_BACKLOG` requests
//! unanswered counts further ones as `backlog` errors instead of queueing without bound.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use crate::client::{acl, Client, ClientError, CreateMode};
use crate::rng::Rng;

mod sessions;

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
    /// Every session watches one znode; a separate writer changes it. One op is one round:
    /// its latency runs from sending the write to the last session's notification.
    WatchFanout,
    /// The lock recipe (ephemeral-sequential contenders): one op acquires a lock and
    /// releases it. Sessions pick among `--keys` locks; `--keys 1` is one contended lock.
    LockChurn,
    /// Connection storm: one op opens a session (connect + handshake) and closes it.
    ReconnectStorm,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// host:port of the server, or a comma-separated list of an ensemble's members:
    /// sessions are spread over them round-robin.
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
    /// Open loop: total requests per second on a fixed schedule (latency from the scheduled
    /// time). Without it the run is closed-loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Also write the latency distribution here (HdrHistogram .hgrm text, microseconds).
    #[arg(long)]
    pub hgrm: Option<std::path::PathBuf>,
}

/// Unanswered requests one session may have in open loop before new ones count as errors.
pub const MAX_BACKLOG: usize = 10_000;

#[derive(Debug, Default)]
struct Totals {
    ops: u64,
    errors: u64,
    by_kind: BTreeMap<String, u64>,
}

impl Totals {
    fn error(&mut self, kind: String) {
        self.errors += 1;
        *self.by_kind.entry(kind).or_default() += 1;
    }
}

/// Counts one measured request's outcome.
fn record(
    hist: &RefCell<Histogram<u64>>,
    totals: &RefCell<Totals>,
    r: std::result::Result<(), ClientError>,
    ns: u64,
) {
    match r {
        Ok(()) => {
            hist.borrow_mut().saturating_record(ns.max(1));
            totals.borrow_mut().ops += 1;
        }
        Err(e) => totals.borrow_mut().error(error_kind(&e)),
    }
}

/// A short name for an error, for the per-kind counts.
fn error_kind(e: &ClientError) -> String {
    match e {
        ClientError::Keeper(code) => format!("{code:?}"),
        other => {
            let s = format!("{other:?}");
            s.split(['(', ' ', '{'])
                .next()
                .unwrap_or("other")
                .to_string()
        }
    }
}

/// The progress line on stderr, once a second after the warm-up.
async fn progress(
    hist: Rc<RefCell<Histogram<u64>>>,
    totals: Rc<RefCell<Totals>>,
    warm_end: Instant,
    end: Instant,
) {
    let mut last_ops = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    while Instant::now() < end {
        tick.tick().await;
        if Instant::now() < warm_end {
            continue;
        }
        let t = totals.borrow();
        eprintln!(
            "{:>8} ops/s  p99 {:>8.0} us  errors {}",
            t.ops - last_ops,
            hist.borrow().value_at_quantile(0.99) as f64 / 1000.0,
            t.errors
        );
        last_ops = t.ops;
    }
}

/// The `i`th session's server (round-robin over `--server`'s list).
fn host(args: &BenchArgs, i: usize) -> &str {
    let hosts: Vec<&str> = args
        .server
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    hosts.get(i % hosts.len().max(1)).copied().unwrap_or("")
}

async fn connect_to(args: &BenchArgs, i: usize) -> Result<Client> {
    let h = host(args, i);
    Client::connect(h, Duration::from_secs(30))
        .await
        .with_context(|| format!("connecting to {h}"))
}

async fn prepare(args: &BenchArgs) -> Result<()> {
    let c = connect_to(args, 0).await?;
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
        Workload::WatchFanout | Workload::LockChurn | Workload::ReconnectStorm => {
            unreachable!("session-level workloads run in their own loops")
        }
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
    pub errors_by_kind: BTreeMap<String, u64>,
    pub seconds: f64,
    /// Nanoseconds.
    pub hist: Histogram<u64>,
}

impl Report {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    fn mode(args: &BenchArgs) -> String {
        match args.rate {
            Some(r) => format!("open loop at {r:.0}/s"),
            None => format!("closed loop, inflight={}", args.inflight),
        }
    }

    fn errors_text(&self) -> String {
        if self.errors_by_kind.is_empty() {
            return "0".into();
        }
        let kinds: Vec<String> = self
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        format!("{} ({})", self.errors, kinds.join(", "))
    }

    /// HdrHistogram's percentile-distribution text (values in microseconds), the format
    /// HdrHistogram's plotter and most tooling read.
    pub fn hgrm(&self) -> String {
        let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
        for v in self.hist.iter_quantiles(5) {
            let q = v.quantile_iterated_to();
            let inv = if q < 1.0 {
                format!("{:.2}", 1.0 / (1.0 - q))
            } else {
                "inf".into()
            };
            out.push_str(&format!(
                "{:12.3} {:14.12} {:10} {:>14}\n",
                v.value_iterated_to() as f64 / 1000.0,
                q,
                v.count_since_last_iteration(),
                inv
            ));
        }
        out.push_str(&format!(
            "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n\
             #[Max     = {:12.3}, Total count    = {:12}]\n",
            self.hist.mean() / 1000.0,
            self.hist.stdev() / 1000.0,
            self.hist.max() as f64 / 1000.0,
            self.hist.len()
        ));
        out
    }

    pub fn text(&self, args: &BenchArgs) -> String {
        format!(
            "workload={:?} clients={} {} value={}B: {:.0} ops/s, errors {}\n\
             latency us: p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  p99.99 {:.0}  max {:.0}",
            args.workload,
            args.clients,
            Self::mode(args),
            args.value_size,
            self.ops_per_sec(),
            self.errors_text(),
            self.us(0.5),
            self.us(0.9),
            self.us(0.99),
            self.us(0.999),
            self.us(0.9999),
            self.hist.max() as f64 / 1000.0
        )
    }

    pub fn json(&self, args: &BenchArgs) -> String {
        let kinds: Vec<String> = self
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("\"{k}\":{n}"))
            .collect();
        format!(
            "{{\"workload\":\"{:?}\",\"clients\":{},\"inflight\":{},\"rate\":{},\"value_size\":{},\
             \"ops\":{},\"errors\":{},\"errors_by_kind\":{{{}}},\"seconds\":{:.3},\"ops_per_sec\":{:.1},\
             \"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\
             \"p9999_us\":{:.1},\"max_us\":{:.1}}}",
            args.workload,
            args.clients,
            args.inflight,
            args.rate.map_or("null".to_string(), |r| format!("{r}")),
            args.value_size,
            self.ops,
            self.errors,
            kinds.join(","),
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
    match args.workload {
        Workload::WatchFanout => return run_fanout(args).await,
        Workload::LockChurn => return sessions::run_lock_churn(args).await,
        Workload::ReconnectStorm => return sessions::run_reconnect_storm(args).await,
        _ => {}
    }
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
    ));
    let totals = Rc::new(RefCell::new(Totals::default()));
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let end = warm_end + Duration::from_secs_f64(args.duration);
    let value = Rc::new(vec![b'v'; args.value_size]);
    let mut clients = Vec::new();
    for i in 0..args.clients {
        clients.push(Rc::new(connect_to(args, i).await?));
    }
    let local = tokio::task::LocalSet::new();
    if let Some(rate) = args.rate {
        anyhow::ensure!(rate > 0.0, "--rate must be positive");
        // The schedule is kept by a plain thread: tokio's timer has millisecond
        // granularity, which would add up to a millisecond of lateness to every request.
        // At each wake-up the pacer releases every request that is due; the wake-up
        // latency (tens of microseconds) is part of the measured latency.
        let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
        let every = Duration::from_secs_f64(1.0 / rate);
        let n_clients = args.clients;
        std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || {
                for k in 0u64.. {
                    let scheduled = start + every.mul_f64(k as f64);
                    if scheduled >= end {
                        return;
                    }
                    let now = Instant::now();
                    if scheduled > now {
                        std::thread::sleep(scheduled - now);
                    }
                    if due_tx.send(((k as usize) % n_clients, scheduled)).is_err() {
                        return;
                    }
                }
            })
            .context("starting the pacer thread")?;
        let (clients, hist, totals, value, args) = (
            clients.clone(),
            hist.clone(),
            totals.clone(),
            value.clone(),
            args.clone(),
        );
        local.spawn_local(async move {
            let backlog: Vec<Rc<RefCell<usize>>> = (0..clients.len())
                .map(|_| Rc::new(RefCell::new(0)))
                .collect();
            let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
            let mut seq = 0u64;
            while let Some((i, scheduled)) = due_rx.recv().await {
                let measured = scheduled >= warm_end;
                if *backlog[i].borrow() >= MAX_BACKLOG {
                    if measured {
                        totals.borrow_mut().error("backlog".into());
                    }
                    continue;
                }
                *backlog[i].borrow_mut() += 1;
                seq += 1;
                let mut req_rng = Rng::new(rng.next_u64());
                let (c, hist, totals, value, args, backlog) = (
                    clients[i].clone(),
                    hist.clone(),
                    totals.clone(),
                    value.clone(),
                    args.clone(),
                    backlog[i].clone(),
                );
                let mut my_seq = seq;
                tokio::task::spawn_local(async move {
                    let r = one_request(&c, &args, &mut req_rng, &value, &mut my_seq).await;
                    *backlog.borrow_mut() -= 1;
                    if !measured {
                        return;
                    }
                    // From the scheduled time: waiting behind a stall counts.
                    record(&hist, &totals, r, scheduled.elapsed().as_nanos() as u64);
                });
            }
        });
    }
    for (i, c) in clients.iter().enumerate().filter(|_| args.rate.is_none()) {
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
                    record(&hist, &totals, r, t0.elapsed().as_nanos() as u64);
                }
            });
        }
    }
    local.spawn_local(progress(hist.clone(), totals.clone(), warm_end, end));
    local.await;
    let t = totals.borrow();
    let hist = hist.borrow().clone();
    let report = Report {
        ops: t.ops,
        errors: t.errors,
        errors_by_kind: t.by_kind.clone(),
        seconds: args.duration,
        hist,
    };
    if let Some(path) = &args.hgrm {
        std::fs::write(path, report.hgrm())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// The watch fan-out workload: `clients` watchers of `<root>/k0`, one writer, rounds back to
/// back until the duration is over.
async fn run_fanout(args: &BenchArgs) -> Result<Report> {
    anyhow::ensure!(
        args.rate.is_none(),
        "watch-fanout runs rounds back to back; --rate does not apply"
    );
    let mut next = 0;
    let mut connect = || {
        next += 1;
        connect_to(args, next - 1)
    };
    let path = format!("{}/k0", args.root);
    let writer = connect().await?;
    let mut watchers = Vec::new();
    for _ in 0..args.clients {
        let c = connect().await?;
        let events = c.events().expect("a fresh client's event stream");
        watchers.push((c, events));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let mut totals = Totals::default();
    let value = vec![b'w'; args.value_size];
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let end = warm_end + Duration::from_secs_f64(args.duration);
    let mut last_report = Instant::now();
    let mut last_ops = 0;
    while Instant::now() < end {
        // Arm every watch (pipelined), then fire them with one write.
        let arms: Vec<_> = watchers
            .iter()
            .map(|(c, _)| c.get_data(&path, true))
            .collect();
        let mut armed = true;
        for a in arms {
            if let Err(e) = a.await {
                totals.error(error_kind(&e));
                armed = false;
            }
        }
        if !armed {
            continue;
        }
        let t0 = Instant::now();
        if let Err(e) = writer.set_data(&path, &value, -1).await {
            totals.error(error_kind(&e));
            continue;
        }
        let mut missed = false;
        for (_, events) in watchers.iter_mut() {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Some(_)) => {}
                _ => missed = true,
            }
        }
        if t0 < warm_end {
            continue;
        }
        if missed {
            totals.error("notification missing".into());
            continue;
        }
        hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
        totals.ops += 1;
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "{:>8} rounds/s  p99 {:>8.0} us  errors {}",
                totals.ops - last_ops,
                hist.value_at_quantile(0.99) as f64 / 1000.0,
                totals.errors
            );
            last_ops = totals.ops;
            last_report = Instant::now();
        }
    }
    let report = Report {
        ops: totals.ops,
        errors: totals.errors,
        errors_by_kind: totals.by_kind,
        seconds: args.duration,
        hist,
    };
    if let Some(p) = &args.hgrm {
        std::fs::write(p, report.hgrm()).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_named_and_counted_by_kind() {
        assert_eq!(
            error_kind(&ClientError::Keeper(crate::proto::ErrorCode::NoNode)),
            "NoNode"
        );
        assert_eq!(error_kind(&ClientError::ConnectionLoss), "ConnectionLoss");
        let mut t = Totals::default();
        t.error("NoNode".into());
        t.error("NoNode".into());
        t.error("backlog".into());
        let r = Report {
            ops: 10,
            errors: t.errors,
            errors_by_kind: t.by_kind,
            seconds: 1.0,
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
        };
        assert_eq!(r.errors_text(), "3 (NoNode 2, backlog 1)");
    }
}

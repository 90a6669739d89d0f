//! Workloads whose unit is more than one request: the lock recipe's acquire+release, and a
//! whole session's connect+close. Closed loop, one op in flight per task.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use super::{host, progress, record, BenchArgs, Report, Totals};
use crate::client::{ClientError, ZooKeeper};
use crate::recipes::Lock;
use crate::rng::Rng;

/// Runs `tasks` loops of `op(task, rng)` for warm-up + duration and reports the measured ops.
async fn closed_loop<F, Fut>(args: &BenchArgs, tasks: usize, op: F) -> Result<Report>
where
    F: Fn(usize, u64) -> Fut + 'static,
    Fut: Future<Output = std::result::Result<(), ClientError>> + 'static,
{
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
    ));
    let totals = Rc::new(RefCell::new(Totals::default()));
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(args.warmup);
    let end = warm_end + Duration::from_secs_f64(args.duration);
    let op = Rc::new(op);
    let local = tokio::task::LocalSet::new();
    for t in 0..tasks {
        let (hist, totals, op) = (hist.clone(), totals.clone(), op.clone());
        local.spawn_local(async move {
            let mut rng = Rng::new(0x51_7CC1_B727_220A ^ t as u64);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    return;
                }
                let r = op(t, rng.next_u64()).await;
                if t0 >= warm_end {
                    record(&hist, &totals, r, t0.elapsed().as_nanos() as u64);
                } else if r.is_err() {
                    // Failing during warm-up: do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
    }
    local.spawn_local(progress(hist.clone(), totals.clone(), warm_end, end));
    local.await;
    let t = totals.borrow();
    let report = Report {
        ops: t.ops,
        errors: t.errors,
        errors_by_kind: t.by_kind.clone(),
        seconds: args.duration,
        hist: hist.borrow().clone(),
    };
    if let Some(p) = &args.hgrm {
        std::fs::write(p, report.hgrm()).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(report)
}

/// `--clients` sessions; each acquires and releases one of `--keys` locks (kazoo's layout:
/// `<root>/lock<k>/<uuid>__lock__<seq>`), one op at a time.
pub async fn run_lock_churn(args: &BenchArgs) -> Result<Report> {
    anyhow::ensure!(
        args.rate.is_none(),
        "lock-churn is closed-loop; --rate does not apply"
    );
    let mut sessions = Vec::new();
    for i in 0..args.clients {
        let h = host(args, i);
        let zk = ZooKeeper::connect(h, Duration::from_secs(30))
            .await
            .with_context(|| format!("connecting to {h}"))?;
        sessions.push(zk);
    }
    let sessions = Rc::new(sessions);
    let (root, keys) = (args.root.clone(), args.keys.max(1) as u64);
    let ids: Vec<String> = (0..args.clients).map(|i| format!("bench-{i}")).collect();
    closed_loop(args, args.clients, move |t, r| {
        let zk = sessions[t].clone();
        let path = format!("{root}/lock{}", r % keys);
        let id = ids[t].clone();
        async move {
            let guard = Lock::new(&zk, &path, &id).acquire().await?;
            guard.release().await
        }
    })
    .await
}

/// `--clients` x `--inflight` loops, each opening a session and closing it again.
pub async fn run_reconnect_storm(args: &BenchArgs) -> Result<Report> {
    anyhow::ensure!(
        args.rate.is_none(),
        "reconnect-storm is closed-loop; --rate does not apply"
    );
    let hosts: Vec<String> = (0..args.clients.max(1))
        .map(|i| host(args, i).to_string())
        .collect();
    let tasks = args.clients * args.inflight.max(1);
    closed_loop(args, tasks, move |t, _| {
        let h = hosts[t % hosts.len()].clone();
        async move {
            let c = crate::client::Client::connect(&h, Duration::from_secs(10)).await?;
            c.close().await
        }
    })
    .await
}

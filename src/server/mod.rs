//! The server: recovery, the log thread, the consensus core (standalone or an ensemble
//! member), and N net cores.

pub mod admin;
pub mod conn;
pub mod core;
pub mod fourlw;
pub mod http;
pub mod inspect;
pub mod listener;
pub mod prometheus;
pub mod reads;
pub mod reply;
pub mod stats;
pub mod values;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::consensus::msg::{ToConsensus, ToCore};
use crate::consensus::RecoveredTail;
use crate::consensus::{ConsensusCore, CoreMailbox, SharedState};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::storage::group_commit::{BackendKind, BatchLimits, LogStats};
use crate::storage::log_stage::{LogParams, LogStage};
use crate::storage::segment::Segments;
use crate::storage::{purge, snapshotter, state};
use crate::tree::DataTree;
use core::{Core, CoreShared};

/// How often a core reports which sessions saw traffic.
const TOUCH_FLUSH: Duration = Duration::from_millis(100);

/// Runs a standalone server until SIGTERM/SIGINT. Every thread it starts is a critical
/// thread: a panic anywhere stops the process (restart recovers from the log).
pub fn run(settings: Settings) -> Result<()> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        tracing::error!("a server thread panicked: {info}; stopping");
        std::process::exit(70);
    }));

    let settings = Arc::new(settings);
    let addr = settings.client_addr;
    listener::check_free(addr)?;
    listener::raise_open_files_limit();

    let rec = state::recover_state(&settings.data_dir, &settings.data_log_dir)?;
    let tree = rec.tree;
    let last_logged = tree.last_zxid();
    tracing::info!(
        snapshot = rec
            .snapshot
            .as_ref()
            .map_or("none".to_string(), |s| s.1.display().to_string()),
        replayed_txns = rec.replayed_txns,
        last_zxid = format!("0x{:x}", tree.last_zxid()),
        nodes = tree.node_count(),
        sessions = tree.sessions().count(),
        "recovered state from snapshot and transaction log"
    );
    let log_kind = BackendKind::select(settings.wal_io, &settings.data_log_dir)?;
    let segments = Segments::open(
        &settings.data_log_dir,
        settings.segment_bytes,
        rec.active_log,
        last_logged + 1,
    )
    .with_context(|| format!("opening the log in {}", settings.data_log_dir.display()))?;
    if !settings.force_sync {
        tracing::warn!("forceSync=no: the transaction log is NOT synced; acknowledged writes can be lost on power failure");
    }

    // The consensus thread sleeps here; everything that sends to it rings its doorbell.
    let sleeper = crate::doorbell::Sleeper::new()
        .context("creating the consensus poll")?
        .with_spin(settings.consensus_spin);
    let (durable_tx, durable_rx) = sleeper.channel();
    let log_stats = Arc::new(LogStats::default());
    let log = LogStage::start(
        LogParams {
            kind: log_kind,
            force_sync: settings.force_sync,
            dir: settings.data_log_dir.clone(),
            segment_bytes: settings.segment_bytes,
            limits: BatchLimits::default(),
            warn_threshold_ms: settings.fsync_warning_threshold_ms,
            stats: log_stats.clone(),
        },
        segments,
        durable_tx,
        durable_rx.clone(),
    )?;

    let n = if settings.net_cores == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        settings.net_cores
    };
    let listeners = listener::bind(addr, n)?;
    let (to_consensus, consensus_rx) = sleeper.channel::<ToConsensus>();
    let shared_state = Arc::new(SharedState::default());
    let mut mailboxes = Vec::with_capacity(n);
    let mut mailbox_rxs = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = crossbeam_channel::unbounded::<ToCore>();
        let wake = Arc::new(tokio::sync::Notify::new());
        mailboxes.push(CoreMailbox {
            tx,
            wake,
            hint: Arc::default(),
        });
        mailbox_rxs.push(rx);
    }
    let metrics = Arc::new(Metrics::new(n));
    let core_shared = Arc::new(CoreShared {
        settings: settings.clone(),
        stats: Arc::default(),
        consensus: shared_state.clone(),
        to_consensus: to_consensus.clone(),
        log_stats,
        metrics: metrics.clone(),
        mailboxes: mailboxes.clone(),
        trace_mask: fourlw::DEFAULT_TRACE_MASK.into(),
        stopping: false.into(),
    });
    let (snap_trigger, snapshot_thread) = start_snapshots(&settings, metrics.clone())?;
    // An ensemble member starts from the snapshot and holds the logged txns after it until
    // a leader says which are committed (see consensus::ensemble).
    let (tree, tail) = match &settings.ensemble {
        None => (tree, None),
        Some(_) => {
            let base = rec.snapshot_tree.last_zxid();
            let entries = rec
                .log_tail
                .iter()
                .map(|t| (t.zxid(), Arc::from(t.to_bytes())))
                .collect();
            (rec.snapshot_tree, Some(RecoveredTail { base, entries }))
        }
    };
    let view = Arc::new(tree.clone());
    let mut consensus = ConsensusCore::new(
        settings.clone(),
        tree,
        mailboxes.clone(),
        log,
        durable_rx,
        sleeper,
        shared_state,
    )
    .with_snapshots(snap_trigger)
    .with_metrics(metrics);
    if let (Some(ens), Some(tail)) = (&settings.ensemble, tail) {
        consensus = consensus.with_ensemble(ens.clone(), tail)?;
    }
    let consensus_thread = std::thread::Builder::new()
        .name("rk-consensus".into())
        .spawn(move || consensus.run(consensus_rx))?;

    for (i, (l, rx)) in listeners.into_iter().zip(mailbox_rxs).enumerate() {
        let shared = core_shared.clone();
        let view = view.clone();
        let wake = mailboxes[i].wake.clone();
        std::thread::Builder::new()
            .name(format!("rk-net-{i}"))
            .spawn(move || run_core(i, l, shared, view, rx, wake))?;
    }
    http::spawn(core_shared.clone())?;
    tracing::info!("{}", banner(&settings, log_kind, n));

    wait_for_signal()?;
    tracing::info!("shutting down: finishing the log batch in flight; sessions survive a restart");
    core_shared
        .stopping
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = to_consensus.send(ToConsensus::Shutdown);
    // The consensus core stops the log thread after it syncs what it holds.
    let _ = consensus_thread.join();
    // The consensus core dropped the trigger: a snapshot being written finishes first.
    let _ = snapshot_thread.join();
    tracing::info!("stopped");
    Ok(())
}

/// The snapshot thread (rolling at a point drawn once per start) and, when configured,
/// the autopurge thread.
fn start_snapshots(
    settings: &Settings,
    metrics: Arc<Metrics>,
) -> Result<(snapshotter::SnapshotTrigger, std::thread::JoinHandle<()>)> {
    use std::hash::{BuildHasher, Hasher};
    // A per-process random draw without a dependency: RandomState is seeded from the OS.
    let draw = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let roll = snapshotter::roll_point(settings.snap_count, draw);
    tracing::info!(
        "snapshots every {roll} txns (snapCount={}) into {}",
        settings.snap_count,
        settings.data_dir.display()
    );
    let started = snapshotter::spawn(settings.data_dir.clone(), roll, metrics)?;
    if settings.autopurge_purge_interval_hours > 0 {
        let hours = u64::from(settings.autopurge_purge_interval_hours);
        purge::spawn_autopurge(
            settings.data_dir.clone(),
            settings.data_log_dir.clone(),
            settings
                .autopurge_snap_retain_count
                .max(purge::RETAIN_COUNT_MIN),
            Duration::from_secs(hours * 3600),
        )?;
    }
    Ok(started)
}

/// The start-up banner: one block with the effective settings an operator checks first.
fn banner(s: &Settings, log_kind: BackendKind, net_cores: usize) -> String {
    let or_off = |a: Option<std::net::SocketAddr>, path: &str| {
        a.map_or("off".to_string(), |a| format!("http://{a}{path}"))
    };
    format!(
        "ringkeeper {version} serving clients\n\
         \x20 mode                {mode}\n\
         \x20 config              {config}\n\
         \x20 client address      {client}\n\
         \x20 dataDir             {data}\n\
         \x20 dataLogDir          {log}\n\
         \x20 log backend         {backend}{force}\n\
         \x20 net cores           {net_cores}\n\
         \x20 tickTime            {tick} ms\n\
         \x20 session timeouts    {min}..{max} ms\n\
         \x20 snapCount           {snap}\n\
         \x20 admin server        {admin}\n\
         \x20 metrics             {metrics}",
        version = fourlw::VERSION,
        mode = match &s.ensemble {
            None => "standalone".to_string(),
            Some(e) => format!(
                "ensemble member {} ({}) of {} voter(s) and {} observer(s)",
                e.me,
                if e.observers.contains(&e.me) {
                    "observer"
                } else {
                    "participant"
                },
                e.voters.len(),
                e.observers.len()
            ),
        },
        config = s.config_origin,
        client = s.client_addr,
        data = s.data_dir.display(),
        log = s.data_log_dir.display(),
        backend = match log_kind {
            BackendKind::Uring => "io_uring",
            BackendKind::Sync => "sync (pwrite + fdatasync)",
        },
        force = if s.force_sync { "" } else { ", forceSync=no" },
        tick = s.tick_time_ms,
        min = s.min_session_timeout_ms,
        max = s.max_session_timeout_ms,
        snap = s.snap_count,
        admin = or_off(s.admin_addr, &s.admin_command_url),
        metrics = or_off(s.metrics_addr, "/metrics"),
    )
}

fn wait_for_signal() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        Ok(())
    })
}

fn shared_stopping(core: &Rc<RefCell<Core>>) -> bool {
    core.borrow()
        .shared
        .stopping
        .load(std::sync::atomic::Ordering::Relaxed)
}

fn run_core(
    id: usize,
    listener: std::net::TcpListener,
    shared: Arc<CoreShared>,
    view: Arc<DataTree>,
    mailbox: crossbeam_channel::Receiver<ToCore>,
    wake: Arc<tokio::sync::Notify>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a net core runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("registering listener");
        let core = Rc::new(RefCell::new(Core::new(id, shared, view, mailbox)));
        {
            let core = core.clone();
            tokio::task::spawn_local(async move {
                loop {
                    wake.notified().await;
                    core.borrow_mut().drain_mailbox();
                }
            });
        }
        {
            let core = core.clone();
            tokio::task::spawn_local(async move {
                let mut t = tokio::time::interval(TOUCH_FLUSH);
                loop {
                    t.tick().await;
                    core.borrow_mut().flush_touches();
                }
            });
        }
        loop {
            match listener.accept().await {
                // Shutting down: refuse rather than take requests nobody will answer.
                Ok(_) if shared_stopping(&core) => {}
                Ok((s, remote)) => {
                    tokio::task::spawn_local(conn::serve(core.clone(), s, remote));
                }
                Err(e) => {
                    tracing::warn!("accept failed on core {id}: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
}

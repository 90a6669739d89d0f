//! The `ringkeeper` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ringkeeper::config::{Config, WalIo};
use ringkeeper::settings::Settings;

#[derive(Parser)]
#[command(
    name = "ringkeeper",
    version,
    about = "A ZooKeeper-compatible coordination server"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server in the foreground. Without CONFIG: standalone on 127.0.0.1:2181 with
    /// data under ./ringkeeper-data.
    StartForeground {
        /// A ZooKeeper zoo.cfg.
        config: Option<PathBuf>,
        /// Number of net cores (default: netCores from the config, else one per CPU).
        #[arg(long)]
        net_cores: Option<usize>,
        /// Transaction log I/O: auto (io_uring if the probe passes, else sync), uring, sync.
        /// Overrides walIo from the config.
        #[arg(long, value_parser = parse_wal_io)]
        wal_io: Option<WalIo>,
    },
    /// Print the version.
    Version,
    /// A zkCli.sh-compatible shell: `cli [-server host:port] [-timeout ms] [command args]`.
    Cli(ringkeeper::cli::CliArgs),
    /// Load a server with ZooKeeper requests and report throughput and latency percentiles.
    Bench(ringkeeper::bench::BenchArgs),
    /// Read transaction log files (a dataLogDir or one log.* file); never modifies them.
    Log {
        #[command(subcommand)]
        action: Inspect,
    },
    /// Read a snapshot file.
    Snapshot {
        #[command(subcommand)]
        action: Inspect,
    },
    /// Delete old snapshots and the log files no kept snapshot needs (like zkCleanup.sh).
    Purge {
        /// A ZooKeeper zoo.cfg (for dataDir and dataLogDir).
        config: Option<PathBuf>,
        /// Snapshots to keep (at least 3; default autopurge.snapRetainCount).
        #[arg(short = 'n')]
        count: Option<usize>,
    },
    /// Convert an Apache ZooKeeper 3.x dataDir (+ dataLogDir) into a ringkeeper dataDir.
    ImportZk {
        /// ZooKeeper's dataDir (the folder holding version-2, or version-2 itself).
        #[arg(long)]
        zk_data_dir: PathBuf,
        /// ZooKeeper's dataLogDir when it differs from its dataDir.
        #[arg(long)]
        zk_log_dir: Option<PathBuf>,
        /// The ringkeeper dataDir to create (must hold no snapshots or logs yet).
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Inspect {
    /// Print every record, one per line. Exits 1 when the file is damaged.
    Dump {
        path: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check every record; say where the damage is. Exits 1 when damaged.
    Verify {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn parse_wal_io(s: &str) -> Result<WalIo, String> {
    match s {
        "auto" => Ok(WalIo::Auto),
        "uring" => Ok(WalIo::Uring),
        "sync" => Ok(WalIo::Sync),
        _ => Err(format!("expected auto, uring or sync, not {s:?}")),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RINGKEEPER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn start_foreground(
    config: Option<PathBuf>,
    net_cores: Option<usize>,
    wal_io: Option<WalIo>,
) -> anyhow::Result<()> {
    let cfg = match &config {
        Some(path) => {
            let (cfg, warnings) = Config::from_file(path)?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            cfg
        }
        None => Config::embedded_default(),
    };
    if !cfg.is_standalone() {
        anyhow::bail!(
            "{}: server.N lines describe an ensemble; this ringkeeper version runs standalone only \
             (remove the server.N lines, or keep one with standaloneEnabled=true)",
            cfg.origin
        );
    }
    let client_addr = cfg
        .client_socket_addr(None)?
        .ok_or_else(|| anyhow::anyhow!("{}: clientPort is not set", cfg.origin))?;
    cfg.prepare_dirs()?;
    let mut settings = Settings::from_config(&cfg, client_addr);
    if let Some(n) = net_cores {
        settings.net_cores = n;
    }
    if let Some(w) = wal_io {
        settings.wal_io = w;
    }
    tracing::info!(
        "starting ringkeeper {} standalone: clientPort={} dataDir={} dataLogDir={} tickTime={} \
         sessionTimeout=[{}, {}] maxClientCnxns={} jute.maxbuffer={}",
        env!("CARGO_PKG_VERSION"),
        settings.client_addr,
        settings.data_dir.display(),
        settings.data_log_dir.display(),
        settings.tick_time_ms,
        settings.min_session_timeout_ms,
        settings.max_session_timeout_ms,
        settings.max_client_cnxns,
        settings.jute_max_buffer
    );
    ringkeeper::server::run(settings)
}

fn load_config(config: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match config {
        Some(path) => {
            let (cfg, warnings) = Config::from_file(path)?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            cfg
        }
        None => Config::embedded_default(),
    })
}

/// Runs a tool: Ok(true) = exit 0, Ok(false) = damage found (exit 1), Err = exit 2.
fn run_tool(cmd: Cmd) -> anyhow::Result<bool> {
    use ringkeeper::tools;
    let (out, err) = (&mut std::io::stdout().lock(), &mut std::io::stderr());
    match cmd {
        Cmd::Log { action } => match action {
            Inspect::Dump { path, json } => tools::log_cmd::run(&path, true, json, out, err),
            Inspect::Verify { path, json } => tools::log_cmd::run(&path, false, json, out, err),
        },
        Cmd::Snapshot { action } => match action {
            Inspect::Dump { path, json } => tools::snapshot_cmd::run(&path, true, json, out, err),
            Inspect::Verify { path, json } => {
                tools::snapshot_cmd::run(&path, false, json, out, err)
            }
        },
        Cmd::Purge { config, count } => {
            let cfg = load_config(config.as_ref())?;
            let n = count.unwrap_or(cfg.autopurge_snap_retain_count as usize);
            let plan = ringkeeper::storage::purge::purge(&cfg.data_dir, &cfg.data_log_dir, n)?;
            for p in plan.delete_snapshots.iter().chain(&plan.delete_logs) {
                println!("deleted {}", p.display());
            }
            println!(
                "kept the newest {n} snapshots (oldest kept zxid {}) and the logs they need",
                plan.oldest_kept_zxid
                    .map_or("none".to_string(), |z| format!("{z:#x}"))
            );
            Ok(true)
        }
        Cmd::ImportZk {
            zk_data_dir,
            zk_log_dir,
            data_dir,
        } => {
            let r = tools::import_zk::import(&zk_data_dir, zk_log_dir.as_deref(), &data_dir)?;
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "imported {} + {} logged txns into {}: zxid {:#x}, {} nodes, {} sessions",
                r.zk_snapshot
                    .as_ref()
                    .map_or("no snapshot".to_string(), |p| p.display().to_string()),
                r.replayed_txns,
                r.written.path.display(),
                r.written.zxid,
                r.written.nodes,
                r.written.sessions
            );
            Ok(true)
        }
        Cmd::StartForeground { .. } | Cmd::Version | Cmd::Bench(_) | Cmd::Cli(_) => {
            unreachable!("not a tool")
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        cmd @ (Cmd::Log { .. }
        | Cmd::Snapshot { .. }
        | Cmd::Purge { .. }
        | Cmd::ImportZk { .. }) => {
            init_logging();
            match run_tool(cmd) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("ringkeeper: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Bench(args) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("building the bench runtime");
            match rt.block_on(ringkeeper::bench::run(&args)) {
                Ok(r) => {
                    println!(
                        "{}",
                        if args.json {
                            r.json(&args)
                        } else {
                            r.text(&args)
                        }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ringkeeper bench: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Cli(args) => ringkeeper::cli::main(args),
        Cmd::Version => {
            println!("ringkeeper {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Cmd::StartForeground {
            config,
            net_cores,
            wal_io,
        } => {
            init_logging();
            match start_foreground(config, net_cores, wal_io) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("ringkeeper: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

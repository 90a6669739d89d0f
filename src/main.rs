//! The `ringkeeper` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ringkeeper::config::{Config, WalIo};
use ringkeeper::settings::Settings;

/// The write path allocates on one thread and frees on another (requests on a net core,
/// txns on the consensus core, batches dropped by whichever core lets go last); glibc's
/// malloc spent ~12% of a saturated ensemble's CPU on that. jemalloc's thread caches take
/// most of it back for ~7% more memory per znode (mimalloc was as fast, for ~17% more).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// A ZooKeeper zoo.cfg. Without it: standalone on 127.0.0.1:2181 with data under
    /// ./ringkeeper-data, admin server on 127.0.0.1:8080, metrics on 127.0.0.1:7000.
    config: Option<PathBuf>,
    /// Number of net cores (default: netCores from the config, else one per CPU).
    #[arg(long)]
    net_cores: Option<usize>,
    /// Transaction log I/O: auto (io_uring if the probe passes, else sync), uring, sync.
    /// Overrides walIo from the config.
    #[arg(long, value_parser = parse_wal_io)]
    wal_io: Option<String>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter such as
    /// `info,ringkeeper::storage=debug`). Default: RUST_LOG, else RINGKEEPER_LOG, else info.
    #[arg(long)]
    log_level: Option<String>,
    /// Append the server's log to this file. start-foreground: instead of stderr.
    /// start: instead of <dataDir>/ringkeeper.out.
    #[arg(long)]
    log_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the server in the background; returns once it serves (like zkServer.sh start).
    Start(RunArgs),
    /// Stop the server started with `start` (SIGTERM; sessions survive a restart).
    Stop {
        /// The zoo.cfg it was started with (the pid file is in its dataDir).
        config: Option<PathBuf>,
    },
    /// stop, then start.
    Restart(RunArgs),
    /// Say whether the server serves, and its mode; exit 1 when nothing answers.
    Status {
        /// The zoo.cfg (for the client port).
        config: Option<PathBuf>,
    },
    /// Run the server in the foreground, logging to stderr (or --log-file).
    StartForeground(RunArgs),
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

fn parse_wal_io(s: &str) -> Result<String, String> {
    wal_io_of(s).map(|_| s.to_string())
}

fn wal_io_of(s: &str) -> Result<WalIo, String> {
    match s {
        "auto" => Ok(WalIo::Auto),
        "uring" => Ok(WalIo::Uring),
        "sync" => Ok(WalIo::Sync),
        _ => Err(format!("expected auto, uring or sync, not {s:?}")),
    }
}

/// The log filter: --log-level, else RUST_LOG, else RINGKEEPER_LOG, else info.
fn log_filter(level: Option<&str>) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    use tracing_subscriber::EnvFilter;
    let spec = level
        .map(str::to_string)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or_else(|| std::env::var("RINGKEEPER_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    EnvFilter::try_new(&spec).map_err(|e| anyhow::anyhow!("invalid log level {spec:?}: {e}"))
}

fn init_logging(level: Option<&str>, file: Option<&PathBuf>) -> anyhow::Result<()> {
    let filter = log_filter(level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
            builder
                .with_writer(std::sync::Arc::new(f))
                .with_ansi(false)
                .init();
        }
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    Ok(())
}

fn start_foreground(args: RunArgs) -> anyhow::Result<()> {
    let RunArgs {
        config,
        net_cores,
        wal_io,
        ..
    } = args;
    let wal_io = wal_io
        .as_deref()
        .map(wal_io_of)
        .transpose()
        .map_err(anyhow::Error::msg)?;
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
    cfg.prometheus_addr()?;
    cfg.prepare_dirs()?;
    let my_id = ringkeeper::config::read_myid(&cfg.data_dir)?;
    cfg.check_myid(my_id)?;
    let client_addr = cfg
        .client_socket_addr(my_id)?
        .ok_or_else(|| anyhow::anyhow!("{}: clientPort is not set", cfg.origin))?;
    let mut settings = Settings::from_config(&cfg, client_addr);
    if !cfg.is_standalone() {
        let id = my_id.expect("check_myid requires a myid in an ensemble");
        settings.ensemble = Some(ringkeeper::settings::EnsembleSettings::from_config(
            &cfg, id,
        )?);
        // Session ids carry the server id in their top byte, so members never collide.
        settings.server_id = id as u8;
    }
    if let Some(n) = net_cores {
        settings.net_cores = n;
    }
    if let Some(w) = wal_io {
        settings.wal_io = w;
    }
    ringkeeper::server::run(settings)
}

/// The config for a service verb, announced as zkServer.sh does; errors printed.
fn service_config(config: Option<&PathBuf>) -> Option<Config> {
    match config {
        Some(p) => eprintln!("Using config: {}", p.display()),
        None => eprintln!("Using config: (built-in default)"),
    }
    match load_config(config) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("ringkeeper: {e:#}");
            None
        }
    }
}

fn service_start(args: &RunArgs) -> ExitCode {
    use std::io::Write as _;
    let Some(cfg) = service_config(args.config.as_ref()) else {
        return ExitCode::from(2);
    };
    print!("Starting ringkeeper ... ");
    let _ = std::io::stdout().flush();
    let mut extra_args = Vec::new();
    if let Some(n) = args.net_cores {
        extra_args.extend(["--net-cores".to_string(), n.to_string()]);
    }
    if let Some(w) = &args.wal_io {
        extra_args.extend(["--wal-io".to_string(), w.clone()]);
    }
    let opts = ringkeeper::service::StartOptions {
        log_file: args.log_file.clone(),
        log_level: args.log_level.clone(),
        extra_args,
    };
    match ringkeeper::service::start(args.config.as_deref(), &cfg, &opts) {
        Ok(()) => {
            println!("STARTED");
            ExitCode::SUCCESS
        }
        Err(e) if e.to_string().starts_with("already running") => {
            println!("{e}");
            ExitCode::from(1)
        }
        Err(e) => {
            println!("FAILED TO START");
            eprintln!("ringkeeper: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn service_stop(config: Option<&PathBuf>) -> ExitCode {
    use ringkeeper::service::Stopped;
    use std::io::Write as _;
    let Some(cfg) = service_config(config) else {
        return ExitCode::from(2);
    };
    print!("Stopping ringkeeper ... ");
    let _ = std::io::stdout().flush();
    match ringkeeper::service::stop(&cfg) {
        Ok(Stopped::Stopped(_)) => {
            println!("STOPPED");
            ExitCode::SUCCESS
        }
        Ok(Stopped::NoPidFile(p)) => {
            println!(
                "no ringkeeper to stop (could not find file {})",
                p.display()
            );
            ExitCode::SUCCESS
        }
        Ok(Stopped::Stale(pid)) => {
            println!("no ringkeeper to stop (process {pid} is not running; removed its pid file)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("FAILED TO STOP");
            eprintln!("ringkeeper: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn service_status(config: Option<&PathBuf>) -> ExitCode {
    let Some(cfg) = service_config(config) else {
        return ExitCode::from(2);
    };
    match ringkeeper::service::status(&cfg) {
        Ok((line, mode)) => {
            println!("{line}");
            match mode {
                Ok(m) => {
                    println!("Mode: {m}");
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    println!("Error contacting service. It is probably not running.");
                    eprintln!("({why})");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("ringkeeper: {e:#}");
            ExitCode::from(2)
        }
    }
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
        _ => unreachable!("not a tool"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        cmd @ (Cmd::Log { .. }
        | Cmd::Snapshot { .. }
        | Cmd::Purge { .. }
        | Cmd::ImportZk { .. }) => {
            if let Err(e) = init_logging(None, None) {
                eprintln!("ringkeeper: {e:#}");
                return ExitCode::from(2);
            }
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
        Cmd::Start(args) => service_start(&args),
        Cmd::Stop { config } => service_stop(config.as_ref()),
        Cmd::Restart(args) => {
            let stopped = service_stop(args.config.as_ref());
            if stopped != ExitCode::SUCCESS {
                return stopped;
            }
            service_start(&args)
        }
        Cmd::Status { config } => service_status(config.as_ref()),
        Cmd::StartForeground(args) => {
            if let Err(e) = init_logging(args.log_level.as_deref(), args.log_file.as_ref()) {
                eprintln!("ringkeeper: {e:#}");
                return ExitCode::from(2);
            }
            match start_foreground(args) {
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

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
    /// Load a server with ZooKeeper requests and report throughput and latency percentiles.
    Bench(ringkeeper::bench::BenchArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
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

//! Durable storage: the transaction log in dataLogDir (framing, backend, group commit,
//! recovery); snapshots in dataDir (format, the snapshot thread, start-up state, purge).

pub mod group_commit;
pub mod log_file;
pub mod purge;
pub mod record;
pub mod recovery;
pub mod snapshot;
pub mod snapshotter;
pub mod state;

/// Stops the process after an I/O failure that makes durability unknown. Never returns.
pub fn fatal(msg: &str) -> ! {
    tracing::error!("FATAL: {msg}; stopping the server (restart recovers from the log)");
    eprintln!("ringkeeper: FATAL: {msg}");
    std::process::exit(70);
}

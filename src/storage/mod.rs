//! Durable storage. The transaction log in dataLogDir: record framing (`record`), segments
//! preallocated with zeros (`segment`), two backends with one format (`log_file::SyncBackend`,
//! `uring::UringBackend`), the group-commit thread (`group_commit`) and log recovery. Snapshots in
//! dataDir: the format (`snapshot`), the snapshot thread (`snapshotter`), start-up state
//! (`state`: newest valid snapshot + log replay) and `purge`. With the `fault-injection` feature,
//! `fault` wraps the log backend in test-only disk faults.

pub mod epochs;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod group_commit;
pub mod log_file;
pub mod log_stage;
pub mod purge;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod snapshot;
pub mod snapshotter;
pub mod state;
pub mod uring;

/// Stops the process after an I/O failure that makes durability unknown. Never returns.
pub fn fatal(msg: &str) -> ! {
    tracing::error!("FATAL: {msg}; stopping the server (restart recovers from the log)");
    eprintln!("ringkeeper: FATAL: {msg}");
    std::process::exit(70);
}

//! Operator tools behind `ringkeeper log|snapshot|purge|import-zk`: read-only inspection
//! of our two on-disk formats, and the converter from an Apache ZooKeeper data directory.

pub mod import_zk;
pub mod log_cmd;
pub mod snapshot_cmd;
pub mod text;
pub mod zk_files;

/// What a dump or verify found: `Ok(true)` clean, `Ok(false)` damage was reported.
pub type Verdict = anyhow::Result<bool>;

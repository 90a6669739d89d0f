//! The log backend seam and the plain-file backend (`pwrite` + `fdatasync`).
//!
//! The group-commit loop (`group_commit.rs`) hands one contiguous batch of framed records to
//! `append_durable` and treats any error as fatal. The io_uring backend and log segments
//! replace `SyncFile` behind the same trait.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::txn::Zxid;

/// Where the log stage appends. One owner (the log thread); never shared.
pub trait LogBackend: Send {
    /// Appends `bytes` after everything appended before and returns once they are durable.
    /// An error means durability is unknown: the caller must stop, never retry.
    fn append_durable(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// A short name for logs and metrics ("sync", "uring").
    fn kind(&self) -> &'static str;
}

/// `log.<zxid in lower-case hex>`, the zxid being the first one the file may hold.
pub fn log_file_name(first_zxid: Zxid) -> String {
    format!("log.{first_zxid:x}")
}

/// Parses a `log.<hex>` file name.
pub fn parse_log_file_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("log.")?;
    i64::from_str_radix(hex, 16).ok()
}

/// Makes a directory entry (a created or renamed file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A single append-only log file written with `pwrite` and made durable with `fdatasync`.
#[derive(Debug)]
pub struct SyncFile {
    file: File,
    path: PathBuf,
    end: u64,
    /// `forceSync=no`: skip fdatasync (the operator accepted losing acknowledged writes).
    force_sync: bool,
}

impl SyncFile {
    /// Opens `path` for appending at byte `end` (everything after it is garbage that recovery
    /// already cut off). Creates the file, and syncs its directory, when it does not exist.
    pub fn open(path: &Path, end: u64, force_sync: bool) -> io::Result<SyncFile> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if !existed {
            file.sync_all()?;
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(SyncFile {
            file,
            path: path.to_path_buf(),
            end,
            force_sync,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl LogBackend for SyncFile {
    fn append_durable(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.end)?;
        if self.force_sync {
            self.file.sync_data()?;
        }
        self.end += bytes.len() as u64;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "sync"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(log_file_name(0x1_0000_0001), "log.100000001");
        assert_eq!(parse_log_file_name("log.100000001"), Some(0x1_0000_0001));
        assert_eq!(parse_log_file_name("snapshot.1"), None);
        assert_eq!(parse_log_file_name("log.xyz"), None);
    }

    #[test]
    fn appends_land_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.1");
        let mut f = SyncFile::open(&p, 0, true).unwrap();
        f.append_durable(b"hello ").unwrap();
        f.append_durable(b"world").unwrap();
        drop(f);
        let mut f = SyncFile::open(&p, 11, true).unwrap();
        f.append_durable(b"!").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello world!");
    }
}

//! The two epoch files of an ensemble member, in dataDir, in ZooKeeper's format (the number
//! in decimal text): `acceptedEpoch`, the newest epoch this server promised to follow, and
//! `currentEpoch`, the newest epoch it finished syncing to. Zab's safety rests on both
//! surviving a crash, so each write goes to a temporary file that is synced, renamed over
//! the old one, and the directory synced.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::log_file::sync_dir;

pub const ACCEPTED: &str = "acceptedEpoch";
pub const CURRENT: &str = "currentEpoch";

#[derive(Debug, Clone)]
pub struct EpochFiles {
    dir: PathBuf,
}

impl EpochFiles {
    pub fn new(data_dir: &Path) -> Self {
        EpochFiles {
            dir: data_dir.to_path_buf(),
        }
    }

    /// `None` when the file does not exist (a server that never joined an ensemble).
    pub fn read(&self, name: &str) -> io::Result<Option<i64>> {
        let path = self.dir.join(name);
        match fs::read_to_string(&path) {
            Ok(s) => s.trim().parse().map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not an epoch number ({e}): {s:?}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        }
    }

    pub fn write(&self, name: &str, epoch: i64) -> io::Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let mut f = fs::File::create(&tmp).map_err(context)?;
        f.write_all(epoch.to_string().as_bytes()).map_err(context)?;
        f.sync_all().map_err(context)?;
        fs::rename(&tmp, &path).map_err(context)?;
        sync_dir(&self.dir).map_err(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_and_absent_is_none() {
        let d = tempfile::tempdir().unwrap();
        let e = EpochFiles::new(d.path());
        assert_eq!(e.read(ACCEPTED).unwrap(), None);
        e.write(ACCEPTED, 7).unwrap();
        e.write(CURRENT, 6).unwrap();
        e.write(ACCEPTED, 8).unwrap();
        assert_eq!(e.read(ACCEPTED).unwrap(), Some(8));
        assert_eq!(e.read(CURRENT).unwrap(), Some(6));
        assert!(!d.path().join("acceptedEpoch.tmp").exists());
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(CURRENT), "seven").unwrap();
        let err = EpochFiles::new(d.path()).read(CURRENT).unwrap_err();
        assert!(err.to_string().contains("currentEpoch"), "{err}");
    }

    #[test]
    fn reads_zookeeper_written_files() {
        // ZooKeeper writes the bare number without a newline; tolerate one anyway.
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join(ACCEPTED), "12\n").unwrap();
        assert_eq!(EpochFiles::new(d.path()).read(ACCEPTED).unwrap(), Some(12));
    }
}

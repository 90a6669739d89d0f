//! Configuration watch: the current value of one znode, kept fresh by a data watch that is
//! re-armed after every change (and restored by the session across reconnections).

use super::pause_after;
use crate::client::{Result, ZooKeeper};
use tokio::sync::watch;

/// One version of the configuration: `None` while the node does not exist.
pub type ConfigValue = Option<(Vec<u8>, i32)>;

#[derive(Debug)]
pub struct ConfigWatch {
    rx: watch::Receiver<ConfigValue>,
    task: tokio::task::JoinHandle<()>,
}

impl ConfigWatch {
    /// Starts watching `path`; the first value is read before this returns.
    pub async fn start(zk: &ZooKeeper, path: &str) -> Result<ConfigWatch> {
        let first = read(zk, path).await?;
        let (tx, rx) = watch::channel(first.0);
        let (zk, path) = (zk.clone(), path.to_string());
        let mut wait = first.1;
        let task = tokio::spawn(async move {
            loop {
                if wait.await.is_err() {
                    // Session over: the last value stays; watchers see the sender drop.
                    return;
                }
                loop {
                    match read(&zk, &path).await {
                        Ok((v, w)) => {
                            tx.send_replace(v);
                            wait = w;
                            break;
                        }
                        Err(e) if e.is_retryable() => pause_after(&e).await,
                        Err(_) => return,
                    }
                }
            }
        });
        Ok(ConfigWatch { rx, task })
    }

    /// The latest value seen.
    pub fn current(&self) -> ConfigValue {
        self.rx.borrow().clone()
    }

    /// Waits for the next change and returns it; `None` once the session has ended.
    pub async fn changed(&mut self) -> Option<ConfigValue> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().clone())
    }
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read(zk: &ZooKeeper, path: &str) -> Result<(ConfigValue, crate::client::Watch)> {
    loop {
        match zk.get_data_watch(path).await {
            Ok((d, st, w)) => return Ok((Some((d, st.version)), w)),
            Err(crate::client::ClientError::Keeper(crate::proto::ErrorCode::NoNode)) => {
                // Missing: wait for its creation (exists watch), unless it came meanwhile.
                let (st, w) = zk.exists_watch(path).await?;
                if st.is_none() {
                    return Ok((None, w));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

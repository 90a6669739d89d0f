//! The simplest lock of the ZooKeeper guide: whoever creates the ephemeral lock node holds
//! the lock. Waiters watch that one node, so every waiter wakes on release (a herd); use
//! `Lock` (fair, predecessor-only watches) when many contend.

use super::lock::{session_error, LockGuard};
use super::semaphore::parent_of;
use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, Result, ZooKeeper};
use crate::proto::ErrorCode;

#[derive(Debug, Clone)]
pub struct ExclusiveLock {
    zk: ZooKeeper,
    path: String,
}

impl ExclusiveLock {
    /// The lock is the node at `path` (e.g. `/distribute_lock`).
    pub fn new(zk: &ZooKeeper, path: &str) -> ExclusiveLock {
        ExclusiveLock {
            zk: zk.clone(),
            path: path.to_string(),
        }
    }

    /// One attempt; `None` if someone else holds it.
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        let parent = parent_of(&self.path);
        if parent != "/" {
            retry_loss(|| self.zk.ensure_path(parent)).await?;
        }
        loop {
            let r = self
                .zk
                .create(&self.path, b"", super::open_acl(), CreateMode::Ephemeral)
                .await;
            match r {
                Ok(_) => return Ok(Some(LockGuard::new(&self.zk, self.path.clone()))),
                Err(ClientError::Keeper(ErrorCode::NodeExists)) => {
                    // After a lost create reply the node may be ours: its owner says.
                    match self.zk.exists(&self.path).await {
                        Ok(Some(st)) if st.ephemeral_owner == self.zk.session_id() => {
                            return Ok(Some(LockGuard::new(&self.zk, self.path.clone())))
                        }
                        Ok(_) => return Ok(None),
                        Err(e) if e.is_retryable() => pause_after(&e).await,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the lock node is ours.
    pub async fn acquire(&self) -> Result<LockGuard> {
        let ended = self.zk.session_ended();
        tokio::pin!(ended);
        loop {
            if let Some(g) = self.try_acquire().await? {
                return Ok(g);
            }
            match self.zk.exists_watch(&self.path).await {
                Ok((None, _)) => {}
                Ok((Some(_), w)) => tokio::select! {
                    _ = w => {}
                    s = &mut ended => return Err(session_error(s)),
                },
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }
}

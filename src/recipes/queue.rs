//! A distributed FIFO queue (ZooKeeper guide): items are persistent sequential children
//! `qn-<seq>`; a consumer takes the lowest. Taking is one multi that deletes the item and
//! creates an ephemeral claim node named by a per-take GUID holding the item's data, so a
//! consumer whose reply was lost can tell whether the take happened (the claim exists)
//! and no item is ever lost or delivered twice.

use super::lock::session_error;
use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, OpResult, Result, ZooKeeper};
use crate::proto::ErrorCode;

const ITEM: &str = "qn-";
const CLAIM: &str = "claim-";

#[derive(Debug, Clone)]
pub struct FifoQueue {
    zk: ZooKeeper,
    path: String,
}

impl FifoQueue {
    pub fn new(zk: &ZooKeeper, path: &str) -> FifoQueue {
        FifoQueue {
            zk: zk.clone(),
            path: path.trim_end_matches('/').to_string(),
        }
    }

    /// Appends an item; returns its node name.
    pub async fn put(&self, data: &[u8]) -> Result<String> {
        retry_loss(|| self.zk.ensure_path(&self.path)).await?;
        // A retried put after a lost reply could enqueue twice; a put is not idempotent in
        // ZooKeeper either, so it is sent once and its error returned.
        let p = self
            .zk
            .create(
                &format!("{}/{ITEM}", self.path),
                data,
                super::open_acl(),
                CreateMode::PersistentSequential,
            )
            .await?;
        Ok(p[self.path.len() + 1..].to_string())
    }

    /// Item names in queue order.
    async fn items(&self) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .zk
            .get_children(&self.path)
            .await?
            .into_iter()
            .filter(|c| c.starts_with(ITEM))
            .collect();
        v.sort_by(|a, b| a[ITEM.len()..].cmp(&b[ITEM.len()..]));
        Ok(v)
    }

    /// Takes the head item if there is one.
    pub async fn try_take(&self) -> Result<Option<Vec<u8>>> {
        retry_loss(|| self.zk.ensure_path(&self.path)).await?;
        loop {
            let items = match self.items().await {
                Ok(v) => v,
                Err(e) if e.is_retryable() => {
                    pause_after(&e).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(head) = items.first() else {
                return Ok(None);
            };
            if let Some(d) = self.claim(head).await? {
                return Ok(Some(d));
            }
        }
    }

    /// Waits for an item and takes it.
    pub async fn take(&self) -> Result<Vec<u8>> {
        let ended = self.zk.session_ended();
        tokio::pin!(ended);
        loop {
            if let Some(d) = self.try_take().await? {
                return Ok(d);
            }
            // Consumers wait on the queue node itself: any new item is for any of them.
            match self.zk.get_children_watch(&self.path).await {
                Ok((c, _)) if c.iter().any(|c| c.starts_with(ITEM)) => {}
                Ok((_, w)) => tokio::select! {
                    _ = w => {}
                    s = &mut ended => return Err(session_error(s)),
                },
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Tries to take `item`: `None` if another consumer got it first.
    async fn claim(&self, item: &str) -> Result<Option<Vec<u8>>> {
        let item_path = format!("{}/{item}", self.path);
        let (data, st) = match retry_loss(|| self.zk.get_data(&item_path)).await {
            Ok(v) => v,
            Err(ClientError::Keeper(ErrorCode::NoNode)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let claim = format!("{}/{CLAIM}{}", self.path, uuid::Uuid::new_v4().simple());
        loop {
            let r = self
                .zk
                .txn()
                .delete(&item_path, st.version)
                .create(&claim, &data, super::open_acl(), CreateMode::Ephemeral)
                .commit()
                .await;
            match r {
                Ok(res) => {
                    debug_assert!(matches!(res[1], OpResult::Create { .. }));
                    break;
                }
                Err(ClientError::Keeper(ErrorCode::NoNode | ErrorCode::BadVersion)) => {
                    // Gone: taken by someone, or by us before a lost reply.
                    match retry_loss(|| self.zk.exists(&claim)).await? {
                        Some(_) => break,
                        None => return Ok(None),
                    }
                }
                Err(e) if e.is_retryable() => {
                    pause_after(&e).await;
                    if retry_loss(|| self.zk.exists(&claim)).await?.is_some() {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        match retry_loss(|| self.zk.delete(&claim, -1)).await {
            Ok(()) | Err(ClientError::Keeper(ErrorCode::NoNode)) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(data))
    }

    /// Items waiting.
    pub async fn len(&self) -> Result<usize> {
        match self.items().await {
            Ok(v) => Ok(v.len()),
            Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(0),
            Err(e) => Err(e),
        }
    }

    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }
}

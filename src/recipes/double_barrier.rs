//! The double barrier of the ZooKeeper guide: n processes enter together and leave
//! together. Entering waits on one `ready` node; leaving uses the guide's scheme where each
//! process waits on one other node (the lowest waits on the highest, the rest on the
//! lowest), so no step wakes everyone.

use super::lock::session_error;
use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, Result, ZooKeeper};
use crate::proto::ErrorCode;

const READY: &str = "ready";

#[derive(Debug)]
pub struct DoubleBarrier {
    zk: ZooKeeper,
    path: String,
    n: u32,
    name: String,
}

impl DoubleBarrier {
    /// Participant `name` (unique among the n) on the barrier at `path`.
    pub fn new(zk: &ZooKeeper, path: &str, n: u32, name: &str) -> Result<DoubleBarrier> {
        if name.is_empty() || name.contains('/') || name == READY {
            return Err(ClientError::BadArguments(format!(
                "double barrier participant name {name:?}"
            )));
        }
        Ok(DoubleBarrier {
            zk: zk.clone(),
            path: path.trim_end_matches('/').to_string(),
            n,
            name: name.to_string(),
        })
    }

    fn me(&self) -> String {
        format!("{}/{}", self.path, self.name)
    }

    async fn participants(&self) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .zk
            .get_children(&self.path)
            .await?
            .into_iter()
            .filter(|c| c != READY)
            .collect();
        v.sort();
        Ok(v)
    }

    /// Waits until n participants have entered.
    pub async fn enter(&self) -> Result<()> {
        retry_loss(|| self.zk.ensure_path(&self.path)).await?;
        let ready = format!("{}/{READY}", self.path);
        let ended = self.zk.session_ended();
        tokio::pin!(ended);
        let me = self.me();
        match retry_loss(|| {
            self.zk
                .create(&me, b"", super::open_acl(), CreateMode::Ephemeral)
        })
        .await
        {
            Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
        loop {
            let step = async {
                let (st, w) = self.zk.exists_watch(&ready).await?;
                if st.is_some() {
                    return Ok(None);
                }
                if self.participants().await?.len() >= self.n as usize {
                    match self
                        .zk
                        .create(&ready, b"", super::open_acl(), CreateMode::Persistent)
                        .await
                    {
                        Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(w))
            };
            match step.await {
                Ok(None) => return Ok(()),
                Ok(Some(w)) => tokio::select! {
                    _ = w => {}
                    s = &mut ended => return Err(session_error(s)),
                },
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until every participant has left.
    pub async fn leave(&self) -> Result<()> {
        let ended = self.zk.session_ended();
        tokio::pin!(ended);
        loop {
            let step = async {
                let p = self.participants().await?;
                if p.is_empty() {
                    return Ok(None);
                }
                if p.len() == 1 && p[0] == self.name {
                    self.delete_me().await?;
                    return Ok(None);
                }
                let lowest = &p[0];
                let watch_on = if *lowest == self.name {
                    p.last().expect("non-empty").clone()
                } else {
                    if p.contains(&self.name) {
                        self.delete_me().await?;
                    }
                    lowest.clone()
                };
                // getData, not exists: a node gone already sets no watch on its name.
                match self
                    .zk
                    .get_data_watch(&format!("{}/{watch_on}", self.path))
                    .await
                {
                    Ok((_, _, w)) => Ok(Some(Some(w))),
                    Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(Some(None)),
                    Err(e) => Err(e),
                }
            };
            match step.await {
                Ok(None) => return Ok(()),
                // The watched node went before the watch was set: look at who is left
                // again (the lowest may still have to delete its own node).
                Ok(Some(None)) => {}
                Ok(Some(Some(w))) => tokio::select! {
                    _ = w => {}
                    s = &mut ended => return Err(session_error(s)),
                },
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    async fn delete_me(&self) -> Result<()> {
        match self.zk.delete(&self.me(), -1).await {
            Ok(()) | Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

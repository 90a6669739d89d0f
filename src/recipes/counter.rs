//! A distributed counter: the value is the node's data as decimal text (as kazoo's
//! `Counter` stores it), changed by versioned setData so concurrent adds never lose an
//! update.

use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, Result, ZooKeeper};
use crate::proto::ErrorCode;

#[derive(Debug, Clone)]
pub struct Counter {
    zk: ZooKeeper,
    path: String,
}

fn parse(path: &str, d: &[u8]) -> Result<i64> {
    if d.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(d)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            ClientError::Recipe(format!(
                "counter {path} holds {:?}, not a number",
                String::from_utf8_lossy(d)
            ))
        })
}

impl Counter {
    pub fn new(zk: &ZooKeeper, path: &str) -> Counter {
        Counter {
            zk: zk.clone(),
            path: path.to_string(),
        }
    }

    async fn ensure(&self) -> Result<()> {
        let parent = super::semaphore::parent_of(&self.path);
        if parent != "/" {
            retry_loss(|| self.zk.ensure_path(parent)).await?;
        }
        match retry_loss(|| {
            self.zk
                .create(&self.path, b"0", super::open_acl(), CreateMode::Persistent)
        })
        .await
        {
            Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn value(&self) -> Result<i64> {
        self.ensure().await?;
        let (d, _) = retry_loss(|| self.zk.get_data(&self.path)).await?;
        parse(&self.path, &d)
    }

    /// Adds `delta` and returns the new value. A setData whose reply was lost is not
    /// retried blindly: the version it was based on tells whether it happened (the counter
    /// then shows that version + 1 with our value only if nobody else wrote since, so in
    /// doubt the add is redone on the fresh value; callers needing exactly-once should put
    /// an id in their own records).
    pub async fn add(&self, delta: i64) -> Result<i64> {
        self.ensure().await?;
        loop {
            let (d, st) = retry_loss(|| self.zk.get_data(&self.path)).await?;
            let next = parse(&self.path, &d)?
                .checked_add(delta)
                .ok_or_else(|| ClientError::Recipe(format!("counter {} overflows", self.path)))?;
            match self
                .zk
                .set_data(&self.path, next.to_string().as_bytes(), st.version)
                .await
            {
                Ok(_) => return Ok(next),
                Err(ClientError::Keeper(ErrorCode::BadVersion)) => {}
                Err(e) if e.is_retryable() => {
                    pause_after(&e).await;
                    let (d2, st2) = retry_loss(|| self.zk.get_data(&self.path)).await?;
                    if st2.version == st.version + 1 && parse(&self.path, &d2)? == next {
                        return Ok(next);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

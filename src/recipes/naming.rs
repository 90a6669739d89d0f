//! Naming service: unique, ordered names from persistent sequential nodes. Each request
//! tags its node with a GUID so a create whose reply was lost is found, not repeated.

use super::{pause_after, retry_loss};
use crate::client::{CreateMode, Result, ZooKeeper};

#[derive(Debug, Clone)]
pub struct NamingService {
    zk: ZooKeeper,
    base: String,
}

impl NamingService {
    pub fn new(zk: &ZooKeeper, base: &str) -> NamingService {
        NamingService {
            zk: zk.clone(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// A new name `<prefix><10-digit sequence>`, unique under the base and larger than every
    /// name handed out before it.
    pub async fn unique_name(&self, prefix: &str) -> Result<String> {
        crate::client::session::validate_path(&format!("/{prefix}"))?;
        retry_loss(|| self.zk.ensure_path(&self.base)).await?;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        loop {
            match self
                .zk
                .create(
                    &format!("{}/{prefix}", self.base),
                    tag.as_bytes(),
                    super::open_acl(),
                    CreateMode::PersistentSequential,
                )
                .await
            {
                Ok(p) => return Ok(p[self.base.len() + 1..].to_string()),
                Err(e) if e.is_retryable() => {
                    pause_after(&e).await;
                    if let Some(n) = self.find(prefix, &tag).await? {
                        return Ok(n);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find(&self, prefix: &str, tag: &str) -> Result<Option<String>> {
        let children = retry_loss(|| self.zk.get_children(&self.base)).await?;
        for c in children.into_iter().filter(|c| c.starts_with(prefix)) {
            let child = format!("{}/{c}", self.base);
            let (d, _) = retry_loss(|| self.zk.get_data(&child)).await?;
            if d == tag.as_bytes() {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

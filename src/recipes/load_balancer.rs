//! Soft load balancing (ZooKeeper overview): servers announce themselves with ephemeral
//! nodes `<base>/<server>` whose data counts the work sent to them; a client picks the live
//! server with the fewest recorded accesses and records its pick with a versioned setData,
//! so concurrent clients spread out instead of racing for the same one.

use super::registry::{ServiceInstance, ServiceRegistry};
use super::{pause_after, retry_loss};
use crate::client::{ClientError, Result, ZooKeeper};
use crate::proto::ErrorCode;

#[derive(Debug, Clone)]
pub struct LoadBalancer {
    zk: ZooKeeper,
    base: String,
}

impl LoadBalancer {
    /// Servers live under `<base>/servers`.
    pub fn new(zk: &ZooKeeper, base: &str) -> LoadBalancer {
        LoadBalancer {
            zk: zk.clone(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn dir(&self) -> String {
        format!("{}/servers", self.base)
    }

    /// A server joins with zero accesses.
    pub async fn join(&self, server: &str) -> Result<ServiceInstance> {
        ServiceRegistry::new(&self.zk, &self.base)
            .register("servers", server, b"0")
            .await
    }

    /// Picks the least-used live server and counts the access. `None` when none is live.
    pub async fn pick(&self) -> Result<Option<String>> {
        let dir = self.dir();
        loop {
            let mut names = match retry_loss(|| self.zk.get_children(&dir)).await {
                Ok(n) => n,
                Err(ClientError::Keeper(ErrorCode::NoNode)) => return Ok(None),
                Err(e) => return Err(e),
            };
            names.sort();
            let mut best: Option<(u64, String, i32)> = None;
            for n in names {
                let child = format!("{dir}/{n}");
                let (d, st) = match retry_loss(|| self.zk.get_data(&child)).await {
                    Ok(v) => v,
                    Err(ClientError::Keeper(ErrorCode::NoNode)) => continue,
                    Err(e) => return Err(e),
                };
                let count = std::str::from_utf8(&d)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                if best.as_ref().is_none_or(|(c, _, _)| count < *c) {
                    best = Some((count, n, st.version));
                }
            }
            let Some((count, name, version)) = best else {
                return Ok(None);
            };
            let path = format!("{dir}/{name}");
            match self
                .zk
                .set_data(&path, (count + 1).to_string().as_bytes(), version)
                .await
            {
                Ok(_) => return Ok(Some(name)),
                // Someone else picked it meanwhile (or it left): look again.
                Err(ClientError::Keeper(ErrorCode::BadVersion | ErrorCode::NoNode)) => {}
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// (server, accesses) of the live servers, sorted by name.
    pub async fn loads(&self) -> Result<Vec<(String, u64)>> {
        let members = ServiceRegistry::new(&self.zk, &self.base)
            .discover("servers")
            .await?;
        Ok(members
            .into_iter()
            .map(|(n, d)| {
                let c = std::str::from_utf8(&d)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                (n, c)
            })
            .collect())
    }
}

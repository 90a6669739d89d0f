//! Service registry and discovery (cluster membership): an instance announces itself with
//! an ephemeral node `<base>/<service>/<instance>` holding its address; clients list the
//! children and watch them to see instances come and go (or vanish with their session).

use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, Result, ZooKeeper};
use crate::proto::ErrorCode;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct ServiceRegistry {
    zk: ZooKeeper,
    base: String,
}

/// A registered instance; `unregister` (or the session's end) removes it.
#[derive(Debug)]
pub struct ServiceInstance {
    zk: ZooKeeper,
    pub path: String,
}

impl ServiceInstance {
    pub async fn unregister(self) -> Result<()> {
        match retry_loss(|| self.zk.delete(&self.path, -1)).await {
            Ok(()) | Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Instances of a service: (instance name, data), sorted by name.
pub type Members = Vec<(String, Vec<u8>)>;

impl ServiceRegistry {
    pub fn new(zk: &ZooKeeper, base: &str) -> ServiceRegistry {
        ServiceRegistry {
            zk: zk.clone(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn service_path(&self, service: &str) -> String {
        format!("{}/{service}", self.base)
    }

    /// Announces `instance` of `service` with `data` (e.g. its host:port).
    pub async fn register(
        &self,
        service: &str,
        instance: &str,
        data: &[u8],
    ) -> Result<ServiceInstance> {
        let dir = self.service_path(service);
        retry_loss(|| self.zk.ensure_path(&dir)).await?;
        let path = format!("{dir}/{instance}");
        loop {
            match self
                .zk
                .create(&path, data, super::open_acl(), CreateMode::Ephemeral)
                .await
            {
                Ok(_) => break,
                Err(ClientError::Keeper(ErrorCode::NodeExists)) => {
                    // Ours after a lost reply, or a live duplicate: the owner decides.
                    let st = retry_loss(|| self.zk.exists(&path)).await?;
                    match st {
                        Some(st) if st.ephemeral_owner == self.zk.session_id() => break,
                        Some(_) => {
                            return Err(ClientError::Recipe(format!(
                                "{path} is registered by another session"
                            )))
                        }
                        None => continue,
                    }
                }
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
        Ok(ServiceInstance {
            zk: self.zk.clone(),
            path,
        })
    }

    /// The instances now.
    pub async fn discover(&self, service: &str) -> Result<Members> {
        Ok(self.list(service, false).await?.0)
    }

    async fn list(
        &self,
        service: &str,
        watch: bool,
    ) -> Result<(Members, Option<crate::client::Watch>)> {
        let dir = self.service_path(service);
        let (mut names, w) = if watch {
            retry_loss(|| self.zk.ensure_path(&dir)).await?;
            let (n, w) = self.zk.get_children_watch(&dir).await?;
            (n, Some(w))
        } else {
            match self.zk.get_children(&dir).await {
                Ok(n) => (n, None),
                Err(ClientError::Keeper(ErrorCode::NoNode)) => return Ok((Vec::new(), None)),
                Err(e) => return Err(e),
            }
        };
        names.sort();
        let mut out = Vec::new();
        for n in names {
            match self.zk.get_data(&format!("{dir}/{n}")).await {
                Ok((d, _)) => out.push((n, d)),
                Err(ClientError::Keeper(ErrorCode::NoNode)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((out, w))
    }

    /// A live view of the instances, refreshed on every membership change.
    pub async fn watch(&self, service: &str) -> Result<watch::Receiver<Members>> {
        let (first, w) = self.list(service, true).await?;
        let (tx, rx) = watch::channel(first);
        let (me, service) = (self.clone(), service.to_string());
        let mut wait = w.expect("watch requested");
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = &mut wait => if r.is_err() { return },
                    _ = tx.closed() => return,
                }
                loop {
                    match me.list(&service, true).await {
                        Ok((m, w)) => {
                            tx.send_replace(m);
                            wait = w.expect("watch requested");
                            break;
                        }
                        Err(e) if e.is_retryable() => pause_after(&e).await,
                        Err(_) => return,
                    }
                }
            }
        });
        Ok(rx)
    }
}

//! A counting semaphore, laid out as kazoo's `Semaphore` so both interoperate: the
//! semaphore node holds `max_leases` as text, a lease is an ephemeral child named by a
//! uuid4 hex, and the kazoo lock at `<path>-__lock__` serialises lease taking, so only the
//! one contender holding it watches the lease list (no herd).

use super::lock::{session_error, Lock, LockGuard};
use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, Result, ZooKeeper};
use crate::proto::ErrorCode;

#[derive(Debug, Clone)]
pub struct Semaphore {
    zk: ZooKeeper,
    path: String,
    data: Vec<u8>,
    max_leases: u32,
}

impl Semaphore {
    pub fn new(zk: &ZooKeeper, path: &str, identifier: &str, max_leases: u32) -> Semaphore {
        Semaphore {
            zk: zk.clone(),
            path: path.trim_end_matches('/').to_string(),
            data: identifier.as_bytes().to_vec(),
            max_leases,
        }
    }

    /// Records `max_leases` on a new semaphore node, or checks it against an existing one.
    async fn ensure(&self) -> Result<()> {
        let want = self.max_leases.to_string();
        let parent = parent_of(&self.path);
        if parent != "/" {
            retry_loss(|| self.zk.ensure_path(parent)).await?;
        }
        let created = retry_loss(|| {
            self.zk.create(
                &self.path,
                want.as_bytes(),
                super::open_acl(),
                CreateMode::Persistent,
            )
        })
        .await;
        match created {
            Ok(_) => Ok(()),
            Err(ClientError::Keeper(ErrorCode::NodeExists)) => {
                let (d, _) = retry_loss(|| self.zk.get_data(&self.path)).await?;
                match std::str::from_utf8(&d)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    Some(n) if n != self.max_leases => Err(ClientError::Recipe(format!(
                        "semaphore {}: inconsistent max leases {n}, expected {}",
                        self.path, self.max_leases
                    ))),
                    Some(_) => Ok(()),
                    None => retry_loss(|| self.zk.set_data(&self.path, want.as_bytes(), -1))
                        .await
                        .map(|_| ()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Waits for a lease. The returned guard's `is_held` turns false if the session ends.
    pub async fn acquire(&self) -> Result<LockGuard> {
        self.ensure().await?;
        let lease = format!("{}/{}", self.path, uuid::Uuid::new_v4().simple());
        let lock = Lock::new(&self.zk, &format!("{}-__lock__", self.path), "");
        let held = lock.acquire().await?;
        let r = self.take_lease(&lease).await;
        held.release().await?;
        if r.is_err() {
            let _ = self.zk.delete(&lease, -1).await;
        }
        r.map(|()| LockGuard::new(&self.zk, lease))
    }

    async fn take_lease(&self, lease: &str) -> Result<()> {
        let ended = self.zk.session_ended();
        tokio::pin!(ended);
        loop {
            let attempt = async {
                let (children, changed) = self.zk.get_children_watch(&self.path).await?;
                if children.len() < self.max_leases as usize {
                    match self
                        .zk
                        .create(lease, &self.data, super::open_acl(), CreateMode::Ephemeral)
                        .await
                    {
                        // Exists: our create went through before a lost reply.
                        Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok((self.zk.exists(lease).await?.is_some(), changed))
            };
            match attempt.await {
                Ok((true, _)) => return Ok(()),
                Ok((false, changed)) => tokio::select! {
                    _ = changed => {}
                    s = &mut ended => return Err(session_error(s)),
                },
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Identifiers of the current lease holders (unordered).
    pub async fn lease_holders(&self) -> Result<Vec<String>> {
        let children = match self.zk.get_children(&self.path).await {
            Ok(c) => c,
            Err(ClientError::Keeper(ErrorCode::NoNode)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for c in children {
            match self.zk.get_data(&format!("{}/{c}", self.path)).await {
                Ok((d, _)) => out.push(String::from_utf8_lossy(&d).into_owned()),
                Err(ClientError::Keeper(ErrorCode::NoNode)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

pub(crate) fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

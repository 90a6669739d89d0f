//! The fair lock (and, with `LockKind`, kazoo's read/write locks): each contender creates an
//! ephemeral sequential child and waits only for its predecessor to go (no herd effect).
//! Node names and order follow kazoo (`contenders`), so kazoo's `Lock`, `ReadLock` and
//! `WriteLock` on the same path exclude ours.
//!
//! ```no_run
//! use ringkeeper::client::ZooKeeper;
//! use ringkeeper::recipes::Lock;
//! use std::time::Duration;
//! # async fn demo() -> ringkeeper::client::Result<()> {
//! let zk = ZooKeeper::connect("127.0.0.1:2181", Duration::from_secs(10)).await?;
//! let guard = Lock::new(&zk, "/locks/report", "worker-1").acquire().await?;
//! // ... critical section; stop if `guard.is_held()` turns false (session expired) ...
//! guard.release().await?;
//! # Ok(()) }
//! ```

use super::contenders::{new_prefix, position, sorted_contenders, LockKind, Position};
use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, EventType, Result, SessionState, ZooKeeper};
use crate::proto::ErrorCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A lock contender on `path`. One `Lock` value acquires once at a time.
#[derive(Debug, Clone)]
pub struct Lock {
    zk: ZooKeeper,
    path: String,
    data: Vec<u8>,
    kind: LockKind,
}

impl Lock {
    /// kazoo `Lock(path, identifier)`: exclusive, fair.
    pub fn new(zk: &ZooKeeper, path: &str, identifier: &str) -> Lock {
        Lock::with_kind(zk, path, identifier, LockKind::Exclusive)
    }

    /// kazoo `ReadLock`: shared with other readers, excluded by writers ahead of it.
    pub fn read(zk: &ZooKeeper, path: &str, identifier: &str) -> Lock {
        Lock::with_kind(zk, path, identifier, LockKind::Read)
    }

    /// kazoo `WriteLock`: excluded by every reader and writer ahead of it.
    pub fn write(zk: &ZooKeeper, path: &str, identifier: &str) -> Lock {
        Lock::with_kind(zk, path, identifier, LockKind::Write)
    }

    pub fn with_kind(zk: &ZooKeeper, path: &str, identifier: &str, kind: LockKind) -> Lock {
        Lock {
            zk: zk.clone(),
            path: path.trim_end_matches('/').to_string(),
            data: identifier.as_bytes().to_vec(),
            kind,
        }
    }

    /// Waits until the lock is ours.
    pub async fn acquire(&self) -> Result<LockGuard> {
        self.acquire_inner(true, None)
            .await
            .map(|g| g.expect("blocking acquire"))
    }

    /// Gives up (removing our node) after `timeout`: `Ok(None)`.
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<Option<LockGuard>> {
        self.acquire_inner(true, Some(timeout)).await
    }

    /// Takes the lock only if nobody holds or waits for it ahead of us.
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        self.acquire_inner(false, None).await
    }

    async fn acquire_inner(
        &self,
        blocking: bool,
        timeout: Option<Duration>,
    ) -> Result<Option<LockGuard>> {
        let prefix = new_prefix(self.kind);
        let mut node: Option<String> = None;
        let work = self.contend(&prefix, &mut node, blocking);
        let r = match timeout {
            Some(t) => tokio::time::timeout(t, work).await.unwrap_or(Ok(false)),
            None => work.await,
        };
        match r {
            Ok(true) => {
                let name = node.expect("acquired with a node");
                Ok(Some(LockGuard::new(
                    &self.zk,
                    format!("{}/{name}", self.path),
                )))
            }
            Ok(false) => {
                self.cleanup(&prefix, node).await;
                Ok(None)
            }
            Err(e) => {
                self.cleanup(&prefix, node).await;
                Err(e)
            }
        }
    }

    /// The contention loop; `node` always holds our child's name once known, so the caller
    /// can clean up whatever happens.
    async fn contend(
        &self,
        prefix: &str,
        node: &mut Option<String>,
        blocking: bool,
    ) -> Result<bool> {
        let zk = &self.zk;
        let mut create_tried = false;
        let ended = zk.session_ended();
        tokio::pin!(ended);
        loop {
            let step = async {
                if node.is_none() {
                    if create_tried {
                        *node = self.find_node(prefix).await?;
                    }
                    if node.is_none() {
                        create_tried = true;
                        let p = self.create_node(prefix).await?;
                        *node = Some(p[self.path.len() + 1..].to_string());
                    }
                }
                let me = node.clone().expect("node set above");
                let children = zk.get_children(&self.path).await?;
                Ok::<_, ClientError>(position(&children, &me, prefix, self.kind))
            };
            let pos = match step.await {
                Ok(p) => p,
                Err(e) if e.is_retryable() => {
                    pause_after(&e).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match pos {
                Position::Acquired => return Ok(true),
                Position::Missing => *node = None,
                Position::WaitFor(_) if !blocking => return Ok(false),
                Position::WaitFor(pred) => {
                    let pred = format!("{}/{pred}", self.path);
                    // getData, not exists (Curator's choice): on a predecessor already gone
                    // it fails with NoNode and leaves no watch behind, where exists would
                    // leave one on a name nobody will create again.
                    match zk.get_data_watch(&pred).await {
                        Err(ClientError::Keeper(ErrorCode::NoNode)) => {}
                        Ok((_, _, gone)) => {
                            tokio::select! {
                                _ = gone => {}
                                s = &mut ended => return Err(session_error(s)),
                            }
                        }
                        Err(e) if e.is_retryable() => pause_after(&e).await,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Curator's order: the create goes first and the lock's parents are made only when it
    /// finds them missing, so acquiring an existing lock costs no `exists` round trip.
    async fn create_node(&self, prefix: &str) -> Result<String> {
        let path = format!("{}/{prefix}", self.path);
        let create = || {
            self.zk.create(
                &path,
                &self.data,
                super::open_acl(),
                CreateMode::EphemeralSequential,
            )
        };
        match create().await {
            Err(ClientError::Keeper(ErrorCode::NoNode)) => {
                retry_loss(|| self.zk.ensure_path(&self.path)).await?;
                create().await
            }
            r => r,
        }
    }

    async fn find_node(&self, prefix: &str) -> Result<Option<String>> {
        let children = match self.zk.get_children(&self.path).await {
            Ok(c) => c,
            // A lost create whose parent was missing made nothing.
            Err(ClientError::Keeper(ErrorCode::NoNode)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(children.into_iter().find(|c| c.starts_with(prefix)))
    }

    /// Best effort: a node we may have created is removed (the session's end removes it
    /// anyway if this fails).
    async fn cleanup(&self, prefix: &str, node: Option<String>) {
        let node = match node {
            Some(n) => Some(n),
            None => self.find_node(prefix).await.ok().flatten(),
        };
        if let Some(n) = node {
            let _ = self.zk.delete(&format!("{}/{n}", self.path), -1).await;
        }
    }

    /// Identifiers (node data) of the contenders, lock holder first.
    pub async fn contenders(&self) -> Result<Vec<String>> {
        let children = match self.zk.get_children(&self.path).await {
            Ok(c) => c,
            Err(ClientError::Keeper(ErrorCode::NoNode)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for c in sorted_contenders(&children, self.kind) {
            match self.zk.get_data(&format!("{}/{c}", self.path)).await {
                Ok((d, _)) => out.push(String::from_utf8_lossy(&d).into_owned()),
                Err(ClientError::Keeper(ErrorCode::NoNode)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

pub(super) fn session_error(s: SessionState) -> ClientError {
    match s {
        SessionState::Closed => ClientError::Closed,
        SessionState::AuthFailed => ClientError::Keeper(ErrorCode::AuthFailed),
        _ => ClientError::SessionExpired,
    }
}

/// Proof of holding a lock (or lease, or leadership) through one ephemeral node. The hold
/// ends when the node goes: released, deleted by someone else, or with the session.
#[derive(Debug)]
pub struct LockGuard {
    zk: ZooKeeper,
    node: String,
    held: Arc<AtomicBool>,
    lost: tokio::sync::watch::Receiver<bool>,
}

impl LockGuard {
    pub(super) fn new(zk: &ZooKeeper, node: String) -> LockGuard {
        let held = Arc::new(AtomicBool::new(true));
        let (tx, lost) = tokio::sync::watch::channel(false);
        let (zk2, node2, h) = (zk.clone(), node.clone(), held.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = node_gone(&zk2, &node2) => {}
                _ = tx.closed() => return,
            }
            h.store(false, Ordering::SeqCst);
            let _ = tx.send(true);
        });
        LockGuard {
            zk: zk.clone(),
            node,
            held,
            lost,
        }
    }

    /// The full path of our node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// False once the hold is known to be lost (session expired, node deleted). During a
    /// disconnection it stays true: the session, and so the node, may still be alive.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// Resolves when the hold is lost.
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// Deletes our node (retrying on connection loss). A node already gone is fine.
    pub async fn release(self) -> Result<()> {
        self.held.store(false, Ordering::SeqCst);
        match retry_loss(|| self.zk.delete(&self.node, -1)).await {
            Ok(()) | Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(()),
            Err(ClientError::SessionExpired | ClientError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Resolves when `node` no longer exists or the session has ended. Watches with getData, so
/// no watch is left on the server once the node is gone (an exists watch on a missing
/// sequential name would stay until the session ends: one per acquire).
async fn node_gone(zk: &ZooKeeper, node: &str) {
    let ended = zk.session_ended();
    tokio::pin!(ended);
    loop {
        match zk.get_data_watch(node).await {
            Err(ClientError::Keeper(ErrorCode::NoNode)) => return,
            Ok((_, _, w)) => {
                tokio::select! {
                    ev = w => {
                        if matches!(ev, Ok(e) if e.kind == EventType::NodeDeleted) {
                            return;
                        }
                    }
                    _ = &mut ended => return,
                }
            }
            Err(e) if e.is_retryable() => {
                tokio::select! {
                    _ = pause_after(&e) => {}
                    _ = &mut ended => return,
                }
            }
            Err(_) => return,
        }
    }
}

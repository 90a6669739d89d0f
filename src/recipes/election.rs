//! Leader election, as kazoo's `Election`: contenders queue on a kazoo-compatible lock at
//! the election path (`<uuid>__lock__<seq>`, identifier as data); the lock holder leads.
//! Leadership ends on `resign`, or when the session expires (`Leadership::lost`).

use super::lock::{Lock, LockGuard};
use crate::client::{Result, ZooKeeper};

#[derive(Debug, Clone)]
pub struct Election {
    lock: Lock,
}

impl Election {
    pub fn new(zk: &ZooKeeper, path: &str, identifier: &str) -> Election {
        Election {
            lock: Lock::new(zk, path, identifier),
        }
    }

    /// Waits until elected.
    pub async fn campaign(&self) -> Result<Leadership> {
        Ok(Leadership {
            guard: self.lock.acquire().await?,
        })
    }

    /// Identifiers of the contenders, current leader first.
    pub async fn contenders(&self) -> Result<Vec<String>> {
        self.lock.contenders().await
    }

    /// The current leader's identifier, if anyone leads.
    pub async fn leader(&self) -> Result<Option<String>> {
        Ok(self.contenders().await?.into_iter().next())
    }
}

/// Being the leader.
#[derive(Debug)]
pub struct Leadership {
    guard: LockGuard,
}

impl Leadership {
    /// False once leadership is known lost (session expired, node removed).
    pub fn is_leader(&self) -> bool {
        self.guard.is_held()
    }

    /// Resolves when leadership is lost; a leader should stop leading at once.
    pub async fn lost(&self) {
        self.guard.lost().await
    }

    /// Steps down so the next contender is elected.
    pub async fn resign(self) -> Result<()> {
        self.guard.release().await
    }
}

//! Coordination recipes on `ZooKeeper` sessions, one module each.
//!
//! Every recipe survives connection loss (calls are retried while the session lives; nodes
//! whose create reply was lost are found again by a per-contender GUID prefix) and reports
//! session expiry (a holder's `LockGuard::is_held` turns false, waits fail with
//! `SessionExpired`). Waiters watch one node each, never the whole parent, where the recipe
//! has waiters in line. Lock, read/write lock, semaphore and election use kazoo 2.11's node
//! names and ordering, so Python and Rust participants exclude each other.

pub mod barrier;
pub mod config_watch;
pub mod contenders;
pub mod counter;
pub mod double_barrier;
pub mod election;
pub mod exclusive_lock;
pub mod load_balancer;
pub mod lock;
pub mod naming;
pub mod queue;
pub mod registry;
pub mod semaphore;

pub use barrier::NMemberBarrier;
pub use config_watch::ConfigWatch;
pub use counter::Counter;
pub use double_barrier::DoubleBarrier;
pub use election::{Election, Leadership};
pub use exclusive_lock::ExclusiveLock;
pub use load_balancer::LoadBalancer;
pub use lock::{Lock, LockGuard};
pub use naming::NamingService;
pub use queue::FifoQueue;
pub use registry::{ServiceInstance, ServiceRegistry};
pub use semaphore::Semaphore;

use crate::client::{ClientError, Result};
use std::future::Future;
use std::time::Duration;

/// Retries `f` for as long as it fails with connection loss; the session's own timeout
/// bounds this (an expired session is not retryable).
pub(crate) async fn retry_loss<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    loop {
        match f().await {
            Err(e) if e.is_retryable() => pause_after(&e).await,
            other => return other,
        }
    }
}

/// A short pause before retrying, so a reconnecting session is not spun on.
pub(crate) async fn pause_after(e: &ClientError) {
    tracing::debug!("recipe retrying after {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// OPEN_ACL_UNSAFE, as kazoo's recipes use by default.
pub(crate) fn open_acl() -> &'static [crate::client::Acl] {
    static OPEN: std::sync::OnceLock<Vec<crate::client::Acl>> = std::sync::OnceLock::new();
    OPEN.get_or_init(crate::client::acl::open_unsafe)
}

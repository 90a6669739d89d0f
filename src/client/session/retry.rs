//! Retry policies for operations that failed on connection loss (Curator's
//! `ExponentialBackoffRetry` rule: sleep `base * random(1..2^(n+1))`, capped).

use crate::rng::Rng;
use std::time::Duration;

/// How often and how long to wait before retrying an operation that failed with a
/// retryable error (`ClientError::is_retryable`).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    base: Duration,
    max_retries: u32,
    max_sleep: Duration,
}

impl RetryPolicy {
    /// Up to `max_retries` retries, the n-th after `base * random(1..2^(n+1))`, at most
    /// 10 s (override with `with_max_sleep`).
    pub fn exponential(base: Duration, max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            base,
            max_retries,
            max_sleep: Duration::from_secs(10),
        }
    }

    /// Never retry.
    pub fn none() -> RetryPolicy {
        RetryPolicy::exponential(Duration::ZERO, 0)
    }

    pub fn with_max_sleep(mut self, max_sleep: Duration) -> RetryPolicy {
        self.max_sleep = max_sleep;
        self
    }

    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The pause before retry number `attempt` (0-based), or `None` when retries are spent.
    pub fn sleep_before(&self, attempt: u32, rng: &mut Rng) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        let span = 1u64 << (attempt + 1).min(30);
        let factor = 1 + rng.below(span - 1);
        Some(self.base.saturating_mul(factor as u32).min(self.max_sleep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_grow_within_bounds_and_stop() {
        let p = RetryPolicy::exponential(Duration::from_millis(10), 5)
            .with_max_sleep(Duration::from_millis(200));
        let mut rng = Rng::new(7);
        for attempt in 0..5 {
            let s = p.sleep_before(attempt, &mut rng).unwrap();
            let most = Duration::from_millis(10 * (1 << (attempt + 1))).min(p.max_sleep);
            assert!(
                s >= Duration::from_millis(10) && s <= most,
                "{attempt}: {s:?}"
            );
        }
        assert_eq!(p.sleep_before(5, &mut rng), None);
        assert_eq!(RetryPolicy::none().sleep_before(0, &mut rng), None);
    }
}

//! When a failed call is sent again, and how long the client waits first.
//!
//! The rule (fly.md §2.7: Fly has no idempotency keys, only GETs are blindly safe):
//! * a request that never reached Fly (connection refused) or that Fly refused with 429 did
//!   nothing, so any call may go again;
//! * a timeout, 408 or 5xx may have taken effect, so only idempotent calls
//!   ([`Endpoint::is_idempotent`]) go again; a create returns the error, which
//!   [`FlyError::is_ambiguous`] flags, and the caller looks for the resource first.
//!
//! Delays are exponential with full jitter (a random delay between zero and the exponential
//! cap), so many clients retrying after the same incident spread out instead of hitting Fly in
//! waves. A 429's `Retry-After` is a floor.

use std::time::Duration;

use rand::Rng;

use crate::error::{Endpoint, FlyError, FlyErrorKind};

/// The longest `Retry-After` waited for inside one call. Beyond it the caller gets
/// [`FlyErrorKind::RateLimited`] and decides (a reconciler would rather move on to other work
/// than hold a task for minutes).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often and how patiently failed calls are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = never retry).
    pub max_attempts: u32,
    /// The cap of the first retry's delay; doubles on every retry.
    pub base_backoff: Duration,
    /// The largest cap a delay can reach.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, delays capped at 200 ms, 400 ms, 800 ms, 1.6 s: a short incident is ridden
    /// out within a few seconds, in the spirit of flyctl's 100–500 ms steps.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before attempt `attempt + 1` after `error` on attempt `attempt` (1-based), or
    /// `None` when the call must not (or need not) be repeated.
    pub(crate) fn next_delay(
        &self,
        endpoint: Endpoint,
        attempt: u32,
        error: &FlyError,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let jittered = self.jittered(attempt);
        match &error.kind {
            FlyErrorKind::RateLimited { retry_after } => {
                // Without Retry-After, wait at least one replenish interval of Fly's 1/s limit
                // so the retry does not land in the same exhausted bucket.
                let floor = retry_after.unwrap_or(Duration::from_secs(1));
                (floor <= MAX_RETRY_AFTER).then(|| floor.max(jittered))
            }
            FlyErrorKind::Transient if error.not_sent || endpoint.is_idempotent() => Some(jittered),
            _ => None,
        }
    }

    fn jittered(&self, attempt: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(endpoint: Endpoint, status: u16, retry_after: Option<Duration>) -> FlyError {
        FlyError::from_response(endpoint, status, None, retry_after, b"{}")
    }

    #[test]
    fn transient_failures_are_retried_on_idempotent_calls_only() {
        let policy = RetryPolicy::default();
        let get = error(Endpoint::MachineGet, 503, None);
        assert!(policy.next_delay(Endpoint::MachineGet, 1, &get).is_some());
        let stop = error(Endpoint::MachineStop, 500, None);
        assert!(policy.next_delay(Endpoint::MachineStop, 1, &stop).is_some());
        let create = error(Endpoint::MachineCreate, 500, None);
        assert_eq!(policy.next_delay(Endpoint::MachineCreate, 1, &create), None);
    }

    #[test]
    fn a_429_is_retried_even_on_a_create_and_honours_retry_after() {
        let policy = RetryPolicy::default();
        let limited = error(Endpoint::AppCreate, 429, Some(Duration::from_secs(7)));
        let delay = policy.next_delay(Endpoint::AppCreate, 1, &limited).unwrap();
        assert!(delay >= Duration::from_secs(7));
    }

    #[test]
    fn a_retry_after_beyond_a_minute_is_left_to_the_caller() {
        let policy = RetryPolicy::default();
        let limited = error(Endpoint::MachineGet, 429, Some(Duration::from_secs(3600)));
        assert_eq!(policy.next_delay(Endpoint::MachineGet, 1, &limited), None);
    }

    #[test]
    fn permanent_errors_and_the_last_attempt_stop_retrying() {
        let policy = RetryPolicy::default();
        let invalid = error(Endpoint::MachineGet, 400, None);
        assert_eq!(policy.next_delay(Endpoint::MachineGet, 1, &invalid), None);
        let get = error(Endpoint::MachineGet, 503, None);
        assert_eq!(policy.next_delay(Endpoint::MachineGet, 5, &get), None);
    }

    #[test]
    fn delays_stay_under_the_exponential_cap() {
        let policy = RetryPolicy::default();
        for attempt in 1..=10 {
            let cap = policy
                .base_backoff
                .saturating_mul(1 << (attempt - 1))
                .min(policy.max_backoff);
            assert!(policy.jittered(attempt) <= cap);
        }
    }
}

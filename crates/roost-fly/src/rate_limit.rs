//! Client-side pacing that matches Fly's published Machines API rate limits (fly.md §2.7).
//!
//! Fly allows **1 request/s per action with bursts up to 3**, **5/s with bursts up to 10 for
//! get Machine**, and **100 app deletions per minute**, and answers 429 beyond that. A rollout
//! over thousands of Machines that fires as fast as it can collects 429s and backs off
//! erratically; waiting for a token from a per-action GCRA bucket (`governor`) before each
//! request paces it evenly instead.
//!
//! Fly scopes its limits "per identifier" (the Machine or the app, depending on the action). We
//! key by action only, which is at least as strict as any per-identifier scheme: one client
//! never exceeds Fly's limit whatever it targets, at the price of pacing calls to different
//! apps that Fly would have let through together.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, RateLimiter};

use crate::error::Endpoint;

/// One bucket: a request may go every `replenish_every`, and up to `burst` at once after a
/// quiet period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The steady interval between requests (1 s for "1 request/s").
    pub replenish_every: Duration,
    /// How many requests may go back to back after the bucket refilled (at least 1).
    pub burst: u32,
}

impl Quota {
    /// `per_second` requests per second on average, bursts of up to `burst`.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        Self {
            replenish_every: Duration::from_secs(1) / per_second.max(1),
            burst: burst.max(1),
        }
    }

    /// `per_minute` requests per minute, with a burst of the same size (Fly states the app
    /// deletion limit per minute only).
    pub fn per_minute(per_minute: u32) -> Self {
        Self {
            replenish_every: Duration::from_secs(60) / per_minute.max(1),
            burst: per_minute.max(1),
        }
    }

    fn to_governor(self) -> governor::Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        governor::Quota::with_period(self.replenish_every.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// Per-action request quotas. [`Default`] is Fly's published limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Every action without a quota of its own: 1/s, bursts of 3.
    pub per_action: Quota,
    /// Get Machine: 5/s, bursts of 10.
    pub get_machine: Quota,
    /// App deletion: 100 per minute.
    pub delete_app: Quota,
    /// `false` turns pacing off (tests against a local platform without limits). Fly's 429s are
    /// still retried.
    pub enabled: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_action: Quota::per_second(1, 3),
            get_machine: Quota::per_second(5, 10),
            delete_app: Quota::per_minute(100),
            enabled: true,
        }
    }
}

impl RateLimits {
    /// No client-side pacing at all.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// The buckets, one keyed limiter per quota so each action has its own bucket.
#[derive(Clone)]
pub(crate) struct Limiter {
    buckets: Option<Arc<Buckets>>,
}

struct Buckets {
    per_action: DefaultKeyedRateLimiter<Endpoint>,
    get_machine: DefaultKeyedRateLimiter<Endpoint>,
    delete_app: DefaultKeyedRateLimiter<Endpoint>,
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        let buckets = limits.enabled.then(|| {
            Arc::new(Buckets {
                per_action: RateLimiter::keyed(limits.per_action.to_governor()),
                get_machine: RateLimiter::keyed(limits.get_machine.to_governor()),
                delete_app: RateLimiter::keyed(limits.delete_app.to_governor()),
            })
        });
        Self { buckets }
    }

    /// Waits until `endpoint` may send one request.
    pub(crate) async fn until_ready(&self, endpoint: Endpoint) {
        let Some(buckets) = &self.buckets else {
            return;
        };
        let bucket = match endpoint {
            Endpoint::MachineGet => &buckets.get_machine,
            Endpoint::AppDelete => &buckets.delete_app,
            _ => &buckets.per_action,
        };
        bucket.until_key_ready(&endpoint).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_flys_published_limits() {
        let limits = RateLimits::default();
        assert_eq!(limits.per_action.replenish_every, Duration::from_secs(1));
        assert_eq!(limits.per_action.burst, 3);
        assert_eq!(
            limits.get_machine.replenish_every,
            Duration::from_millis(200)
        );
        assert_eq!(limits.get_machine.burst, 10);
        assert_eq!(
            limits.delete_app.replenish_every,
            Duration::from_millis(600)
        );
    }

    #[test]
    fn a_full_bucket_admits_exactly_the_burst() {
        let limiter = Limiter::new(&RateLimits::default());
        let buckets = limiter.buckets.as_ref().unwrap();
        let admitted = (0..10)
            .filter(|_| {
                buckets
                    .per_action
                    .check_key(&Endpoint::MachineCreate)
                    .is_ok()
            })
            .count();
        assert_eq!(admitted, 3);
        // Another action has its own bucket.
        assert!(
            buckets
                .per_action
                .check_key(&Endpoint::MachineStart)
                .is_ok()
        );
    }
}

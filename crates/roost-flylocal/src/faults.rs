//! Fault injection for the Machines API and for machine starts, so client code can be tested
//! against the failures Fly really produces (fly.md §2.7): plain 5xx that changed nothing,
//! *ambiguous* failures where the action happened but the client saw a 500 or a timeout,
//! forced 429s, added latency, and machines that fail to start.
//!
//! Every random decision comes from one RNG seeded with [`Faults::seed`], so a test that sets
//! the same faults and sends the same calls sees the same failures.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

/// The fault settings in force. Serialized as-is by `GET`/`PUT /flylocal/v1/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Seed of the RNG behind every rate below; setting faults re-seeds it.
    pub seed: u64,
    /// Added to every Machines API call before it is handled.
    pub latency_ms: u64,
    /// How long an injected timeout holds the response (the action has already happened).
    pub hang_ms: u64,
    /// Per action (see `docs/flylocal.md` for the names, e.g. `machine_create`), or `*` for all.
    pub endpoints: BTreeMap<String, EndpointFaults>,
    /// Image name → how machines running it fail to start.
    pub start_failures: BTreeMap<String, StartFailure>,
}

/// Failure rates for one action; each is a probability in `0.0..=1.0`, checked in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointFaults {
    /// Answer 429 without doing anything.
    pub throttle_rate: f64,
    /// Answer 500 without doing anything.
    pub error_rate: f64,
    /// Do the action, then answer 500 instead of its result.
    pub ambiguous_rate: f64,
    /// Do the action, then hold the response for `hang_ms` and answer 504.
    pub timeout_rate: f64,
}

/// How a machine fails to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StartFailure {
    /// The launch itself fails (as if the image could not be pulled): state `failed`.
    LaunchFailed,
    /// The process starts and exits at once with this code; the restart policy applies.
    Exit {
        /// The exit code.
        code: i32,
    },
}

/// What the API middleware must do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Proceed,
    Throttle,
    Fail,
    Ambiguous,
    Hang(Duration),
}

/// The live fault settings and their RNG.
#[derive(Debug)]
pub(crate) struct FaultState {
    inner: Mutex<(Faults, StdRng)>,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> Self {
        let rng = StdRng::seed_from_u64(faults.seed);
        Self {
            inner: Mutex::new((faults, rng)),
        }
    }

    pub(crate) fn get(&self) -> Faults {
        self.lock().0.clone()
    }

    pub(crate) fn set(&self, faults: Faults) {
        let rng = StdRng::seed_from_u64(faults.seed);
        *self.lock() = (faults, rng);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.lock().0.latency_ms)
    }

    pub(crate) fn start_failure(&self, image: &str) -> Option<StartFailure> {
        self.lock().0.start_failures.get(image).copied()
    }

    /// Draws the fate of one call to `action`.
    pub(crate) fn verdict(&self, action: &str) -> Verdict {
        let mut guard = self.lock();
        let (faults, rng) = &mut *guard;
        let Some(rates) = faults
            .endpoints
            .get(action)
            .or_else(|| faults.endpoints.get("*"))
        else {
            return Verdict::Proceed;
        };
        let rates = *rates;
        let hang = Duration::from_millis(faults.hang_ms);
        let mut hit = |rate: f64| rate > 0.0 && rng.random_bool(rate.clamp(0.0, 1.0));
        if hit(rates.throttle_rate) {
            Verdict::Throttle
        } else if hit(rates.error_rate) {
            Verdict::Fail
        } else if hit(rates.ambiguous_rate) {
            Verdict::Ambiguous
        } else if hit(rates.timeout_rate) {
            Verdict::Hang(hang)
        } else {
            Verdict::Proceed
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Faults, StdRng)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half_failing(seed: u64) -> Faults {
        let mut faults = Faults {
            seed,
            ..Faults::default()
        };
        faults.endpoints.insert(
            "machine_create".into(),
            EndpointFaults {
                error_rate: 0.5,
                ..EndpointFaults::default()
            },
        );
        faults
    }

    #[test]
    fn same_seed_gives_the_same_failures() {
        let draw = |seed| {
            let state = FaultState::new(half_failing(seed));
            (0..32)
                .map(|_| state.verdict("machine_create"))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert!(draw(7).contains(&Verdict::Fail));
        assert!(draw(7).contains(&Verdict::Proceed));
    }

    #[test]
    fn other_actions_are_untouched() {
        let state = FaultState::new(half_failing(1));
        assert!((0..32).all(|_| state.verdict("machine_get") == Verdict::Proceed));
    }
}

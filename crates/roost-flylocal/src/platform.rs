//! The shared state every part of flylocal works on: config, the store, fault settings, rate
//! limiters, the request log, and the task set that owns machine processes.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::faults::FaultState;
use crate::store::Store;

/// The request log keeps the most recent calls only, so a long `roost dev` session stays small.
const MAX_LOGGED_REQUESTS: usize = 10_000;

/// One Machines API call as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// flylocal's name for the action (`machine_create`, …; see `docs/flylocal.md`).
    pub action: String,
    /// Status answered.
    pub status: u16,
    /// When the call arrived.
    #[serde(with = "humantime_serde_compat")]
    pub at: SystemTime,
}

mod humantime_serde_compat {
    pub(super) fn serialize<S: serde::Serializer>(
        at: &std::time::SystemTime,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*at))
    }
}

/// Fly's published Machines API limits (fly.md §2.7), keyed by `action:scope`.
pub(crate) struct RateLimits {
    default: DefaultKeyedRateLimiter<String>,
    get_machine: DefaultKeyedRateLimiter<String>,
    delete_app: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimits")
    }
}

impl RateLimits {
    fn new() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            // 1 request/s per action and identifier, bursts of 3.
            default: RateLimiter::keyed(Quota::per_second(n(1)).allow_burst(n(3))),
            // Get Machine: 5/s, bursts of 10.
            get_machine: RateLimiter::keyed(Quota::per_second(n(5)).allow_burst(n(10))),
            // App deletions: 100 per minute.
            delete_app: RateLimiter::keyed(Quota::per_minute(n(100))),
        }
    }

    /// Whether one more `action` call on `scope` is within the limits.
    pub(crate) fn allow(&self, action: &str, scope: &str) -> bool {
        let key = format!("{action}:{scope}");
        let limiter = match action {
            "machine_get" => &self.get_machine,
            // Per the docs the deletion limit is org-wide, not per app.
            "app_delete" => return self.delete_app.check_key(&action.to_owned()).is_ok(),
            _ => &self.default,
        };
        limiter.check_key(&key).is_ok()
    }
}

/// The state shared by the API, the edge and the supervisor.
#[derive(Debug)]
pub(crate) struct Platform {
    pub config: Config,
    pub store: Store,
    pub faults: FaultState,
    pub limits: Option<RateLimits>,
    pub log: Mutex<VecDeque<LoggedRequest>>,
    pub shutdown: CancellationToken,
    /// Supervisor tasks (boots, exit watchers, stops); drained on shutdown.
    pub tasks: TaskTracker,
}

impl Platform {
    pub(crate) fn new(config: Config) -> anyhow::Result<Self> {
        let store = match &config.state_file {
            Some(path) => Store::persistent(path.clone())?,
            None => Store::new(),
        };
        Ok(Self {
            faults: FaultState::new(config.faults.clone()),
            limits: config.rate_limits.then(RateLimits::new),
            config,
            store,
            log: Mutex::new(VecDeque::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    pub(crate) fn record(&self, entry: LoggedRequest) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == MAX_LOGGED_REQUESTS {
            log.pop_front();
        }
        log.push_back(entry);
    }

    pub(crate) fn request_log(&self) -> Vec<LoggedRequest> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect()
    }
}

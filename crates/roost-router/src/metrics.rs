//! Prometheus metrics: the names the router records and the `/metrics` endpoint.
//!
//! Everything goes through the `metrics` facade, so roost-fly's Fly API call counters land in
//! the same registry. The recorder is process-global (the facade allows one), installed the
//! first time a router starts; later routers in the same process (tests) share it.
//!
//! Hot-path handles ([`HotPathMetrics`]) are resolved once at start-up, so recording a request
//! is an atomic add, not a registry lookup.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::server::AppState;
use crate::tenants::TenantState;

/// Requests by outcome (`replay`, `proxy`, `unauthorized`, `provisioning`, …).
pub const REQUESTS: &str = "roost_router_requests_total";
/// Seconds from a request's arrival to the replay decision (cache hits: microseconds).
pub const REPLAY_DECISION: &str = "roost_router_replay_decision_seconds";
/// Cache lookups by `cache` (`token`, `tenant`) and `result` (`hit`, `miss`).
pub const CACHE_LOOKUPS: &str = "roost_router_cache_lookups_total";
/// Seconds a provisioning step took, by `step` and `result`.
pub const PROVISION_STEP: &str = "roost_router_provision_step_seconds";
/// Failed provisioning attempts by `step`.
pub const PROVISION_FAILURES: &str = "roost_router_provision_failures_total";
/// Seconds from a tenant's first request to it being ready.
pub const PROVISION_TOTAL: &str = "roost_router_provision_seconds";
/// Tenants by `state` (refreshed on every scrape).
pub const TENANTS: &str = "roost_router_tenants";
/// `fly-replay` requests that came back with `fly-replay-failed`, by `reason`.
pub const REPLAY_FAILED: &str = "roost_router_replay_failed_total";

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let micro = [
            0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005,
            0.025, 0.1, 0.5, 1.0, 5.0, 30.0,
        ];
        let slow = [
            0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REPLAY_DECISION.to_owned()), &micro)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &slow))
            .expect("bucket lists are non-empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program); then our handle
        // renders an empty registry rather than failing the start.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

/// Pre-resolved handles for the per-request metrics.
#[derive(Clone)]
pub struct HotPathMetrics {
    /// `replay` outcome counter.
    pub replayed: Counter,
    /// `proxy` outcome counter.
    pub proxied: Counter,
    /// Decision latency.
    pub decision: Histogram,
    /// Token cache hits.
    pub token_hit: Counter,
    /// Token cache misses.
    pub token_miss: Counter,
    /// Tenant cache hits.
    pub tenant_hit: Counter,
    /// Tenant cache misses.
    pub tenant_miss: Counter,
}

impl HotPathMetrics {
    /// Resolves the handles (installing the recorder if needed).
    pub fn new() -> Self {
        handle();
        HotPathMetrics {
            replayed: counter!(REQUESTS, "outcome" => "replay"),
            proxied: counter!(REQUESTS, "outcome" => "proxy"),
            decision: histogram!(REPLAY_DECISION),
            token_hit: counter!(CACHE_LOOKUPS, "cache" => "token", "result" => "hit"),
            token_miss: counter!(CACHE_LOOKUPS, "cache" => "token", "result" => "miss"),
            tenant_hit: counter!(CACHE_LOOKUPS, "cache" => "tenant", "result" => "hit"),
            tenant_miss: counter!(CACHE_LOOKUPS, "cache" => "tenant", "result" => "miss"),
        }
    }
}

impl Default for HotPathMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts a request that ended with `outcome` (off the replay fast path).
pub fn request_outcome(outcome: &'static str) {
    counter!(REQUESTS, "outcome" => outcome).increment(1);
}

/// Records one provisioning step's duration and result.
pub fn provision_step(step: &'static str, took: Duration, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    histogram!(PROVISION_STEP, "step" => step, "result" => result).record(took.as_secs_f64());
    if !ok {
        counter!(PROVISION_FAILURES, "step" => step).increment(1);
    }
}

/// The `/metrics` route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(state): State<AppState>) -> impl IntoResponse {
    // Tenants by state come from the database at scrape time, so every router reports the
    // shared truth (several routers on one PostgreSQL agree).
    match state.tenants.store().count_by_state().await {
        Ok(counts) => {
            for s in TenantState::ALL {
                let n = counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
                #[allow(clippy::cast_precision_loss)] // tenant counts are far below 2^52
                gauge!(TENANTS, "state" => s.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot count tenants for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}

/// The value of one series in a Prometheus text exposition (what `/metrics` answers), e.g.
/// `sample(text, r#"roost_router_requests_total{outcome="proxy"}"#)`; `None` when the series is
/// absent. Label order as rendered. For tests and scripts that check a counter moved: counters
/// registered at start-up are rendered as `0`, so the series being present proves nothing.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        // A sample may end with a timestamp: `<series> <value> [<ms>]`.
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn a_sample_is_read_by_its_exact_series() {
        let text = "# TYPE roost_router_requests_total counter\n\
                    roost_router_requests_total{outcome=\"proxy\"} 0\n\
                    roost_router_requests_total{outcome=\"proxy_error\"} 3\n\
                    roost_router_requests_total{outcome=\"replay\"} 12 1700000000000\n\
                    roost_router_tenants{state=\"ready\"} 1.5\n";
        let requests = |outcome: &str| {
            sample(
                text,
                &format!("roost_router_requests_total{{outcome=\"{outcome}\"}}"),
            )
        };
        assert_eq!(requests("proxy"), Some(0.0));
        assert_eq!(requests("proxy_error"), Some(3.0));
        assert_eq!(requests("replay"), Some(12.0));
        assert_eq!(requests("unauthorized"), None);
        assert_eq!(
            sample(text, r#"roost_router_tenants{state="ready"}"#),
            Some(1.5)
        );
    }
}

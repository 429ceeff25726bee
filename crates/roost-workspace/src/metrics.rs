//! Prometheus metrics at `/metrics`: MCP requests by method and outcome, tool calls by tool and
//! outcome, and tool latency.
//!
//! The `metrics` facade has one global recorder per process; it is installed once (tests run
//! many servers in one process and share it, which only means their counters add up).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for tool latency, in seconds: file tools take microseconds to
/// milliseconds, `run_command` seconds to minutes.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// The process-wide Prometheus handle; installs the recorder on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "roost_workspace_tool_duration_seconds".into(),
                    ),
                    LATENCY_BUCKETS,
                )
                .expect("static bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; then our
            // handle simply renders nothing, which is better than refusing to start.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Count one MCP HTTP request: `method` is the JSON-RPC method (or the HTTP method for GET and
/// DELETE), `outcome` the status class (`ok`, `unauthorized`, `forbidden`, …).
pub fn request(method: &str, outcome: &'static str) {
    metrics::counter!(
        "roost_workspace_requests_total",
        "method" => method.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Count one tool call and record its latency.
pub fn tool_call(tool: &str, outcome: &'static str, seconds: f64) {
    metrics::counter!(
        "roost_workspace_tool_calls_total",
        "tool" => tool.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("roost_workspace_tool_duration_seconds", "tool" => tool.to_owned())
        .record(seconds);
}

/// The outcome label for an HTTP status.
pub fn outcome(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        413 => "too_large",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

//! What the router exports about Fly calls: the request counter and latency histogram with
//! their labels. (Tracing has its own test binary, `tests/tracing.rs`.)

use std::sync::atomic::{AtomicUsize, Ordering};

use metrics_exporter_prometheus::PrometheusBuilder;

use crate::fake_fly::{FakeFly, Reply};

fn flaky_then_ok() -> impl Fn(&crate::fake_fly::Recorded) -> Reply + Send + Sync {
    let calls = AtomicUsize::new(0);
    move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(503, r#"{"error":"unavailable"}"#)
        } else {
            Reply::fixture(200, "machine.json")
        }
    }
}

#[tokio::test]
async fn every_attempt_is_counted_by_endpoint_and_status_and_timed() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // The test runtime is single-threaded, so a thread-local recorder sees every attempt.
    let _guard = metrics::set_default_local_recorder(&recorder);

    let fly = FakeFly::start(flaky_then_ok()).await;
    fly.client().get_machine("a", "m1").await.unwrap();

    let text = handle.render();
    assert!(
        text.contains(r#"roost_fly_api_requests_total{endpoint="machines.get",status="503"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"roost_fly_api_requests_total{endpoint="machines.get",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"roost_fly_api_request_duration_seconds_count{endpoint="machines.get"} 2"#),
        "{text}"
    );
}

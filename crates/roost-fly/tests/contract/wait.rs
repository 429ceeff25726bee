//! The wait endpoint and its 60 s cap, looped up to the caller's deadline (fly.md §2.3).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::fake_fly::{FakeFly, Reply};
use roost_fly::FlyErrorKind;
use roost_fly::types::MachineState;

#[tokio::test]
async fn wait_asks_for_the_state_with_the_60_second_cap() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "wait_ok.json")).await;
    fly.client()
        .wait_for_state(
            "a",
            "m1",
            &MachineState::Started,
            None,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    let request = fly.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.uri(),
        "/v1/apps/a/machines/m1/wait?state=started&timeout=60"
    );
}

#[tokio::test]
async fn wait_for_stopped_passes_the_instance_id_and_parses_the_newer_answer() {
    let fly = FakeFly::start(|_| Reply::fixture(200, "wait_ok_newer.json")).await;
    fly.client()
        .wait_for_state(
            "a",
            "m1",
            &MachineState::Stopped,
            Some("01HXYZINSTANCE"),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(
        fly.only_request().uri(),
        "/v1/apps/a/machines/m1/wait?state=stopped&timeout=20&instance_id=01HXYZINSTANCE"
    );
}

#[tokio::test]
async fn a_408_from_the_server_side_cap_is_looped_until_the_state_is_reached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let fly = FakeFly::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::fixture(408, "error_wait_timeout.json")
        } else {
            Reply::fixture(200, "wait_ok.json")
        }
    })
    .await;
    fly.client()
        .wait_for_state(
            "a",
            "m1",
            &MachineState::Started,
            None,
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    let uris: Vec<_> = fly.requests().iter().map(|r| r.uri()).collect();
    assert_eq!(
        uris,
        vec!["/v1/apps/a/machines/m1/wait?state=started&timeout=60"; 3]
    );
}

#[tokio::test]
async fn the_callers_deadline_ends_the_wait_with_wait_timed_out() {
    // Like Fly, the server holds the request for the requested timeout before answering 408.
    let fly = FakeFly::start(|r| {
        let secs: u64 = r
            .query
            .as_deref()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("timeout=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        Reply::fixture(408, "error_wait_timeout.json").after(Duration::from_secs(secs))
    })
    .await;
    let err = fly
        .client()
        .wait_for_state(
            "a",
            "m1",
            &MachineState::Started,
            None,
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::WaitTimedOut);
    assert!(
        err.to_string().contains("did not reach state started"),
        "{err}"
    );
    assert_eq!(
        fly.only_request().uri(),
        "/v1/apps/a/machines/m1/wait?state=started&timeout=1"
    );
}

//! Leases (fly.md §2.5).

use std::time::Duration;

use serde_json::json;

use crate::fake_fly::{FakeFly, Reply};
use roost_fly::FlyErrorKind;

#[tokio::test]
async fn acquire_posts_ttl_and_description_and_parses_the_lease() {
    let fly = FakeFly::start(|_| Reply::fixture(201, "lease.json")).await;
    let lease = fly
        .client()
        .acquire_lease("a", "m1", Duration::from_secs(30), "roost image rollout")
        .await
        .unwrap();
    assert_eq!(lease.nonce.as_str(), "8d7a1c2f9e3b");
    assert_eq!(lease.expires_at, 1_763_921_100);
    assert_eq!(lease.owner, "ops@example.com");
    let request = fly.only_request();
    assert_eq!(
        (request.method.as_str(), request.uri().as_str()),
        ("POST", "/v1/apps/a/machines/m1/lease")
    );
    assert_eq!(
        request.json(),
        json!({"ttl": 30, "description": "roost image rollout"})
    );
    assert_eq!(request.header("fly-machine-lease-nonce"), None);
    // The nonce is a credential for the lease: Debug hides it.
    assert!(!format!("{lease:?}").contains("8d7a1c2f9e3b"));
}

#[tokio::test]
async fn refresh_is_the_same_post_with_the_nonce_header_and_release_deletes_with_it() {
    let fly = FakeFly::start(|r| match r.method.as_str() {
        "DELETE" => Reply::json(200, ""),
        _ => Reply::fixture(200, "lease.json"),
    })
    .await;
    let client = fly.client();
    let lease = client
        .acquire_lease("a", "m1", Duration::from_secs(30), "")
        .await
        .unwrap();
    client
        .refresh_lease("a", "m1", &lease.nonce, Duration::from_secs(60))
        .await
        .unwrap();
    client.release_lease("a", "m1", &lease.nonce).await.unwrap();

    let requests = fly.requests();
    assert_eq!(requests[0].json(), json!({"ttl": 30}));
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].uri(), "/v1/apps/a/machines/m1/lease");
    assert_eq!(
        requests[1].header("fly-machine-lease-nonce"),
        Some("8d7a1c2f9e3b")
    );
    assert_eq!(requests[1].json(), json!({"ttl": 60}));
    assert_eq!(requests[2].method, "DELETE");
    assert_eq!(requests[2].uri(), "/v1/apps/a/machines/m1/lease");
    assert_eq!(
        requests[2].header("fly-machine-lease-nonce"),
        Some("8d7a1c2f9e3b")
    );
}

#[tokio::test]
async fn a_lease_held_elsewhere_is_lease_held_and_a_missing_one_is_none() {
    let fly = FakeFly::start(|r| match r.method.as_str() {
        "GET" => Reply::fixture(404, "error_not_found.json"),
        _ => Reply::fixture(409, "error_lease_held.json"),
    })
    .await;
    let client = fly.client();
    let err = client
        .acquire_lease("a", "m1", Duration::from_secs(30), "")
        .await
        .unwrap_err();
    assert_eq!(err.kind, FlyErrorKind::LeaseHeld);
    assert!(err.message.contains("lease currently held"), "{err}");
    assert_eq!(client.get_lease("a", "m1").await.unwrap(), None);
    // A 409 is not retried: only one POST went out.
    assert_eq!(
        fly.requests().iter().filter(|r| r.method == "POST").count(),
        1
    );
}

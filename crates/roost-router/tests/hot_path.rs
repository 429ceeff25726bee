//! The `/mcp` hot path as a client (through Fly's proxy) sees it, with tenants made directly in
//! the database: replay answers, OAuth challenges, refusals, and the small endpoints.

mod support;

use reqwest::StatusCode;
use roost_router::metrics::sample;
use roost_router::tenants::{Learned, TenantState};
use support::{Options, TestRouter};

#[tokio::test]
async fn a_ready_tenant_is_answered_with_a_json_fly_replay_to_its_app() {
    let router = TestRouter::start(Options::offline()).await;
    let app = router.seed_ready_tenant("alice").await;
    let token = router.token("alice");

    for _ in 0..2 {
        let response = router.mcp(Some(&token)).await;
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.fly.replay+json"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"app": app, "timeout": "30s", "fallback": "prefer_self"})
        );
    }

    // Every path under the MCP URL, any method.
    let nested = router
        .client
        .get(format!("{}/mcp/some/deeper/path", router.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(nested.status(), StatusCode::TEMPORARY_REDIRECT);
    router.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_get_the_oauth_challenge_and_its_metadata_exists() {
    let router = TestRouter::start(Options::offline()).await;
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", router.url);

    let missing = router.mcp(None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let challenge = missing.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        challenge,
        format!(r#"Bearer resource_metadata="{metadata_url}", scope="roost:workspace""#)
    );

    let forged = roost_token::SigningKey::generate();
    let stranger = router.token_with_key(&forged, "alice");
    let refused = router.mcp(Some(&stranger)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(
        body["message"],
        "The access token was signed by an unknown key."
    );

    let metadata: serde_json::Value = router
        .client
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], format!("{}/mcp", router.url));
    assert_eq!(metadata["authorization_servers"][0], router.url);
    router.stop().await;
}

#[tokio::test]
async fn a_token_without_the_workspace_scope_is_refused_with_insufficient_scope() {
    let router = TestRouter::start(Options::offline()).await;
    router.seed_ready_tenant("alice").await;
    let response = router
        .mcp(Some(&router.token_with("alice", "roost:run")))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    router.stop().await;
}

#[tokio::test]
async fn a_request_that_was_already_replayed_is_refused_as_a_loop() {
    let router = TestRouter::start(Options::offline()).await;
    router.seed_ready_tenant("alice").await;
    let response = router
        .client
        .post(format!("{}/mcp", router.url))
        .bearer_auth(router.token("alice"))
        .header(
            "fly-replay-src",
            "instance=abc;region=iad;t=1700000000000000",
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "replay_loop");
    router.stop().await;
}

#[tokio::test]
async fn a_replay_fly_could_not_deliver_becomes_a_503_with_retry_after() {
    let router = TestRouter::start(Options::offline()).await;
    let app = router.seed_ready_tenant("alice").await;
    let response = router
        .client
        .post(format!("{}/mcp", router.url))
        .bearer_auth(router.token("alice"))
        .header(
            "fly-replay-failed",
            format!(
                "instance=m1;app={app};region=lcl;replay_source=r1;reason=timeout;elapsed_ms=30000"
            ),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "workspace_unreachable");
    assert!(body["message"].as_str().unwrap().contains("Try again"));
    router.stop().await;
}

#[tokio::test]
async fn suspended_failed_and_misissued_tenants_get_clear_refusals() {
    let router = TestRouter::start(Options::offline()).await;
    let store = router.state.tenants.store();

    let suspended = router.seed_ready_tenant("sam").await;
    let t = store
        .transition(
            &suspended,
            TenantState::Ready,
            TenantState::Suspended,
            &Learned::default(),
            None,
        )
        .await
        .unwrap();
    router.state.tenants.remember(&t);
    let response = router.mcp(Some(&router.token("sam"))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "tenant_suspended");
    assert!(body["message"].as_str().unwrap().contains("suspended"));

    let failing = router.tenant_of("fay");
    store.ensure_for_user("fay", &failing).await.unwrap();
    let t = store
        .fail(
            &failing,
            TenantState::Pending,
            "app create: 401 bad token",
            None,
        )
        .await
        .unwrap();
    router.state.tenants.remember(&t);
    let response = router.mcp(Some(&router.token("fay"))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "provisioning_failed");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&failing) && !message.contains("401"),
        "{message}"
    );

    // A token whose `tenant` claim names somebody else's tenant.
    router.seed_ready_tenant("alice").await;
    let mallory = router.token_for_tenant("mallory", &router.tenant_of("alice"));
    let response = router.mcp(Some(&mallory)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "wrong_tenant");
    router.stop().await;
}

#[tokio::test]
async fn health_metrics_and_keys_are_served() {
    let router = TestRouter::start(Options::offline()).await;
    let get = |path: &str| router.client.get(format!("{}{path}", router.url)).send();
    // The recorder is shared by every router in this test binary, so compare before and after:
    // counters are rendered as 0 from start-up, and other tests only ever add.
    let read = |text: &str, series: &str| sample(text, series).unwrap_or(0.0);
    let replay = r#"roost_router_requests_total{outcome="replay"}"#;
    let unauthorized = r#"roost_router_requests_total{outcome="unauthorized"}"#;
    let token_hit = r#"roost_router_cache_lookups_total{cache="token",result="hit"}"#;
    let decisions = "roost_router_replay_decision_seconds_count";
    let before = get("/metrics").await.unwrap().text().await.unwrap();

    router.seed_ready_tenant("alice").await;
    let token = router.token("alice");
    router.mcp(Some(&token)).await;
    router.mcp(Some(&token)).await;
    router.mcp(None).await;

    assert_eq!(get("/livez").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK);

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for (series, at_least) in [
        (replay, 2.0),
        (unauthorized, 1.0),
        (token_hit, 1.0),
        (decisions, 2.0),
    ] {
        let (was, is) = (read(&before, series), read(&metrics, series));
        assert!(is - was >= at_least, "{series}: {was} -> {is}\n{metrics}");
    }
    assert!(
        read(&metrics, r#"roost_router_tenants{state="ready"}"#) >= 1.0,
        "{metrics}"
    );

    let jwks: serde_json::Value = get("/.well-known/jwks.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], router.key.kid());
    router.stop().await;
}

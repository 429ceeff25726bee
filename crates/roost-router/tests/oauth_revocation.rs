//! Revocation as a client sees it at the MCP URL: once a grant dies (a replayed code, a reused
//! refresh token) or a client revokes an access token, the access token gets 401
//! `invalid_token` at `/mcp` from the next request on, even though its verdict was cached and
//! it has not expired. Routers sharing the database learn of it by polling.

mod common;

use common::oauth::*;
use roost_router::testing::{TestOptions, TestRouter, fresh_postgres_url, seed_ready_tenant};
use serde_json::Value;
use std::time::{Duration, Instant};

/// What `/mcp` answers `token`: the status and the `WWW-Authenticate` challenge, if any.
async fn at_mcp(router: &TestRouter, token: &str) -> (u16, String) {
    let response = http()
        .post(format!("{}/mcp", router.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

/// Asserts `token` is replayed to its workspace (307), which also caches its verdict.
async fn assert_works(router: &TestRouter, token: &str) {
    let (status, challenge) = at_mcp(router, token).await;
    assert_eq!(status, 307, "a live token is replayed: {challenge}");
}

/// Asserts `token` is refused as revoked.
async fn assert_revoked(router: &TestRouter, token: &str) {
    let (status, challenge) = at_mcp(router, token).await;
    assert_eq!(status, 401, "a revoked token is refused");
    assert!(
        challenge.contains(r#"error="invalid_token""#) && challenge.contains("revoked"),
        "{challenge}"
    );
}

/// The access token of a token response, with its user's tenant made ready.
async fn usable(router: &TestRouter, tokens: &Value) -> String {
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = router.state.gate.verifier().verify(&token).unwrap();
    let tenant = router.state.tenants.store().get(&claims.tenant).await;
    if tenant
        .unwrap()
        .is_some_and(|t| t.state != roost_router::tenants::TenantState::Ready)
    {
        seed_ready_tenant(&router.state, &claims.sub).await;
    }
    token
}

#[tokio::test]
async fn a_replayed_code_revokes_the_access_token_it_issued() {
    for router in routers().await {
        let (client_id, code, verifier) = code(&router).await;
        let first: Value = exchange(&router, &client_id, &code, &verifier)
            .await
            .json()
            .await
            .unwrap();
        let access_token = usable(&router, &first).await;
        assert_works(&router, &access_token).await;

        let (status, error, description) =
            error_code(exchange(&router, &client_id, &code, &verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        assert!(description.contains("already used"), "{description}");

        assert_revoked(&router, &access_token).await;
        let refresh_token = first["refresh_token"].as_str().unwrap();
        let (status, error, _) =
            error_code(refresh(&router, &client_id, refresh_token).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        router.stop().await;
    }
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_every_access_token_of_its_grant_and_no_other() {
    for router in routers().await {
        let (client_id, tokens) = tokens_for(&router, "alice").await;
        let first_access = usable(&router, &tokens).await;
        let old = tokens["refresh_token"].as_str().unwrap();
        let next: Value = refresh(&router, &client_id, old)
            .await
            .json()
            .await
            .unwrap();
        let second_access = usable(&router, &next).await;
        // Alice signed in with another client too: that grant is not the stolen one.
        let (_, elsewhere) = tokens_for(&router, "alice").await;
        let other_grant = usable(&router, &elsewhere).await;
        for token in [&first_access, &second_access, &other_grant] {
            assert_works(&router, token).await;
        }

        // Push the first use out of the grace window instead of sleeping through it.
        sqlx::query(
            "UPDATE oauth_refresh_tokens SET used_at = used_at - 600000 WHERE used_at IS NOT NULL",
        )
        .execute(router.state.db.pool())
        .await
        .unwrap();
        let (status, error, _) = error_code(refresh(&router, &client_id, old).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));

        assert_revoked(&router, &first_access).await;
        assert_revoked(&router, &second_access).await;
        assert_works(&router, &other_grant).await;
        router.stop().await;
    }
}

#[tokio::test]
async fn a_client_revoking_its_access_token_stops_that_token_only() {
    let router = router().await;
    let (client_id, tokens) = tokens_for(&router, "alice").await;
    let access_token = usable(&router, &tokens).await;
    assert_works(&router, &access_token).await;
    let revoke = |client_id: String, token: String| {
        http()
            .post(format!("{}/oauth/revoke", router.url))
            .form(&[("token", token), ("client_id", client_id)])
            .send()
    };

    // Another client cannot revoke it, and is not told so (RFC 7009 §2.2).
    let thief = register(&router, &[REDIRECT]).await;
    let answer = revoke(thief, access_token.clone()).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_works(&router, &access_token).await;

    let answer = revoke(client_id.clone(), access_token.clone())
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_revoked(&router, &access_token).await;

    // The grant lives on: the refresh token still works and its new access token too.
    let refreshed = refresh(
        &router,
        &client_id,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let fresh = usable(&router, &refreshed.json().await.unwrap()).await;
    assert_works(&router, &fresh).await;
    router.stop().await;
}

/// Two routers behind one public URL, sharing a database and a signing key, as in production.
async fn router_pair(database_url: String) -> (TestRouter, TestRouter) {
    let options = TestOptions {
        database_url: Some(database_url),
        ..TestOptions::default().account("alice", PASSWORD)
    };
    let first = TestRouter::start(options.clone()).await;
    let second = TestRouter::start(TestOptions {
        key: Some(first.key.clone()),
        public_url: Some(first.url.clone()),
        accounts: Vec::new(),
        ..options.arg("--revocation-poll=200ms")
    })
    .await;
    (first, second)
}

#[tokio::test]
async fn a_revocation_reaches_every_router_sharing_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![format!(
        "sqlite://{}",
        dir.path().join("shared.db").display()
    )];
    databases.extend(fresh_postgres_url().await);
    for database_url in databases {
        let (first, second) = router_pair(database_url.clone()).await;
        let (client_id, tokens) = tokens_for(&first, "alice").await;
        let access_token = usable(&first, &tokens).await;
        assert_works(&first, &access_token).await;
        assert_works(&second, &access_token).await;

        let revoked = http()
            .post(format!("{}/oauth/revoke", first.url))
            .form(&[("token", access_token.as_str()), ("client_id", &client_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        assert_revoked(&first, &access_token).await;

        // The other router learns of it at its next poll (every 200 ms here).
        let deadline = Instant::now() + Duration::from_secs(10);
        while at_mcp(&second, &access_token).await.0 != 401 {
            assert!(Instant::now() < deadline, "the other router never learnt");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_revoked(&second, &access_token).await;

        // A router starting later reads every revocation before it serves.
        let third = TestRouter::start(TestOptions {
            key: Some(first.key.clone()),
            public_url: Some(first.url.clone()),
            database_url: Some(database_url),
            ..TestOptions::default()
        })
        .await;
        assert_revoked(&third, &access_token).await;
        for router in [third, second, first] {
            router.stop().await;
        }
    }
}

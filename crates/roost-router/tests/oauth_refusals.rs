//! Every refusal of the authorization, token and registration endpoints, each its own test,
//! over real HTTP. Each asserts what the user or the client developer would see. (Refusals in
//! the browser part of sign-in are in `oauth_signin_refusals.rs`.)

mod common;

use common::oauth::*;
use serde_json::Value;

/// Authorization requests whose client or redirect URI cannot be trusted get an error page and
/// never a redirect.
#[tokio::test]
async fn an_unregistered_redirect_uri_gets_a_page_not_a_redirect() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    for evil in [
        "https://evil.example/callback",
        "http://127.0.0.1:7777/other",
        "http://localhost:7777/callback",
    ] {
        let page = Browser::default()
            .get(&authorize_url(
                &router,
                &client_id,
                &challenge,
                &[("redirect_uri", Some(evil))],
            ))
            .await;
        assert_eq!(page.status, 400, "{evil}");
        assert!(page.location.is_none(), "never redirect to {evil}");
        assert!(page.body.contains("not safe to follow"), "{}", page.body);
    }
    router.stop().await;
}

#[tokio::test]
async fn a_loopback_redirect_uri_matches_on_any_port() {
    let router = router().await;
    let client_id = register(&router, &["http://127.0.0.1/callback"]).await;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &router,
        &client_id,
        &challenge,
        &[("redirect_uri", Some("http://127.0.0.1:49152/callback"))],
    );
    let page = Browser::default().get(&url).await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/signin"));
    router.stop().await;
}

#[tokio::test]
async fn an_unknown_client_gets_a_page_saying_so() {
    let router = router().await;
    let (_, challenge) = pkce();
    let page = Browser::default()
        .get(&authorize_url(&router, "no-such-client", &challenge, &[]))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert!(page.body.contains("not known here"), "{}", page.body);
    // And at the token endpoint: invalid_client.
    let response = exchange(&router, "no-such-client", "code", "verifier").await;
    let (status, error, _) = error_code(response).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    router.stop().await;
}

async fn redirected_error(
    extra: &[(&str, Option<&str>)],
) -> std::collections::HashMap<String, String> {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let page = Browser::default()
        .get(&authorize_url(&router, &client_id, &challenge, extra))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let q = query(&location);
    assert_eq!(q["iss"], router.url, "iss on error responses too");
    assert_eq!(q["state"], "st-123");
    router.stop().await;
    q
}

#[tokio::test]
async fn a_missing_pkce_challenge_is_refused() {
    let q = redirected_error(&[("code_challenge", None), ("code_challenge_method", None)]).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("PKCE"), "{q:?}");
}

#[tokio::test]
async fn a_plain_pkce_challenge_is_refused() {
    let q = redirected_error(&[("code_challenge_method", Some("plain"))]).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("S256"), "{q:?}");
}

#[tokio::test]
async fn a_wrong_resource_is_refused() {
    let q = redirected_error(&[("resource", Some("https://other.example/mcp"))]).await;
    assert_eq!(q["error"], "invalid_target");
}

#[tokio::test]
async fn a_missing_resource_is_refused() {
    let q = redirected_error(&[("resource", None)]).await;
    assert_eq!(q["error"], "invalid_target");
    assert!(q["error_description"].contains("required"), "{q:?}");
}

#[tokio::test]
async fn a_response_type_other_than_code_is_refused() {
    let q = redirected_error(&[("response_type", Some("token"))]).await;
    assert_eq!(q["error"], "unsupported_response_type");
}

#[tokio::test]
async fn a_wrong_verifier_is_refused() {
    let router = router().await;
    let (client_id, code, _) = code(&router).await;
    let (other, _) = pkce();
    let (status, error, description) =
        error_code(exchange(&router, &client_id, &code, &other).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(description.contains("code_verifier"), "{description}");
    router.stop().await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let router = router().await;
    let (client_id, code, verifier) = code(&router).await;
    // Age the code instead of sleeping: its expiry is in the past.
    sqlx::query("UPDATE oauth_codes SET expires_at = 0")
        .execute(router.state.db.pool())
        .await
        .unwrap();
    let (status, error, description) =
        error_code(exchange(&router, &client_id, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert!(description.contains("expired"), "{description}");
    router.stop().await;
}

#[tokio::test]
async fn a_code_for_another_client_is_refused() {
    let router = router().await;
    let (_, code, verifier) = code(&router).await;
    let other = register(&router, &[REDIRECT]).await;
    let (status, error, _) = error_code(exchange(&router, &other, &code, &verifier).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    router.stop().await;
}

#[tokio::test]
async fn a_wrong_resource_at_the_token_endpoint_is_refused() {
    let router = router().await;
    let (client_id, code, verifier) = code(&router).await;
    let response = http()
        .post(format!("{}/oauth/token", router.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
            ("resource", "https://other.example/mcp"),
        ])
        .send()
        .await
        .unwrap();
    let (status, error, _) = error_code(response).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));
    router.stop().await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family() {
    for router in routers().await {
        let (client_id, tokens) = tokens_for(&router, "alice").await;
        let old = tokens["refresh_token"].as_str().unwrap().to_owned();
        let next: Value = refresh(&router, &client_id, &old)
            .await
            .json()
            .await
            .unwrap();
        let newer = next["refresh_token"].as_str().unwrap().to_owned();
        // Push the first use out of the grace window instead of sleeping through it.
        sqlx::query(
            "UPDATE oauth_refresh_tokens SET used_at = used_at - 600000 WHERE used_at IS NOT NULL",
        )
        .execute(router.state.db.pool())
        .await
        .unwrap();
        let (status, error, description) =
            error_code(refresh(&router, &client_id, &old).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        assert!(description.contains("revoked"), "{description}");
        // The legitimate successor died with the family.
        let (status, error, _) = error_code(refresh(&router, &client_id, &newer).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        router.stop().await;
    }
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_both_succeed_within_the_grace_window() {
    let router = router().await;
    let (client_id, tokens) = tokens_for(&router, "alice").await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let (a, b) = tokio::join!(
        refresh(&router, &client_id, token),
        refresh(&router, &client_id, token)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    // Both successors keep working: the family was not revoked.
    assert_eq!(
        refresh(&router, &client_id, a["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        refresh(&router, &client_id, b["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    router.stop().await;
}

#[tokio::test]
async fn a_refresh_token_of_another_client_is_refused_without_harming_the_owner() {
    let router = router().await;
    let (client_id, tokens) = tokens_for(&router, "alice").await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let thief = register(&router, &[REDIRECT]).await;
    let (status, error, _) = error_code(refresh(&router, &thief, token).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(refresh(&router, &client_id, token).await.status(), 200);
    router.stop().await;
}

#[tokio::test]
async fn registrations_with_unsafe_redirect_uris_are_refused() {
    let router = router().await;
    for (uris, why) in [
        (vec!["https://app.example/cb#frag"], "fragment"),
        (vec!["http://app.example/cb"], "loopback"),
        (vec!["https://*.example/cb"], "wildcard"),
        (vec!["javascript:alert(1)"], "never"),
        (vec![], "at least one"),
    ] {
        let response = http()
            .post(format!("{}/oauth/register", router.url))
            .json(
                &serde_json::json!({ "redirect_uris": uris, "token_endpoint_auth_method": "none" }),
            )
            .send()
            .await
            .unwrap();
        let (status, error, description) = error_code(response).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_redirect_uri"),
            "{uris:?}"
        );
        assert!(description.contains(why), "{uris:?}: {description}");
    }
    router.stop().await;
}

#[tokio::test]
async fn registration_is_rate_limited_per_client_ip() {
    let router = roost_router::testing::TestRouter::start(
        roost_router::testing::TestOptions::default().arg("--dcr-per-minute=2"),
    )
    .await;
    let register_from = |ip: &'static str| {
        http()
            .post(format!("{}/oauth/register", router.url))
            .header("fly-client-ip", ip)
            .json(&serde_json::json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }))
            .send()
    };
    assert_eq!(register_from("203.0.113.7").await.unwrap().status(), 201);
    assert_eq!(register_from("203.0.113.7").await.unwrap().status(), 201);
    let limited = register_from("203.0.113.7").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Another address is not affected.
    assert_eq!(register_from("198.51.100.1").await.unwrap().status(), 201);
    router.stop().await;
}

#[tokio::test]
async fn a_token_request_that_is_not_a_form_gets_an_oauth_error() {
    let router = router().await;
    let response = http()
        .post(format!("{}/oauth/token", router.url))
        .json(&serde_json::json!({ "grant_type": "authorization_code" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, error, description) = error_code(response).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(
        description.contains("x-www-form-urlencoded"),
        "{description}"
    );
    router.stop().await;
}

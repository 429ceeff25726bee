//! Every refusal of the authorization and token endpoints, each its own test, over real HTTP.
//! Each asserts what the user or the client developer would see.

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

/// A code for `alice` from a fresh client: (client id, code, verifier).
async fn code(router: &roost_router::testing::TestRouter) -> (String, String, String) {
    let client_id = register(router, &[REDIRECT]).await;
    let (verifier, challenge) = pkce();
    let location = authorize_with_consent(
        router,
        &Browser::default(),
        &authorize_url(router, &client_id, &challenge, &[]),
        "alice",
    )
    .await;
    (client_id, query(&location)["code"].clone(), verifier)
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
async fn a_reused_code_is_refused_and_revokes_its_tokens() {
    for router in routers().await {
        let (client_id, code, verifier) = code(&router).await;
        let first: Value = exchange(&router, &client_id, &code, &verifier)
            .await
            .json()
            .await
            .unwrap();
        let refresh_token = first["refresh_token"].as_str().unwrap().to_owned();
        let (status, error, description) =
            error_code(exchange(&router, &client_id, &code, &verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        assert!(description.contains("already used"), "{description}");
        // The refresh token issued from the code is dead.
        let (status, error, _) =
            error_code(refresh(&router, &client_id, &refresh_token).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"));
        router.stop().await;
    }
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
async fn a_forged_consent_post_without_the_csrf_token_changes_nothing() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    let signed_in = sign_in(
        &router,
        &browser,
        first.location.as_deref().unwrap(),
        "alice",
        PASSWORD,
    )
    .await;
    let consent = browser
        .get(&absolute(&router, signed_in.location.as_deref().unwrap()))
        .await;
    let request = hidden(&consent.body, "request");
    for csrf in [
        "",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let forged = browser
            .post(
                &format!("{}/oauth/authorize/consent", router.url),
                &[("request", &request), ("csrf", csrf), ("decision", "allow")],
            )
            .await;
        assert_eq!(forged.status, 403);
        assert!(forged.location.is_none(), "no code was issued");
        assert!(
            forged.body.contains("did not come from roost"),
            "{}",
            forged.body
        );
    }
    // No consent was remembered: the next authorization still asks.
    let (_, challenge) = pkce();
    assert_eq!(
        browser
            .get(&authorize_url(&router, &client_id, &challenge, &[]))
            .await
            .status,
        200
    );
    router.stop().await;
}

#[tokio::test]
async fn a_forged_sign_in_post_without_the_csrf_token_is_refused() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    let signin = browser
        .get(&absolute(&router, first.location.as_deref().unwrap()))
        .await;
    let request = hidden(&signin.body, "request");
    let page = browser
        .post(
            &format!("{}/signin/local", router.url),
            &[
                ("request", &request),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(!browser.has_cookie("roost-session"));
    router.stop().await;
}

/// Login CSRF: an attacker starts a request in their own browser and makes the victim's
/// browser post the attacker's credentials with it. The form's request id and token are
/// right, but the browser is not the one that started the request.
#[tokio::test]
async fn a_sign_in_post_from_another_browser_is_refused() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let attacker = Browser::default();
    let (request, csrf) = attacker.signin_form(&router, &client_id).await;
    assert!(attacker.has_cookie("roost-request"));
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "bob"),
        ("password", PASSWORD),
    ];
    let url = format!("{}/signin/local", router.url);
    // A victim that never connected, and one with its own request running.
    let fresh = Browser::default();
    let busy = Browser::default();
    busy.signin_form(&router, &client_id).await;
    assert!(busy.has_cookie("roost-request"));
    for victim in [fresh, busy] {
        let page = victim.post(&url, &form).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(!victim.has_cookie("roost-session"));
    }
    // The attacker's own browser still signs in: the request was not harmed.
    assert_eq!(attacker.post(&url, &form).await.status, 303);
    router.stop().await;
}

#[tokio::test]
async fn a_consent_post_without_the_request_cookie_is_refused() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    let signed_in = sign_in(
        &router,
        &browser,
        first.location.as_deref().unwrap(),
        "alice",
        PASSWORD,
    )
    .await;
    let consent = browser
        .get(&absolute(&router, signed_in.location.as_deref().unwrap()))
        .await;
    let form = [
        ("request", hidden(&consent.body, "request")),
        ("csrf", hidden(&consent.body, "csrf")),
        ("decision", "allow".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("{}/oauth/authorize/consent", router.url);
    browser.forget_cookie("roost-request");
    let refused = browser.post(&url, &form).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
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

#[tokio::test]
async fn password_guessing_is_slowed_per_username_and_address() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let url = format!("{}/signin/local", router.url);
    // A fresh request per guess, so only the username-and-address limit is in play.
    for _ in 0..10 {
        let (request, csrf) = browser.signin_form(&router, &client_id).await;
        let form = [
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("username", "alice"),
            ("password", "guess"),
        ];
        assert_eq!(
            browser.post_from("203.0.113.9", &url, &form).await.status,
            401
        );
    }
    let (request, csrf) = browser.signin_form(&router, &client_id).await;
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let limited = browser.post_from("203.0.113.9", &url, &form).await;
    assert_eq!(
        limited.status, 429,
        "even the right password waits once the limit is hit"
    );
    assert!(limited.body.contains("Too many sign-in attempts"));
    // The owner, from another address, still gets in.
    let owner = browser.post_from("198.51.100.20", &url, &form).await;
    assert_eq!(owner.status, 303);
    router.stop().await;
}

#[tokio::test]
async fn a_sign_in_request_is_dropped_after_five_wrong_passwords() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let url = format!("{}/signin/local", router.url);
    let (request, csrf) = browser.signin_form(&router, &client_id).await;
    // Different usernames and addresses: the per-request count is what stops this.
    let guess = |n: usize, password: &'static str| {
        let browser = browser.clone();
        let (url, request, csrf) = (url.clone(), request.clone(), csrf.clone());
        async move {
            let username = if password == PASSWORD {
                "alice".to_owned()
            } else {
                format!("user{n}")
            };
            browser
                .post_from(
                    &format!("203.0.113.{n}"),
                    &url,
                    &[
                        ("request", &request),
                        ("csrf", &csrf),
                        ("username", &username),
                        ("password", password),
                    ],
                )
                .await
        }
    };
    for n in 1..5 {
        let page = guess(n, "guess").await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("match"), "{}", page.body);
    }
    let fifth = guess(5, "guess").await;
    assert_eq!(fifth.status, 401);
    assert!(
        fifth.body.contains("Too many wrong passwords"),
        "{}",
        fifth.body
    );
    assert!(fifth.body.contains("connect again"), "{}", fifth.body);
    let right = guess(6, PASSWORD).await;
    assert_eq!(right.status, 400, "the request is gone: {}", right.body);
    assert!(!browser.has_cookie("roost-session"));
    router.stop().await;
}

#[tokio::test]
async fn sign_in_posts_are_limited_per_address() {
    let router = router().await;
    let browser = Browser::default();
    let url = format!("{}/signin/local", router.url);
    let junk = [("request", "no-such-request"), ("csrf", "x")];
    for _ in 0..20 {
        assert_eq!(
            browser.post_from("203.0.113.7", &url, &junk).await.status,
            400
        );
    }
    let limited = browser.post_from("203.0.113.7", &url, &junk).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "60");
    assert_eq!(
        browser.post_from("198.51.100.7", &url, &junk).await.status,
        400,
        "other addresses are not affected"
    );
    router.stop().await;
}

#[tokio::test]
async fn password_checks_beyond_capacity_are_turned_away_not_queued() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (request, csrf) = browser.signin_form(&router, &client_id).await;
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let url = format!("{}/signin/local", router.url);
    let permits = router.state.oauth.signin().argon2_permits().clone();
    let held = permits
        .clone()
        .try_acquire_many_owned(u32::try_from(permits.available_permits()).unwrap())
        .unwrap();
    let busy = browser.post(&url, &form).await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert!(busy.headers.contains_key("retry-after"));
    assert!(!browser.has_cookie("roost-session"));
    drop(held);
    assert_eq!(browser.post(&url, &form).await.status, 303);
    router.stop().await;
}

#[tokio::test]
async fn authorization_requests_are_limited_per_address() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let url = authorize_url(&router, &client_id, &challenge, &[]);
    for _ in 0..30 {
        assert_eq!(browser.get_from("203.0.113.5", &url).await.status, 303);
    }
    let limited = browser.get_from("203.0.113.5", &url).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.headers["retry-after"], "60");
    assert!(limited.location.is_none());
    assert_eq!(
        browser.get_from("198.51.100.5", &url).await.status,
        303,
        "other addresses are not affected"
    );
    router.stop().await;
}

#[tokio::test]
async fn rate_limiters_forget_addresses_that_went_quiet() {
    let router = roost_router::testing::TestRouter::start(
        roost_router::testing::TestOptions::default().arg("--dcr-per-minute=600"),
    )
    .await;
    let registered = http()
        .post(format!("{}/oauth/register", router.url))
        .header("fly-client-ip", "203.0.113.1")
        .json(&serde_json::json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let client_id = registered.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, challenge) = pkce();
    let url = authorize_url(&router, &client_id, &challenge, &[]);
    Browser::default().get_from("203.0.113.2", &url).await;
    let oauth = &router.state.oauth;
    assert_eq!(oauth.limiter_keys(), 2);
    oauth.prune_limiters();
    assert_eq!(
        oauth.limiter_keys(),
        2,
        "allowances not yet refilled are kept"
    );
    // An address is forgotten once its state is that of a fresh one: for 30 a minute, two
    // emission intervals (4 s) after a single request.
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    oauth.prune_limiters();
    assert_eq!(oauth.limiter_keys(), 0);
    router.stop().await;
}

#[tokio::test]
async fn an_unreadable_earlier_consent_is_not_overwritten() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    let signed_in = sign_in(
        &router,
        &browser,
        first.location.as_deref().unwrap(),
        "alice",
        PASSWORD,
    )
    .await;
    let consent = browser
        .get(&absolute(&router, signed_in.location.as_deref().unwrap()))
        .await;
    assert_eq!(consent.status, 200);
    // While the page is open, the earlier grant becomes unreadable (a value that is not text).
    let user = sqlx::query_scalar::<_, String>(
        "SELECT user_id FROM local_accounts WHERE username = 'alice'",
    )
    .fetch_one(router.state.db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO oauth_consents (user_id, client_id, scope, updated_at) VALUES ($1, $2, X'00ff', 0)",
    )
    .bind(&user)
    .bind(&client_id)
    .execute(router.state.db.pool())
    .await
    .unwrap();
    let answered = browser
        .post(
            &format!("{}/oauth/authorize/consent", router.url),
            &[
                ("request", &hidden(&consent.body, "request")),
                ("csrf", &hidden(&consent.body, "csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(answered.status, 500, "{}", answered.body);
    assert!(answered.location.is_none());
    let kept: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM oauth_consents WHERE user_id = $1 AND client_id = $2 AND updated_at = 0",
    )
    .bind(&user)
    .bind(&client_id)
    .fetch_one(router.state.db.pool())
    .await
    .unwrap();
    assert_eq!(kept, 1, "the earlier grant is left alone");
    router.stop().await;
}

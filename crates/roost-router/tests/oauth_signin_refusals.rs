//! Refusals in the browser part of sign-in, each its own test over real HTTP: forged or
//! cross-browser sign-in and consent posts, and the limits that stop password guessing and
//! request floods. (Refusals at the endpoints a client calls are in `oauth_refusals.rs`.)

mod common;

use common::oauth::*;
use serde_json::Value;

#[tokio::test]
async fn a_forged_consent_post_without_the_csrf_token_changes_nothing() {
    let router = router().await;
    let AtConsent {
        client_id,
        browser,
        consent,
        ..
    } = alice_at_consent(&router).await;
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
    let AtConsent {
        browser, consent, ..
    } = alice_at_consent(&router).await;
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
    let AtConsent {
        client_id,
        browser,
        consent,
        ..
    } = alice_at_consent(&router).await;
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

//! The whole authorization-code flow over real HTTP against a router on port 0: discovery,
//! registration, local sign-in on the real pages with a cookie-keeping client, consent, tokens,
//! refresh, remembered consent, dev sign-in.

mod common;

use common::oauth::*;
use roost_router::testing::{TestOptions, TestRouter};
use serde_json::Value;

#[tokio::test]
async fn a_user_signs_in_consents_and_gets_tokens_for_their_own_tenant() {
    for router in routers().await {
        let client_id = register(&router, &[REDIRECT]).await;
        let (verifier, challenge) = pkce();
        let browser = Browser::default();

        // No session yet: the browser is sent to sign in.
        let first = browser
            .get(&authorize_url(&router, &client_id, &challenge, &[]))
            .await;
        assert_eq!(first.status, 303);
        let signin = first.location.unwrap();
        assert!(signin.starts_with("/signin?request="), "{signin}");
        let signin_page = browser.get(&absolute(&router, &signin)).await;
        assert!(
            signin_page.body.contains("Test Client"),
            "the sign-in page names the client"
        );

        let signed_in = sign_in(&router, &browser, &signin, "alice", PASSWORD).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert!(
            browser.has_cookie("roost-session"),
            "a session cookie is set"
        );

        // Consent page: names the client, the redirect host and the scope in words.
        let consent = browser
            .get(&absolute(&router, signed_in.location.as_deref().unwrap()))
            .await;
        assert_eq!(consent.status, 200);
        for words in ["Test Client", "127.0.0.1", "Use your workspace", "alice"] {
            assert!(
                consent.body.contains(words),
                "consent page lacks {words:?}:\n{}",
                consent.body
            );
        }
        assert_eq!(consent.headers["x-frame-options"], "DENY");
        assert!(
            consent.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let allowed = browser
            .post(
                &format!("{}/oauth/authorize/consent", router.url),
                &[
                    ("request", &hidden(&consent.body, "request")),
                    ("csrf", &hidden(&consent.body, "csrf")),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(allowed.status, 303);
        let location = allowed.location.unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let q = query(&location);
        assert_eq!(q["state"], "st-123", "state is echoed");
        assert_eq!(q["iss"], router.url, "iss (RFC 9207) is the issuer");

        let response = exchange(&router, &client_id, &q["code"], &verifier).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let tokens: Value = response.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "roost:workspace");
        let claims = router
            .state
            .settings
            .verifier
            .verify(tokens["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(claims.aud, router.mcp_url);
        assert_eq!(claims.iss, router.url);
        assert_eq!(claims.client_id, client_id);
        assert_eq!(
            claims.tenant,
            roost_router::tenants::tenant_id_for_user("roost-u-", &claims.sub)
        );
        // The tenant row exists before any machine does (provisioning starts on the first MCP call).
        let tenant = router
            .state
            .tenants
            .store()
            .get_by_user(&claims.sub)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tenant.id, claims.tenant);

        // The refresh token rotates and keeps working.
        let refreshed = refresh(
            &router,
            &client_id,
            tokens["refresh_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(refreshed.status(), 200);
        let refreshed: Value = refreshed.json().await.unwrap();
        assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
        let again = router
            .state
            .settings
            .verifier
            .verify(refreshed["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            (again.sub, again.tenant),
            (claims.sub.clone(), claims.tenant.clone())
        );

        // Re-authorizing (say after the refresh token died) is a straight redirect: no page.
        let (verifier2, challenge2) = pkce();
        let straight = browser
            .get(&authorize_url(&router, &client_id, &challenge2, &[]))
            .await;
        assert_eq!(straight.status, 303, "{}", straight.body);
        let code2 = query(straight.location.as_deref().unwrap())["code"].clone();
        assert_eq!(
            exchange(&router, &client_id, &code2, &verifier2)
                .await
                .status(),
            200
        );
        router.stop().await;
    }
}

#[tokio::test]
async fn two_users_get_different_tenants() {
    let router = router().await;
    let (_, alice) = tokens_for(&router, "alice").await;
    let (_, bob) = tokens_for(&router, "bob").await;
    let verify = |t: &Value| {
        router
            .state
            .settings
            .verifier
            .verify(t["access_token"].as_str().unwrap())
            .unwrap()
    };
    let (a, b) = (verify(&alice), verify(&bob));
    assert_ne!(a.sub, b.sub);
    assert_ne!(a.tenant, b.tenant);
    router.stop().await;
}

#[tokio::test]
async fn asking_for_run_command_shows_its_own_consent_line_and_steps_up() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (verifier, challenge) = pkce();
    let location = authorize_with_consent(
        &router,
        &browser,
        &authorize_url(&router, &client_id, &challenge, &[]),
        "alice",
    )
    .await;
    let code = query(&location)["code"].clone();
    assert_eq!(
        exchange(&router, &client_id, &code, &verifier)
            .await
            .status(),
        200
    );

    // Step-up: a wider scope asks again, with the extra line.
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &router,
        &client_id,
        &challenge,
        &[("scope", Some("roost:workspace roost:run"))],
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, 200, "the wider scope needs consent again");
    assert!(
        page.body.contains("Run commands in your workspace"),
        "{}",
        page.body
    );
    let location = authorize_with_consent(&router, &browser, &url, "alice").await;
    let tokens: Value = exchange(&router, &client_id, &query(&location)["code"], &verifier)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["scope"], "roost:workspace roost:run");
    router.stop().await;
}

#[tokio::test]
async fn a_user_who_cancels_sends_access_denied_back_to_the_client() {
    let router = router().await;
    let AtConsent {
        browser, consent, ..
    } = alice_at_consent(&router).await;
    let denied = browser
        .post(
            &format!("{}/oauth/authorize/consent", router.url),
            &[
                ("request", &hidden(&consent.body, "request")),
                ("csrf", &hidden(&consent.body, "csrf")),
                ("decision", "deny"),
            ],
        )
        .await;
    let q = query(denied.location.as_deref().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], router.url);
    router.stop().await;
}

#[tokio::test]
async fn a_wrong_password_says_so_and_keeps_the_username() {
    let router = router().await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    let page = sign_in(
        &router,
        &browser,
        first.location.as_deref().unwrap(),
        "alice",
        "not the password",
    )
    .await;
    assert_eq!(page.status, 401);
    assert!(
        page.body.contains("don&#x27;t match") || page.body.contains("don't match"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"alice\""));
    assert!(!browser.has_cookie("roost-session"));
    router.stop().await;
}

#[tokio::test]
async fn dev_signin_grants_without_any_page() {
    let router = TestRouter::start(TestOptions {
        dev_signin: true,
        ..TestOptions::default()
    })
    .await;
    let client_id = register(&router, &[REDIRECT]).await;
    let (verifier, challenge) = pkce();
    let page = Browser::default()
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    assert_eq!(page.status, 303);
    let location = page.location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let tokens: Value = exchange(&router, &client_id, &query(&location)["code"], &verifier)
        .await
        .json()
        .await
        .unwrap();
    let claims = router
        .state
        .settings
        .verifier
        .verify(tokens["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        router.state.oauth.signin().label(&claims.sub).await,
        "Developer"
    );
    router.stop().await;
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_basic_or_post_and_a_wrong_secret_is_refused() {
    let router = router().await;
    let registered: Value = http()
        .post(format!("{}/oauth/register", router.url))
        .json(&serde_json::json!({ "redirect_uris": ["https://app.example/cb"], "client_name": "Web App" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    let id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();

    let get_code = |challenge: String| {
        let router = &router;
        let id = id.clone();
        async move {
            let browser = Browser::default();
            let url = authorize_url(
                router,
                &id,
                &challenge,
                &[("redirect_uri", Some("https://app.example/cb"))],
            );
            let location = authorize_with_consent(router, &browser, &url, "alice").await;
            query(&location)["code"].clone()
        }
    };
    let token = |form: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
        let mut request = http()
            .post(format!("{}/oauth/token", router.url))
            .form(&form);
        if let Some((user, pass)) = basic {
            request = request.basic_auth(user, Some(pass));
        }
        request.send()
    };
    let (verifier, challenge) = pkce();
    let code = get_code(challenge).await;
    let form = |code: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("code_verifier", verifier.to_owned()),
            ("redirect_uri", "https://app.example/cb".to_owned()),
        ]
    };
    // Without the secret: 401 invalid_client.
    let mut no_secret = form(&code, &verifier);
    no_secret.push(("client_id", id.clone()));
    let (status, error, _) = error_code(token(no_secret, None).await.unwrap()).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));

    // client_secret_basic works.
    let (verifier, challenge) = pkce();
    let code = get_code(challenge).await;
    assert_eq!(
        token(form(&code, &verifier), Some((id.clone(), secret.clone())))
            .await
            .unwrap()
            .status(),
        200
    );

    // client_secret_post works; a wrong one does not.
    let (verifier, challenge) = pkce();
    let code = get_code(challenge).await;
    let mut wrong = form(&code, &verifier);
    wrong.extend([
        ("client_id", id.clone()),
        ("client_secret", "nope".to_owned()),
    ]);
    let (status, error, _) = error_code(token(wrong, None).await.unwrap()).await;
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    let mut right = form(&code, &verifier);
    right.extend([("client_id", id.clone()), ("client_secret", secret.clone())]);
    assert_eq!(
        token(right, None).await.unwrap().status(),
        200,
        "the code survives a failed client authentication"
    );
    router.stop().await;
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_the_grant() {
    let router = router().await;
    let (client_id, tokens) = tokens_for(&router, "alice").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let revoked = http()
        .post(format!("{}/oauth/revoke", router.url))
        .form(&[("token", refresh_token), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, error, _) = error_code(refresh(&router, &client_id, refresh_token).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    router.stop().await;
}

#[tokio::test]
async fn not_you_signs_out_and_lets_another_user_sign_in_for_the_same_request() {
    let router = router().await;
    let AtConsent {
        client_id,
        browser,
        verifier,
        consent,
    } = alice_at_consent(&router).await;
    assert!(consent.body.contains("Not you?"));
    let out = browser
        .post(
            &format!("{}/signout", router.url),
            &[("request", &hidden(&consent.body, "request"))],
        )
        .await;
    assert_eq!(out.status, 303);
    assert!(
        !browser.has_cookie("roost-session"),
        "the session cookie is cleared"
    );
    let location = out.location.unwrap();
    assert!(location.starts_with("/signin?request="), "{location}");
    let as_bob = sign_in(&router, &browser, &location, "bob", PASSWORD).await;
    let consent = browser
        .get(&absolute(&router, as_bob.location.as_deref().unwrap()))
        .await;
    assert!(consent.body.contains("bob"), "{}", consent.body);
    let allowed = browser
        .post(
            &format!("{}/oauth/authorize/consent", router.url),
            &[
                ("request", &hidden(&consent.body, "request")),
                ("csrf", &hidden(&consent.body, "csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    let tokens: Value = exchange(
        &router,
        &client_id,
        &query(allowed.location.as_deref().unwrap())["code"],
        &verifier,
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = router
        .state
        .settings
        .verifier
        .verify(tokens["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(router.state.oauth.signin().label(&claims.sub).await, "bob");

    // Signing out without a request ends on the "you can close this window" page.
    let done = browser.post(&format!("{}/signout", router.url), &[]).await;
    assert_eq!(done.status, 200);
    assert!(
        done.body.contains("You can close this window"),
        "{}",
        done.body
    );
    router.stop().await;
}

#[tokio::test]
async fn the_sign_in_page_lists_providers_and_an_unreachable_one_fails_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth.toml");
    std::fs::write(
        &file,
        "[[oidc]]\nid = \"corp\"\nname = \"Corp SSO\"\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"roost\"\nclient_secret = \"s\"\n\n\
         [github]\nclient_id = \"Iv1.x\"\nclient_secret = \"s\"\n",
    )
    .unwrap();
    let router = TestRouter::start(
        TestOptions::default()
            .account("alice", PASSWORD)
            .arg(format!("--oauth-config={}", file.display())),
    )
    .await;
    let client_id = register(&router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (_, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, &client_id, &challenge, &[]))
        .await;
    let page = browser
        .get(&absolute(&router, first.location.as_deref().unwrap()))
        .await;
    for words in ["Continue with Corp SSO", "Continue with GitHub", "Username"] {
        assert!(
            page.body.contains(words),
            "sign-in page lacks {words:?}:\n{}",
            page.body
        );
    }
    // GitHub: the button leads to github.com's authorize page with state and PKCE.
    let request = hidden(&page.body, "request");
    // Only in the browser that started the request: another one is refused at both starts
    // (else it could be signed in to an account of the request's owner's choosing).
    for start in [
        format!("{}/signin/github?request={request}", router.url),
        format!("{}/signin/oidc/corp?request={request}", router.url),
    ] {
        let stranger = Browser::default().get(&start).await;
        assert_eq!(stranger.status, 403, "{start}: {}", stranger.body);
    }
    let github = browser
        .get(&format!("{}/signin/github?request={request}", router.url))
        .await;
    assert_eq!(github.status, 303);
    let to = github.location.unwrap();
    assert!(
        to.starts_with("https://github.com/login/oauth/authorize?")
            && to.contains("code_challenge="),
        "{to}"
    );
    assert!(
        browser.has_cookie("roost-signin"),
        "the flow is bound to this browser"
    );
    // A callback without that browser's cookie is refused.
    let state = query(&to)["state"].clone();
    let stranger = Browser::default()
        .get(&format!(
            "{}/signin/callback/github?code=x&state={state}",
            router.url
        ))
        .await;
    assert_eq!(stranger.status, 403);
    // The OIDC provider is down: the user reads that sign-in did not finish, not a stack trace.
    let corp = browser
        .get(&format!(
            "{}/signin/oidc/corp?request={request}",
            router.url
        ))
        .await;
    assert_eq!(corp.status, 502);
    assert!(
        corp.body.contains("Sign-in did not finish") && corp.body.contains("Corp SSO"),
        "{}",
        corp.body
    );
    router.stop().await;
}

//! The test OpenID provider (`tests/js/oidc-provider.mjs`, npm `oidc-provider`) works the way
//! the router uses it, before the router is involved: discovery, code + PKCE S256 + nonce,
//! its sign-in form submitted by the cookie-keeping form browser, an ID token for the right
//! account; a wrong password stays on the form. The sign-in tests through the router build on it.

use roost_e2e::node::{run_script, start_server};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

#[tokio::test]
async fn each_test_account_signs_in_and_gets_its_own_subject() {
    let provider = start_server("oidc-provider.mjs", &[("OIDC_REDIRECT_URIS", REDIRECT)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let issuer = provider.ready["issuer"]
        .as_str()
        .expect("the provider prints its issuer")
        .to_owned();
    assert!(
        issuer.starts_with("http://127.0.0.1:"),
        "loopback only: {issuer}"
    );

    for (login, password) in [("alice", "alice-password"), ("bob", "bob-password")] {
        let out = run_script(
            "oidc-provider-check.mjs",
            &[
                ("OIDC_ISSUER", &issuer),
                ("OIDC_CLIENT_ID", "roost"),
                ("OIDC_CLIENT_SECRET", "roost-secret"),
                ("OIDC_REDIRECT_URI", REDIRECT),
                ("OIDC_LOGIN", login),
                ("OIDC_PASSWORD", password),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out["issuer"], issuer.as_str(), "{out}");
        assert_eq!(out["sub"], login, "{out}");
        assert_eq!(out["email"], format!("{login}@example.test"), "{out}");
        assert_eq!(out["nonceMatches"], true, "{out}");
        assert_eq!(out["stateEchoed"], true, "{out}");
        assert_eq!(
            out["iss"],
            issuer.as_str(),
            "RFC 9207 iss in the redirect: {out}"
        );
    }

    let wrong = run_script(
        "oidc-provider-check.mjs",
        &[
            ("OIDC_ISSUER", &issuer),
            ("OIDC_CLIENT_ID", "roost"),
            ("OIDC_CLIENT_SECRET", "roost-secret"),
            ("OIDC_REDIRECT_URI", REDIRECT),
            ("OIDC_LOGIN", "alice"),
            ("OIDC_PASSWORD", "not-her-password"),
        ],
    )
    .await
    .expect_err("a wrong password must not sign in");
    assert!(
        wrong.to_string().contains("Wrong username or password"),
        "{wrong}"
    );
}

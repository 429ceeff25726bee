//! Configuration a deployment depends on: pre-registered clients from the config file (with a
//! hashed secret), local accounts from the file, and start-up refusals.

mod common;

use clap::Parser as _;
use common::oauth::*;
use roost_router::config::Config;
use roost_router::testing::{TestOptions, TestRouter};
use sha2::{Digest as _, Sha256};

#[tokio::test]
async fn pre_registered_clients_and_accounts_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "first-party-secret";
    let hash = roost_router::signin::local::hash_password("file password".into())
        .await
        .unwrap();
    let file = dir.path().join("oauth.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[clients]]
client_id = "first-party"
client_name = "First Party"
redirect_uris = ["{REDIRECT}"]
client_secret_sha256 = "{}"
trusted = true

[[accounts]]
username = "carol"
password_hash = "{hash}"
"#,
            hex::encode(Sha256::digest(secret.as_bytes()))
        ),
    )
    .unwrap();
    let router =
        TestRouter::start(TestOptions::default().arg(format!("--oauth-config={}", file.display())))
            .await;
    let browser = Browser::default();
    let (verifier, challenge) = pkce();
    let first = browser
        .get(&authorize_url(&router, "first-party", &challenge, &[]))
        .await;
    let signin = first.location.unwrap();
    let page = browser.get(&absolute(&router, &signin)).await;
    let signed_in = browser
        .post(
            &format!("{}/signin/local", router.url),
            &[
                ("request", &hidden(&page.body, "request")),
                ("csrf", &hidden(&page.body, "csrf")),
                ("username", "carol"),
                ("password", "file password"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    // A trusted first-party client skips the consent page.
    let back = browser
        .get(&absolute(&router, signed_in.location.as_deref().unwrap()))
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    let code = query(back.location.as_deref().unwrap())["code"].clone();
    let response = http()
        .post(format!("{}/oauth/token", router.url))
        .basic_auth("first-party", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    router.stop().await;
}

fn config(public_url: &str, extra: &[&str]) -> Result<(), String> {
    let key = roost_token::SigningKey::generate().to_pkcs8_pem();
    let mut args = vec![
        "roost-router".to_owned(),
        format!("--public-url={public_url}"),
        format!("--signing-key={key}"),
        "--fly-api-token=x".to_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Config::try_parse_from(args)
        .unwrap()
        .settings()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn the_router_refuses_to_start_with_dev_signin_off_loopback() {
    let err = config("https://mcp.example.com", &["--dev-signin=true"]).unwrap_err();
    assert!(err.contains("ROOST_DEV_SIGNIN"), "{err}");
    assert!(config("http://127.0.0.1:8080", &["--dev-signin=true"]).is_ok());
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let err = config("http://mcp.example.com", &[]).unwrap_err();
    assert!(
        err.contains("ROOST_PUBLIC_URL") && err.contains("https"),
        "{err}"
    );
}

#[test]
fn a_config_file_with_a_bad_client_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth.toml");
    std::fs::write(
        &file,
        "[[clients]]\nclient_id = \"x\"\nredirect_uris = [\"http://evil.example/cb\"]\n",
    )
    .unwrap();
    let err = config(
        "https://mcp.example.com",
        &[&format!("--oauth-config={}", file.display())],
    )
    .unwrap_err();
    assert!(
        err.contains("ROOST_OAUTH_CONFIG") && err.contains("loopback"),
        "{err}"
    );
}

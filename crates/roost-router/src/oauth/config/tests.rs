use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    oauth: OAuthConfig,
}

fn parse(args: &[&str]) -> OAuthConfig {
    let mut all = vec!["x"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).unwrap().oauth
}

#[test]
fn defaults_are_short_lived_and_secure() {
    let s = parse(&[])
        .settings(
            "https://mcp.example.com",
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
        )
        .unwrap();
    assert_eq!(s.access_token_ttl, Duration::from_secs(3600));
    assert_eq!(s.refresh_grace, Duration::from_secs(30));
    assert!(s.secure_cookies && s.dcr && s.cimd && !s.dev_signin);
}

#[test]
fn plain_http_and_dev_signin_are_refused_off_loopback() {
    let err = parse(&[])
        .settings(
            "http://mcp.example.com",
            "http://mcp.example.com/mcp",
            "http://mcp.example.com",
        )
        .unwrap_err();
    assert_eq!(err.var, "ROOST_PUBLIC_URL");
    let err = parse(&["--dev-signin", "true"])
        .settings(
            "https://mcp.example.com",
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
        )
        .unwrap_err();
    assert_eq!(err.var, "ROOST_DEV_SIGNIN");
    let ok = parse(&["--dev-signin", "true"])
        .settings(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/mcp",
            "http://127.0.0.1:8080",
        )
        .unwrap();
    assert!(ok.dev_signin && !ok.secure_cookies);
}

#[test]
fn provider_secrets_stay_out_of_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth.toml");
    std::fs::write(
        &file,
        "[[oidc]]\nid = \"corp\"\nname = \"Corp\"\nissuer = \"https://id.example\"\n\
         client_id = \"roost\"\nclient_secret = \"hunter2\"\n\n\
         [github]\nclient_id = \"Iv1.x\"\nclient_secret = \"hunter3\"\n",
    )
    .unwrap();
    let mut c = parse(&[]);
    c.oauth_config = Some(file);
    let s = c
        .settings(
            "https://m.example",
            "https://m.example/mcp",
            "https://m.example",
        )
        .unwrap();
    assert_eq!(s.oidc[0].1.0, "hunter2");
    let text = format!("{s:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("hunter3"),
        "{text}"
    );
}

#[test]
fn password_hashes_and_secret_digests_stay_out_of_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth.toml");
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    std::fs::write(
        &file,
        format!(
            "[[accounts]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\n\n\
             [[clients]]\nclient_id = \"first\"\nredirect_uris = [\"https://a.example/cb\"]\n\
             client_secret_sha256 = \"{digest}\"\n"
        ),
    )
    .unwrap();
    let mut c = parse(&[]);
    c.oauth_config = Some(file);
    let s = c
        .settings(
            "https://m.example",
            "https://m.example/mcp",
            "https://m.example",
        )
        .unwrap();
    assert_eq!(s.accounts[0].password_hash, hash);
    for text in [format!("{s:?}"), format!("{:?}", s.accounts[0])] {
        assert!(text.contains("alice"), "{text}");
        assert!(
            !text.contains("argon2id") && !text.contains("iWh06") && !text.contains(digest),
            "{text}"
        );
    }
    assert!(format!("{s:?}").contains("first"));
}

#[test]
fn account_hashes_with_other_argon2_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth.toml");
    // `argon2 … -id -e` with its defaults (t=3, m=4 MiB).
    std::fs::write(
        &file,
        "[[accounts]]\nusername = \"alice\"\n\
         password_hash = \"$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A\"\n",
    )
    .unwrap();
    let mut c = parse(&[]);
    c.oauth_config = Some(file);
    let err = c
        .settings(
            "https://m.example",
            "https://m.example/mcp",
            "https://m.example",
        )
        .unwrap_err();
    assert_eq!(err.var, "ROOST_OAUTH_CONFIG");
    let text = err.to_string();
    assert!(
        text.contains("\"alice\"")
            && text.contains("m=4096,t=3,p=1")
            && text.contains("roost admin hash-password"),
        "{text}"
    );
}

fn github_settings(web_url: &str, api_url: &str) -> Result<OAuthSettings, OAuthConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth.toml");
    std::fs::write(
        &file,
        format!(
            "[github]\nclient_id = \"Iv1.x\"\nclient_secret = \"s\"\n\
             web_url = \"{web_url}\"\napi_url = \"{api_url}\"\n"
        ),
    )
    .unwrap();
    let mut c = parse(&[]);
    c.oauth_config = Some(file);
    c.settings(
        "https://m.example",
        "https://m.example/mcp",
        "https://m.example",
    )
}

#[test]
fn github_urls_must_be_absolute_https() {
    let ok = "https://github.example.com";
    assert!(github_settings(ok, "https://github.example.com/api/v3").is_ok());
    assert!(github_settings("http://127.0.0.1:9999", "http://127.0.0.1:9999/api").is_ok());
    for (web, api, words) in [
        ("github.example.com", ok, "web_url"),
        ("http://github.example.com", ok, "unencrypted"),
        (ok, "github.example.com/api/v3", "api_url"),
        (ok, "http://github.example.com/api/v3", "unencrypted"),
        (ok, "ftp://github.example.com", "not https"),
    ] {
        let err = github_settings(web, api).unwrap_err();
        assert_eq!(err.var, "ROOST_OAUTH_CONFIG");
        assert!(err.to_string().contains(words), "{web} {api}: {err}");
    }
}

#[test]
fn clients_json_with_a_fragment_redirect_is_refused() {
    let mut c = parse(&[]);
    c.oauth_clients =
        Some(r#"[{"client_id":"a","redirect_uris":["https://a.example/cb#x"]}]"#.into());
    let err = c
        .settings(
            "https://m.example",
            "https://m.example/mcp",
            "https://m.example",
        )
        .unwrap_err();
    assert!(err.to_string().contains("fragment"), "{err}");
}

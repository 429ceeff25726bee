//! Sign-in end to end: real MCP clients (the official TypeScript SDKs), a real OpenID provider
//! and a real browser complete roost's OAuth flow through flylocal's edge, then use the user's
//! own workspace: DCR and CIMD registration, local accounts, sign-in upstream with two people
//! who get two tenants, a refresh that the user never notices, and screenshots of every page.

mod support;

use std::path::PathBuf;

use roost_e2e::node::{run_script, start_server};
use serde_json::Value;
use support::stack::{Reservation, Stack, StackOptions, repo_root};

const WORKSPACE: &str = env!("CARGO_BIN_EXE_roost-e2e-workspace");
const PASSWORD: &str = "correct horse battery staple";

fn options() -> StackOptions {
    StackOptions::new(WORKSPACE).account("alice", PASSWORD)
}

async fn sdk_client(stack: &Stack, env: &[(&str, &str)]) -> Value {
    let mut all = vec![("MCP_URL", stack.mcp_url.as_str())];
    all.extend_from_slice(env);
    run_script("mcp-oauth-client.mjs", &all)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// What every successful sign-in must show, whatever the client and the way it registered.
fn assert_signed_in_and_refreshed(stack: &Stack, out: &Value) -> String {
    let params = &out["authorizationUrl"]["params"];
    assert_eq!(params["response_type"], "code", "{out}");
    assert_eq!(params["code_challenge_method"], "S256", "{out}");
    assert_eq!(
        params["resource"],
        stack.mcp_url.as_str(),
        "RFC 8707 resource is the MCP URL: {out}"
    );
    assert!(
        params["state"].as_str().is_some_and(|s| !s.is_empty()),
        "{out}"
    );
    assert_eq!(
        out["authorizationUrl"]["origin"],
        stack.public_url.as_str(),
        "{out}"
    );
    assert_eq!(
        out["callback"]["iss"],
        stack.public_url.as_str(),
        "RFC 9207 iss: {out}"
    );
    assert_eq!(
        out["callback"]["state"], params["state"],
        "state echoed: {out}"
    );

    let claims = &out["claims"];
    assert_eq!(claims["aud"], stack.mcp_url.as_str(), "{out}");
    let sub = claims["sub"].as_str().expect("sub");
    let tenant = claims["tenant"].as_str().expect("tenant");
    assert_eq!(
        tenant,
        stack.tenant_of(sub),
        "the token names the user's own tenant: {out}"
    );
    assert!(
        claims["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "roost:workspace"),
        "{out}"
    );
    assert_eq!(claims["client_id"], out["clientId"], "{out}");

    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"read_file") && tools.contains(&"write_file"),
        "{out}"
    );
    assert_eq!(out["writeIsError"], false, "{out}");
    let text = out["readText"].as_str().unwrap();
    assert!(
        text.contains("signed in with"),
        "the workspace served the call: {out}"
    );

    assert_eq!(out["hasRefreshToken"], true, "{out}");
    assert_eq!(
        out["refreshed"], true,
        "the SDK refreshed after the 401: {out}"
    );
    assert_eq!(
        out["refreshTokenRotated"], true,
        "refresh tokens rotate on use: {out}"
    );
    assert_eq!(out["accessTokenChanged"], true, "{out}");
    assert_eq!(
        out["readAfterRefresh"], text,
        "still the same workspace after the refresh: {out}"
    );
    assert_eq!(out["tenantAfterRefresh"], tenant, "{out}");

    // Figures for the record (cargo test -- --nocapture): a cold first sign-in includes
    // provisioning the user's app, volume and machine and starting the workspace process.
    println!("{} {}: {}", out["sdk"], out["registration"], out["timings"]);

    let machines: Vec<_> = stack
        .fly
        .machines()
        .into_iter()
        .filter(|m| m.app == tenant)
        .collect();
    assert_eq!(machines.len(), 1, "one machine for the user: {machines:?}");
    tenant.to_owned()
}

#[tokio::test]
async fn the_2025_sdk_registers_signs_in_uses_its_workspace_and_refreshes() {
    let stack = Stack::start(options()).await;
    let out = sdk_client(
        &stack,
        &[
            ("MCP_SDK", "v1"),
            ("MCP_REGISTRATION", "dcr"),
            ("MCP_LOGIN", "alice"),
            ("MCP_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_signed_in_and_refreshed(&stack, &out);
    assert_eq!(out["protocolVersion"], "2025-11-25", "{out}");
    let titles: Vec<&str> = out["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("Sign in")),
        "the sign-in page was shown: {titles:?}"
    );
    assert!(
        titles.iter().any(|t| t.contains("Allow")),
        "the consent page was shown: {titles:?}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_2026_sdk_registers_signs_in_uses_its_workspace_and_refreshes() {
    let stack = Stack::start(options()).await;
    let out = sdk_client(
        &stack,
        &[
            ("MCP_SDK", "v2"),
            ("MCP_REGISTRATION", "dcr"),
            ("MCP_LOGIN", "alice"),
            ("MCP_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_signed_in_and_refreshed(&stack, &out);
    assert_eq!(out["protocolVersion"], "2026-07-28", "{out}");
    stack.stop().await;
}

#[tokio::test]
async fn a_client_metadata_document_url_is_the_client_id() {
    let stack = Stack::start(options()).await;
    let out = sdk_client(
        &stack,
        &[
            ("MCP_SDK", "v1"),
            ("MCP_REGISTRATION", "cimd"),
            ("MCP_LOGIN", "alice"),
            ("MCP_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_signed_in_and_refreshed(&stack, &out);
    let client_id = out["clientId"].as_str().unwrap();
    assert!(
        client_id.ends_with("/oauth/client.json"),
        "the document URL is the client id: {out}"
    );
    assert_eq!(
        out["authorizationUrl"]["params"]["client_id"], client_id,
        "{out}"
    );
    assert!(
        out["cimdFetches"].as_u64().unwrap() >= 1,
        "the router fetched the document: {out}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn two_people_signing_in_through_an_openid_provider_get_two_tenants() {
    // The router's public URL must be known to register its callback at the provider, and the
    // provider's issuer must be known to configure the router: reserve the ports first.
    let ports = Reservation::new().await;
    let callback = format!("{}/signin/callback/oidc/testidp", ports.public_url);
    let provider = start_server(
        "oidc-provider.mjs",
        &[
            ("OIDC_REDIRECT_URIS", &callback),
            ("OIDC_CLIENT_ID", "roost"),
            ("OIDC_CLIENT_SECRET", "roost-secret"),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let issuer = provider.ready["issuer"].as_str().unwrap();
    let config = format!(
        "[[oidc]]\nid = \"testidp\"\nname = \"Test IdP\"\nissuer = \"{issuer}\"\nclient_id = \"roost\"\nclient_secret = \"roost-secret\"\n"
    );
    let stack =
        Stack::start_reserved(ports, StackOptions::new(WORKSPACE).oauth_config(config)).await;

    let mut tenants = Vec::new();
    for (login, password) in [("alice", "alice-password"), ("bob", "bob-password")] {
        let out = sdk_client(
            &stack,
            &[
                ("MCP_SDK", "v1"),
                ("MCP_SIGNIN_PROVIDER", "Test IdP"),
                ("MCP_LOGIN_FIELD", "login"),
                ("MCP_LOGIN", login),
                ("MCP_PASSWORD", password),
                ("MCP_FILE", &format!("{login}.txt")),
            ],
        )
        .await;
        let tenant = assert_signed_in_and_refreshed(&stack, &out);
        let pages: Vec<&str> = out["pages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["url"].as_str())
            .collect();
        assert!(
            pages.iter().any(|u| u.starts_with(issuer)),
            "signed in at the provider: {pages:?}"
        );
        tenants.push(tenant);
    }
    assert_ne!(
        tenants[0], tenants[1],
        "alice and bob each get their own workspace"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_real_browser_signs_in_with_a_local_account_and_consents() {
    let stack = Stack::start(options()).await;
    let dir: PathBuf = repo_root().join("target/e2e-screenshots");
    let out = run_script(
        "browser-signin.mjs",
        &[
            ("MCP_URL", &stack.mcp_url),
            ("MCP_LOGIN", "alice"),
            ("MCP_PASSWORD", PASSWORD),
            ("SCREENSHOT_DIR", dir.to_str().unwrap()),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let pages = out["pages"].as_array().unwrap();
    let names: Vec<&str> = pages.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["sign-in", "consent", "done"], "{out}");
    for page in pages {
        let shot = PathBuf::from(page["screenshot"].as_str().unwrap());
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "a screenshot of {}: {shot:?}", page["name"]);
    }
    let consent = &pages[1];
    assert!(
        consent["text"]
            .as_str()
            .unwrap()
            .contains("Browser E2E Client"),
        "the consent page names the client: {consent}"
    );
    assert!(
        consent["text"].as_str().unwrap().contains("127.0.0.1"),
        "and where it sends you back: {consent}"
    );
    // The page lists exactly what the app asked for, and the token carries exactly that.
    let requested = out["requestedScope"].as_str().unwrap_or_default();
    let asks_to_run = requested.split(' ').any(|s| s == "roost:run");
    assert_eq!(
        consent["text"].as_str().unwrap().contains("Run commands"),
        asks_to_run,
        "requested {requested:?}: {consent}"
    );
    assert_eq!(out["grantedScope"], requested, "{out}");
    let csp = consent["contentSecurityPolicy"]
        .as_str()
        .unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "the consent page cannot be framed: {consent}"
    );
    assert_eq!(out["outcome"], "AUTHORIZED", "{out}");
    assert_eq!(out["hasAccessToken"], true, "{out}");
    assert_eq!(out["callback"]["iss"], stack.public_url.as_str(), "{out}");
    stack.stop().await;
}

#[tokio::test]
async fn a_real_browser_signs_in_through_the_openid_provider() {
    let ports = Reservation::new().await;
    let callback = format!("{}/signin/callback/oidc/testidp", ports.public_url);
    let provider = start_server("oidc-provider.mjs", &[("OIDC_REDIRECT_URIS", &callback)])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let issuer = provider.ready["issuer"].as_str().unwrap();
    let config = format!(
        "[[oidc]]\nid = \"testidp\"\nname = \"Test IdP\"\nissuer = \"{issuer}\"\nclient_id = \"roost\"\nclient_secret = \"roost-secret\"\n"
    );
    let stack =
        Stack::start_reserved(ports, StackOptions::new(WORKSPACE).oauth_config(config)).await;
    let dir: PathBuf = repo_root().join("target/e2e-screenshots/oidc");
    let out = run_script(
        "browser-signin.mjs",
        &[
            ("MCP_URL", &stack.mcp_url),
            ("SIGNIN_PROVIDER", "Test IdP"),
            ("MCP_LOGIN", "bob"),
            ("MCP_PASSWORD", "bob-password"),
            ("SCREENSHOT_DIR", dir.to_str().unwrap()),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let pages = out["pages"].as_array().unwrap();
    let names: Vec<&str> = pages.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        names,
        ["sign-in", "provider-sign-in", "consent", "done"],
        "{out}"
    );
    assert!(
        pages[0]["text"]
            .as_str()
            .unwrap()
            .contains("Continue with Test IdP"),
        "{out}"
    );
    assert!(
        pages[1]["url"].as_str().unwrap().starts_with(issuer),
        "the provider's own page: {out}"
    );
    assert_eq!(out["outcome"], "AUTHORIZED", "{out}");
    stack.stop().await;
}

//! The token gate over real HTTP: status codes and `WWW-Authenticate` challenges a client's
//! OAuth logic depends on.

mod common;

use common::{Harness, Server, TENANT, modern, post};
use reqwest::{Client, Response};
use roost_token::{JwkSet, SigningKey};
use serde_json::json;

fn list_tools() -> serde_json::Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} })
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_owned()
}

async fn send_with(server: &Server, token: Option<&str>) -> Response {
    post(&Client::new(), server, token, &list_tools())
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_token_gets_401_pointing_at_the_resource_metadata() {
    let harness = Harness::new();
    let server = harness.start().await;
    let response = send_with(&server, None).await;
    assert_eq!(response.status(), 401);
    let value = challenge(&response);
    let metadata = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        server.host
    );
    assert!(value.starts_with("Bearer "), "{value}");
    assert!(
        value.contains(&format!(r#"resource_metadata="{metadata}""#)),
        "{value}"
    );
    assert!(value.contains(r#"scope="roost:workspace""#), "{value}");
    assert!(
        !value.contains("error="),
        "no error code without a token: {value}"
    );

    // The metadata document it points at exists and names this server and its issuer.
    let doc: serde_json::Value = Client::new()
        .get(&metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], server.audience);
    assert_eq!(doc["authorization_servers"][0], common::ISSUER);
    server.stop().await;
}

#[tokio::test]
async fn bad_tokens_get_401_invalid_token_with_a_reason() {
    let harness = Harness::new();
    let server = harness.start().await;

    let mut expired = server.claims();
    expired.iat -= 7200;
    expired.nbf -= 7200;
    expired.exp -= 7200;
    let mut wrong_audience = server.claims();
    wrong_audience.aud = "https://someone-else.example.com/mcp".into();
    let mut wrong_issuer = server.claims();
    wrong_issuer.iss = "https://evil.example.com".into();
    let other_signer = roost_token::SigningKey::generate();

    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        ("expired", server.sign(&expired)),
        ("wrong audience", server.sign(&wrong_audience)),
        ("wrong issuer", server.sign(&wrong_issuer)),
        ("unknown key", other_signer.sign(&server.claims()).unwrap()),
    ];
    for (case, token) in cases {
        let response = send_with(&server, Some(&token)).await;
        assert_eq!(response.status(), 401, "{case}");
        let value = challenge(&response);
        assert!(
            value.contains(r#"error="invalid_token""#),
            "{case}: {value}"
        );
        assert!(value.contains("error_description=\""), "{case}: {value}");
        assert!(value.contains("resource_metadata="), "{case}: {value}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_token_for_another_tenant_is_forbidden() {
    let harness = Harness::new();
    let server = harness.start().await;
    let mut claims = server.claims();
    claims.tenant = format!("{TENANT}-other");
    let response = send_with(&server, Some(&server.sign(&claims))).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("another workspace")
    );
    server.stop().await;
}

#[tokio::test]
async fn run_command_without_the_run_scope_is_403_insufficient_scope() {
    let harness = Harness::new();
    let server = harness.start().await;
    let mut claims = server.claims();
    claims.scope = "roost:workspace".into();
    let token = server.sign(&claims);
    let client = Client::new();

    let response = modern(
        &client,
        &server,
        &token,
        1,
        "tools/call",
        json!({
            "name": "run_command", "arguments": { "command": "echo hi" }
        }),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 403);
    let value = challenge(&response);
    assert!(value.contains(r#"error="insufficient_scope""#), "{value}");
    assert!(
        value.contains(r#"scope="roost:workspace roost:run""#),
        "{value}"
    );

    // Other tools still work with the same token, and run_command is not even listed.
    let response = modern(&client, &server, &token, 2, "tools/list", json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = common::rpc(response).await;
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"read_file"), "{names:?}");
    assert!(!names.contains(&"run_command"), "{names:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_token_without_the_workspace_scope_is_403() {
    let harness = Harness::new();
    let server = harness.start().await;
    let mut claims = server.claims();
    claims.scope = "roost:run".into();
    let response = send_with(&server, Some(&server.sign(&claims))).await;
    assert_eq!(response.status(), 403);
    assert!(challenge(&response).contains(r#"scope="roost:workspace""#));
    server.stop().await;
}

#[tokio::test]
async fn a_good_token_gets_through() {
    let harness = Harness::new();
    let server = harness.start().await;
    let client = Client::new();
    let response = modern(
        &client,
        &server,
        &server.token(),
        1,
        "tools/list",
        json!({}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let body = common::rpc(response).await;
    let tools = body["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for expected in [
        "read_file",
        "write_file",
        "edit_file",
        "list_files",
        "search_files",
        "move_file",
        "delete_file",
        "run_command",
        "remember",
        "recall",
        "forget",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    // The tool list depends on the token's scopes: never cacheable across users.
    assert_eq!(body["result"]["cacheScope"], "private");
    server.stop().await;
}

/// A JWKS endpoint whose key set the test can change (the router rotating its signing key).
async fn jwks_server(keys: std::sync::Arc<std::sync::Mutex<JwkSet>>) -> String {
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let keys = keys.clone();
            async move { axum::Json(keys.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn keys_from_a_jwks_url_follow_rotation_but_refetches_are_rate_limited() {
    let harness = Harness::new();
    let keys = std::sync::Arc::new(std::sync::Mutex::new(JwkSet {
        keys: vec![harness.signer.public_jwk()],
    }));
    let url = jwks_server(keys.clone()).await;
    let server = harness
        .start_with(|c| {
            c.token_keys = None;
            c.jwks_url = Some(url);
        })
        .await;
    let client = Client::new();
    let list = |token: String| {
        let request = modern(&client, &server, &token, 1, "tools/list", json!({}));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(list(server.token()).await, 200);

    // The router rotates: a new key appears in its JWKS and signs new tokens.
    let rotated = SigningKey::generate();
    keys.lock().unwrap().keys.push(rotated.public_jwk());
    let token = rotated.sign(&server.claims()).unwrap();
    assert_eq!(list(token).await, 200, "rotated key not picked up");

    // A second unknown key right after that does not cause another fetch: refused.
    let next = SigningKey::generate();
    keys.lock().unwrap().keys.push(next.public_jwk());
    let token = next.sign(&server.claims()).unwrap();
    let response = send_with(&server, Some(&token)).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains(r#"error="invalid_token""#));
    server.stop().await;
}

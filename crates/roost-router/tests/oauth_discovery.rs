//! Discovery over real HTTP: the documents MCP clients fetch before anything else.

mod common;

use common::oauth::*;
use serde_json::Value;

async fn json(url: String) -> Value {
    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn authorization_server_metadata_has_every_field_clients_check() {
    let router = router().await;
    let base = &router.url;
    // The RFC 8414 path first, then OIDC discovery: both serve the same document.
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let doc = json(format!("{base}{path}")).await;
        assert_eq!(
            doc["issuer"], *base,
            "issuer is byte-identical to the derived one"
        );
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["client_id_metadata_document_supported"], true);
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            doc["registration_endpoint"],
            format!("{base}/oauth/register")
        );
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{base}/oauth/authorize")
        );
        assert_eq!(doc["token_endpoint"], format!("{base}/oauth/token"));
        assert_eq!(doc["jwks_uri"], format!("{base}/.well-known/jwks.json"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        let methods = doc["token_endpoint_auth_methods_supported"].to_string();
        for m in ["none", "client_secret_basic", "client_secret_post"] {
            assert!(methods.contains(m), "{m}");
        }
    }
    // A path-suffixed form for a path-less issuer is not one clients derive: not served.
    let status = http()
        .get(format!(
            "{base}/.well-known/oauth-authorization-server/other"
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    router.stop().await;
}

#[tokio::test]
async fn protected_resource_metadata_names_the_mcp_url_and_this_issuer() {
    let router = router().await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let doc = json(format!("{}{path}", router.url)).await;
        assert_eq!(doc["resource"], router.mcp_url);
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!([router.url])
        );
        // Only the baseline scope: a first consent does not ask for shell access.
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["roost:workspace"])
        );
    }
    // The 401 on /mcp points at it and names the scope.
    let response = http().post(&router.mcp_url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            router.url
        )),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"roost:workspace\""),
        "{challenge}"
    );
    router.stop().await;
}

#[tokio::test]
async fn issued_tokens_verify_with_the_published_jwks() {
    let router = router().await;
    let (_, tokens) = tokens_for(&router, "alice").await;
    let jwks: roost_token::JwkSet =
        serde_json::from_value(json(format!("{}/.well-known/jwks.json", router.url)).await)
            .unwrap();
    let mut verifier = roost_token::Verifier::new(router.url.clone(), router.mcp_url.clone());
    verifier.add_jwks(&jwks).unwrap();
    let claims = verifier
        .verify(tokens["access_token"].as_str().unwrap())
        .unwrap();
    assert!(claims.has_scope("roost:workspace"));
    router.stop().await;
}

#[tokio::test]
async fn browser_based_clients_may_call_the_oauth_endpoints_cross_origin() {
    let router = router().await;
    let preflight = http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/oauth/token", router.url),
        )
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let metadata = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            router.url
        ))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
    // So are the discovery documents a client reads before any of those.
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
        "/.well-known/jwks.json",
    ] {
        let preflight = http()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", router.url))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "mcp-protocol-version")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{path}");
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "*",
            "{path}"
        );
        let doc = http()
            .get(format!("{}{path}", router.url))
            .header("origin", "http://localhost:6274")
            .send()
            .await
            .unwrap();
        assert_eq!(doc.status(), 200, "{path}");
        assert_eq!(doc.headers()["access-control-allow-origin"], "*", "{path}");
    }
    // The consent and sign-in pages are not for scripts.
    let page = http()
        .get(format!("{}/signin", router.url))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert!(!page.headers().contains_key("access-control-allow-origin"));
    router.stop().await;
}

#[tokio::test]
async fn an_issued_token_passes_the_routers_own_gate_and_tenant_check() {
    let router = roost_router::testing::TestRouter::start(
        roost_router::testing::TestOptions::default()
            .account("alice", PASSWORD)
            .arg("--provision-wait=1s"),
    )
    .await;
    let (_, tokens) = tokens_for(&router, "alice").await;
    let response = http()
        .post(&router.mcp_url)
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    // No Fly here, so the request waits for provisioning and gets 503 + Retry-After: what
    // matters is that it got past authentication (401) and the tenant check (403).
    assert_eq!(response.status(), 503, "{:?}", response.headers());
    assert!(!response.headers().contains_key("www-authenticate"));
    router.stop().await;
}

#[tokio::test]
async fn an_issuer_with_a_path_is_discovered_at_the_three_derived_urls() {
    let router = roost_router::testing::TestRouter::start(roost_router::testing::TestOptions {
        issuer_path: Some("/auth".into()),
        ..roost_router::testing::TestOptions::default()
    })
    .await;
    let issuer = format!("{}/auth", router.url);
    for path in [
        "/.well-known/oauth-authorization-server/auth",
        "/.well-known/openid-configuration/auth",
        "/auth/.well-known/openid-configuration",
    ] {
        let doc = json(format!("{}{path}", router.url)).await;
        assert_eq!(doc["issuer"], issuer, "{path}");
    }
    // The path-less URLs belong to a different issuer: not served.
    let status = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            router.url
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    // Authorization responses carry the same issuer.
    let client_id = register(&router, &[REDIRECT]).await;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &router,
        &client_id,
        &challenge,
        &[("resource", Some("https://wrong.example/mcp"))],
    );
    let page = Browser::default().get(&url).await;
    assert_eq!(query(page.location.as_deref().unwrap())["iss"], issuer);
    router.stop().await;
}

//! Client ID Metadata Documents over real HTTP: a document served by the test on loopback
//! (admitted only by the test fetch policy), its validation and caching, and the SSRF
//! refusals under the production policy and on redirect hops.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::oauth::*;
use roost_router::testing::{TestOptions, TestRouter};
use serde_json::Value;

/// A metadata-document server on loopback; counts the requests it answers.
struct DocServer {
    base: String,
    hits: Arc<AtomicUsize>,
}

async fn doc_server() -> DocServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted =
        |hits: Arc<AtomicUsize>, base: String, f: fn(&str) -> axum::response::Response| {
            move || {
                hits.fetch_add(1, Ordering::SeqCst);
                let base = base.clone();
                async move { f(&base) }
            }
        };
    let app = Router::new()
        .route(
            "/good.json",
            get(counted(hits.clone(), base.clone(), |base| {
                let mut headers = HeaderMap::new();
                headers.insert(header::CACHE_CONTROL, "public, max-age=300".parse().unwrap());
                let doc = serde_json::json!({
                    "client_id": format!("{base}/good.json"),
                    "client_name": "Metadata App",
                    "client_uri": "https://metadata-app.example",
                    "redirect_uris": [REDIRECT],
                    "token_endpoint_auth_method": "none",
                });
                (headers, axum::Json(doc)).into_response()
            })),
        )
        .route(
            "/liar.json",
            get(counted(hits.clone(), base.clone(), |_| {
                axum::Json(serde_json::json!({ "client_id": "https://trusted.example/app.json", "redirect_uris": [REDIRECT] }))
                    .into_response()
            })),
        )
        .route(
            "/hop-private",
            get(counted(hits.clone(), base.clone(), |_| {
                (StatusCode::FOUND, [(header::LOCATION, "http://10.0.0.7/client.json")]).into_response()
            })),
        )
        .route(
            "/hop-metadata-service",
            get(counted(hits.clone(), base.clone(), |_| {
                (StatusCode::FOUND, [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")]).into_response()
            })),
        )
        .route(
            "/big.json",
            get(counted(hits.clone(), base.clone(), |_| "x".repeat(100 * 1024).into_response())),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    DocServer { base, hits }
}

#[tokio::test]
async fn a_metadata_document_client_signs_in_and_is_shown_on_the_consent_page() {
    let docs = doc_server().await;
    let router = router().await;
    let client_id = format!("{}/good.json", docs.base);
    let (verifier, challenge) = pkce();
    let browser = Browser::default();
    let url = authorize_url(&router, &client_id, &challenge, &[]);
    let first = browser.get(&url).await;
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
    for words in [
        "Metadata App",
        "Published by <strong>127.0.0.1</strong>",
        "on this computer",
    ] {
        assert!(
            consent.body.contains(words),
            "consent page lacks {words:?}:\n{}",
            consent.body
        );
    }
    assert!(
        !consent.body.contains("metadata-app.example"),
        "the document's own claim about its home is not shown as if verified"
    );
    let location = authorize_with_consent(&router, &browser, &url, "alice").await;
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
    assert_eq!(claims.client_id, client_id);
    // Cache-Control: max-age=300 was honoured: one fetch served the whole flow.
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1);
    router.stop().await;
}

async fn refused_page(router: &TestRouter, client_id: &str) -> String {
    let (_, challenge) = pkce();
    let page = Browser::default()
        .get(&authorize_url(router, client_id, &challenge, &[]))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.location.is_none(),
        "an unusable client is never redirected to"
    );
    page.body
}

#[tokio::test]
async fn a_document_naming_another_client_id_is_refused() {
    let docs = doc_server().await;
    let router = router().await;
    let body = refused_page(&router, &format!("{}/liar.json", docs.base)).await;
    assert!(body.contains("not its own URL"), "{body}");
    // The failure is remembered: asking again does not fetch again.
    let again = refused_page(&router, &format!("{}/liar.json", docs.base)).await;
    assert!(again.contains("not its own URL"), "{again}");
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1);
    router.stop().await;
}

#[tokio::test]
async fn a_document_larger_than_the_cap_is_refused() {
    let docs = doc_server().await;
    let router = router().await;
    let body = refused_page(&router, &format!("{}/big.json", docs.base)).await;
    assert!(body.contains("larger than"), "{body}");
    router.stop().await;
}

#[tokio::test]
async fn a_redirect_hop_to_a_private_address_is_refused() {
    let docs = doc_server().await;
    let router = router().await;
    for path in ["/hop-private", "/hop-metadata-service"] {
        let body = refused_page(&router, &format!("{}{path}", docs.base)).await;
        assert!(body.contains("private or reserved"), "{path}: {body}");
    }
    router.stop().await;
}

#[tokio::test]
async fn a_metadata_url_resolving_to_a_private_address_is_refused_before_connecting() {
    let docs = doc_server().await;
    let router = TestRouter::start(TestOptions {
        production_fetch_policy: true,
        ..TestOptions::default()
    })
    .await;
    let port = docs.base.rsplit(':').next().unwrap();
    // `localhost` resolves to 127.0.0.1: refused by the resolver, so nothing is fetched.
    let body = refused_page(&router, &format!("https://localhost:{port}/good.json")).await;
    assert!(body.contains("private or reserved"), "{body}");
    // Literal private addresses and plain http are refused too.
    let body = refused_page(&router, "https://192.168.1.10/client.json").await;
    assert!(body.contains("private or reserved"), "{body}");
    let body = refused_page(&router, &format!("{}/good.json", docs.base)).await;
    assert!(body.contains("only https"), "{body}");
    assert_eq!(
        docs.hits.load(Ordering::SeqCst),
        0,
        "the test server was never contacted"
    );
    router.stop().await;
}

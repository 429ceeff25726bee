//! Helpers for the OAuth integration tests: a cookie-keeping "browser" over reqwest, PKCE,
//! registration, and the sign-in + consent walk through the real pages.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use roost_router::testing::{TestOptions, TestRouter};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use url::Url;

pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";
pub const PASSWORD: &str = "correct horse battery";

/// A router with local account `alice`.
pub async fn router() -> TestRouter {
    TestRouter::start(
        TestOptions::default()
            .account("alice", PASSWORD)
            .account("bob", PASSWORD),
    )
    .await
}

/// The same on every database available: SQLite, and PostgreSQL when `ROOST_TEST_DATABASE_URL`
/// is set.
pub async fn routers() -> Vec<TestRouter> {
    let mut all = vec![router().await];
    if let Some(url) = roost_router::testing::fresh_postgres_url().await {
        let mut options = TestOptions::default()
            .account("alice", PASSWORD)
            .account("bob", PASSWORD);
        options.database_url = Some(url);
        all.push(TestRouter::start(options).await);
    }
    all
}

/// A plain HTTP client that never follows redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Registers a public native client with `redirect_uris`; returns its id.
pub async fn register(router: &TestRouter, redirect_uris: &[&str]) -> String {
    let response = http()
        .post(format!("{}/oauth/register", router.url))
        .json(&serde_json::json!({
            "redirect_uris": redirect_uris,
            "client_name": "Test Client",
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "registration refused");
    response.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The authorization URL with the usual parameters, then `extra` (replacing same-named ones;
/// a value of `None` drops the parameter).
pub fn authorize_url(
    router: &TestRouter,
    client_id: &str,
    challenge: &str,
    extra: &[(&str, Option<&str>)],
) -> String {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client_id.into()),
        ("redirect_uri".into(), REDIRECT.into()),
        ("code_challenge".into(), challenge.into()),
        ("code_challenge_method".into(), "S256".into()),
        ("resource".into(), router.mcp_url.clone()),
        ("scope".into(), "roost:workspace".into()),
        ("state".into(), "st-123".into()),
    ];
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if let Some(v) = v {
            params.push(((*k).into(), (*v).into()));
        }
    }
    let mut url = Url::parse(&format!("{}/oauth/authorize", router.url)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A browser: keeps cookies, follows nothing by itself.
#[derive(Clone, Default)]
pub struct Browser {
    cookies: Arc<Mutex<HashMap<String, String>>>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let mut cookies = self.cookies.lock().unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub fn forget_cookie(&self, name: &str) {
        self.cookies.lock().unwrap().remove(name);
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.lock().unwrap().contains_key(name)
    }

    pub async fn get(&self, url: &str) -> Page {
        self.get_from("127.0.0.1", url).await
    }

    /// A page fetched from client address `ip` (the `fly-client-ip` header).
    pub async fn get_from(&self, ip: &str, url: &str) -> Page {
        let response = http()
            .get(url)
            .header("cookie", self.cookie_header())
            .header("fly-client-ip", ip)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        self.post_from("127.0.0.1", url, form).await
    }

    /// A form post from client address `ip` (the `fly-client-ip` header).
    pub async fn post_from(&self, ip: &str, url: &str, form: &[(&str, &str)]) -> Page {
        let response = http()
            .post(url)
            .header("cookie", self.cookie_header())
            .header("fly-client-ip", ip)
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Starts an authorization request for `client_id` and opens its sign-in page; returns the
    /// page's request id and CSRF value.
    pub async fn signin_form(&self, router: &TestRouter, client_id: &str) -> (String, String) {
        let (_, challenge) = pkce();
        let first = self
            .get(&authorize_url(router, client_id, &challenge, &[]))
            .await;
        let page = self
            .get(&absolute(router, first.location.as_deref().unwrap()))
            .await;
        (hidden(&page.body, "request"), hidden(&page.body, "csrf"))
    }
}

/// The value of hidden input `name` in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in page:\n{body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// Absolute URL of a relative `Location`.
pub fn absolute(router: &TestRouter, location: &str) -> String {
    if location.starts_with('/') {
        format!("{}{location}", router.url)
    } else {
        location.to_owned()
    }
}

/// The query parameters of a redirect to the client.
pub fn query(location: &str) -> HashMap<String, String> {
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Signs in on the real sign-in page from a `/signin?request=…` redirect; returns the next page.
pub async fn sign_in(
    router: &TestRouter,
    browser: &Browser,
    signin_location: &str,
    username: &str,
    password: &str,
) -> Page {
    let page = browser.get(&absolute(router, signin_location)).await;
    assert_eq!(page.status, 200, "sign-in page: {}", page.body);
    let request = hidden(&page.body, "request");
    let csrf = hidden(&page.body, "csrf");
    browser
        .post(
            &format!("{}/signin/local", router.url),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
}

/// Opens the authorization request `url` in a browser with no session, signs `username` in on
/// the real page, and returns the page that follows (the consent page for a new client).
pub async fn consent_page(
    router: &TestRouter,
    browser: &Browser,
    url: &str,
    username: &str,
) -> Page {
    let first = browser.get(url).await;
    let signin = first
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("expected a redirect to sign-in: {}", first.body));
    let signed_in = sign_in(router, browser, signin, username, PASSWORD).await;
    let next = signed_in
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("sign-in did not redirect: {}", signed_in.body));
    browser.get(&absolute(router, next)).await
}

/// Where most consent tests start: a newly registered client's authorization request, in a
/// fresh browser signed in as alice, standing on the consent page.
pub struct AtConsent {
    pub client_id: String,
    pub browser: Browser,
    pub verifier: String,
    pub consent: Page,
}

pub async fn alice_at_consent(router: &TestRouter) -> AtConsent {
    let client_id = register(router, &[REDIRECT]).await;
    let browser = Browser::default();
    let (verifier, challenge) = pkce();
    let consent = consent_page(
        router,
        &browser,
        &authorize_url(router, &client_id, &challenge, &[]),
        "alice",
    )
    .await;
    AtConsent {
        client_id,
        browser,
        verifier,
        consent,
    }
}

/// Walks authorize → sign-in → consent (allow) as `username`; returns the redirect to the client.
pub async fn authorize_with_consent(
    router: &TestRouter,
    browser: &Browser,
    url: &str,
    username: &str,
) -> String {
    let mut page = browser.get(url).await;
    if page
        .location
        .as_deref()
        .is_some_and(|l| l.starts_with("/signin"))
    {
        let signed_in = sign_in(
            router,
            browser,
            page.location.as_deref().unwrap(),
            username,
            PASSWORD,
        )
        .await;
        assert_eq!(signed_in.status, 303, "sign-in failed: {}", signed_in.body);
        page = browser
            .get(&absolute(router, signed_in.location.as_deref().unwrap()))
            .await;
    }
    if page.status == 200 {
        assert!(
            page.body.contains("Allow"),
            "expected the consent page: {}",
            page.body
        );
        let request = hidden(&page.body, "request");
        let csrf = hidden(&page.body, "csrf");
        page = browser
            .post(
                &format!("{}/oauth/authorize/consent", router.url),
                &[
                    ("request", &request),
                    ("csrf", &csrf),
                    ("decision", "allow"),
                ],
            )
            .await;
    }
    assert_eq!(
        page.status, 303,
        "expected a redirect to the client: {}",
        page.body
    );
    page.location.unwrap()
}

/// Exchanges `code` at the token endpoint as a public client.
pub async fn exchange(
    router: &TestRouter,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/token", router.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("resource", &router.mcp_url),
        ])
        .send()
        .await
        .unwrap()
}

/// An authorization code for `alice` with a fresh client: (client id, code, PKCE verifier).
pub async fn code(router: &TestRouter) -> (String, String, String) {
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

/// Refreshes as a public client.
pub async fn refresh(
    router: &TestRouter,
    client_id: &str,
    refresh_token: &str,
) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/token", router.url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

/// A full sign-in for `username` with a fresh client: (client id, token response JSON).
pub async fn tokens_for(router: &TestRouter, username: &str) -> (String, Value) {
    let client_id = register(router, &[REDIRECT]).await;
    let (verifier, challenge) = pkce();
    let browser = Browser::default();
    let location = authorize_with_consent(
        router,
        &browser,
        &authorize_url(router, &client_id, &challenge, &[]),
        username,
    )
    .await;
    let code = query(&location)["code"].clone();
    let response = exchange(router, &client_id, &code, &verifier).await;
    assert_eq!(response.status(), 200);
    (client_id, response.json().await.unwrap())
}

/// An OAuth error body's `error` code.
pub async fn error_code(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

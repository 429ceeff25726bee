//! Shared harness for the integration tests: a real server on port 0, a test token signer, and
//! raw MCP requests over HTTP. (`tests/common/mod.rs` is cargo's convention for a module shared
//! by several integration-test crates without becoming a test crate itself.)
#![allow(dead_code)] // each test crate uses a different part of the harness

use std::{path::PathBuf, time::Duration};

use reqwest::{Client, RequestBuilder, Response};
use roost_token::{AccessClaims, JwkSet, SigningKey};
use roost_workspace::{Config, Exit};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

pub const TENANT: &str = "roost-u-test";
pub const ISSUER: &str = "https://auth.roost.test";
pub const USER: &str = "user-1";
pub const ALL_SCOPES: &str = "roost:workspace roost:run";
pub const LEGACY: &str = "2025-11-25";
pub const MODERN: &str = "2026-07-28";

/// A signer and a data dir that outlive individual server runs (for restart tests).
pub struct Harness {
    pub signer: SigningKey,
    pub data: TempDir,
}

/// One running server.
pub struct Server {
    pub url: String,
    pub audience: String,
    pub host: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<Exit>>>,
    signer: SigningKey,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            signer: SigningKey::generate(),
            data: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.path().to_owned()
    }

    /// The default test configuration for a server at `audience`.
    pub fn config(&self, audience: &str) -> Config {
        let jwks = serde_json::to_string(&JwkSet {
            keys: vec![self.signer.public_jwk()],
        })
        .expect("jwks");
        Config::for_tests(TENANT, ISSUER, audience, &jwks, self.data_dir())
    }

    /// Start a server with the default configuration.
    pub async fn start(&self) -> Server {
        self.start_with(|_| {}).await
    }

    /// Start a server after adjusting its configuration.
    pub async fn start_with(&self, adjust: impl FnOnce(&mut Config)) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let host = format!("127.0.0.1:{}", address.port());
        let audience = format!("http://{host}/mcp");
        let mut config = self.config(&audience);
        adjust(&mut config);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(roost_workspace::run(listener, config, async move {
            let _ = rx.await;
        }));
        let server = Server {
            url: audience.clone(),
            audience,
            host,
            shutdown: Some(tx),
            task: Some(task),
            signer: self.signer.clone(),
        };
        server.wait_ready().await;
        server
    }
}

impl Server {
    /// Claims for a valid token for this server, to tweak before signing.
    pub fn claims(&self) -> AccessClaims {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        AccessClaims {
            iss: ISSUER.into(),
            aud: self.audience.clone(),
            sub: USER.into(),
            tenant: TENANT.into(),
            scope: ALL_SCOPES.into(),
            client_id: "test-client".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: format!("jti-{now}-{}", rand_suffix()),
        }
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.signer.sign(claims).expect("sign")
    }

    /// A valid token with every scope.
    pub fn token(&self) -> String {
        self.sign(&self.claims())
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.host)
    }

    async fn wait_ready(&self) {
        let client = Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/livez", self.base())).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("server did not come up");
    }

    /// Trigger the graceful shutdown (what SIGTERM does) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Wait for `run` to return.
    pub async fn exit(&mut self) -> Exit {
        let task = self.task.take().expect("already joined");
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("server did not stop")
            .expect("server task panicked")
            .expect("server returned an error")
    }

    /// Graceful stop and wait.
    pub async fn stop(mut self) -> Exit {
        self.begin_shutdown();
        self.exit().await
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A POST to `/mcp` with the headers every Streamable HTTP client sends.
pub fn post(client: &Client, server: &Server, token: Option<&str>, body: &Value) -> RequestBuilder {
    let mut request = client
        .post(&server.url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
}

/// A 2026-07-28 request: `_meta` plus the mirrored headers (SEP-2243).
pub fn modern(
    client: &Client,
    server: &Server,
    token: &str,
    id: u64,
    method: &str,
    mut params: Value,
) -> RequestBuilder {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "roost-tests", "version": "1" },
    });
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    let mut request = post(client, server, Some(token), &body)
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    request
}

/// The JSON-RPC message in a response, whether sent as JSON or as an SSE stream (the last
/// `data:` event that carries an `id`).
pub async fn rpc(response: Response) -> Value {
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = response.text().await.expect("body");
    if !is_sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    text.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some() && (v.get("result").is_some() || v.get("error").is_some()))
        .unwrap_or_else(|| panic!("no JSON-RPC response in SSE body: {text}"))
}

/// Legacy handshake: `initialize` + `notifications/initialized`; returns the session id.
pub async fn initialize(client: &Client, server: &Server, token: &str) -> String {
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": { "name": "roost-tests", "version": "1" }
        }
    });
    let response = post(client, server, Some(token), &init)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "initialize failed");
    let session = response
        .headers()
        .get("mcp-session-id")
        .expect("initialize must return a session id")
        .to_str()
        .unwrap()
        .to_owned();
    let body = rpc(response).await;
    assert_eq!(body["result"]["serverInfo"]["name"], "roost-workspace");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = legacy(client, server, token, &session, &initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    session
}

/// A request inside a legacy session.
pub fn legacy(
    client: &Client,
    server: &Server,
    token: &str,
    session: &str,
    body: &Value,
) -> RequestBuilder {
    post(client, server, Some(token), body)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", LEGACY)
}

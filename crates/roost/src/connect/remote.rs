//! The HTTP side of `roost connect`: one POST per JSON-RPC message, the headers the Streamable
//! HTTP transport requires, JSON and SSE responses, the legacy session (id, GET stream,
//! DELETE on exit), and a retry after signing in again when the server answers 401.
//!
//! Header rules (`shared/reference/mcp.md` §1): every POST accepts both `application/json` and
//! `text/event-stream`; a legacy session's id and negotiated `MCP-Protocol-Version` go on every
//! request after `initialize`; a 2026-07-28 request carries its version in
//! `params._meta` and must mirror it, its method and (for `tools/call`, `resources/read`,
//! `prompts/get`) its name in headers, base64-wrapped when not plain ASCII (SEP-2243).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use url::Url;

use super::oauth::{Authorizer, SignInError};

const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The first protocol revision without sessions, where the version travels in `_meta`.
const STATELESS_ERA: &str = "2026-07-28";
/// Longest error body quoted back to the user.
const QUOTED_BODY: usize = 300;

/// Why a message could not be delivered. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The HTTP client could not be built.
    #[error("cannot set up HTTP: {0}")]
    Client(reqwest::Error),
    /// The server could not be reached or the connection broke.
    #[error("cannot reach {url}: {source} (check the URL and your network or proxy)")]
    Unreachable {
        /// The MCP URL.
        url: Url,
        /// The cause.
        source: reqwest::Error,
    },
    /// The server refused the credentials and signing in again did not help.
    #[error("the server refused the access token ({status}); {hint}")]
    Refused {
        /// 401 or 403.
        status: StatusCode,
        /// What to do about it.
        hint: &'static str,
    },
    /// Signing in failed.
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// The server ended the session; the client must start over with `initialize`.
    #[error("the server ended the MCP session; reconnect the client to start a new one")]
    SessionExpired,
    /// The server answered with an error status and no JSON-RPC error to pass on.
    #[error("the server answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The server sent something that is not JSON-RPC.
    #[error("the server sent a reply that is not JSON: {0}")]
    NotJson(String),
}

/// Where the bearer token comes from.
pub enum Auth {
    /// `--token`: used as is; a 401 is final.
    Fixed(String),
    /// OAuth sign-in with stored, refreshed tokens.
    OAuth(Box<Authorizer>),
}

impl Auth {
    async fn token(&self) -> Result<Option<String>, SignInError> {
        match self {
            Auth::Fixed(token) => Ok(Some(token.clone())),
            Auth::OAuth(authorizer) => authorizer.token().await,
        }
    }
}

/// The legacy-era session the server assigned, if any.
#[derive(Debug, Default)]
struct Session {
    id: Option<String>,
    protocol_version: Option<String>,
    /// The task reading the GET stream, aborted when the client leaves.
    listener: Option<tokio::task::AbortHandle>,
}

/// The remote MCP endpoint and the state the shim keeps for it.
pub struct Remote {
    url: Url,
    http: reqwest::Client,
    auth: Auth,
    session: Mutex<Session>,
}

impl Remote {
    /// A remote at `url`. No request is made until the first message.
    pub fn new(url: Url, auth: Auth) -> Result<Self, RemoteError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("roost-connect/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(RemoteError::Client)?;
        Ok(Self {
            url,
            http,
            auth,
            session: Mutex::new(Session::default()),
        })
    }

    /// Delivers one message from the client and writes what comes back to `out`. A request
    /// that cannot be delivered is answered with a JSON-RPC error, so the client never waits
    /// for a reply that will not come; the reason also goes to stderr.
    pub async fn forward(self: &Arc<Self>, message: Value, out: &mpsc::Sender<Value>) {
        let id = message.get("id").cloned();
        let is_request = id.is_some() && message.get("method").is_some();
        match self.post(&message, out).await {
            Ok(()) => {
                if message.get("method").and_then(Value::as_str)
                    == Some("notifications/initialized")
                {
                    self.start_listening(out.clone());
                }
            }
            Err(e) => {
                eprintln!("roost connect: {e}");
                if is_request {
                    let _ = out
                        .send(error_response(
                            id.unwrap_or(Value::Null),
                            -32000,
                            &e.to_string(),
                        ))
                        .await;
                }
            }
        }
    }

    async fn post(&self, message: &Value, out: &mpsc::Sender<Value>) -> Result<(), RemoteError> {
        let is_initialize = message.get("method").and_then(Value::as_str) == Some("initialize");
        let mut signed_in_again = false;
        loop {
            let token = self.auth.token().await?;
            let request = self
                .http
                .post(self.url.clone())
                .header(ACCEPT, "application/json, text/event-stream")
                .header(CONTENT_TYPE, "application/json")
                .body(message.to_string());
            let (request, sent_session) = self.headers(request, token.as_deref(), Some(message));
            let response = request
                .send()
                .await
                .map_err(|source| RemoteError::Unreachable {
                    url: self.url.clone(),
                    source,
                })?;
            if let Some(challenge) = self.needs_sign_in(&response) {
                if signed_in_again {
                    return Err(refused(response.status()));
                }
                let Auth::OAuth(authorizer) = &self.auth else {
                    return Err(refused(response.status()));
                };
                authorizer
                    .sign_in_again(&challenge, token.as_deref())
                    .await?;
                signed_in_again = true;
                continue;
            }
            if is_initialize && let Some(id) = header(&response, SESSION_ID) {
                self.session.lock().expect("session lock").id = Some(id);
            }
            let status = response.status();
            if status == StatusCode::NOT_FOUND && sent_session {
                // Spec: a 404 for a request that carried a session id means the session is
                // gone; the client must send a fresh `initialize` (mcp.md §1.2).
                let mut session = self.session.lock().expect("session lock");
                if let Some(listener) = session.listener.take() {
                    listener.abort();
                }
                *session = Session::default();
                return Err(RemoteError::SessionExpired);
            }
            if !status.is_success() {
                return self.relay_error(response, message.get("id"), out).await;
            }
            return self.relay(response, is_initialize, out).await;
        }
    }

    /// The challenge to sign in against, when the response asks for (more) authorization:
    /// 401, or 403 `insufficient_scope` (step-up, mcp.md §2.1).
    fn needs_sign_in(&self, response: &Response) -> Option<String> {
        let challenge = header(response, WWW_AUTHENTICATE.as_str()).unwrap_or_default();
        match response.status() {
            StatusCode::UNAUTHORIZED => Some(challenge),
            StatusCode::FORBIDDEN if challenge.contains("insufficient_scope") => Some(challenge),
            _ => None,
        }
    }

    /// Adds the auth, session and protocol-version headers; says whether a session id went out.
    fn headers(
        &self,
        mut request: RequestBuilder,
        token: Option<&str>,
        message: Option<&Value>,
    ) -> (RequestBuilder, bool) {
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let (session_id, negotiated_version) = {
            let session = self.session.lock().expect("session lock");
            (session.id.clone(), session.protocol_version.clone())
        };
        let modern_version = message
            .and_then(|m| m.pointer("/params/_meta"))
            .and_then(|meta| meta.get(META_PROTOCOL_VERSION))
            .and_then(Value::as_str);
        if let (Some(version), Some(message)) = (modern_version, message) {
            request = request.header(PROTOCOL_VERSION, version);
            if version >= STATELESS_ERA {
                for (name, value) in mirrored_headers(message) {
                    request = request.header(name, value);
                }
            }
            return (request, false);
        }
        let is_initialize = message
            .and_then(|m| m.get("method"))
            .and_then(Value::as_str)
            == Some("initialize");
        if is_initialize {
            return (request, false);
        }
        if let Some(version) = &negotiated_version {
            request = request.header(PROTOCOL_VERSION, version);
        }
        match &session_id {
            Some(id) => (request.header(SESSION_ID, id), true),
            None => (request, false),
        }
    }

    /// Writes a successful response's messages to `out`: one JSON body, an SSE stream, or
    /// nothing (202 for a notification).
    async fn relay(
        &self,
        response: Response,
        is_initialize: bool,
        out: &mpsc::Sender<Value>,
    ) -> Result<(), RemoteError> {
        let is_sse = header(&response, CONTENT_TYPE.as_str())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !is_sse {
            let body = response
                .bytes()
                .await
                .map_err(|source| RemoteError::Unreachable {
                    url: self.url.clone(),
                    source,
                })?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let message: Value =
                serde_json::from_slice(&body).map_err(|e| RemoteError::NotJson(e.to_string()))?;
            self.note_version(&message, is_initialize);
            let _ = out.send(message).await;
            return Ok(());
        }
        let mut events = sse_stream::SseStream::from_bytes_stream(response.bytes_stream());
        while let Some(event) = events.next().await {
            let event =
                event.map_err(|e| RemoteError::NotJson(format!("broken event stream: {e}")))?;
            // Priming events (2025-11-25, SEP-1699) carry an id and no data.
            let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                continue;
            };
            let message: Value =
                serde_json::from_str(&data).map_err(|e| RemoteError::NotJson(e.to_string()))?;
            self.note_version(&message, is_initialize);
            let _ = out.send(message).await;
        }
        Ok(())
    }

    /// Passes a JSON-RPC error body on as is (the client understands it better than we do);
    /// otherwise says what the status was.
    async fn relay_error(
        &self,
        response: Response,
        id: Option<&Value>,
        out: &mpsc::Sender<Value>,
    ) -> Result<(), RemoteError> {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if let Ok(mut message) = serde_json::from_str::<Value>(&body)
            && message.get("error").is_some()
        {
            if message.get("id").is_none_or(Value::is_null)
                && let Some(id) = id
            {
                message["id"] = id.clone();
            }
            let _ = out.send(message).await;
            return Ok(());
        }
        let body: String = body.chars().take(QUOTED_BODY).collect();
        Err(RemoteError::Status {
            status,
            body: body.trim().to_owned(),
        })
    }

    /// Remembers the protocol version `initialize` negotiated, for the header on later requests.
    fn note_version(&self, message: &Value, is_initialize: bool) {
        if is_initialize
            && let Some(version) = message
                .pointer("/result/protocolVersion")
                .and_then(Value::as_str)
        {
            self.session.lock().expect("session lock").protocol_version = Some(version.to_owned());
        }
    }

    /// Opens the legacy GET stream for server-initiated messages once the session is set up.
    /// Servers without one answer 405, which ends the attempt quietly.
    fn start_listening(self: &Arc<Self>, out: mpsc::Sender<Value>) {
        let mut session = self.session.lock().expect("session lock");
        if session.id.is_none() || session.listener.is_some() {
            return;
        }
        let remote = Arc::clone(self);
        session.listener =
            Some(tokio::spawn(async move { remote.listen(out).await }).abort_handle());
    }

    async fn listen(&self, out: mpsc::Sender<Value>) {
        let mut failures = 0u32;
        while failures < 5 && !out.is_closed() {
            let Ok(token) = self.auth.token().await else {
                return;
            };
            let request = self
                .http
                .get(self.url.clone())
                .header(ACCEPT, "text/event-stream");
            let (request, sent_session) = self.headers(request, token.as_deref(), None);
            if !sent_session {
                return;
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    failures = 0;
                    if let Err(e) = self.relay(response, false, &out).await {
                        tracing::debug!(error = %e, "server stream ended");
                    }
                }
                Ok(response) => {
                    tracing::debug!(status = %response.status(), "no server stream");
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "server stream failed");
                    failures += 1;
                }
            }
            tokio::time::sleep(Duration::from_secs(1 << failures.min(4))).await;
        }
    }

    /// Ends the legacy session, if there is one (the client has closed stdin). The server may
    /// not allow it (405); either way we are done.
    pub async fn close(&self) {
        // Stop reading the GET stream first: it holds the way to stdout open.
        if let Some(listener) = self.session.lock().expect("session lock").listener.take() {
            listener.abort();
        }
        let Ok(token) = self.auth.token().await else {
            return;
        };
        let request = self.http.delete(self.url.clone());
        let (request, sent_session) = self.headers(request, token.as_deref(), None);
        if sent_session {
            let _ = tokio::time::timeout(Duration::from_secs(5), request.send()).await;
        }
    }
}

fn refused(status: StatusCode) -> RemoteError {
    let hint = if status == StatusCode::FORBIDDEN {
        "your sign-in does not allow this operation; ask the operator for access"
    } else {
        "sign in again with `roost connect --logout URL` and reconnect, or check --token"
    };
    RemoteError::Refused { status, hint }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The 2026-07-28 mirrored headers for `message` (SEP-2243): `Mcp-Method` always, `Mcp-Name`
/// for the methods that name a tool, resource or prompt.
fn mirrored_headers(message: &Value) -> Vec<(&'static str, HeaderValue)> {
    let mut headers = Vec::new();
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return headers;
    };
    headers.push(("mcp-method", header_value(method)));
    let name = match method {
        "tools/call" | "prompts/get" => message.pointer("/params/name"),
        "resources/read" => message.pointer("/params/uri"),
        _ => None,
    };
    if let Some(name) = name.and_then(Value::as_str) {
        headers.push(("mcp-name", header_value(name)));
    }
    headers
}

/// A header value: as is when it is visible ASCII without edge spaces, else
/// `=?base64?<base64 of the UTF-8>?=` (the 2026-07-28 rule for unsafe values).
fn header_value(text: &str) -> HeaderValue {
    let plain = !text.is_empty()
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !text.starts_with(' ')
        && !text.ends_with(' ');
    let encoded = if plain {
        text.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
    };
    HeaderValue::from_str(&encoded).expect("visible ASCII is a valid header value")
}

/// A JSON-RPC error response with `id`.
pub fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_requests_mirror_method_and_name() {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file"}});
        let headers = mirrored_headers(&call);
        assert_eq!(
            headers,
            vec![
                ("mcp-method", HeaderValue::from_static("tools/call")),
                ("mcp-name", HeaderValue::from_static("read_file"))
            ]
        );
        let read = json!({"method": "resources/read", "params": {"uri": "file:///notes.md"}});
        assert_eq!(mirrored_headers(&read)[1].1, "file:///notes.md");
        let list = json!({"method": "tools/list", "params": {}});
        assert_eq!(mirrored_headers(&list).len(), 1, "tools/list names nothing");
    }

    #[test]
    fn names_that_are_not_plain_ascii_are_base64_wrapped() {
        assert_eq!(header_value("résumé.md"), "=?base64?csOpc3Vtw6kubWQ=?=");
        assert_eq!(header_value(" padded"), "=?base64?IHBhZGRlZA==?=");
        assert_eq!(header_value("line\nbreak"), "=?base64?bGluZQpicmVhaw==?=");
        assert_eq!(header_value("notes/todo.md"), "notes/todo.md");
    }

    #[test]
    fn error_responses_keep_the_request_id() {
        let e = error_response(json!("req-7"), -32000, "cannot reach the server");
        assert_eq!(e["id"], "req-7");
        assert_eq!(e["error"]["code"], -32000);
        assert_eq!(e["jsonrpc"], "2.0");
    }
}

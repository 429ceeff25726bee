//! The token gate: an axum layer in front of `/mcp` that lets only this tenant's user in.
//!
//! The Fly proxy replays requests here after the router checked the token, but this server
//! never trusts that (defence in depth, DESIGN.md §request paths 7): every request is verified
//! again, with the rules of the MCP authorization spec (2025-11-25 / 2026-07-28 §"Token
//! handling", RFC 6750 §3, RFC 9728 §5.1):
//!
//! | situation | answer |
//! |---|---|
//! | no token | 401 `WWW-Authenticate: Bearer resource_metadata="…", scope="roost:workspace"` |
//! | bad signature, expired, wrong `aud`/`iss` | 401 `error="invalid_token", error_description="…"` |
//! | valid token for another tenant | 403 (logged: an isolation alarm) |
//! | token lacks a scope the operation needs | 403 `error="insufficient_scope", scope="<all needed>"` |
//! | legacy session id created by another user | 404, as if the session did not exist |
//!
//! The gate also measures activity for the idle watchdog and refuses new work once a drain has
//! begun. The verified [`Principal`] rides in the request extensions, where tool adapters find
//! it through rmcp's `http::request::Parts`.

pub mod keys;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    body::Body,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use http::{HeaderValue, Method, StatusCode, header};
use roost_token::{AccessClaims, scopes};
use serde_json::json;

use crate::{
    idle::IdleWatchdog,
    metrics,
    sessions::{Ownership, SqliteSessionStore},
};
use keys::TokenKeys;

/// The session header of the legacy Streamable HTTP transport.
const SESSION_HEADER: &str = "mcp-session-id";

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user id (`sub`).
    pub subject: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

impl Principal {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn from_claims(claims: &AccessClaims) -> Self {
        Self {
            subject: claims.sub.clone(),
            client_id: claims.client_id.clone(),
            scopes: claims.scopes().map(str::to_owned).collect(),
        }
    }
}

/// The scopes an operation needs: every MCP request needs `roost:workspace`; `run_command` also
/// needs `roost:run`, so an operator (or user) can withhold shell access.
pub fn required_scopes(method: &str, tool: Option<&str>) -> &'static [&'static str] {
    match (method, tool) {
        ("tools/call", Some("run_command")) => &[scopes::WORKSPACE, scopes::RUN],
        _ => &[scopes::WORKSPACE],
    }
}

/// What the gate needs; cheap to clone.
#[derive(Clone)]
pub struct Gate {
    /// Verification keys.
    pub keys: TokenKeys,
    /// This server's tenant id; tokens for any other tenant are refused.
    pub tenant: Arc<str>,
    /// Protected-resource metadata URL, named in every challenge.
    pub resource_metadata_url: Arc<str>,
    /// Legacy sessions and their owners.
    pub sessions: SqliteSessionStore,
    /// Activity tracker for the idle exit.
    pub watchdog: IdleWatchdog,
    /// Set when a drain starts: new requests get 503.
    pub draining: Arc<AtomicBool>,
    /// Body size cap (bodies are buffered here to find the method and tool name).
    pub max_body_bytes: usize,
}

/// The axum middleware function (use with `axum::middleware::from_fn_with_state`).
pub async fn gate(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let http_method = request.method().clone();
    let (response, method) = gate.check(request, next).await;
    let label = method.unwrap_or_else(|| http_method.as_str().to_owned());
    metrics::request(&label, metrics::outcome(response.status()));
    response
}

impl Gate {
    /// Run all checks; returns the response and the JSON-RPC method when one was read.
    async fn check(&self, request: Request, next: Next) -> (Response, Option<String>) {
        if self.draining.load(Ordering::Acquire) {
            return (draining_response(), None);
        }
        let Some(token) = bearer_token(&request) else {
            return (
                self.challenge(StatusCode::UNAUTHORIZED, None, &[scopes::WORKSPACE]),
                None,
            );
        };
        let claims = match self.keys.verify(token).await {
            Ok(claims) => claims,
            Err(error) => {
                tracing::info!(reason = error.description(), "refused an access token");
                let extra = format!(
                    r#"error="invalid_token", error_description="{}""#,
                    error.description()
                );
                return (
                    self.challenge(StatusCode::UNAUTHORIZED, Some(&extra), &[scopes::WORKSPACE]),
                    None,
                );
            }
        };
        if claims.tenant != *self.tenant {
            // The router only replays a user's requests to their own app, so this means a
            // routing bug or an attack: either way worth an alarm.
            tracing::error!(
                token_tenant = %claims.tenant,
                tenant = %self.tenant,
                sub = %claims.sub,
                jti = %claims.jti,
                "isolation alarm: a token for another tenant reached this machine"
            );
            return (
                json_error(
                    StatusCode::FORBIDDEN,
                    "this access token belongs to another workspace",
                ),
                None,
            );
        }
        let principal = Principal::from_claims(&claims);

        // Read the JSON-RPC method (and tool name) so the scope check works for every protocol
        // era: legacy clients do not send the Mcp-Method/Mcp-Name headers.
        let (parts, body) = request.into_parts();
        let bytes = if parts.method == Method::POST {
            match axum::body::to_bytes(body, self.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(_) => return (payload_too_large(self.max_body_bytes), None),
            }
        } else {
            axum::body::Bytes::new()
        };
        let (method, tool) = rpc_method(&bytes);
        let needed = required_scopes(method.as_deref().unwrap_or_default(), tool.as_deref());
        if let Some(missing) = needed.iter().find(|s| !principal.has_scope(s)) {
            tracing::info!(sub = %principal.subject, missing, "token lacks a scope");
            let extra = format!(
                r#"error="insufficient_scope", error_description="this operation needs the {missing} scope""#
            );
            return (
                self.challenge(StatusCode::FORBIDDEN, Some(&extra), needed),
                method.map(metric_method),
            );
        }

        let presented_session = parts
            .headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(session_id) = &presented_session {
            match self.sessions.ownership(session_id).await {
                Ok(Ownership::Owner(owner)) if owner == principal.subject => {}
                Ok(ownership) => {
                    if matches!(ownership, Ownership::Owner(_)) {
                        tracing::warn!(sub = %principal.subject, "session id presented by a user who does not own it");
                    }
                    return (session_not_found(), method.map(metric_method));
                }
                Err(error) => {
                    tracing::error!(%error, "session lookup failed");
                    return (
                        json_error(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable"),
                        method.map(metric_method),
                    );
                }
            }
        }

        // GET streams and 2026 `subscriptions/listen` stay open while the client waits for
        // notifications; they are not work, so they count as activity only while being set up.
        let long_lived =
            parts.method == Method::GET || method.as_deref() == Some("subscriptions/listen");
        let activity = self.watchdog.activity();
        let subject = principal.subject.clone();
        let mut parts = parts;
        parts.extensions.insert(principal);
        let response = next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;

        if presented_session.is_none()
            && let Some(created) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
        {
            // rmcp stored the session before answering; bind it to its creator before the
            // client can learn the id.
            if let Err(error) = self.sessions.bind(created, &subject).await {
                tracing::error!(%error, "could not bind a new session to its user");
                return (
                    json_error(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable"),
                    method.map(metric_method),
                );
            }
        }

        let response = if long_lived {
            drop(activity);
            response
        } else {
            // Keep the request "in flight" until its (possibly streamed) body is finished or the
            // client goes away.
            let (parts, body) = response.into_parts();
            let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
                let _held = &activity;
                chunk
            }));
            Response::from_parts(parts, body)
        };
        (response, method.map(metric_method))
    }

    fn challenge(&self, status: StatusCode, extra: Option<&str>, scopes: &[&str]) -> Response {
        let mut value = String::from("Bearer ");
        if let Some(extra) = extra {
            value.push_str(extra);
            value.push_str(", ");
        }
        value.push_str(&format!(
            r#"resource_metadata="{}", scope="{}""#,
            self.resource_metadata_url,
            scopes.join(" ")
        ));
        let message = match status {
            StatusCode::UNAUTHORIZED => "a valid access token is required",
            _ => "the access token lacks a required scope",
        };
        let mut response = json_error(status, message);
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The token from `Authorization: Bearer …` (scheme case-insensitive, RFC 6750 §2.1).
fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The JSON-RPC method and `params.name` of a body, if it is a single JSON-RPC message.
fn rpc_method(body: &[u8]) -> (Option<String>, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Message {
        method: Option<String>,
        params: Option<Params>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        name: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Message>(body) {
        Ok(message) => (
            message.method,
            message
                .params
                .and_then(|p| p.name)
                .and_then(|n| n.as_str().map(str::to_owned)),
        ),
        Err(_) => (None, None),
    }
}

/// Method names become metric labels: keep the label set bounded.
fn metric_method(method: String) -> String {
    const KNOWN: &[&str] = &[
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "subscriptions/listen",
        "logging/setLevel",
        "notifications/initialized",
        "notifications/cancelled",
    ];
    if KNOWN.contains(&method.as_str()) {
        method
    } else {
        "other".to_owned()
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn payload_too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than the {limit}-byte limit"),
    )
}

fn session_not_found() -> Response {
    // Streamable HTTP (2025-11-25) §Session Management: an unknown session gets 404, and the
    // client starts over with a fresh `initialize`.
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": -32001, "message": "Session not found: initialize a new session" }
        })),
    )
        .into_response()
}

fn draining_response() -> Response {
    let mut response = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down; retry in a moment",
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_command_needs_both_scopes_everything_else_the_baseline() {
        assert_eq!(
            required_scopes("tools/call", Some("run_command")),
            &["roost:workspace", "roost:run"]
        );
        assert_eq!(
            required_scopes("tools/call", Some("read_file")),
            &["roost:workspace"]
        );
        assert_eq!(required_scopes("initialize", None), &["roost:workspace"]);
    }

    #[test]
    fn reads_method_and_tool_name_from_a_json_rpc_body() {
        let (method, tool) = rpc_method(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_command","arguments":{}}}"#,
        );
        assert_eq!(method.as_deref(), Some("tools/call"));
        assert_eq!(tool.as_deref(), Some("run_command"));
        assert_eq!(rpc_method(b"not json"), (None, None));
        assert_eq!(rpc_method(b"[]"), (None, None));
    }

    #[test]
    fn unknown_methods_share_one_metric_label() {
        assert_eq!(metric_method("tools/call".into()), "tools/call");
        assert_eq!(metric_method("x/y/z-random".into()), "other");
    }
}

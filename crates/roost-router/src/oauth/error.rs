//! Error responses of the token, revocation and registration endpoints: RFC 6749 §5.2 JSON
//! (`error`, `error_description`), RFC 7591 §3.2.2 for registration, always `no-store`.
//!
//! Descriptions are written for the developer of the client reading them in a log: they say
//! what was wrong and what to send instead. Nothing secret goes into them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An OAuth error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// `invalid_client`: client authentication failed (401, RFC 6749 §5.2).
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    /// `invalid_grant`: the code or refresh token is invalid, expired, revoked or not yours.
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// `unauthorized_client`.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// `unsupported_grant_type`.
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// `invalid_scope`.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// `invalid_target` (RFC 8707 §2): the `resource` is not this server's MCP URL.
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// `invalid_redirect_uri` (RFC 7591).
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// `invalid_client_metadata` (RFC 7591).
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// Too many registrations from one address.
    #[error("too many requests")]
    TooManyRequests,
    /// The endpoint is turned off by configuration.
    #[error("not available: {0}")]
    NotAvailable(String),
    /// `server_error`: the detail is logged.
    #[error("server_error")]
    Server,
}

impl OAuthError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use OAuthError::*;
        match self {
            InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.clone()),
            InvalidClient(d) => (StatusCode::UNAUTHORIZED, "invalid_client", d.clone()),
            InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", d.clone()),
            UnauthorizedClient(d) => (StatusCode::BAD_REQUEST, "unauthorized_client", d.clone()),
            UnsupportedGrantType(d) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type", d.clone())
            }
            InvalidScope(d) => (StatusCode::BAD_REQUEST, "invalid_scope", d.clone()),
            InvalidTarget(d) => (StatusCode::BAD_REQUEST, "invalid_target", d.clone()),
            InvalidRedirectUri(d) => (StatusCode::BAD_REQUEST, "invalid_redirect_uri", d.clone()),
            InvalidClientMetadata(d) => (
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                d.clone(),
            ),
            TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many client registrations from this address; wait a minute and try again."
                    .into(),
            ),
            NotAvailable(d) => (StatusCode::NOT_FOUND, "not_available", d.clone()),
            Server => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The authorization server failed; try again shortly.".into(),
            ),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, code, description) = self.parts();
        let mut response = (
            status,
            Json(serde_json::json!({ "error": code, "error_description": description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match self {
            // RFC 6749 §5.2: a 401 for invalid_client carries the scheme the client tried.
            OAuthError::InvalidClient(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"roost\""),
                );
            }
            OAuthError::TooManyRequests => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            }
            _ => {}
        }
        response
    }
}

/// Logs a server-side failure and turns it into [`OAuthError::Server`].
pub fn server_error(what: &str, error: &dyn std::fmt::Display) -> OAuthError {
    tracing::error!(error = %error, "{what}");
    OAuthError::Server
}

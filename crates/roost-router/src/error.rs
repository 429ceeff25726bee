//! The router's HTTP errors: one enum, one `match` that decides status, headers and body.
//!
//! Bodies are JSON `{"error": "<code>", "message": "<a sentence for the user>"}`: MCP clients
//! show the message, scripts match the code. Detail meant for operators (Fly errors, database
//! errors) is logged where the error happens and never sent.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::challenge;

/// Why a request was not routed to its tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No token, or a token that failed verification: 401 with the OAuth challenge.
    #[error("unauthorized")]
    Unauthorized {
        /// Where the protected-resource metadata is (for the challenge).
        resource_metadata: String,
        /// `invalid_token` and its safe description, when a token was presented.
        invalid: Option<&'static str>,
    },
    /// The token lacks the `roost:workspace` scope: 403 `insufficient_scope` (RFC 6750 §3.1).
    #[error("insufficient scope")]
    InsufficientScope {
        /// Where the protected-resource metadata is.
        resource_metadata: String,
    },
    /// The token's `tenant` is not the tenant of its `sub`.
    #[error("token tenant does not match its user")]
    WrongTenant,
    /// The tenant was suspended by an operator.
    #[error("tenant suspended")]
    Suspended,
    /// Provisioning failed for a reason retrying will not fix.
    #[error("tenant provisioning failed")]
    ProvisioningFailed {
        /// The tenant, so the user can quote it to the operator.
        tenant: String,
    },
    /// The tenant was deleted.
    #[error("tenant deleted")]
    Deleted,
    /// The tenant is still being created; try again shortly.
    #[error("tenant provisioning in progress")]
    Provisioning {
        /// When to retry.
        retry_after: Duration,
    },
    /// Fly's proxy could not reach the tenant and sent the request back (`fly-replay-failed`).
    #[error("tenant unreachable")]
    Unreachable {
        /// When to retry.
        retry_after: Duration,
    },
    /// The request arrived carrying `fly-replay-src`: a replay loop or a forged header.
    #[error("request already replayed")]
    ReplayLoop,
    /// The tenant's machine was stopped for a proxied request and did not start in time.
    #[error("workspace starting")]
    WorkspaceStarting {
        /// When to retry.
        retry_after: Duration,
    },
    /// A proxied request's tenant sent no response headers in time.
    #[error("workspace timeout")]
    WorkspaceTimeout,
    /// The body cannot be forwarded (too large for a replay and proxying failed to start).
    #[error("bad gateway")]
    BadGateway,
    /// Something inside the router failed; the detail is in the log.
    #[error("internal error")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message): (StatusCode, &str, String) = match &self {
            ApiError::Unauthorized { invalid, .. } => (
                StatusCode::UNAUTHORIZED,
                if invalid.is_some() {
                    "invalid_token"
                } else {
                    "unauthorized"
                },
                invalid.map(str::to_owned).unwrap_or_else(|| {
                    "Sign in first: this MCP server needs an access token.".to_owned()
                }),
            ),
            ApiError::InsufficientScope { .. } => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "The access token does not grant `{}`.",
                    roost_token::scopes::WORKSPACE
                ),
            ),
            ApiError::WrongTenant => (
                StatusCode::FORBIDDEN,
                "wrong_tenant",
                "The access token was issued for another workspace. Sign in again.".to_owned(),
            ),
            ApiError::Suspended => (
                StatusCode::FORBIDDEN,
                "tenant_suspended",
                "Your workspace has been suspended by the operator of this service.".to_owned(),
            ),
            ApiError::ProvisioningFailed { tenant } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "provisioning_failed",
                format!(
                    "Your workspace could not be created and needs the operator's attention. \
                     Quote this reference: {tenant}."
                ),
            ),
            ApiError::Deleted => (
                StatusCode::GONE,
                "tenant_deleted",
                "Your workspace has been deleted.".to_owned(),
            ),
            ApiError::Provisioning { retry_after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "provisioning",
                format!(
                    "Your workspace is being created. Try again in {} seconds.",
                    retry_after.as_secs()
                ),
            ),
            ApiError::Unreachable { retry_after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "workspace_unreachable",
                format!(
                    "Your workspace did not answer in time (it may be starting). Try again in {} seconds.",
                    retry_after.as_secs()
                ),
            ),
            ApiError::ReplayLoop => (
                StatusCode::MISDIRECTED_REQUEST,
                "replay_loop",
                "This request was already routed once (it carries fly-replay-src) and came back \
                 to the router: a routing loop or a forged header. It was not forwarded."
                    .to_owned(),
            ),
            ApiError::WorkspaceStarting { retry_after } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "workspace_starting",
                format!(
                    "Your workspace is starting and was not ready in time. Try again in {} seconds.",
                    retry_after.as_secs()
                ),
            ),
            ApiError::WorkspaceTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "workspace_timeout",
                "Your workspace accepted the request but did not start answering in time."
                    .to_owned(),
            ),
            ApiError::BadGateway => (
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "The request could not be forwarded to your workspace. Try again.".to_owned(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The router failed to handle this request. Try again shortly.".to_owned(),
            ),
        };
        let mut response = (
            status,
            Json(serde_json::json!({ "error": code, "message": message })),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized {
                resource_metadata,
                invalid,
            } => {
                let error = invalid.map(|description| ("invalid_token", description));
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    challenge(resource_metadata, roost_token::scopes::WORKSPACE, error),
                );
            }
            ApiError::InsufficientScope { resource_metadata } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    challenge(
                        resource_metadata,
                        roost_token::scopes::WORKSPACE,
                        Some(("insufficient_scope", "The token lacks the required scope.")),
                    ),
                );
            }
            ApiError::Provisioning { retry_after }
            | ApiError::Unreachable { retry_after }
            | ApiError::WorkspaceStarting { retry_after } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            _ => {}
        }
        response
    }
}

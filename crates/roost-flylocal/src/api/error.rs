//! The one place API failures become status codes and Fly's `{"error": …}` bodies
//! (fly.md §2.7). `status` is added where Fly sends one (`name_taken`, …).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::supervisor::LifecycleError;

/// Why an API call failed, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Authenticate: token validation error")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    WaitTimeout(String),
    #[error("{0}")]
    LeaseHeld(String),
    #[error("{0}")]
    Precondition(String),
    #[error("Validation failed: Name has already been taken")]
    NameTaken,
    #[error("{0}")]
    Unprocessable(String),
    #[error("rate limit exceeded, slow down")]
    RateLimited,
    #[error("internal error (injected by flylocal faults)")]
    Injected,
    #[error("upstream timeout (injected by flylocal faults)")]
    GatewayTimeout,
}

impl From<LifecycleError> for ApiError {
    fn from(err: LifecycleError) -> Self {
        match err {
            LifecycleError::NotFound(_) => Self::NotFound("machine not found".into()),
            LifecycleError::WrongState { .. } | LifecycleError::ShuttingDown => {
                Self::Precondition(err.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, None),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, None),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, None),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, Some("not_found")),
            Self::WaitTimeout(_) => (StatusCode::REQUEST_TIMEOUT, None),
            Self::LeaseHeld(_) => (StatusCode::CONFLICT, None),
            Self::Precondition(_) => (StatusCode::PRECONDITION_FAILED, None),
            Self::NameTaken => (StatusCode::UNPROCESSABLE_ENTITY, Some("name_taken")),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
            Self::RateLimited => (StatusCode::TOO_MANY_REQUESTS, None),
            Self::Injected => (StatusCode::INTERNAL_SERVER_ERROR, Some("unknown")),
            Self::GatewayTimeout => (StatusCode::GATEWAY_TIMEOUT, None),
        };
        let mut body = json!({ "error": self.to_string() });
        if let Some(code) = code {
            body["status"] = json!(code);
        }
        (status, Json(body)).into_response()
    }
}

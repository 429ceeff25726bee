//! The Machines API subset roost uses (fly.md §2), with Fly's paths, JSON shapes, status codes
//! and `{"error": …}` bodies, plus flylocal's own `/flylocal/v1/…` endpoints.
//!
//! Every `/v1` call passes one gate, in this order: `fly-request-id` on the answer, the token,
//! the request log, Fly's rate limits, then injected faults. Handlers only do the action.

mod apps;
mod error;
mod leases;
pub(crate) mod local;
mod machines;
mod secrets;
mod volumes;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method};
use subtle::ConstantTimeEq;

pub(crate) use error::ApiError;
pub(crate) use local::resolve_internal;

use crate::faults::Verdict;
use crate::platform::{LoggedRequest, Platform};

/// The API router: `/v1` (gated) and `/flylocal/v1` (open; flylocal is a local tool).
pub(crate) fn router(platform: Arc<Platform>) -> Router {
    let v1 = Router::new()
        .merge(apps::router())
        .merge(machines::router())
        .merge(leases::router())
        .merge(volumes::router())
        .merge(secrets::router())
        .route_layer(middleware::from_fn_with_state(Arc::clone(&platform), gate));
    Router::new()
        .merge(v1)
        .merge(local::router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .layer(middleware::from_fn(request_id))
        .with_state(platform)
}

/// Fly answers every API call with a `fly-request-id`; clients keep it for support.
async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let id = format!(
        "{}-lcl",
        crate::store::random_base32(26).to_ascii_lowercase()
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("fly-request-id", value);
    }
    response
}

async fn gate(
    State(platform): State<Arc<Platform>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let at = SystemTime::now();
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let action = action(&method, matched.as_str());
    let scope = scope(request.uri().path());
    let response = match authenticate(&platform, &request) {
        Err(err) => err.into_response(),
        Ok(()) => guarded(&platform, action, &scope, request, next).await,
    };
    platform.record(LoggedRequest {
        method: method.to_string(),
        path,
        action: action.to_owned(),
        status: response.status().as_u16(),
        at,
    });
    response
}

async fn guarded(
    platform: &Platform,
    action: &str,
    scope: &str,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limits) = &platform.limits
        && !limits.allow(action, scope)
    {
        return ApiError::RateLimited.into_response();
    }
    let latency = platform.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match platform.faults.verdict(action) {
        Verdict::Proceed => next.run(request).await,
        Verdict::Throttle => ApiError::RateLimited.into_response(),
        Verdict::Fail => ApiError::Injected.into_response(),
        Verdict::Ambiguous => {
            drop(next.run(request).await);
            ApiError::Injected.into_response()
        }
        Verdict::Hang(hang) => {
            drop(next.run(request).await);
            tokio::time::sleep(hang).await;
            ApiError::GatewayTimeout.into_response()
        }
    }
}

/// Accepts `Bearer <t>`, `FlyV1 <t>` and the doubled `Bearer FlyV1 <t>` (fly.md §2.1).
fn authenticate(platform: &Platform, request: &Request) -> Result<(), ApiError> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized)?;
    let Some(expected) = &platform.config.api_token else {
        return Ok(());
    };
    let mut token = header.trim();
    while let Some(rest) = ["Bearer ", "FlyV1 ", "bearer "]
        .iter()
        .find_map(|p| token.strip_prefix(p))
    {
        token = rest.trim_start();
    }
    let expected = expected.strip_prefix("FlyV1 ").unwrap_or(expected);
    if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// flylocal's name for a route: used by the request log, rate limits and faults.
fn action(method: &Method, template: &str) -> &'static str {
    let m = method.as_str();
    match (m, template.trim_start_matches("/v1/apps")) {
        ("POST", "") => "app_create",
        ("GET", "") => "app_list",
        ("GET", "/{app}") => "app_get",
        ("DELETE", "/{app}") => "app_delete",
        ("GET", "/{app}/machines") => "machine_list",
        ("POST", "/{app}/machines") => "machine_create",
        ("GET", "/{app}/machines/{id}") => "machine_get",
        ("POST", "/{app}/machines/{id}") => "machine_update",
        ("DELETE", "/{app}/machines/{id}") => "machine_destroy",
        ("POST", "/{app}/machines/{id}/start") => "machine_start",
        ("POST", "/{app}/machines/{id}/stop") => "machine_stop",
        ("POST", "/{app}/machines/{id}/suspend") => "machine_suspend",
        ("POST", "/{app}/machines/{id}/restart") => "machine_restart",
        ("GET", "/{app}/machines/{id}/wait") => "machine_wait",
        ("GET", "/{app}/machines/{id}/events") => "machine_events",
        ("POST", "/{app}/machines/{id}/lease") => "lease_acquire",
        ("GET", "/{app}/machines/{id}/lease") => "lease_get",
        ("DELETE", "/{app}/machines/{id}/lease") => "lease_release",
        ("GET", "/{app}/volumes") => "volume_list",
        ("POST", "/{app}/volumes") => "volume_create",
        ("GET", "/{app}/volumes/{vol}") => "volume_get",
        ("DELETE", "/{app}/volumes/{vol}") => "volume_delete",
        ("GET", "/{app}/secrets") => "secrets_list",
        ("POST", "/{app}/secrets") => "secrets_update",
        ("GET", "/{app}/secrets/{name}") => "secret_get",
        ("POST", "/{app}/secrets/{name}") => "secret_set",
        ("DELETE", "/{app}/secrets/{name}") => "secret_delete",
        _ => "other",
    }
}

/// The identifier Fly scopes a limit to: the machine or volume id, else the app.
fn scope(path: &str) -> String {
    let mut segments = path
        .trim_start_matches("/v1/apps")
        .split('/')
        .filter(|s| !s.is_empty());
    let app = segments.next().unwrap_or("-");
    segments.nth(1).unwrap_or(app).to_owned()
}

/// Parses a JSON body the way Fly does: an empty body is `{}`, anything unparsable is a 400
/// that says why.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))
}

//! The hot path: every request under the MCP URL is answered with a `fly-replay` to the
//! user's own app, so Fly's proxy replays the original request there (DESIGN.md path 6).
//!
//! On a warm request (token verdict and tenant both cached) the work is: two header looks, one
//! SHA-256 of the token, two cache hits, and a response whose body is a shared, pre-built
//! `Bytes`. Nothing here touches the database; the slow cases (a new or half-provisioned
//! tenant, a body too large to replay) branch off to [`crate::provision`] and [`crate::proxy`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use roost_fly::replay::{
    REPLAY_FAILED_HEADER, REPLAY_JSON_CONTENT_TYPE, REPLAY_SRC_HEADER, ReplayFailed,
};
use roost_token::AccessClaims;

use crate::error::ApiError;
use crate::metrics;
use crate::server::AppState;
use crate::tenants::TenantState;
use crate::tenants::cache::Route;

/// Fly's proxy replays bodies up to 1 MiB (fly.md §1.6: 1,048,576 bytes replay; the docs say
/// "over 1 MB cannot be replayed"). Larger bodies, and bodies of unknown length, are proxied.
pub const MAX_REPLAY_BODY: u64 = 1024 * 1024;

/// How long a client is told to wait when its workspace could not be reached.
const UNREACHABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The MCP routes: `/mcp` and everything under it.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mcp", any(handle))
        .route("/mcp/{*rest}", any(handle))
}

async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let response = decide(&state, request, started).await;
    match response {
        Ok(response) => response,
        Err(error) => {
            metrics::request_outcome(outcome_of(&error));
            error.into_response()
        }
    }
}

async fn decide(
    state: &AppState,
    request: Request,
    started: Instant,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    // A fallback: Fly could not reach the tenant and handed the request back (fly.md §1.4).
    // It may not be replayed again, so it ends here with an answer the client can act on.
    if let Some(failed) = headers.get(REPLAY_FAILED_HEADER) {
        return Err(replay_failed(failed));
    }
    if headers.contains_key(REPLAY_SRC_HEADER) {
        tracing::warn!(
            path = %request.uri().path(),
            "refused a request carrying fly-replay-src: a replay loop back to the router or a forged header"
        );
        return Err(ApiError::ReplayLoop);
    }

    let claims = state
        .gate
        .check(headers)
        .map_err(|e| state.unauthorized(&e))?;
    if !claims.has_scope(roost_token::scopes::WORKSPACE) {
        return Err(ApiError::InsufficientScope {
            resource_metadata: state.resource_metadata_url(),
        });
    }

    let route = match state.tenants.cached(&claims.tenant) {
        Some(route) if route.state == TenantState::Ready => route,
        cached => slow_route(state, &claims, cached).await?,
    };
    if route.user_id != claims.sub {
        tracing::warn!(tenant = %route.tenant_id, "token tenant belongs to another user");
        return Err(ApiError::WrongTenant);
    }

    if !fits_in_a_replay(&request) {
        state.metrics.proxied.increment(1);
        return crate::proxy::forward(state, &route, request).await;
    }

    state.metrics.replayed.increment(1);
    state
        .metrics
        .decision
        .record(started.elapsed().as_secs_f64());
    Ok(replay_response(&route))
}

/// A tenant that is not cached or not ready: look it up, and provision it when needed.
async fn slow_route(
    state: &AppState,
    claims: &AccessClaims,
    cached: Option<Arc<Route>>,
) -> Result<Arc<Route>, ApiError> {
    let route = match cached {
        Some(route) => route,
        None => match state.tenants.load(&claims.tenant).await {
            Ok(Some(route)) => route,
            Ok(None) => return state.provisioner.provision_and_wait(claims).await,
            Err(e) => {
                tracing::error!(tenant = %claims.tenant, error = %e, "tenant lookup failed");
                return Err(ApiError::Internal);
            }
        },
    };
    match route.state {
        TenantState::Ready => Ok(route),
        TenantState::Suspended => Err(ApiError::Suspended),
        TenantState::Failed => {
            tracing::warn!(tenant = %route.tenant_id, "request for a tenant whose provisioning failed");
            Err(ApiError::ProvisioningFailed {
                tenant: route.tenant_id.clone(),
            })
        }
        TenantState::Deleting | TenantState::Deleted => Err(ApiError::Deleted),
        TenantState::Pending
        | TenantState::AppCreated
        | TenantState::VolumeCreated
        | TenantState::MachineCreated => state.provisioner.provision_and_wait(claims).await,
    }
}

/// Whether Fly's proxy can replay this request's body: a known length up to 1 MiB. A body
/// without a length (chunked, or HTTP/2 without `content-length`) cannot be buffered by the
/// proxy for a replay (fly.md §1.6).
fn fits_in_a_replay(request: &Request) -> bool {
    request
        .body()
        .size_hint()
        .exact()
        .is_some_and(|len| len <= MAX_REPLAY_BODY)
}

/// The JSON form of `fly-replay` (fly.md §1.3), with the tenant's pre-built body.
fn replay_response(route: &Route) -> Response {
    let mut response = Response::new(Body::from(route.replay_body.clone()));
    // The status does not matter to Fly's proxy, which swallows the response; 307 (what
    // rubys/navigator sends) keeps a client that somehow sees it from treating it as a result.
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(REPLAY_JSON_CONTENT_TYPE),
    );
    response
}

/// A request Fly handed back after failing to reach the tenant: log why, answer 503.
fn replay_failed(value: &HeaderValue) -> ApiError {
    let text = value.to_str().unwrap_or("");
    match ReplayFailed::parse(text) {
        Ok(failed) => {
            let reason = failed.reason.map_or("unknown", |r| match r {
                roost_fly::replay::FailReason::Timeout => "timeout",
                roost_fly::replay::FailReason::RetriesExhausted => "retries_exhausted",
                roost_fly::replay::FailReason::NoCandidate => "no_candidate",
                roost_fly::replay::FailReason::Other(_) => "other",
            });
            ::metrics::counter!(metrics::REPLAY_FAILED, "reason" => reason).increment(1);
            tracing::warn!(
                app = failed.app.unwrap_or("?"),
                reason = ?failed.reason,
                elapsed_ms = failed.elapsed_ms,
                region = failed.region.unwrap_or("?"),
                "fly could not reach the tenant; answering 503"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "fly-replay-failed header could not be read; answering 503")
        }
    }
    ApiError::Unreachable {
        retry_after: UNREACHABLE_RETRY_AFTER,
    }
}

fn outcome_of(error: &ApiError) -> &'static str {
    match error {
        ApiError::Unauthorized { .. } => "unauthorized",
        ApiError::InsufficientScope { .. } | ApiError::WrongTenant => "forbidden",
        ApiError::Suspended => "suspended",
        ApiError::ProvisioningFailed { .. } => "failed",
        ApiError::Deleted => "deleted",
        ApiError::Provisioning { .. } => "provisioning",
        ApiError::Unreachable { .. } => "replay_failed",
        ApiError::ReplayLoop => "replay_loop",
        ApiError::WorkspaceStarting { .. } | ApiError::WorkspaceTimeout | ApiError::BadGateway => {
            "proxy_error"
        }
        ApiError::Internal => "error",
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;

    use super::*;

    fn request(body: Body) -> Request {
        Request::builder()
            .method("POST")
            .uri("/mcp")
            .body(body)
            .unwrap()
    }

    #[test]
    fn bodies_up_to_one_mib_are_replayed_and_larger_or_unsized_ones_are_not() {
        let bytes = |n: usize| request(Body::from(vec![b'x'; n]));
        assert!(fits_in_a_replay(&request(Body::empty())));
        assert!(
            fits_in_a_replay(&bytes(1024 * 1024)),
            "1,048,576 bytes replay (fly.md §1.6)"
        );
        assert!(!fits_in_a_replay(&bytes(1024 * 1024 + 1)));
        let chunked = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
        assert!(
            !fits_in_a_replay(&request(Body::from_stream(chunked))),
            "no length: proxied"
        );
    }

    #[test]
    fn the_replay_response_is_the_json_form_with_the_tenants_body() {
        let route = Route {
            tenant_id: "roost-u-a".into(),
            user_id: "u".into(),
            state: TenantState::Ready,
            app_name: "roost-u-a".into(),
            machine_id: None,
            replay_body: Bytes::from_static(br#"{"app":"roost-u-a"}"#),
            updated_at_ms: 0,
        };
        let response = replay_response(&route);
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            REPLAY_JSON_CONTENT_TYPE
        );
    }
}

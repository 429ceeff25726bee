//! `/livez` (the process answers) and `/health` (it can do its job: the database answers and
//! token keys are loaded). Fly's checks use `/health`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::server::AppState;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "health: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
    }
    if state.gate.verifier().key_ids().is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "no token keys loaded");
    }
    (StatusCode::OK, "ok")
}

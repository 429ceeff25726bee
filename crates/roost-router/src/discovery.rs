//! Discovery documents the hot path's 401 points at: the RFC 9728 protected-resource metadata
//! for the MCP URL, and the JWKS holding the token keys (which tenant workspaces fetch).
//!
//! Minimal on purpose: the OAuth issue adds the authorization-server metadata and extends the
//! resource metadata with the authorization server it runs.
//!
//! Both answer cross-origin requests with the OAuth endpoints' CORS policy
//! ([`crate::oauth::cors`]): browser-based clients such as the MCP Inspector fetch them from
//! their own origin.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use roost_token::JwkSet;

use crate::server::AppState;

/// The path of the protected-resource metadata of `/mcp` (RFC 9728 §3.1: the well-known
/// prefix inserted before the resource's path).
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
/// Where the token keys are published.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The discovery routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(RESOURCE_METADATA_PATH, get(resource_metadata))
        // Some clients ask the root form first (RFC 9728 §3, MCP 2025-06-18 fallback).
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(JWKS_PATH, get(jwks))
        .layer(crate::oauth::cors())
}

async fn resource_metadata(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "resource": state.settings.mcp_url,
        "authorization_servers": [state.settings.issuer],
        // Only the baseline: clients without a challenge ask for what this lists, and the first
        // consent should not ask for shell access. A client needing `roost:run` learns it from
        // the 403 `insufficient_scope` challenge and steps up.
        "scopes_supported": [roost_token::scopes::WORKSPACE],
        "bearer_methods_supported": ["header"],
        "resource_name": "roost",
    }))
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.jwks.as_ref().clone())
}

/// The JWKS the router publishes: its signing key's public half, plus `ROOST_TOKEN_KEYS` when
/// they are given as JWK/JWKS JSON (PEM keys cannot be published without their JWK form).
pub fn published_keys(settings: &crate::config::Settings, token_keys: Option<&str>) -> JwkSet {
    let mut keys = Vec::new();
    if let Some(key) = &settings.signing_key {
        keys.push(key.public_jwk());
    }
    if let Some(text) = token_keys {
        if let Ok(set) = serde_json::from_str::<JwkSet>(text) {
            keys.extend(set.keys);
        } else if let Ok(jwk) = serde_json::from_str::<roost_token::Jwk>(text) {
            keys.push(jwk);
        }
    }
    keys.dedup_by(|a, b| a.key_id() == b.key_id());
    JwkSet::from_keys(keys)
}

//! Authorization-server discovery: the RFC 8414 metadata document, served at every URL MCP
//! clients derive from the issuer (mcp.md §2.2), in the order they try them:
//!
//! * issuer without a path: `/.well-known/oauth-authorization-server`, then
//!   `/.well-known/openid-configuration`;
//! * issuer `https://host/p`: `/.well-known/oauth-authorization-server/p`,
//!   `/.well-known/openid-configuration/p`, `/p/.well-known/openid-configuration`.
//!
//! The `issuer` field is `ROOST_ISSUER` byte for byte (clients discard a document whose issuer
//! differs from the one they derived the URL from). The protected-resource metadata (RFC 9728)
//! and the JWKS are served by [`crate::discovery`]; this module only adds the AS side.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::server::AppState;

/// The authorization endpoint's path.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The registration endpoint's path.
pub const REGISTER_PATH: &str = "/oauth/register";
/// The revocation endpoint's path.
pub const REVOKE_PATH: &str = "/oauth/revoke";

/// The well-known paths of the AS metadata for an issuer whose path is `issuer_path` (`""` or
/// `/p`), in the order clients try them.
pub fn metadata_paths(issuer_path: &str) -> Vec<String> {
    let p = issuer_path.trim_end_matches('/');
    if p.is_empty() {
        vec![
            "/.well-known/oauth-authorization-server".into(),
            "/.well-known/openid-configuration".into(),
        ]
    } else {
        vec![
            format!("/.well-known/oauth-authorization-server{p}"),
            format!("/.well-known/openid-configuration{p}"),
            format!("{p}/.well-known/openid-configuration"),
        ]
    }
}

/// The routes of the metadata documents. The paths depend on the issuer, which is only known
/// once configured; every candidate is routed and the handler serves the document either way.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(document))
        .route("/.well-known/openid-configuration", get(document))
        .route(
            "/.well-known/oauth-authorization-server/{*issuer_path}",
            get(document),
        )
        .route(
            "/.well-known/openid-configuration/{*issuer_path}",
            get(document),
        )
        .route(
            "/{issuer_path}/.well-known/openid-configuration",
            get(document),
        )
}

async fn document(State(state): State<AppState>, uri: Uri) -> Response {
    let issuer_path = url::Url::parse(&state.settings.oauth.issuer)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    if !metadata_paths(&issuer_path).iter().any(|p| p == uri.path()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = Json(as_metadata(&state.settings.oauth)).into_response();
    // Clients cache this; an hour keeps key rotation and config changes visible soon enough.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The RFC 8414 document (also valid as OIDC discovery for the fields clients read).
pub fn as_metadata(s: &crate::oauth::OAuthSettings) -> serde_json::Value {
    let base = &s.public_url;
    let mut scopes: Vec<&str> = roost_token::scopes::ALL.to_vec();
    scopes.push(crate::oauth::OFFLINE_ACCESS);
    let mut doc = serde_json::json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "revocation_endpoint": format!("{base}{REVOKE_PATH}"),
        "jwks_uri": format!("{base}{}", crate::discovery::JWKS_PATH),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": s.cimd,
        "service_documentation": format!("{base}/"),
    });
    if s.dcr {
        doc["registration_endpoint"] = format!("{base}{REGISTER_PATH}").into();
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_order_clients_try() {
        assert_eq!(
            metadata_paths(""),
            [
                "/.well-known/oauth-authorization-server",
                "/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_paths("/tenant1"),
            [
                "/.well-known/oauth-authorization-server/tenant1",
                "/.well-known/openid-configuration/tenant1",
                "/tenant1/.well-known/openid-configuration"
            ]
        );
    }
}

//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole family (the grant:
//! its refresh tokens and the access tokens issued from it). Revoking an access token revokes
//! that token alone: the router refuses it from then on (`crate::auth::RevokedTokens`).
//! Unknown tokens, and tokens of another client, get the same 200 (§2.2), so the endpoint is
//! no oracle for which tokens exist.

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::error::{OAuthError, server_error};
use super::metadata::REVOKE_PATH;
use super::token::authenticate;
use crate::server::AppState;

/// The revocation route.
pub fn router() -> Router<AppState> {
    Router::new().route(REVOKE_PATH, post(revoke))
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(params)) = form else {
        return super::token::not_a_form().into_response();
    };
    match handle(&state, &headers, &params).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(), OAuthError> {
    let client = authenticate(&state.oauth, headers, params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    // Refresh tokens are opaque; access tokens are JWTs, with dots.
    if token.contains('.') {
        // Only a genuine, unexpired token of this client can be revoked; anything else has
        // nothing left to revoke.
        if let Ok(claims) = state.gate.verifier().verify(token)
            && claims.client_id == client.client_id
        {
            state
                .oauth
                .store()
                .revoke_access_token(&claims.jti, claims.exp)
                .await
                .map_err(|e| server_error("revoking a token failed", &e))?;
            tracing::info!(client_id = %client.client_id, "revoked an access token on the client's request");
        }
    } else {
        let revoked = state
            .oauth
            .store()
            .revoke_refresh(token, &client.client_id)
            .await
            .map_err(|e| server_error("revoking a token failed", &e))?;
        if revoked {
            tracing::info!(client_id = %client.client_id, "revoked a grant on the client's request");
        }
    }
    Ok(())
}

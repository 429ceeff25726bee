//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole family (the
//! grant). Access tokens are self-contained JWTs and expire within `ROOST_ACCESS_TOKEN_TTL`;
//! revoking one is accepted and has no further effect (RFC 7009 §2: the server MAY decline to
//! revoke a token type, and a client cannot tell). Unknown tokens get the same 200 (§2.2), so
//! the endpoint is no oracle for which tokens exist.

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
    // Refresh tokens are opaque; an access token (a JWT, with dots) is left to expire.
    if !token.contains('.') {
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

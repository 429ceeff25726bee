//! Sign-in through upstream identity providers (OpenID Connect, GitHub): starting the flow,
//! remembering it server-side (`signin_flows`, single use, [`FLOW_TTL`]) and binding it to the
//! browser that started it with a short-lived cookie, and the callback that ends it in a
//! session.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use super::users::{self, Identity};
use super::{
    FLOW_TTL, PageQuery, SignIn, SignInError, expired, forged, github, internal, start_session,
};
use crate::db::now_ms;
use crate::oauth::store::{hash_secret, random_token};
use crate::server::AppState;

impl SignIn {
    async fn put_flow(
        &self,
        state: &str,
        provider: &str,
        nonce: &str,
        verifier: &str,
        pending: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query("DELETE FROM signin_flows WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO signin_flows (state_hash, provider, nonce, pkce_verifier, pending_id, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash_secret(state))
        .bind(provider)
        .bind(nonce)
        .bind(verifier)
        .bind(pending)
        .bind(now + i64::try_from(FLOW_TTL.as_millis()).unwrap_or(i64::MAX))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Takes (single use) the flow of `state` for `provider`: (nonce, verifier, pending id).
    async fn take_flow(
        &self,
        state: &str,
        provider: &str,
    ) -> Result<Option<(String, String, String)>, sqlx::Error> {
        let hash = hash_secret(state);
        let row = sqlx::query(
            "SELECT nonce, pkce_verifier, pending_id FROM signin_flows WHERE state_hash = $1 AND provider = $2 AND expires_at >= $3",
        )
        .bind(&hash)
        .bind(provider)
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let deleted = sqlx::query("DELETE FROM signin_flows WHERE state_hash = $1")
            .bind(&hash)
            .execute(self.db.pool())
            .await?;
        if deleted.rows_affected() != 1 {
            return Ok(None);
        }
        Ok(Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    }
}

fn flow_cookie(state: &AppState, jar: CookieJar, value: &str) -> CookieJar {
    let sessions = state.oauth.signin().sessions();
    jar.add(sessions.cookie(sessions.flow_cookie_name(), value.to_owned(), FLOW_TTL))
}

fn flow_cookie_matches(state: &AppState, jar: &CookieJar, value: &str) -> bool {
    let name = state.oauth.signin().sessions().flow_cookie_name();
    jar.get(name)
        .is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(value.as_bytes())))
}

fn unknown_provider(state: &AppState, why: &str) -> Response {
    state
        .oauth
        .pages()
        .error(StatusCode::NOT_FOUND, "Unknown sign-in provider", why, None)
}

/// The pending authorization request a provider's start link names, if this browser started
/// it; otherwise the page that says why the sign-in can't go on. Starting an upstream sign-in
/// for another browser's request would let an attacker sign a victim into the attacker's
/// account.
async fn this_browsers_request(
    state: &AppState,
    jar: &CookieJar,
    request: Option<String>,
) -> Result<String, Response> {
    let Some(request) = request else {
        return Err(expired(state));
    };
    let binding = state.oauth.signin().sessions.request_binding(jar);
    match state.oauth.store().pending(&request).await {
        Ok(Some((_, guard))) if guard.same_browser(binding) => Ok(request),
        Ok(Some(_)) => Err(forged(state)),
        Ok(None) => Err(expired(state)),
        Err(e) => Err(internal(state, "reading a pending request failed", &e)),
    }
}

pub(super) async fn oidc_start(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let signin = state.oauth.signin().clone();
    let Some(provider) = signin.oidc.iter().find(|p| p.id() == id) else {
        return unknown_provider(&state, "This server has no such sign-in provider.");
    };
    let request = match this_browsers_request(&state, &jar, q.request).await {
        Ok(request) => request,
        Err(page) => return page,
    };
    let callback = format!("{}/signin/callback/oidc/{id}", signin.public_url);
    let started = match provider.start(&callback).await {
        Ok(started) => started,
        Err(e) => return upstream_failed(&state, &e),
    };
    if let Err(e) = signin
        .put_flow(
            &started.state,
            &provider.provider_key(),
            &started.nonce,
            &started.pkce_verifier,
            &request,
        )
        .await
    {
        return internal(&state, "storing a sign-in flow failed", &e);
    }
    (
        flow_cookie(&state, jar, &started.state),
        Redirect::to(&started.url),
    )
        .into_response()
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn upstream_failed(state: &AppState, error: &SignInError) -> Response {
    tracing::warn!(error = %error, "upstream sign-in failed");
    state.oauth.pages().error(
        StatusCode::BAD_GATEWAY,
        "Sign-in did not finish",
        &error.to_string(),
        Some("Go back to your app and try again. If it keeps failing, the server's operator should check the identity provider's settings."),
    )
}

fn callback_refused(state: &AppState, provider: &str, q: &CallbackQuery) -> Option<Response> {
    let error = q.error.as_deref()?;
    let why = q
        .error_description
        .clone()
        .unwrap_or_else(|| error.to_owned());
    let message = if error == "access_denied" {
        format!("You cancelled the sign-in at {provider}.")
    } else {
        format!("{provider} did not sign you in: {why}")
    };
    Some(state.oauth.pages().error(
        StatusCode::BAD_REQUEST,
        "Sign-in did not finish",
        &message,
        Some("Go back to your app and start again."),
    ))
}

pub(super) async fn oidc_callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let signin = state.oauth.signin().clone();
    let Some(provider) = signin.oidc.iter().find(|p| p.id() == id) else {
        return state.oauth.pages().error(
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "This server has no such sign-in provider.",
            None,
        );
    };
    if let Some(refused) = callback_refused(&state, provider.name(), &q) {
        return refused;
    }
    let (Some(code), Some(flow_state)) = (q.code, q.state) else {
        return expired(&state);
    };
    if !flow_cookie_matches(&state, &jar, &flow_state) {
        return forged(&state);
    }
    let (nonce, verifier, pending) = match signin
        .take_flow(&flow_state, &provider.provider_key())
        .await
    {
        Ok(Some(flow)) => flow,
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a sign-in flow failed", &e),
    };
    let callback = format!("{}/signin/callback/oidc/{id}", signin.public_url);
    let identity = match provider.finish(&callback, &code, &nonce, &verifier).await {
        Ok(identity) => identity,
        Err(e) => return upstream_failed(&state, &e),
    };
    finish_upstream(&state, jar, &identity, &pending).await
}

async fn finish_upstream(
    state: &AppState,
    jar: CookieJar,
    identity: &Identity,
    pending: &str,
) -> Response {
    match users::user_for(&state.oauth.signin().db, identity).await {
        Ok(user_id) => {
            tracing::info!(user = %user_id, provider = %identity.provider, "signed in");
            let name = state.oauth.signin().sessions().flow_cookie_name();
            start_session(
                state,
                jar.remove(axum_extra::extract::cookie::Cookie::from(name)),
                &user_id,
                pending,
            )
            .await
        }
        Err(e) => internal(state, "mapping an identity to a user failed", &e),
    }
}

pub(super) async fn github_start(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<PageQuery>,
) -> Response {
    let signin = state.oauth.signin().clone();
    let Some(github) = &signin.github else {
        return unknown_provider(&state, "This server does not sign in with GitHub.");
    };
    let request = match this_browsers_request(&state, &jar, q.request).await {
        Ok(request) => request,
        Err(page) => return page,
    };
    let flow_state = random_token();
    let verifier = random_token();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if let Err(e) = signin
        .put_flow(&flow_state, github::PROVIDER, "", &verifier, &request)
        .await
    {
        return internal(&state, "storing a sign-in flow failed", &e);
    }
    let callback = format!("{}/signin/callback/github", signin.public_url);
    let url = github.authorize_url(&callback, &flow_state, &challenge);
    (flow_cookie(&state, jar, &flow_state), Redirect::to(&url)).into_response()
}

pub(super) async fn github_callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let signin = state.oauth.signin().clone();
    let Some(github) = &signin.github else {
        return state.oauth.pages().error(
            StatusCode::NOT_FOUND,
            "Unknown sign-in provider",
            "This server does not sign in with GitHub.",
            None,
        );
    };
    if let Some(refused) = callback_refused(&state, "GitHub", &q) {
        return refused;
    }
    let (Some(code), Some(flow_state)) = (q.code, q.state) else {
        return expired(&state);
    };
    if !flow_cookie_matches(&state, &jar, &flow_state) {
        return forged(&state);
    }
    let (_, verifier, pending) = match signin.take_flow(&flow_state, github::PROVIDER).await {
        Ok(Some(flow)) => flow,
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a sign-in flow failed", &e),
    };
    let callback = format!("{}/signin/callback/github", signin.public_url);
    match github.finish(&callback, &code, &verifier).await {
        Ok(identity) => finish_upstream(&state, jar, &identity, &pending).await,
        Err(e) => upstream_failed(&state, &e),
    }
}

//! The authorization endpoint (OAuth 2.1 §4.1.1) and authorization codes.
//!
//! Order of checks, and why: the client and its redirect URI are validated first, and until
//! both are, every problem is shown on an error page — redirecting to an unvalidated URI would
//! make the router an open redirector (OAuth 2.1 §4.1.2.1). After that, problems go back to the
//! client as `error=` redirects, with `state` and `iss` (RFC 9207) like every response.
//!
//! Then: a browser without a session is sent to sign in; a user who already granted this
//! client these scopes (or a trusted client, or `roost dev`'s dev sign-in) gets a code at once
//! — a client re-authorizing after its refresh token died sees a redirect, not a page; anyone
//! else sees the consent page ([`super::consent`]).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use url::Url;

use super::clients::Client;
use super::metadata::AUTHORIZE_PATH;
use super::store::{CodeGrant, PendingRequest, random_token};
use super::{ClientLookupError, normalise_scope, scope_covers};
use crate::db::now_ms;
use crate::server::AppState;

/// How long an authorization request waits for sign-in and consent.
const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(900);

/// The authorization routes (and the 2025-03-26 fallback path `/authorize`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(AUTHORIZE_PATH, get(authorize))
        .route("/authorize", get(authorize))
        .route("/oauth/authorize/continue", get(resume))
        .route("/oauth/authorize/consent", post(super::consent::consent))
}

/// An error page (no redirect: the redirect URI is not trusted, or the browser's own request
/// is broken).
fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    hint: Option<&str>,
) -> Response {
    state.oauth.pages().error(status, title, message, hint)
}

pub(super) fn internal(state: &AppState, what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{what}");
    page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side",
        "The server failed while handling this sign-in.",
        Some("Try again in a minute."),
    )
}

/// A redirect to the client's (validated) redirect URI with `params`, `state` and `iss`.
pub(super) fn to_client(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return internal(
            state,
            "a validated redirect URI failed to parse",
            &redirect_uri,
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(s) = client_state {
            query.append_pair("state", s);
        }
        query.append_pair("iss", &state.settings.oauth.issuer);
    }
    // 303: after the consent POST the browser must GET the client's URI.
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn client_error(state: &AppState, request: &Partial, error: &str, description: &str) -> Response {
    tracing::info!(client_id = %request.client_id, error, description, "refused an authorization request");
    to_client(
        state,
        &request.redirect_uri,
        &[("error", error), ("error_description", description)],
        request.state.as_deref(),
    )
}

/// The client and redirect URI, once validated.
struct Partial {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
}

async fn authorize(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let get = |name: &str| -> Result<Option<&str>, ()> {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            Err(())
        } else {
            Ok(first)
        }
    };
    // 1. The client, and its redirect URI: error pages only.
    let (Ok(Some(client_id)), Ok(redirect_uri)) = (get("client_id"), get("redirect_uri")) else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete",
            "The app did not say who it is (client_id is missing or repeated).",
            Some("This is a problem with the app; try reconnecting it, or tell its developer."),
        );
    };
    let client = match state.oauth.client(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            tracing::info!(client_id, "authorization request from an unknown client");
            return page(
                &state,
                StatusCode::BAD_REQUEST,
                "This app is not known here",
                "The app asked to sign in with a client id this server has never registered.",
                Some(
                    "Remove the server from your app and add it again, so the app registers afresh.",
                ),
            );
        }
        Err(ClientLookupError::Document(e)) => {
            tracing::info!(client_id, error = %e, "client metadata document refused");
            return page(
                &state,
                StatusCode::BAD_REQUEST,
                "This app's description could not be used",
                &e.to_string(),
                Some("This is a problem with the app's published metadata; tell its developer."),
            );
        }
        Err(ClientLookupError::Store(e)) => return internal(&state, "client lookup failed", &e),
    };
    let Some(redirect_uri) = redirect_uri else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete",
            "The app did not say where to return after sign-in (redirect_uri is missing).",
            Some("This is a problem with the app; tell its developer."),
        );
    };
    if !client.accepts_redirect(redirect_uri) {
        tracing::warn!(
            client_id,
            redirect_uri,
            "redirect URI not registered for the client"
        );
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in link is not safe to follow",
            &format!(
                "{} asked to return to an address it has not registered ({redirect_uri}), so roost will not send you there.",
                client.display_name()
            ),
            Some("If you just updated the app, remove the server from it and add it again."),
        );
    }
    let Ok(client_state) = get("state") else {
        return page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in link is malformed",
            "The state parameter is repeated.",
            None,
        );
    };
    let partial = Partial {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: client_state.map(str::to_owned),
    };

    // 2. Everything else: errors go back to the client.
    for name in [
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "scope",
    ] {
        if get(name).is_err() {
            return client_error(
                &state,
                &partial,
                "invalid_request",
                &format!("the {name} parameter is repeated"),
            );
        }
    }
    let one = |name| get(name).ok().flatten();
    if one("response_type") != Some("code") {
        return client_error(
            &state,
            &partial,
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let Some(challenge) = one("code_challenge") else {
        return client_error(
            &state,
            &partial,
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        );
    };
    if one("code_challenge_method") != Some("S256") {
        return client_error(
            &state,
            &partial,
            "invalid_request",
            "code_challenge_method must be S256 (plain PKCE is not accepted)",
        );
    }
    if !is_s256_challenge(challenge) {
        return client_error(
            &state,
            &partial,
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the verifier",
        );
    }
    let mcp_url = &state.settings.oauth.mcp_url;
    match one("resource") {
        Some(resource) if resource == mcp_url => {}
        Some(resource) => {
            return client_error(
                &state,
                &partial,
                "invalid_target",
                &format!(
                    "resource {resource} is not served here; this server's resource is {mcp_url}"
                ),
            );
        }
        None => {
            return client_error(
                &state,
                &partial,
                "invalid_target",
                &format!("the resource parameter is required (RFC 8707); send resource={mcp_url}"),
            );
        }
    }
    let pending = PendingRequest {
        client_id: partial.client_id,
        redirect_uri: partial.redirect_uri,
        scope: normalise_scope(one("scope")),
        state: partial.state,
        code_challenge: challenge.to_owned(),
        resource: mcp_url.clone(),
    };
    // Every request from here on is stored while the user signs in, so they are limited per
    // address (the dev sign-in stores nothing).
    if !state.oauth.settings().dev_signin {
        let ip = super::dcr::client_ip(&headers, &state.oauth.settings().client_ip_header);
        if !state.oauth.authorize_allowed(&ip) {
            tracing::warn!(ip = %ip, "authorization requests rate limit hit");
            let mut response = page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-in requests",
                "This address has started too many sign-ins in the last minute.",
                Some("Wait a minute, then connect again from your app."),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return response;
        }
    }
    proceed(&state, jar, &client, pending, None).await
}

/// Whether `challenge` looks like an S256 challenge (RFC 7636 §4.2: base64url of 32 bytes).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Sign-in, consent or code, for a validated request (`pending_id` when it is already stored).
async fn proceed(
    state: &AppState,
    jar: CookieJar,
    client: &Client,
    pending: PendingRequest,
    pending_id: Option<String>,
) -> Response {
    let oauth = &state.oauth;
    if oauth.settings().dev_signin {
        return match oauth.signin().dev_user().await {
            Ok(user) => issue_code(state, &pending, &user, pending_id.as_deref()).await,
            Err(e) => internal(state, "dev sign-in failed", &e),
        };
    }
    let session = match oauth.signin().sessions().current(&jar).await {
        Ok(session) => session,
        Err(e) => return internal(state, "reading the session failed", &e),
    };
    // A new request is bound to this browser: sign-in and consent for it are accepted only
    // with the same `roost-request` cookie (login CSRF).
    let (pending_id, jar) = match pending_id {
        Some(id) => (id, jar),
        None => {
            let (cookie, browser_hash) = oauth.signin().sessions().bind_request(&jar, PENDING_TTL);
            match oauth
                .store()
                .put_pending(&pending, PENDING_TTL, &browser_hash)
                .await
            {
                Ok((id, _)) => (id, jar.add(cookie)),
                Err(e) => return internal(state, "storing an authorization request failed", &e),
            }
        }
    };
    let Some(session) = session else {
        return (
            jar,
            Redirect::to(&format!("/signin?request={}", urlencode(&pending_id))),
        )
            .into_response();
    };
    let remembered = match oauth
        .store()
        .consent(&session.user_id, &client.client_id)
        .await
    {
        Ok(scope) => scope,
        Err(e) => return internal(state, "reading consent failed", &e),
    };
    if client.trusted
        || remembered
            .as_deref()
            .is_some_and(|granted| scope_covers(granted, &pending.scope))
    {
        return issue_code(state, &pending, &session.user_id, Some(&pending_id)).await;
    }
    (
        jar,
        super::consent::page(state, client, &pending, &pending_id, &session).await,
    )
        .into_response()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Issues a code for `user_id` and sends the browser back to the client.
pub(super) async fn issue_code(
    state: &AppState,
    pending: &PendingRequest,
    user_id: &str,
    pending_id: Option<&str>,
) -> Response {
    let oauth = &state.oauth;
    let code = random_token();
    let ttl = i64::try_from(oauth.settings().code_ttl.as_millis()).unwrap_or(i64::MAX);
    let grant = CodeGrant {
        family_id: uuid::Uuid::new_v4().simple().to_string(),
        client_id: pending.client_id.clone(),
        user_id: user_id.to_owned(),
        redirect_uri: pending.redirect_uri.clone(),
        scope: pending.scope.clone(),
        code_challenge: pending.code_challenge.clone(),
        resource: pending.resource.clone(),
        expires_at: now_ms() + ttl,
    };
    if let Err(e) = oauth.store().insert_code(&code, &grant).await {
        return internal(state, "storing a code failed", &e);
    }
    if let Some(id) = pending_id
        && let Err(e) = oauth.store().delete_pending(id).await
    {
        tracing::warn!(error = %e, "could not delete an answered authorization request");
    }
    tracing::info!(client_id = %pending.client_id, user = %user_id, scope = %pending.scope, "issued an authorization code");
    to_client(
        state,
        &pending.redirect_uri,
        &[("code", &code)],
        pending.state.as_deref(),
    )
}

#[derive(Deserialize)]
struct ResumeQuery {
    request: String,
}

/// After sign-in: the stored request continues.
async fn resume(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ResumeQuery>,
) -> Response {
    let (pending, _) = match state.oauth.store().pending(&q.request).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a pending request failed", &e),
    };
    let client = match state.oauth.client(&pending.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) | Err(ClientLookupError::Document(_)) => return expired(&state),
        Err(ClientLookupError::Store(e)) => return internal(&state, "client lookup failed", &e),
    };
    proceed(&state, jar, &client, pending, Some(q.request)).await
}

pub(super) fn expired(state: &AppState) -> Response {
    page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "Sign-in links work once and only for a few minutes.",
        Some("Go back to your app and connect again; it will open a fresh sign-in page."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_s256_challenges_pass() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge("plain-verifier"));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}

//! The consent page and its form: the user sees which client wants what, where the browser
//! will return, and who they are signed in as, and answers Allow or Cancel.
//!
//! The page names the client, shows the redirect URI's host and the scopes in plain words
//! (MCP security best practices, confused deputy), and marks self-registered clients as not
//! verified. The form's CSRF token is derived from the browser's session secret and the
//! request id (`consent_csrf`), so another site cannot produce it and a form copied from one
//! browser does not work in another. An answer is remembered per user and client as the union
//! of granted scopes.

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;
use url::Url;

use super::authorize::{expired, internal, issue_code, to_client};
use super::clients::{Client, ClientKind};
use super::config::is_loopback_host;
use super::scope_union;
use super::store::{PendingRequest, hash_secret};
use crate::server::AppState;
use crate::signin::session::Session;

/// The consent form's CSRF token: bound to the browser's session secret and to the request,
/// so neither another site nor another browser can produce it.
fn consent_csrf(session_token: &str, pending_id: &str) -> String {
    hash_secret(&format!("consent\0{session_token}\0{pending_id}"))
}

/// A scope in words a user understands.
fn describe_scope(scope: &str) -> (&'static str, &'static str) {
    match scope {
        s if s == roost_token::scopes::WORKSPACE => (
            "Use your workspace",
            "Read and change the files and notes in your own roost workspace.",
        ),
        s if s == roost_token::scopes::RUN => (
            "Run commands in your workspace",
            "Start programs and shell commands on your workspace's machine.",
        ),
        _ => ("Other access", "An access right this page cannot describe."),
    }
}

/// What to call where a redirect URI goes: its host, or `scheme:` for custom schemes.
fn redirect_host(uri: &str) -> String {
    match Url::parse(uri) {
        Ok(url) => match url.host_str() {
            Some(host) if url.scheme() == "https" || url.scheme() == "http" => host.to_owned(),
            Some(host) => format!("{}://{host}", url.scheme()),
            None => format!("{}:", url.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

pub(super) async fn page(
    state: &AppState,
    client: &Client,
    pending: &PendingRequest,
    pending_id: &str,
    session: &Session,
) -> Response {
    let scopes: Vec<minijinja::Value> = pending
        .scope
        .split_ascii_whitespace()
        .map(|s| {
            let (title, detail) = describe_scope(s);
            context! { title, detail }
        })
        .collect();
    // Where the app is from: for a metadata document, the host roost fetched it from
    // (verified); otherwise only what the app claims about itself.
    let host_of = |u: &str| {
        Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    };
    let (published_by, claimed_host) = if client.kind == ClientKind::MetadataDocument {
        (host_of(&client.client_id), None)
    } else {
        (None, client.client_uri.as_deref().and_then(host_of))
    };
    let localhost_only = client.kind == ClientKind::MetadataDocument
        && client
            .redirect_uris
            .iter()
            .all(|u| Url::parse(u).is_ok_and(|u| is_loopback_host(&u)));
    let user = state.oauth.signin().label(&session.user_id).await;
    state.oauth.pages().render(
        StatusCode::OK,
        "consent.html",
        context! {
            client_name => client.display_name(),
            published_by,
            claimed_host,
            logo_uri => client.logo_uri,
            user,
            scopes,
            redirect_host => redirect_host(&pending.redirect_uri),
            localhost_only,
            unverified => client.kind == ClientKind::Registered,
            request => pending_id,
            csrf => consent_csrf(&session.token, pending_id),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct ConsentForm {
    request: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
}

pub(super) async fn consent(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<ConsentForm>,
) -> Response {
    let oauth = &state.oauth;
    let session = match oauth.signin().sessions().current(&jar).await {
        Ok(Some(session)) => session,
        Ok(None) => return crate::signin::forged(&state),
        Err(e) => return internal(&state, "reading the session failed", &e),
    };
    let expected = consent_csrf(&session.token, &form.request);
    if !bool::from(form.csrf.as_bytes().ct_eq(expected.as_bytes())) {
        return crate::signin::forged(&state);
    }
    let (pending, guard) = match oauth.store().pending(&form.request).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a pending request failed", &e),
    };
    if !guard.same_browser(oauth.signin().sessions().request_binding(&jar)) {
        return crate::signin::forged(&state);
    }
    if form.decision != "allow" {
        if let Err(e) = oauth.store().delete_pending(&form.request).await {
            tracing::warn!(error = %e, "could not delete a refused authorization request");
        }
        tracing::info!(client_id = %pending.client_id, user = %session.user_id, "user refused consent");
        return to_client(
            &state,
            &pending.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "the user did not allow access"),
            ],
            pending.state.as_deref(),
        );
    }
    // A grant that cannot be read must not be overwritten by this answer alone: that would
    // silently take back scopes the user granted before.
    let previous = match oauth
        .store()
        .consent(&session.user_id, &pending.client_id)
        .await
    {
        Ok(previous) => previous.unwrap_or_default(),
        Err(e) => return internal(&state, "reading consent failed", &e),
    };
    let granted = scope_union(&previous, &pending.scope);
    if let Err(e) = oauth
        .store()
        .put_consent(&session.user_id, &pending.client_id, &granted)
        .await
    {
        return internal(&state, "storing consent failed", &e);
    }
    tracing::info!(client_id = %pending.client_id, user = %session.user_id, scope = %granted, "user granted consent");
    issue_code(&state, &pending, &session.user_id, Some(&form.request)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_hosts_are_named_for_people() {
        assert_eq!(
            redirect_host("https://claude.ai/api/mcp/auth_callback"),
            "claude.ai"
        );
        assert_eq!(redirect_host("http://127.0.0.1:5173/cb"), "127.0.0.1");
        assert_eq!(
            redirect_host("cursor://anysphere.cursor-mcp/oauth/callback"),
            "cursor://anysphere.cursor-mcp"
        );
    }

    #[test]
    fn consent_csrf_depends_on_session_and_request() {
        let a = consent_csrf("session-a", "req-1");
        assert_ne!(a, consent_csrf("session-b", "req-1"));
        assert_ne!(a, consent_csrf("session-a", "req-2"));
    }
}

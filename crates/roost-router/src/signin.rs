//! Browser sign-in: who the person at the authorization endpoint is.
//!
//! The authorization endpoint sends a browser without a session here with the id of its
//! pending request (`/signin?request=…`). The page lists every configured way in: upstream
//! OpenID Connect providers ([`oidc`]), GitHub ([`github`]), and the local-account form
//! ([`local`]). A successful sign-in maps the upstream identity to a roost user ([`users`]),
//! starts a session ([`session`]) and returns the browser to
//! `/oauth/authorize/continue?request=…`, where consent is asked or skipped.
//!
//! Upstream sign-ins keep their own `state`, nonce and PKCE verifier server-side
//! (`signin_flows`, single use, 10 minutes) and bind the flow to the browser that started it
//! with a short-lived cookie, so a callback URL cannot be replayed into someone else's browser.

pub mod github;
pub mod local;
pub mod oidc;
pub mod session;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine as _;
use minijinja::context;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use crate::db::{Db, now_ms};
use crate::oauth::OAuthSettings;
use crate::oauth::store::{hash_secret, random_token};
use crate::server::AppState;
use github::Github;
use oidc::OidcProvider;
use session::Sessions;
use users::Identity;

/// How long an upstream sign-in may take.
const FLOW_TTL: Duration = Duration::from_secs(600);

/// Why a sign-in step failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Password hashing failed, or a configured hash is malformed.
    #[error("password hash error: {0}")]
    Hash(String),
    /// A username with characters roost does not allow.
    #[error("usernames are 1 to 64 letters, digits, `.`, `_`, `@` or `-`")]
    BadUsername,
    /// A password shorter than 8 characters.
    #[error("passwords must be at least 8 characters long")]
    WeakPassword,
    /// The upstream identity provider refused or failed.
    #[error("{provider} did not complete the sign-in: {why}")]
    Upstream {
        /// The provider's display name.
        provider: String,
        /// What it said.
        why: String,
    },
}

/// Sign-in: sessions and the configured providers. Cheap to clone.
#[derive(Clone)]
pub struct SignIn {
    db: Db,
    sessions: Sessions,
    oidc: Arc<Vec<OidcProvider>>,
    github: Option<Arc<Github>>,
    local: bool,
    public_url: String,
}

impl SignIn {
    /// Sign-in over `db`, creating the config file's local accounts.
    pub async fn start(settings: &OAuthSettings, db: Db) -> Result<SignIn, SignInError> {
        for account in &settings.accounts {
            local::store_account(&db, &account.username, &account.password_hash).await?;
        }
        // Upstream calls never follow redirects: a token endpoint that redirects is misconfigured
        // or hostile, and following would forward the code and secret.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("roost-router/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SignInError::Upstream {
                provider: "HTTP client".into(),
                why: e.to_string(),
            })?;
        let oidc = settings
            .oidc
            .iter()
            .map(|(config, secret)| OidcProvider::new(config.clone(), secret.clone(), http.clone()))
            .collect();
        let github = settings.github.as_ref().map(|(config, secret)| {
            Arc::new(Github::new(config.clone(), secret.clone(), http.clone()))
        });
        Ok(SignIn {
            sessions: Sessions::new(db.clone(), settings.secure_cookies, settings.session_ttl),
            db,
            oidc: Arc::new(oidc),
            github,
            local: settings.local_signin,
            public_url: settings.public_url.clone(),
        })
    }

    /// The browser sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The fixed development user (`roost dev`'s dev sign-in).
    pub async fn dev_user(&self) -> Result<String, SignInError> {
        let identity = Identity {
            provider: "dev".into(),
            subject: "dev".into(),
            email: None,
            name: Some("Developer".into()),
        };
        Ok(users::user_for(&self.db, &identity).await?)
    }

    /// How to name `user_id` on pages.
    pub async fn label(&self, user_id: &str) -> String {
        users::label(&self.db, user_id)
            .await
            .unwrap_or_else(|_| user_id.to_owned())
    }

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

/// The sign-in routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(page))
        .route("/signin/local", post(local_signin))
        .route("/signout", post(signout))
        .route("/signin/oidc/{id}", get(oidc_start))
        .route("/signin/callback/oidc/{id}", get(oidc_callback))
        .route("/signin/github", get(github_start))
        .route("/signin/callback/github", get(github_callback))
}

/// Where a signed-in browser goes to finish its authorization request.
pub fn continue_url(pending_id: &str) -> String {
    format!(
        "/oauth/authorize/continue?request={}",
        urlencode(pending_id)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Deserialize)]
struct PageQuery {
    request: Option<String>,
}

fn expired(state: &AppState) -> Response {
    state.oauth.pages().error(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "Sign-in links work once and only for a few minutes.",
        Some("Go back to your app and connect again; it will open a fresh sign-in page."),
    )
}

fn internal(state: &AppState, what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "{what}");
    state.oauth.pages().error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side",
        "The sign-in could not be completed because the server failed.",
        Some("Try again in a minute."),
    )
}

async fn page(State(state): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let Some(request) = q.request else {
        return state.oauth.pages().error(
            StatusCode::BAD_REQUEST,
            "Start from your app",
            "This page signs you in on behalf of an app that wants to use your roost workspace, and no app asked.",
            Some("Add this server's MCP URL to your app (Claude, Cursor, VS Code, …); it will bring you here."),
        );
    };
    render_signin(&state, &request, None, "", StatusCode::OK).await
}

async fn render_signin(
    state: &AppState,
    request: &str,
    error: Option<&str>,
    username: &str,
    status: StatusCode,
) -> Response {
    let (pending, csrf) = match state.oauth.store().pending(request).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired(state),
        Err(e) => return internal(state, "reading a pending request failed", &e),
    };
    let client_name = match state.oauth.client(&pending.client_id).await {
        Ok(Some(client)) => client.display_name(),
        _ => pending.client_id.clone(),
    };
    let signin = state.oauth.signin();
    let mut providers: Vec<minijinja::Value> = signin
        .oidc
        .iter()
        .map(|p| context! { name => p.name(), href => format!("/signin/oidc/{}?request={}", p.id(), urlencode(request)) })
        .collect();
    if signin.github.is_some() {
        providers.push(context! { name => "GitHub", href => format!("/signin/github?request={}", urlencode(request)) });
    }
    state.oauth.pages().render(
        status,
        "signin.html",
        context! { client_name, providers, local => signin.local, request, csrf, error, username },
    )
}

#[derive(Deserialize)]
struct SignOutForm {
    request: Option<String>,
}

/// Ends the session: "not you?" on the consent page (back to sign-in for the same request), or
/// a plain sign-out (the "you can close this window" page). A cross-site post carries no
/// `SameSite=Lax` cookie, so another site can at most sign out a session it cannot see.
async fn signout(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<SignOutForm>,
) -> Response {
    let cleared = match state.oauth.signin().sessions().end(&jar).await {
        Ok(cookie) => cookie,
        Err(e) => return internal(&state, "ending a session failed", &e),
    };
    let jar = jar.add(cleared);
    match form.request.filter(|r| !r.is_empty()) {
        Some(request) => (
            jar,
            Redirect::to(&format!("/signin?request={}", urlencode(&request))),
        )
            .into_response(),
        None => (
            jar,
            state.oauth.pages().done(
                "You are signed out",
                "This browser is no longer signed in to roost.",
            ),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct LocalForm {
    request: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn local_signin(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<LocalForm>,
) -> Response {
    let signin = state.oauth.signin();
    if !signin.local {
        return state.oauth.pages().error(
            StatusCode::NOT_FOUND,
            "Local accounts are off",
            "This server does not sign in with usernames and passwords.",
            None,
        );
    }
    let expected = match state.oauth.store().pending(&form.request).await {
        Ok(Some((_, csrf))) => csrf,
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a pending request failed", &e),
    };
    if !bool::from(form.csrf.as_bytes().ct_eq(expected.as_bytes())) {
        return forged(&state);
    }
    match local::verify(&signin.db, &form.username, &form.password).await {
        Ok(Some(user_id)) => {
            tracing::info!(user = %user_id, provider = "local", "signed in");
            start_session(&state, jar, &user_id, &form.request).await
        }
        Ok(None) => {
            tracing::info!(
                provider = "local",
                "refused a sign-in: wrong username or password"
            );
            render_signin(
                &state,
                &form.request,
                Some("That username and password don't match. Check them and try again."),
                &form.username,
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(e) => internal(&state, "local sign-in failed", &e),
    }
}

/// The page for a form that did not come from our page (missing or wrong CSRF token).
pub fn forged(state: &AppState) -> Response {
    tracing::warn!("refused a form post without a valid CSRF token");
    state.oauth.pages().error(
        StatusCode::FORBIDDEN,
        "This request did not come from roost's page",
        "The form was sent without the token roost puts in its own pages, so it was ignored. Nothing was changed.",
        Some("If you were signing in, go back to your app and start again."),
    )
}

async fn start_session(state: &AppState, jar: CookieJar, user_id: &str, pending: &str) -> Response {
    match state.oauth.signin().sessions().create(user_id).await {
        Ok(cookie) => (jar.add(cookie), Redirect::to(&continue_url(pending))).into_response(),
        Err(e) => internal(state, "creating a session failed", &e),
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

async fn oidc_start(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
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
    let Some(request) = q.request else {
        return expired(&state);
    };
    match state.oauth.store().pending(&request).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a pending request failed", &e),
    }
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
struct CallbackQuery {
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

async fn oidc_callback(
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

async fn github_start(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<PageQuery>,
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
    let Some(request) = q.request else {
        return expired(&state);
    };
    match state.oauth.store().pending(&request).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a pending request failed", &e),
    }
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

async fn github_callback(
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

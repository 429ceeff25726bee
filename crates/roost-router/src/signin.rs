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
mod upstream;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::db::Db;
use crate::oauth::OAuthSettings;
use crate::server::AppState;
use github::Github;
use oidc::OidcProvider;
use session::Sessions;
use users::Identity;

/// Password attempts allowed per username and client IP per minute. Keyed by both so a guesser
/// spreading over many addresses is still slowed per address, while a stranger hammering a
/// username cannot lock its owner (on another address) out.
const PASSWORD_ATTEMPTS_PER_MINUTE: std::num::NonZeroU32 = std::num::NonZeroU32::new(10).unwrap();

/// Local sign-in posts allowed per client IP per minute, whatever the username or request:
/// a cap on password guessing (and argon2 work) from one address.
const SIGNIN_POSTS_PER_IP_PER_MINUTE: std::num::NonZeroU32 = std::num::NonZeroU32::new(20).unwrap();

/// Wrong passwords a pending authorization request survives; the next one drops it and the
/// user starts again from their app (which opens a fresh request).
const FAILURES_PER_REQUEST: i64 = 5;

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
    attempts: Arc<governor::DefaultKeyedRateLimiter<String>>,
    ip_attempts: Arc<governor::DefaultKeyedRateLimiter<String>>,
    argon2: Arc<tokio::sync::Semaphore>,
    client_ip_header: String,
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
            attempts: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                PASSWORD_ATTEMPTS_PER_MINUTE,
            ))),
            ip_attempts: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                SIGNIN_POSTS_PER_IP_PER_MINUTE,
            ))),
            argon2: Arc::new(tokio::sync::Semaphore::new(local::ARGON2_PERMITS)),
            client_ip_header: settings.client_ip_header.clone(),
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

    /// The permits password verifications take (tests hold them to fill the router up).
    #[cfg(feature = "testing")]
    pub fn argon2_permits(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.argon2
    }

    /// Forgets rate-limit entries that have refilled, so the limiters' memory stays bounded.
    pub(crate) fn prune_limiters(&self) {
        self.attempts.retain_recent();
        self.ip_attempts.retain_recent();
    }

    #[cfg(feature = "testing")]
    pub(crate) fn limiter_keys(&self) -> usize {
        self.attempts.len() + self.ip_attempts.len()
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
}

/// The sign-in routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(page))
        .route("/signin/local", post(local_signin))
        .route("/signout", post(signout))
        .route("/signin/oidc/{id}", get(upstream::oidc_start))
        .route("/signin/callback/oidc/{id}", get(upstream::oidc_callback))
        .route("/signin/github", get(upstream::github_start))
        .route("/signin/callback/github", get(upstream::github_callback))
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
        Ok(Some((pending, guard))) => (pending, guard.csrf),
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
    headers: axum::http::HeaderMap,
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
    let ip = crate::oauth::dcr::client_ip(&headers, &signin.client_ip_header);
    if signin.ip_attempts.check_key(&ip).is_err() {
        tracing::warn!(ip = %ip, "sign-in posts rate limit hit");
        return too_many(&state);
    }
    let guard = match state.oauth.store().pending(&form.request).await {
        Ok(Some((_, guard))) => guard,
        Ok(None) => return expired(&state),
        Err(e) => return internal(&state, "reading a pending request failed", &e),
    };
    // The form token proves the post came from the request's page; the cookie, that it came
    // from the browser that started the request (else an attacker could sign a victim's
    // browser into the attacker's account).
    if !bool::from(form.csrf.as_bytes().ct_eq(guard.csrf.as_bytes()))
        || !guard.same_browser(signin.sessions.request_binding(&jar))
    {
        return forged(&state);
    }
    let key = format!("{}\0{ip}", form.username.trim().to_lowercase());
    if signin.attempts.check_key(&key).is_err() {
        tracing::warn!(ip = %ip, "password attempts rate limit hit");
        return render_signin(
            &state,
            &form.request,
            Some("Too many sign-in attempts. Wait a minute, then try again."),
            &form.username,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
    // Turned away rather than queued: each verification holds ~19 MiB (local.rs).
    let Ok(permit) = signin.argon2.clone().try_acquire_owned() else {
        tracing::warn!("password verification is at capacity; refused a sign-in");
        return busy(&state);
    };
    match local::verify(&signin.db, &form.username, &form.password, permit).await {
        Ok(Some(user_id)) => {
            tracing::info!(user = %user_id, provider = "local", "signed in");
            start_session(&state, jar, &user_id, &form.request).await
        }
        Ok(None) => {
            tracing::info!(
                provider = "local",
                "refused a sign-in: wrong username or password"
            );
            match state.oauth.store().pending_failed(&form.request).await {
                Ok(n) if n >= FAILURES_PER_REQUEST => {
                    if let Err(e) = state.oauth.store().delete_pending(&form.request).await {
                        return internal(&state, "dropping a pending request failed", &e);
                    }
                    tracing::warn!(ip = %ip, "dropped an authorization request after repeated wrong passwords");
                    return state.oauth.pages().error(
                        StatusCode::UNAUTHORIZED,
                        "Too many wrong passwords",
                        "This sign-in was stopped after several wrong usernames or passwords.",
                        Some("Go back to your app and connect again to start a new sign-in."),
                    );
                }
                Ok(_) => {}
                Err(e) => return internal(&state, "counting a failed sign-in failed", &e),
            }
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

/// A page with `Retry-After`, for a client that should slow down.
fn retry_later(mut response: Response, seconds: u32) -> Response {
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds),
    );
    response
}

fn too_many(state: &AppState) -> Response {
    retry_later(
        state.oauth.pages().error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts",
            "This address has sent too many sign-in forms in the last minute.",
            Some("Wait a minute, then try again."),
        ),
        60,
    )
}

fn busy(state: &AppState) -> Response {
    retry_later(
        state.oauth.pages().error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy",
            "Too many people are signing in at this moment.",
            Some("Wait a few seconds, then send the form again."),
        ),
        2,
    )
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

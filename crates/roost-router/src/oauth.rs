//! The router as an OAuth 2.1 authorization server for MCP clients (MCP authorization spec
//! 2025-06-18 … 2026-07-28, `reference/mcp.md` §2; `docs/oauth.md` for operators).
//!
//! Module map:
//! * [`config`]: the flags and the config file, validated into [`OAuthSettings`].
//! * [`metadata`]: RFC 8414 / OIDC discovery documents.
//! * [`clients`], [`dcr`], [`cimd`], [`fetch`]: who a client is — pre-registered, registered
//!   dynamically (RFC 7591), or described by a metadata document fetched SSRF-safely.
//! * [`authorize`], [`consent`]: the authorization endpoint, the consent page, and codes.
//! * [`token`], [`revoke`]: the token endpoint (code and refresh grants) and RFC 7009.
//! * [`store`]: the rows; [`error`]: the RFC 6749 §5.2 error responses.
//!
//! Sign-in (who the user is) lives in [`crate::signin`]; pages in [`crate::pages`].

pub mod authorize;
pub mod cimd;
pub mod clients;
pub mod config;
pub mod consent;
pub mod dcr;
pub mod error;
pub mod fetch;
pub mod metadata;
pub mod revoke;
pub mod store;
pub mod token;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roost_token::SigningKey;

pub use config::{OAuthConfig, OAuthConfigError, OAuthSettings};

use crate::auth::RevokedTokens;
use crate::config::Settings;
use crate::db::Db;
use crate::pages::Pages;
use crate::server::AppState;
use crate::signin::SignIn;
use crate::tenants::TenantStore;
use cimd::MetadataDocuments;
use clients::Client;
use fetch::{AddressPolicy, SafeFetcher};
use store::OAuthStore;

/// The scope `offline_access` (OIDC Core §11): accepted so clients that ask for it get what they
/// expect, but not required — every client gets a rotating refresh token (docs/oauth.md).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// New authorization requests per client IP per minute: each one is a stored row until the
/// user signs in or it expires.
const AUTHORIZE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(30).unwrap();

/// How often the rate limiters forget addresses whose allowance has refilled; without it a
/// keyed limiter grows by one entry per address ever seen.
const PRUNE_LIMITERS_EVERY: Duration = Duration::from_secs(60);

/// Why the authorization server could not start.
#[derive(Debug, thiserror::Error)]
pub enum OAuthStartError {
    /// Seeding local accounts from config failed.
    #[error("cannot create the local accounts from ROOST_OAUTH_CONFIG: {0}")]
    Accounts(#[from] crate::signin::SignInError),
    /// The pages failed to load (a template bug).
    #[error("cannot load the page templates: {0}")]
    Pages(#[from] minijinja::Error),
    /// The revoked access tokens could not be read.
    #[error("cannot read the revoked access tokens from the database: {0}")]
    Revocations(#[from] store::StoreError),
}

/// The authorization server's handle in [`AppState`]. Cheap to clone.
#[derive(Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
    documents: MetadataDocuments,
}

struct Inner {
    settings: OAuthSettings,
    store: OAuthStore,
    static_clients: HashMap<String, Client>,
    dcr_limiter: DefaultKeyedRateLimiter<String>,
    authorize_limiter: DefaultKeyedRateLimiter<String>,
    pages: Pages,
    signin: SignIn,
    signing_key: Option<SigningKey>,
    tenants: TenantStore,
    app_prefix: String,
}

impl OAuth {
    /// Builds the authorization server over `db`, creates the configured local accounts, and
    /// fills `revoked` with the access tokens revoked so far (`server::run` keeps it in step).
    pub async fn start(
        settings: &Settings,
        db: Db,
        revoked: RevokedTokens,
    ) -> Result<OAuth, OAuthStartError> {
        let oauth = &settings.oauth;
        let store = OAuthStore::new(db.clone(), revoked);
        store.load_revocations(0).await?;
        let signin = SignIn::start(oauth, db.clone()).await?;
        let static_clients = oauth
            .clients
            .iter()
            .map(|c| (c.client_id.clone(), clients::from_static(c)))
            .collect();
        let per_minute = NonZeroU32::new(oauth.dcr_per_minute).unwrap_or(NonZeroU32::MIN);
        let fetcher = SafeFetcher::new(
            AddressPolicy::PUBLIC_ONLY,
            oauth.cimd_timeout,
            oauth.cimd_max_bytes,
        );
        let inner = Arc::new(Inner {
            settings: oauth.clone(),
            store,
            static_clients,
            dcr_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            authorize_limiter: RateLimiter::keyed(Quota::per_minute(AUTHORIZE_PER_MINUTE)),
            pages: Pages::new()?,
            signin,
            signing_key: settings.signing_key.clone(),
            tenants: TenantStore::new(db),
            app_prefix: settings.app_prefix.clone(),
        });
        // The pruner holds only a weak handle, so it ends when the server is dropped.
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PRUNE_LIMITERS_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                inner.prune_limiters();
            }
        });
        Ok(OAuth {
            inner,
            documents: MetadataDocuments::new(fetcher),
        })
    }

    /// Forgets rate-limit entries whose allowance has refilled (a timer does this every
    /// minute).
    pub fn prune_limiters(&self) {
        self.inner.prune_limiters();
    }

    /// How many addresses (and username/address pairs) the rate limiters remember.
    #[cfg(feature = "testing")]
    pub fn limiter_keys(&self) -> usize {
        self.inner.dcr_limiter.len()
            + self.inner.authorize_limiter.len()
            + self.inner.signin.limiter_keys()
    }

    /// The same server fetching client metadata documents under `policy` (tests admit loopback).
    #[cfg(feature = "testing")]
    pub fn with_fetch_policy(mut self, policy: AddressPolicy) -> Self {
        let s = &self.inner.settings;
        self.documents =
            MetadataDocuments::new(SafeFetcher::new(policy, s.cimd_timeout, s.cimd_max_bytes));
        self
    }

    /// The settings.
    pub fn settings(&self) -> &OAuthSettings {
        &self.inner.settings
    }

    /// The rows.
    pub fn store(&self) -> &OAuthStore {
        &self.inner.store
    }

    /// Browser sign-in.
    pub fn signin(&self) -> &SignIn {
        &self.inner.signin
    }

    /// The page renderer.
    pub fn pages(&self) -> &Pages {
        &self.inner.pages
    }

    /// The client `client_id`, from config, the registrations, or its metadata document.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, ClientLookupError> {
        if let Some(client) = self.inner.static_clients.get(client_id) {
            return Ok(Some(client.clone()));
        }
        if clients::is_metadata_document_id(client_id) {
            if !self.inner.settings.cimd {
                return Ok(None);
            }
            return self
                .documents
                .client(client_id)
                .await
                .map(Some)
                .map_err(ClientLookupError::Document);
        }
        self.inner
            .store
            .client(client_id)
            .await
            .map_err(ClientLookupError::Store)
    }

    /// The tenant id for `user_id`, creating the user's tenant row (state `pending`) when it
    /// has none yet, so the token carries the tenant before its machine exists.
    pub async fn tenant_of(&self, user_id: &str) -> Result<String, crate::tenants::StoreError> {
        let id = crate::tenants::tenant_id_for_user(&self.inner.app_prefix, user_id);
        Ok(self.inner.tenants.ensure_for_user(user_id, &id).await?.id)
    }

    fn signing_key(&self) -> Option<&SigningKey> {
        self.inner.signing_key.as_ref()
    }

    fn dcr_allowed(&self, ip: String) -> bool {
        self.inner.dcr_limiter.check_key(&ip).is_ok()
    }

    fn authorize_allowed(&self, ip: &str) -> bool {
        self.inner
            .authorize_limiter
            .check_key(&ip.to_owned())
            .is_ok()
    }
}

impl Inner {
    fn prune_limiters(&self) {
        self.dcr_limiter.retain_recent();
        self.authorize_limiter.retain_recent();
        self.signin.prune_limiters();
    }
}

/// Why a client could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum ClientLookupError {
    /// Its metadata document is unusable (the message is safe to show).
    #[error(transparent)]
    Document(cimd::CimdError),
    /// The database failed.
    #[error(transparent)]
    Store(store::StoreError),
}

/// Refuses to serve the development sign-in on a listener other machines can reach: it hands a
/// token to anyone who asks, so it must bind to loopback only (configuration already insists
/// on a loopback public URL; this covers the socket itself).
pub fn check_listener(settings: &OAuthSettings, addr: std::net::SocketAddr) -> std::io::Result<()> {
    if settings.dev_signin && !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "ROOST_DEV_SIGNIN is on, but the router listens on {addr}, which other machines can \
                 reach; listen on 127.0.0.1 (ROOST_HOST=127.0.0.1) or turn development sign-in off"
            ),
        ));
    }
    Ok(())
}

/// The scopes roost grants, normalised: known scopes only (unknown ones are dropped, RFC 6749
/// §3.3 lets the server grant less), `roost:workspace` always included because nothing works
/// without it, in a stable order.
pub fn normalise_scope(requested: Option<&str>) -> String {
    let asked: Vec<&str> = requested
        .unwrap_or_default()
        .split_ascii_whitespace()
        .collect();
    let mut granted = vec![roost_token::scopes::WORKSPACE];
    if asked.contains(&roost_token::scopes::RUN) {
        granted.push(roost_token::scopes::RUN);
    }
    granted.join(" ")
}

/// Whether every scope in `wanted` is in `granted`.
pub fn scope_covers(granted: &str, wanted: &str) -> bool {
    let have: Vec<&str> = granted.split_ascii_whitespace().collect();
    wanted.split_ascii_whitespace().all(|s| have.contains(&s))
}

/// The union of two scope strings, normalised.
pub fn scope_union(a: &str, b: &str) -> String {
    normalise_scope(Some(&format!("{a} {b}")))
}

/// The CORS policy of the endpoints clients call with `fetch` (see [`router`]); the
/// discovery documents ([`crate::discovery`]) use it too.
pub fn cors() -> tower_http::cors::CorsLayer {
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static("mcp-protocol-version"),
        ])
}

/// Every OAuth and sign-in route.
///
/// The endpoints a client calls with `fetch` (metadata, registration, token, revocation) allow
/// any origin: browser-based clients such as the MCP Inspector call them cross-origin, they
/// use no cookies (so `*` grants nothing a script could not do anyway), and they authenticate
/// clients by secret or PKCE. The browser pages (authorize, sign-in, consent) get no CORS.
pub fn router() -> Router<AppState> {
    let api = Router::new()
        .merge(metadata::router())
        .merge(dcr::router())
        .merge(token::router())
        .merge(revoke::router())
        .layer(cors());
    Router::new()
        .merge(api)
        .merge(authorize::router())
        .merge(crate::signin::router())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_signin_is_served_only_on_loopback_listeners() {
        let mut settings = OAuthConfig {
            oauth_config: None,
            oauth_clients: None,
            access_token_ttl: std::time::Duration::from_secs(3600),
            revocation_poll: std::time::Duration::from_secs(5),
            refresh_token_ttl: std::time::Duration::from_secs(3600),
            refresh_grace: std::time::Duration::from_secs(30),
            code_ttl: std::time::Duration::from_secs(60),
            session_ttl: std::time::Duration::from_secs(3600),
            dcr: true,
            dcr_per_minute: 10,
            client_ip_header: "fly-client-ip".into(),
            cimd: true,
            cimd_timeout: std::time::Duration::from_secs(5),
            cimd_max_bytes: 1024,
            local_signin: true,
            dev_signin: true,
        }
        .settings(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/mcp",
            "http://127.0.0.1:8080",
        )
        .unwrap();
        assert!(check_listener(&settings, "127.0.0.1:8080".parse().unwrap()).is_ok());
        let err = check_listener(&settings, "0.0.0.0:8080".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("ROOST_HOST=127.0.0.1"), "{err}");
        settings.dev_signin = false;
        assert!(check_listener(&settings, "0.0.0.0:8080".parse().unwrap()).is_ok());
    }

    #[test]
    fn scopes_always_include_the_workspace_and_drop_unknown_ones() {
        assert_eq!(normalise_scope(None), "roost:workspace");
        assert_eq!(
            normalise_scope(Some("openid roost:run offline_access")),
            "roost:workspace roost:run"
        );
        assert!(scope_covers("roost:workspace roost:run", "roost:workspace"));
        assert!(!scope_covers(
            "roost:workspace",
            "roost:workspace roost:run"
        ));
        assert_eq!(
            scope_union("roost:workspace", "roost:workspace roost:run"),
            "roost:workspace roost:run"
        );
    }
}

//! Putting the router together: the shared state, the merged routes of every module, and
//! [`run`], which serves an already-bound listener until a shutdown future resolves.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use roost_fly::{FlyClient, FlyClientConfig};
use roost_token::JwkSet;
use tokio::net::TcpListener;

use crate::auth::{AuthError, RevokedTokens, TokenGate};
use crate::config::Settings;
use crate::db::{Db, DbError, follow_changes};
use crate::error::ApiError;
use crate::metrics::HotPathMetrics;
use crate::provision::template::{MachineTemplate, TemplateError};
use crate::provision::{Context, Provisioner, WorkspaceEnv};
use crate::proxy::{Forwarder, PrivateNetwork};
use crate::tenants::TenantStore;
use crate::tenants::cache::Tenants;

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The tenant template is unusable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The OAuth authorization server could not start.
    #[error(transparent)]
    OAuth(#[from] crate::oauth::OAuthStartError),
    /// The Fly client could not be built.
    #[error("cannot build the Fly API client (check FLY_API_TOKEN and ROOST_FLY_API_URL): {0}")]
    Fly(String),
    /// No region for new tenants.
    #[error(
        "no region for new tenants: set `primary_region` in the tenant template or ROOST_TENANT_REGION"
    )]
    NoRegion,
}

/// Everything a request handler needs: one shared [`Shared`], so the clone axum makes for every
/// request is a single reference-count increment (cloning the handles themselves cost dozens
/// of contended atomic operations per request; docs/benchmarks.md).
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    /// The validated configuration.
    pub settings: Arc<Settings>,
    /// The database.
    pub db: Db,
    /// Token verification with the verdict cache.
    pub gate: TokenGate,
    /// Tenants: store + cache.
    pub tenants: Tenants,
    /// Provisioning.
    pub provisioner: Provisioner,
    /// Large-body forwarding.
    pub forwarder: Forwarder,
    /// Hot-path metric handles.
    pub metrics: HotPathMetrics,
    /// The published token keys.
    pub jwks: Arc<JwkSet>,
    /// The OAuth authorization server and browser sign-in.
    pub oauth: crate::oauth::OAuth,
    resource_metadata_url: Arc<str>,
}

impl AppState {
    /// Opens the database, loads the template and wires every part. `network` resolves tenant
    /// machines' private names (Fly DNS in production, flylocal in development).
    pub async fn start(
        settings: Settings,
        network: Arc<dyn PrivateNetwork>,
    ) -> Result<AppState, StartError> {
        let db = Db::open(&settings.database_url).await?;
        let template =
            MachineTemplate::load(&settings.user_template, settings.user_image.as_deref())?;
        let region = settings
            .tenant_region
            .clone()
            .or_else(|| template.primary_region.clone())
            .ok_or(StartError::NoRegion)?;
        let fly = FlyClient::new(FlyClientConfig::new(
            settings.fly_api_url.clone(),
            settings.fly_api_token.clone(),
            settings.fly_org.clone(),
        ))
        .map_err(|e| StartError::Fly(e.to_string()))?;

        let metrics = HotPathMetrics::new();
        let revoked = RevokedTokens::new();
        let gate = TokenGate::new(
            settings.verifier.clone(),
            settings.token_cache_size,
            revoked.clone(),
            metrics.clone(),
        );
        let tenants = Tenants::new(
            TenantStore::new(db.clone()),
            settings.tenant_cache_size,
            settings.tenant_cache_ttl,
            settings.replay_timeout,
            metrics.clone(),
        );
        let token_keys = settings.token_keys.as_deref();
        let jwks = crate::discovery::published_keys(&settings, token_keys);
        let env = WorkspaceEnv {
            issuer: settings.issuer.clone(),
            audience: settings.mcp_url.clone(),
            jwks_url: settings.tenant_jwks_url.clone(),
            token_keys: inline_keys(&jwks, token_keys),
        };
        let forwarder = Forwarder::new(fly.clone(), network, template.internal_port)
            .response_timeout(settings.proxy_response_timeout);
        let provisioner = Provisioner::new(
            Context {
                tenants: tenants.clone(),
                fly,
                template,
                region,
                env,
                owner: settings.instance_id.clone(),
            },
            settings.provision_wait,
        );
        let resource_metadata_url = format!(
            "{}{}",
            settings.public_url,
            crate::discovery::RESOURCE_METADATA_PATH
        )
        .into();
        let oauth = crate::oauth::OAuth::start(&settings, db.clone(), revoked).await?;
        let shared = Shared {
            settings: Arc::new(settings),
            db,
            gate,
            tenants,
            provisioner,
            forwarder,
            metrics,
            jwks: Arc::new(jwks),
            oauth,
            resource_metadata_url,
        };
        Ok(AppState {
            shared: Arc::new(shared),
        })
    }

    /// The same state with its parts changed by `change` (at start-up, before it is shared;
    /// tests use it to relax the client-metadata fetch policy).
    pub fn with(mut self, change: impl FnOnce(&mut Shared)) -> AppState {
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// The URL of the MCP URL's protected-resource metadata (named in 401 challenges).
    pub fn resource_metadata_url(&self) -> String {
        self.resource_metadata_url.to_string()
    }

    /// The 401 for an authentication failure; refusals are logged by digest-free reason only.
    pub fn unauthorized(&self, error: &AuthError) -> ApiError {
        let invalid = match error {
            AuthError::Missing => None,
            AuthError::Invalid(why) => {
                tracing::info!(reason = %why, "refused an access token");
                Some(why.description())
            }
            AuthError::Revoked => {
                tracing::info!("refused a revoked access token");
                Some("the access token was revoked; sign in again")
            }
        };
        ApiError::Unauthorized {
            resource_metadata: self.resource_metadata_url(),
            invalid,
        }
    }
}

/// The keys handed to tenant workspaces inline: the published JWKS when it has keys, else the
/// operator's `ROOST_TOKEN_KEYS` text as given (PEM).
fn inline_keys(jwks: &JwkSet, token_keys: Option<&str>) -> String {
    if jwks.keys.is_empty() {
        token_keys.unwrap_or_default().to_owned()
    } else {
        serde_json::to_string(jwks).unwrap_or_default()
    }
}

/// Every route of the router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(crate::replay::router())
        .merge(crate::discovery::router())
        .merge(crate::oauth::router())
        .merge(crate::admin::router())
        .merge(crate::health::router())
        .merge(crate::metrics::router())
        .with_state(state)
}

/// Serves the router on `listener` until `shutdown` resolves, after resuming any provisioning
/// a previous run left unfinished.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::oauth::check_listener(&state.settings.oauth, listener.local_addr()?)?;
    match state.provisioner.resume_unfinished().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tenants = n, "resumed unfinished provisioning"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list unfinished tenants; they resume on their next request")
        }
    }
    tracing::info!(addr = %listener.local_addr()?, mcp_url = %state.settings.mcp_url, "router listening");
    // What other routers sharing the database change reaches this one by polling.
    let tenants = state.tenants.clone();
    let store = state.oauth.store().clone();
    let pollers = [
        tokio::spawn(follow_changes(
            "changed tenants",
            state.settings.tenant_poll,
            move |since| {
                let tenants = tenants.clone();
                async move { tenants.forget_changed_since(since).await }
            },
        )),
        tokio::spawn(follow_changes(
            "revoked access tokens",
            state.settings.oauth.revocation_poll,
            move |since| {
                let store = store.clone();
                async move { store.load_revocations(since).await }
            },
        )),
    ];
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    for poller in pollers {
        poller.abort();
    }
    served
}

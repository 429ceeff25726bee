//! The provisioning reconciler: drives a tenant from `pending` to `ready`, one idempotent step
//! at a time ([`steps`]), from the machine template ([`template`]).
//!
//! Concurrency, from the inside out:
//! * In one router, concurrent first requests of one user share one driver task
//!   (single-flight): the first starts it, everyone subscribes to its progress.
//! * Across routers sharing PostgreSQL, the tenant row's lease decides who drives; the others
//!   watch the row until it is done or the lease lapses (its holder died), then take over.
//! * Every step writes with compare-and-set on the state and the lease, so a router that lost
//!   its lease mid-step cannot record stale work; its Fly resource is found by the next
//!   driver's look-before-create.
//!
//! A router that restarts resumes every unfinished tenant ([`Provisioner::resume_unfinished`]).
//! Tenants that are already provisioned get template changes (a new image) through
//! [`update`].

pub mod steps;
pub mod template;
pub mod update;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng as _;
use roost_fly::FlyClient;
use roost_token::AccessClaims;
use tokio::sync::watch;

use self::steps::{StepError, step_name};
use self::template::{MachineTemplate, TenantEnv};
use crate::error::ApiError;
use crate::metrics;
use crate::tenants::cache::{Route, Tenants};
use crate::tenants::{Learned, StoreError, Tenant, TenantState};

/// Suffixes tried after the tenant id when its app name is taken (`-2` … `-N`).
pub const MAX_APP_NAME_SUFFIX: u32 = 9;
/// Failed attempts at one step (counted in the database, so across restarts) before the
/// tenant is marked `failed` for an operator.
const MAX_ATTEMPTS: i64 = 12;
/// How long a driver's claim on a tenant lasts without renewal; renewed before every step.
/// Longer than the slowest step (waiting 60 s for a machine to start).
const LEASE_TTL: Duration = Duration::from_secs(120);
/// How often a router that does not hold the lease looks at the row.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// A driver gives up (and releases the tenant) after this long; the next request restarts it.
const DRIVER_BUDGET: Duration = Duration::from_secs(15 * 60);

/// Where a tenant's provisioning stands, as the waiters see it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The tenant row as last read or written.
    pub tenant: Option<Tenant>,
    /// The driver has stopped (done, failed, or gave up for now).
    pub finished: bool,
}

/// The values every tenant's env is filled with.
#[derive(Debug, Clone)]
pub struct WorkspaceEnv {
    /// Token issuer.
    pub issuer: String,
    /// The MCP URL.
    pub audience: String,
    /// JWKS URL.
    pub jwks_url: String,
    /// Public keys inline.
    pub token_keys: String,
}

impl WorkspaceEnv {
    /// The env of tenant `tenant`.
    pub fn for_tenant<'a>(&'a self, tenant: &'a str) -> TenantEnv<'a> {
        TenantEnv {
            tenant,
            issuer: &self.issuer,
            audience: &self.audience,
            jwks_url: &self.jwks_url,
            token_keys: &self.token_keys,
        }
    }
}

/// What the steps need.
pub struct Context {
    /// Tenants (store + cache).
    pub tenants: Tenants,
    /// The Machines API.
    pub fly: FlyClient,
    /// The machine template.
    pub template: MachineTemplate,
    /// Region of new volumes and machines.
    pub region: String,
    /// Tenant env values.
    pub env: WorkspaceEnv,
    /// This router's lease-owner id.
    pub owner: String,
}

impl Context {
    /// Moves `tenant` to `to` under this router's lease and refreshes the cache.
    pub async fn transition(
        &self,
        tenant: &Tenant,
        to: TenantState,
        learned: &Learned,
    ) -> Result<Tenant, StepError> {
        let next = self
            .tenants
            .store()
            .transition(&tenant.id, tenant.state, to, learned, Some(&self.owner))
            .await?;
        self.tenants.remember(&next);
        tracing::info!(tenant = %next.id, app = %next.app_name, state = %next.state, "provisioning step done");
        if to == TenantState::Ready {
            let took = (chrono::Utc::now() - next.created_at)
                .to_std()
                .unwrap_or_default();
            ::metrics::histogram!(metrics::PROVISION_TOTAL).record(took.as_secs_f64());
        }
        Ok(next)
    }
}

/// Starts and shares provisioning work. Cheap to clone.
#[derive(Clone)]
pub struct Provisioner {
    ctx: Arc<Context>,
    wait: Duration,
    inflight: Arc<Mutex<HashMap<String, Driver>>>,
}

/// A driver running in this process.
struct Driver {
    progress: watch::Receiver<Progress>,
    /// Work was asked for while it ran: it may have read the row for the last time before the
    /// change (say an operator's delete just after it saw `ready`), so it drives once more.
    again: bool,
}

impl Provisioner {
    /// A provisioner; requests wait up to `wait` for a tenant to become ready.
    pub fn new(ctx: Context, wait: Duration) -> Self {
        Provisioner {
            ctx: Arc::new(ctx),
            wait,
            inflight: Arc::default(),
        }
    }

    /// The steps' context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The hot path's slow branch: makes sure the token's user has a tenant, drives it towards
    /// `ready`, and waits a bounded time for it.
    pub async fn provision_and_wait(&self, claims: &AccessClaims) -> Result<Arc<Route>, ApiError> {
        let store = self.ctx.tenants.store();
        let tenant = store.ensure_for_user(&claims.sub, &claims.tenant).await.map_err(|e| {
            tracing::error!(user = %claims.sub, tenant = %claims.tenant, error = %e, "cannot create the tenant row");
            ApiError::Internal
        })?;
        if tenant.id != claims.tenant {
            tracing::warn!(user = %claims.sub, token_tenant = %claims.tenant, tenant = %tenant.id, "token names another tenant than its user's");
            return Err(ApiError::WrongTenant);
        }
        if !tenant.state.is_provisioning() {
            return settled(&self.ctx.tenants, &tenant);
        }
        let mut progress = self.start(&tenant.id);
        let waited = tokio::time::timeout(
            self.wait,
            progress.wait_for(|p| {
                p.finished
                    || p.tenant
                        .as_ref()
                        .is_some_and(|t| !t.state.is_provisioning())
            }),
        )
        .await;
        let retry_after = Duration::from_secs(5);
        match waited {
            Ok(Ok(progress)) => match &progress.tenant {
                Some(tenant) if !tenant.state.is_provisioning() => {
                    settled(&self.ctx.tenants, tenant)
                }
                _ => Err(ApiError::Provisioning { retry_after }),
            },
            // The driver is gone without a verdict, or the wait ran out: the client retries and
            // the next request picks up where provisioning is.
            Ok(Err(_)) | Err(_) => {
                tracing::info!(tenant = %tenant.id, "tenant still provisioning; answering 503");
                Err(ApiError::Provisioning { retry_after })
            }
        }
    }

    /// Starts driving tenant `id` unless a driver is already running in this process; either
    /// way, returns a subscription to its progress.
    pub fn start(&self, id: &str) -> watch::Receiver<Progress> {
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(driver) = inflight.get_mut(id)
            && !driver.progress.borrow().finished
        {
            driver.again = true;
            return driver.progress.clone();
        }
        let (tx, rx) = watch::channel(Progress::default());
        inflight.insert(
            id.to_owned(),
            Driver {
                progress: rx.clone(),
                again: false,
            },
        );
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            loop {
                this.drive(&id, &tx).await;
                // Under the lock `start` takes: a request for more work either lands before
                // this check (and is honoured) or finds the driver finished (and starts one).
                let mut inflight = this.inflight.lock().unwrap_or_else(|e| e.into_inner());
                let ours = inflight
                    .get_mut(&id)
                    .filter(|d| d.progress.same_channel(&tx.subscribe()));
                if let Some(driver) = ours {
                    if std::mem::take(&mut driver.again) {
                        continue;
                    }
                    inflight.remove(&id);
                }
                tx.send_modify(|p| p.finished = true);
                break;
            }
        });
        rx
    }

    /// Starts a driver for every tenant left unfinished (a restart, or another router died).
    pub async fn resume_unfinished(&self) -> Result<usize, StoreError> {
        let unfinished = self.ctx.tenants.store().unfinished().await?;
        let unfinished: Vec<_> = unfinished
            .into_iter()
            .filter(|t| t.state.has_work())
            .collect();
        for tenant in &unfinished {
            tracing::info!(tenant = %tenant.id, state = %tenant.state, "resuming unfinished work");
            self.start(&tenant.id);
        }
        Ok(unfinished.len())
    }

    /// Drives tenant `id` until it leaves the provisioning (or deleting) states, fails, or the
    /// budget ends.
    async fn drive(&self, id: &str, progress: &watch::Sender<Progress>) {
        let ctx = &self.ctx;
        let store = ctx.tenants.store();
        let began = Instant::now();
        let mut failures_here = 0u32;
        while began.elapsed() < DRIVER_BUDGET {
            let tenant = match store.get(id).await {
                Ok(Some(tenant)) => tenant,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(tenant = %id, error = %e, "cannot read the tenant; retrying");
                    failures_here += 1;
                    tokio::time::sleep(backoff(failures_here)).await;
                    continue;
                }
            };
            ctx.tenants.remember(&tenant);
            progress.send_modify(|p| p.tenant = Some(tenant.clone()));
            if !tenant.state.has_work() {
                break;
            }
            match store.claim(id, &ctx.owner, LEASE_TTL).await {
                Ok(true) => {}
                Ok(false) => {
                    // Another router drives it; watch the row until it is done or its lease
                    // lapses (then our claim succeeds and we continue its work).
                    tokio::time::sleep(WATCH_INTERVAL).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(tenant = %id, error = %e, "cannot claim the tenant; retrying");
                    failures_here += 1;
                    tokio::time::sleep(backoff(failures_here)).await;
                    continue;
                }
            }
            let step = step_name(tenant.state);
            let started = Instant::now();
            match steps::advance(ctx, &tenant).await {
                Ok(_) => {
                    metrics::provision_step(step, started.elapsed(), true);
                    failures_here = 0;
                }
                Err(StepError::Store(e)) => {
                    // Someone else moved the tenant, or our lease lapsed: re-read and go on.
                    tracing::info!(tenant = %id, error = %e, "tenant changed during a step; re-reading");
                }
                Err(StepError::Transient(why)) => {
                    metrics::provision_step(step, started.elapsed(), false);
                    failures_here += 1;
                    let attempts = store
                        .record_error(id, &why, Some(&ctx.owner))
                        .await
                        .unwrap_or(0);
                    tracing::warn!(tenant = %id, step, attempts, error = %why, "provisioning step failed; will retry");
                    if attempts >= MAX_ATTEMPTS {
                        let reason = format!("{step} failed {attempts} times; last error: {why}");
                        if tenant.state == TenantState::Deleting {
                            tracing::error!(tenant = %id, reason, "deletion stopped; an operator must retry it");
                            break;
                        }
                        self.fail(&tenant, &reason).await;
                        continue;
                    }
                    tokio::time::sleep(backoff(failures_here)).await;
                }
                Err(StepError::Permanent(why)) => {
                    metrics::provision_step(step, started.elapsed(), false);
                    let reason = format!("{step}: {why}");
                    if tenant.state == TenantState::Deleting {
                        // `deleting` only ends in `deleted`: keep the reason and stop; an
                        // operator's new delete request tries again.
                        let _ = store.record_error(id, &reason, Some(&ctx.owner)).await;
                        tracing::error!(tenant = %id, reason, "deletion stopped; an operator must retry it");
                        break;
                    }
                    self.fail(&tenant, &reason).await;
                }
            }
        }
        if let Err(e) = store.release(id, &ctx.owner).await {
            tracing::warn!(tenant = %id, error = %e, "cannot release the tenant's lease; it lapses by itself");
        }
    }

    async fn fail(&self, tenant: &Tenant, reason: &str) {
        tracing::error!(tenant = %tenant.id, app = %tenant.app_name, state = %tenant.state, reason, "provisioning failed; an operator must retry");
        match self
            .ctx
            .tenants
            .store()
            .fail(&tenant.id, tenant.state, reason, Some(&self.ctx.owner))
            .await
        {
            Ok(failed) => {
                self.ctx.tenants.remember(&failed);
            }
            Err(e) => tracing::warn!(tenant = %tenant.id, error = %e, "cannot record the failure"),
        }
    }
}

/// The answer for a tenant that is not (or no longer) provisioning.
fn settled(tenants: &Tenants, tenant: &Tenant) -> Result<Arc<Route>, ApiError> {
    let route = tenants.remember(tenant);
    match tenant.state {
        TenantState::Ready => Ok(route),
        TenantState::Suspended => Err(ApiError::Suspended),
        TenantState::Failed => Err(ApiError::ProvisioningFailed {
            tenant: tenant.id.clone(),
        }),
        TenantState::Deleting | TenantState::Deleted => Err(ApiError::Deleted),
        _ => Err(ApiError::Provisioning {
            retry_after: Duration::from_secs(5),
        }),
    }
}

/// Exponential backoff with full jitter: up to 250 ms · 2^n, capped at 10 s.
fn backoff(failures: u32) -> Duration {
    let cap = Duration::from_millis(250)
        .saturating_mul(1 << failures.min(6))
        .min(Duration::from_secs(10));
    let millis = u64::try_from(cap.as_millis()).unwrap_or(10_000);
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

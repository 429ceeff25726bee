//! The tenant cache in front of the store: what the hot path needs to route a request
//! ([`Route`]), looked up without touching the database.
//!
//! Writers keep it fresh: everything in this router that changes a tenant calls
//! [`Tenants::remember`] (or [`Tenants::invalidate`]) with the new row. Changes made by another
//! router sharing PostgreSQL are picked up by a poll of recently updated rows
//! ([`Tenants::forget_changed_since`], every `ROOST_TENANT_POLL` from `server::run`), with the
//! entry's
//! time-to-live as a backstop.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use roost_fly::replay::{Fallback, Replay};

use super::{StoreError, Tenant, TenantState, TenantStore};
use crate::metrics::HotPathMetrics;

/// What the hot path needs to know about a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The tenant id.
    pub tenant_id: String,
    /// The owning user (token `sub`).
    pub user_id: String,
    /// The state when cached.
    pub state: TenantState,
    /// The Fly app.
    pub app_name: String,
    /// The machine, once created.
    pub machine_id: Option<String>,
    /// The `fly-replay` JSON body for this tenant, built once so a request only clones it.
    pub replay_body: Bytes,
    /// The row's `updated_at` (ms): a newer row in the database replaces this entry.
    pub updated_at_ms: i64,
}

/// Tenants as the request path sees them: the store plus a bounded cache. Cheap to clone.
#[derive(Clone)]
pub struct Tenants {
    store: TenantStore,
    cache: moka::sync::Cache<String, Arc<Route>>,
    replay_timeout: Duration,
    metrics: HotPathMetrics,
}

impl Tenants {
    /// A cache of at most `capacity` tenants, each trusted for `ttl`, over `store`.
    /// `replay_timeout` goes into every tenant's `fly-replay`.
    pub fn new(
        store: TenantStore,
        capacity: u64,
        ttl: Duration,
        replay_timeout: Duration,
        metrics: HotPathMetrics,
    ) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build();
        Tenants {
            store,
            cache,
            replay_timeout,
            metrics,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &TenantStore {
        &self.store
    }

    /// The cached route of tenant `id`, if any (no database access).
    pub fn cached(&self, id: &str) -> Option<Arc<Route>> {
        let route = self.cache.get(id);
        match &route {
            Some(_) => self.metrics.tenant_hit.increment(1),
            None => self.metrics.tenant_miss.increment(1),
        }
        route
    }

    /// The route of tenant `id` from the database, cached for the next request.
    pub async fn load(&self, id: &str) -> Result<Option<Arc<Route>>, StoreError> {
        Ok(self
            .store
            .get(id)
            .await?
            .map(|tenant| self.remember(&tenant)))
    }

    /// Caches `tenant` as it is now; call after every write to it.
    pub fn remember(&self, tenant: &Tenant) -> Arc<Route> {
        let route = Arc::new(self.route_of(tenant));
        self.cache.insert(tenant.id.clone(), route.clone());
        route
    }

    /// Forgets tenant `id`, so the next request reads the database.
    pub fn invalidate(&self, id: &str) {
        self.cache.invalidate(id);
    }

    /// Forgets every cached tenant whose row changed after it was cached, looking at the rows
    /// updated since `since` (ms); returns how many were forgotten. This is how a change made
    /// by another router (a suspension, a deletion) reaches this one.
    pub async fn forget_changed_since(&self, since: i64) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        for (id, updated_at_ms) in self.store.changed_since(since).await? {
            if self
                .cache
                .get(&id)
                .is_some_and(|route| route.updated_at_ms < updated_at_ms)
            {
                self.cache.invalidate(&id);
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    fn route_of(&self, tenant: &Tenant) -> Route {
        let replay = Replay::to_app(&tenant.app_name)
            .timeout(self.replay_timeout)
            // `prefer_self` sends a replay that cannot reach the tenant back to this router, or
            // any router machine, with `fly-replay-failed`, so the client gets a clear 503
            // instead of a proxy error (fly.md §1.2, §1.6). `force_self` would fail outright
            // when this particular router machine is gone.
            .fallback(Fallback::PreferSelf);
        // App names are validated DNS labels, so the builder cannot refuse them; an empty body
        // would make the edge answer an error, which the fallback turns into a 503.
        let replay_body = replay.json_body().map(Bytes::from).unwrap_or_default();
        Route {
            tenant_id: tenant.id.clone(),
            user_id: tenant.user_id.clone(),
            state: tenant.state,
            app_name: tenant.app_name.clone(),
            machine_id: tenant.machine_id.clone(),
            replay_body,
            updated_at_ms: tenant.updated_at.timestamp_millis(),
        }
    }
}

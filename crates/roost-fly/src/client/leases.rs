//! Machine leases: acquire, refresh, get, release (fly.md §2.5).
//!
//! A lease makes the holder the only one allowed to change a Machine: roost takes one around a
//! rolling image update so two routers (or an operator's `fly` command) never update the same
//! Machine at once. While it is held, pass its nonce to every mutating Machine call.

use std::time::Duration;

use http::Method;

use super::{Call, FlyClient};
use crate::error::{Endpoint, FlyError, FlyErrorKind};
use crate::types::{AcquireLeaseRequest, Lease, LeaseEnvelope, LeaseNonce};

impl FlyClient {
    /// `POST …/{id}/lease` with `{"ttl": <seconds>, "description"}`: takes the lease for `ttl`.
    /// [`FlyErrorKind::LeaseHeld`] (409): someone else holds it; wait for `expires_at`.
    pub async fn acquire_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
    ) -> Result<Lease, FlyError> {
        self.post_lease(app, id, ttl, description, None).await
    }

    /// The same `POST …/{id}/lease` with `fly-machine-lease-nonce: <nonce>`: extends a lease
    /// we hold by `ttl` (fly.md §2.5).
    pub async fn refresh_lease(
        &self,
        app: &str,
        id: &str,
        nonce: &LeaseNonce,
        ttl: Duration,
    ) -> Result<Lease, FlyError> {
        self.post_lease(app, id, ttl, "", Some(nonce)).await
    }

    /// `GET …/{id}/lease`: the current lease, or `None` when there is none (404).
    pub async fn get_lease(&self, app: &str, id: &str) -> Result<Option<Lease>, FlyError> {
        let url = self.url(&["apps", app, "machines", id, "lease"]);
        let call = Call::new(Endpoint::LeaseGet, Method::GET, url).machine(app, id);
        match self.json::<LeaseEnvelope>(call).await {
            Ok(envelope) => Ok(envelope.data),
            Err(err) if err.kind == FlyErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `DELETE …/{id}/lease` with `fly-machine-lease-nonce`: gives the lease up early.
    pub async fn release_lease(
        &self,
        app: &str,
        id: &str,
        nonce: &LeaseNonce,
    ) -> Result<(), FlyError> {
        let url = self.url(&["apps", app, "machines", id, "lease"]);
        let call = Call::new(Endpoint::LeaseRelease, Method::DELETE, url)
            .machine(app, id)
            .lease(Some(nonce));
        self.send(call).await
    }

    async fn post_lease(
        &self,
        app: &str,
        id: &str,
        ttl: Duration,
        description: &str,
        nonce: Option<&LeaseNonce>,
    ) -> Result<Lease, FlyError> {
        let url = self.url(&["apps", app, "machines", id, "lease"]);
        let body = AcquireLeaseRequest {
            ttl: ttl.as_secs().max(1),
            description,
        };
        let call = Call::new(Endpoint::LeaseAcquire, Method::POST, url)
            .machine(app, id)
            .lease(nonce)
            .body(&body)?;
        let envelope: LeaseEnvelope = self.json(call).await?;
        envelope.data.ok_or_else(|| {
            FlyError::new(
                Endpoint::LeaseAcquire,
                FlyErrorKind::Other,
                "the lease answer has no `data` (expected {\"status\", \"data\": {\"nonce\", …}})",
            )
        })
    }
}

//! Machine leases (fly.md §2.5): acquire/refresh, get, release, and the nonce check every
//! mutating machine call goes through.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::machines::machine_mut;
use super::{ApiError, parse_body};
use crate::machine::{Lease, Machine};
use crate::platform::Platform;
use crate::store::random_base32;

/// The header that proves a caller holds a machine's lease.
pub(super) const NONCE_HEADER: &str = "fly-machine-lease-nonce";

pub(super) fn router() -> Router<Arc<Platform>> {
    Router::new().route(
        "/v1/apps/{app}/machines/{id}/lease",
        post(acquire).get(show).delete(release),
    )
}

/// Refuses a mutating call on a machine leased by someone else (409, as Fly answers).
pub(super) fn check_lease(machine: &Machine, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(lease) = machine.active_lease() else {
        return Ok(());
    };
    let nonce = headers.get(NONCE_HEADER).and_then(|v| v.to_str().ok());
    if nonce == Some(lease.nonce.as_str()) {
        return Ok(());
    }
    Err(held(machine, lease))
}

fn held(machine: &Machine, lease: &Lease) -> ApiError {
    ApiError::LeaseHeld(format!(
        "machine {} is currently leased by {} until {} (send its {NONCE_HEADER} or wait)",
        machine.id, lease.owner, lease.expires_at
    ))
}

pub(super) fn new_lease(ttl_secs: u64, description: String) -> Lease {
    Lease {
        nonce: random_base32(12).to_ascii_lowercase(),
        expires_at: crate::time::unix_secs() + ttl_secs.max(1),
        owner: "flylocal@local".into(),
        description,
        version: random_base32(26),
    }
}

pub(super) fn lease_json(lease: &Lease) -> Value {
    json!({
        "status": "success",
        "data": {
            "nonce": lease.nonce,
            "expires_at": lease.expires_at,
            "owner": lease.owner,
            "description": lease.description,
            "version": lease.version,
        }
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LeaseBody {
    ttl: Option<u64>,
    description: String,
}

#[derive(Deserialize)]
struct LeaseQuery {
    /// fly-go sends the TTL as a query parameter with no body (fly.md §2.5).
    ttl: Option<u64>,
}

async fn acquire(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<LeaseQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: LeaseBody = parse_body(&body)?;
    let ttl = input.ttl.or(query.ttl).unwrap_or(30);
    platform.store.update(|inner| {
        let machine = machine_mut(inner, &app, &id)?;
        if let Some(current) = machine.active_lease() {
            let nonce = headers.get(NONCE_HEADER).and_then(|v| v.to_str().ok());
            if nonce != Some(current.nonce.as_str()) {
                return Err(held(machine, current));
            }
        }
        // A new lease, or a refresh by the holder: same nonce, later expiry.
        let mut lease = new_lease(ttl, input.description);
        if let Some(current) = machine.active_lease() {
            lease.nonce = current.nonce.clone();
        }
        let body = lease_json(&lease);
        machine.lease = Some(lease);
        Ok((StatusCode::CREATED, Json(body)).into_response())
    })
}

async fn show(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let mut inner = platform.store.lock();
    let machine = machine_mut(&mut inner, &app, &id)?;
    let lease = machine
        .active_lease()
        .ok_or_else(|| ApiError::NotFound("lease not found".into()))?;
    Ok(Json(lease_json(lease)))
}

async fn release(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    platform.store.update(|inner| {
        let machine = machine_mut(inner, &app, &id)?;
        if machine.active_lease().is_none() {
            return Err(ApiError::NotFound("lease not found".into()));
        }
        check_lease(machine, &headers)?;
        if !headers.contains_key(NONCE_HEADER) {
            return Err(ApiError::BadRequest(format!(
                "{NONCE_HEADER} header is required"
            )));
        }
        machine.lease = None;
        Ok(Json(json!({})))
    })
}

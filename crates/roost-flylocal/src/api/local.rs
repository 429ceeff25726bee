//! flylocal's own endpoints, for tests and tools in another process: fault settings, the
//! request log, and the private-network lookup that stands in for `.internal` DNS.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, parse_body};
use crate::faults::Faults;
use crate::machine::MachineState;
use crate::platform::{LoggedRequest, Platform};

pub(super) fn router() -> Router<Arc<Platform>> {
    Router::new()
        .route("/flylocal/v1/faults", get(get_faults).put(put_faults))
        .route("/flylocal/v1/requests", get(requests))
        .route("/flylocal/v1/resolve", get(resolve))
}

async fn get_faults(State(platform): State<Arc<Platform>>) -> Json<Faults> {
    Json(platform.faults.get())
}

async fn put_faults(
    State(platform): State<Arc<Platform>>,
    body: Bytes,
) -> Result<Json<Faults>, ApiError> {
    let faults: Faults = parse_body(&body)?;
    platform.faults.set(faults.clone());
    Ok(Json(faults))
}

async fn requests(State(platform): State<Arc<Platform>>) -> Json<Vec<LoggedRequest>> {
    Json(platform.request_log())
}

#[derive(Deserialize)]
struct ResolveQuery {
    host: String,
    port: u16,
}

/// `GET /flylocal/v1/resolve?host=<id>.vm.<app>.internal&port=<internal_port>` (or
/// `<app>.internal`) → `{"addr": "127.0.0.1:<local port>"}` for a started machine.
async fn resolve(
    State(platform): State<Arc<Platform>>,
    Query(query): Query<ResolveQuery>,
) -> Result<Json<Value>, ApiError> {
    let addr = resolve_internal(&platform, &query.host, query.port).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{}:{} does not resolve to a started machine",
            query.host, query.port
        ))
    })?;
    Ok(Json(json!({"addr": addr})))
}

/// The local address behind a private-network name and internal port.
pub(crate) fn resolve_internal(platform: &Platform, host: &str, port: u16) -> Option<String> {
    let name = host.trim_end_matches('.').strip_suffix(".internal")?;
    let (machine_id, app) = match name.split_once(".vm.") {
        Some((id, app)) => (Some(id), app),
        None => (None, name),
    };
    let inner = platform.store.lock();
    inner
        .machines_of(app)
        .filter(|m| m.state == MachineState::Started && machine_id.is_none_or(|id| id == m.id))
        .find_map(|m| {
            m.runtime
                .ports
                .get(&port)
                .map(|local| format!("127.0.0.1:{local}"))
        })
}

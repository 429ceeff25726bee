//! Apps: create, get, list by org, delete (fly.md §2.2).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, parse_body};
use crate::platform::Platform;
use crate::store::{App, Inner, random_hex};

pub(super) fn router() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/apps", get(list).post(create))
        .route("/v1/apps/{app}", get(show).delete(delete))
}

#[derive(Deserialize)]
struct CreateApp {
    /// The current Go client's spelling; the docs' older one is `app_name` (fly.md §2.2).
    name: Option<String>,
    app_name: Option<String>,
    org_slug: Option<String>,
    network: Option<String>,
}

async fn create(State(platform): State<Arc<Platform>>, body: Bytes) -> Result<Response, ApiError> {
    let input: CreateApp = parse_body(&body)?;
    let name = input
        .name
        .or(input.app_name)
        .ok_or_else(|| ApiError::BadRequest("app name is required (field \"name\")".into()))?;
    if !valid_app_name(&name) {
        return Err(ApiError::Unprocessable(format!(
            "Validation failed: Name '{name}' may only contain lowercase letters, numbers and dashes"
        )));
    }
    let org = input.org_slug.unwrap_or_default();
    if org != platform.config.org {
        return Err(ApiError::NotFound(format!(
            "organization '{org}' not found"
        )));
    }
    if platform.config.foreign_apps.contains(&name) {
        return Err(ApiError::NameTaken);
    }
    let app = platform.store.update(|inner| {
        if inner.apps.contains_key(&name) {
            return Err(ApiError::NameTaken);
        }
        let app = App {
            id: random_hex(16),
            name: name.clone(),
            org,
            network: input.network.unwrap_or_default(),
            secrets: Default::default(),
            secrets_version: 0,
        };
        inner.apps.insert(name.clone(), app.clone());
        Ok(app)
    })?;
    tracing::info!(app = %app.name, "app created");
    let body = json!({"id": app.id, "created_at": crate::time::unix_millis()});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

async fn show(
    State(platform): State<Arc<Platform>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if platform.config.foreign_apps.contains(&name) {
        // An app of another org: Fly answers 403, which still means "the name is taken".
        return Err(ApiError::Forbidden("unauthorized".into()));
    }
    let inner = platform.store.lock();
    let app = inner.apps.get(&name).ok_or_else(app_not_found)?;
    let mut body = summary(&inner, app);
    body["status"] = json!(if body["machine_count"] == 0 {
        "pending"
    } else {
        "deployed"
    });
    body["organization"] = json!({"name": app.org, "slug": app.org});
    Ok(Json(body))
}

pub(super) fn app_not_found() -> ApiError {
    ApiError::NotFound("app not found".into())
}

fn summary(inner: &Inner, app: &App) -> Value {
    let machine_count = inner
        .machines_of(&app.name)
        .filter(|m| !m.state.is_gone())
        .count();
    let volume_count = inner.volumes.values().filter(|v| v.app == app.name).count();
    json!({
        "id": app.id,
        "name": app.name,
        "machine_count": machine_count,
        "volume_count": volume_count,
        "network": app.network,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    org_slug: Option<String>,
}

async fn list(
    State(platform): State<Arc<Platform>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let org = query
        .org_slug
        .ok_or_else(|| ApiError::BadRequest("org_slug query parameter is required".into()))?;
    let inner = platform.store.lock();
    let apps: Vec<Value> = inner
        .apps
        .values()
        .filter(|a| a.org == org)
        .map(|a| summary(&inner, a))
        .collect();
    Ok(Json(json!({"total_apps": apps.len(), "apps": apps})))
}

/// Deleting an app cascades to its machines (killed at once) and volumes (folders removed).
async fn delete(
    State(platform): State<Arc<Platform>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (pids, folders) = platform.store.update(|inner| {
        inner.apps.remove(&name).ok_or_else(app_not_found)?;
        let ids: Vec<String> = inner.machines_of(&name).map(|m| m.id.clone()).collect();
        let pids: Vec<u32> = ids
            .iter()
            .filter_map(|id| inner.machines.remove(id)?.runtime.pid)
            .collect();
        let volume_ids: Vec<String> = inner
            .volumes
            .values()
            .filter(|v| v.app == name)
            .map(|v| v.id.clone())
            .collect();
        let folders: Vec<_> = volume_ids
            .iter()
            .filter_map(|id| inner.volumes.remove(id))
            .map(|v| v.path)
            .collect();
        Ok::<_, ApiError>((pids, folders))
    })?;
    for pid in pids {
        crate::supervisor::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    }
    for folder in folders {
        let _ = tokio::fs::remove_dir_all(folder).await;
    }
    tracing::info!(app = %name, "app deleted");
    Ok(StatusCode::ACCEPTED)
}

//! Volumes (fly.md §2.4): each is a folder under `<data_dir>/volumes/<id>` that outlives the
//! machines mounting it and is removed with the volume.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::apps::app_not_found;
use super::{ApiError, parse_body};
use crate::platform::Platform;
use crate::store::{Inner, Volume, random_hex};

pub(super) fn router() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/apps/{app}/volumes", get(list).post(create))
        .route("/v1/apps/{app}/volumes/{vol}", get(show).delete(delete))
}

fn render(inner: &Inner, volume: &Volume) -> Value {
    volume.to_json(inner.attached_machine(&volume.id).map(|m| m.id.as_str()))
}

fn volume_of<'a>(inner: &'a Inner, app: &str, id: &str) -> Result<&'a Volume, ApiError> {
    if !inner.apps.contains_key(app) {
        return Err(app_not_found());
    }
    inner
        .volumes
        .get(id)
        .filter(|v| v.app == app)
        .ok_or_else(|| ApiError::NotFound("volume not found".into()))
}

#[derive(Deserialize)]
struct CreateVolume {
    name: Option<String>,
    size_gb: Option<u64>,
    encrypted: Option<bool>,
    snapshot_retention: Option<u64>,
    auto_backup_enabled: Option<bool>,
}

async fn create(
    State(platform): State<Arc<Platform>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: CreateVolume = parse_body(&body)?;
    let name = input
        .name
        .ok_or_else(|| ApiError::BadRequest("volume name is required".into()))?;
    if name.is_empty()
        || name.len() > 30
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::BadRequest(format!(
            "volume name '{name}' must be 1-30 letters, digits or underscores"
        )));
    }
    let id = format!("vol_{}", random_hex(16));
    let path = platform.config.data_dir.join("volumes").join(&id);
    tokio::fs::create_dir_all(&path).await.map_err(|err| {
        ApiError::Unprocessable(format!(
            "could not create volume folder {}: {err}",
            path.display()
        ))
    })?;
    let result = platform.store.update(|inner| {
        if !inner.apps.contains_key(&app) {
            return Err(app_not_found());
        }
        let volume = Volume {
            id: id.clone(),
            name,
            app: app.clone(),
            region: platform.config.region.clone(),
            size_gb: input.size_gb.unwrap_or(3),
            encrypted: input.encrypted.unwrap_or(true),
            snapshot_retention: input.snapshot_retention.unwrap_or(5),
            auto_backup_enabled: input.auto_backup_enabled.unwrap_or(true),
            state: "created",
            created_at: crate::time::rfc3339_now(),
            path: path.clone(),
        };
        let body = render(inner, &volume);
        inner.volumes.insert(id.clone(), volume);
        Ok(body)
    });
    if result.is_err() {
        let _ = tokio::fs::remove_dir_all(&path).await;
    }
    Ok(Json(result?))
}

async fn list(
    State(platform): State<Arc<Platform>>,
    Path(app): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let inner = platform.store.lock();
    if !inner.apps.contains_key(&app) {
        return Err(app_not_found());
    }
    let volumes = inner
        .volumes
        .values()
        .filter(|v| v.app == app)
        .map(|v| render(&inner, v))
        .collect();
    Ok(Json(Value::Array(volumes)))
}

async fn show(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let inner = platform.store.lock();
    let volume = volume_of(&inner, &app, &id)?;
    Ok(Json(render(&inner, volume)))
}

/// Refuses while a live machine mounts the volume; otherwise removes the record and the folder.
async fn delete(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let mut volume = platform.store.update(|inner| {
        volume_of(inner, &app, &id)?;
        if let Some(machine) = inner.attached_machine(&id) {
            return Err(ApiError::Precondition(format!(
                "volume {id} is attached to machine {}; destroy the machine first",
                machine.id
            )));
        }
        inner
            .volumes
            .remove(&id)
            .ok_or_else(|| ApiError::NotFound("volume not found".into()))
    })?;
    tokio::fs::remove_dir_all(&volume.path)
        .await
        .or_else(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(err)
            }
        })
        .map_err(|err| {
            ApiError::Unprocessable(format!("could not remove {}: {err}", volume.path.display()))
        })?;
    volume.state = "pending_destroy";
    Ok(Json(volume.to_json(None)))
}

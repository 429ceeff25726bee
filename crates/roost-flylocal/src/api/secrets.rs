//! App secrets over REST (fly.md §2.6). Machines see them as env vars from their next boot.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::apps::app_not_found;
use super::{ApiError, parse_body};
use crate::platform::Platform;
use crate::store::{App, Inner, Secret};

pub(super) fn router() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/apps/{app}/secrets", get(list).post(update))
        .route(
            "/v1/apps/{app}/secrets/{name}",
            get(show).post(set).delete(unset),
        )
}

fn app_mut<'a>(inner: &'a mut Inner, app: &str) -> Result<&'a mut App, ApiError> {
    inner.apps.get_mut(app).ok_or_else(app_not_found)
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(ApiError::BadRequest(format!(
            "secret name '{name}' must be letters, digits and underscores"
        )));
    }
    // Fly reserves the FLY_ prefix for its runtime variables (fly.md §2.3).
    if name.starts_with("FLY_") {
        return Err(ApiError::BadRequest(format!(
            "secret name '{name}' may not start with FLY_"
        )));
    }
    Ok(())
}

fn put(app: &mut App, name: &str, value: String) {
    let now = crate::time::rfc3339_now();
    let created_at = app
        .secrets
        .get(name)
        .map_or_else(|| now.clone(), |s| s.created_at.clone());
    app.secrets.insert(
        name.to_owned(),
        Secret {
            value,
            created_at,
            updated_at: now,
        },
    );
}

#[derive(Deserialize)]
struct ListQuery {
    show_secrets: Option<bool>,
}

async fn list(
    State(platform): State<Arc<Platform>>,
    Path(app): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut inner = platform.store.lock();
    let app = app_mut(&mut inner, &app)?;
    let show = query.show_secrets.unwrap_or(false);
    let secrets: Vec<Value> = app
        .secrets
        .iter()
        .map(|(name, s)| s.to_json(name, show))
        .collect();
    Ok(Json(json!({"secrets": secrets})))
}

#[derive(Deserialize)]
struct UpdateSecrets {
    values: BTreeMap<String, Option<String>>,
}

/// `{"values": {"NAME": "v", "OLD": null}}`: set and delete in one version bump.
async fn update(
    State(platform): State<Arc<Platform>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: UpdateSecrets = parse_body(&body)?;
    for name in input.values.keys() {
        valid_name(name)?;
    }
    platform.store.update(|inner| {
        let app = app_mut(inner, &app)?;
        for (name, value) in input.values {
            match value {
                Some(value) => put(app, &name, value),
                None => drop(app.secrets.remove(&name)),
            }
        }
        app.secrets_version += 1;
        let secrets: Vec<Value> = app
            .secrets
            .iter()
            .map(|(name, s)| s.to_json(name, false))
            .collect();
        Ok(Json(
            json!({"secrets": secrets, "version": app.secrets_version}),
        ))
    })
}

#[derive(Deserialize)]
struct SetSecret {
    value: String,
}

async fn set(
    State(platform): State<Arc<Platform>>,
    Path((app, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    valid_name(&name)?;
    let input: SetSecret = parse_body(&body)?;
    platform.store.update(|inner| {
        let app = app_mut(inner, &app)?;
        put(app, &name, input.value);
        app.secrets_version += 1;
        let mut body = app.secrets[&name].to_json(&name, false);
        body["version"] = json!(app.secrets_version);
        Ok((StatusCode::CREATED, Json(body)).into_response())
    })
}

async fn show(
    State(platform): State<Arc<Platform>>,
    Path((app, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut inner = platform.store.lock();
    let app = app_mut(&mut inner, &app)?;
    let secret = app
        .secrets
        .get(&name)
        .ok_or_else(|| ApiError::NotFound("secret not found".into()))?;
    Ok(Json(
        secret.to_json(&name, query.show_secrets.unwrap_or(false)),
    ))
}

async fn unset(
    State(platform): State<Arc<Platform>>,
    Path((app, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    platform.store.update(|inner| {
        let app = app_mut(inner, &app)?;
        app.secrets
            .remove(&name)
            .ok_or_else(|| ApiError::NotFound("secret not found".into()))?;
        app.secrets_version += 1;
        Ok(Json(json!({"version": app.secrets_version})))
    })
}

//! The tenant admin API for operators: see a tenant (state, Fly ids, why it failed), retry a
//! failed one, suspend and resume, update its machine to the current template (a new workspace
//! image), delete. `Authorization: Bearer <ROOST_ADMIN_TOKEN>`; without the
//! setting the API answers 404, as if it did not exist.
//!
//! Every change goes through the store's checked transitions and refreshes this router's
//! tenant cache, so the hot path sees it at once (other routers within the cache TTL).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use subtle::ConstantTimeEq as _;

use crate::auth::bearer_token;
use crate::provision::update::{UpdateError, Updated};
use crate::server::AppState;
use crate::tenants::{Learned, StoreError, Tenant, TenantState};

/// Most tenants one list answer holds.
const LIST_LIMIT: i64 = 1000;

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/tenants", get(list))
        .route("/admin/v1/tenants/{id}", get(show).delete(delete))
        .route("/admin/v1/tenants/{id}/retry", post(retry))
        .route("/admin/v1/tenants/{id}/suspend", post(suspend))
        .route("/admin/v1/tenants/{id}/resume", post(resume))
        .route("/admin/v1/tenants/{id}/update", post(update))
}

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin API is not configured.
    #[error("not found")]
    Disabled,
    /// Missing or wrong admin token.
    #[error("a valid admin token is required (Authorization: Bearer <ROOST_ADMIN_TOKEN>)")]
    Unauthorized,
    /// No such tenant.
    #[error("no tenant {0}")]
    NotFound(String),
    /// The tenant is not in a state this action applies to.
    #[error("{0}")]
    Conflict(String),
    /// A query parameter is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// Fly refused or failed a call the action needed.
    #[error("{0}")]
    Upstream(String),
    /// The database failed.
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(id) => AdminError::NotFound(id),
            StoreError::Illegal(e) => AdminError::Conflict(e.to_string()),
            StoreError::Conflict { .. } | StoreError::LeaseLost { .. } => {
                AdminError::Conflict(error.to_string())
            }
            other => {
                tracing::error!(error = %other, "admin request failed");
                AdminError::Internal
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self {
            AdminError::Disabled | AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// Checks the admin token in constant time.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), AdminError> {
    let expected = state
        .settings
        .admin_token
        .as_deref()
        .ok_or(AdminError::Disabled)?;
    let given = bearer_token(headers).ok_or(AdminError::Unauthorized)?;
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(AdminError::Unauthorized)
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    state: Option<String>,
    /// Page in id order after this id (`after=` for the first page) instead of newest first.
    after: Option<String>,
}

/// Tenants, newest first; with `after`, in id order after that id (how a rollout pages
/// through every tenant). At most [`LIST_LIMIT`] per answer.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Tenant>>, AdminError> {
    authorize(&state, &headers)?;
    let filter = query
        .state
        .map(|s| s.parse::<TenantState>())
        .transpose()
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let store = state.tenants.store();
    Ok(Json(match query.after {
        Some(after) => store.list_after(filter, &after, LIST_LIMIT).await?,
        None => store.list(filter, LIST_LIMIT).await?,
    }))
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, AdminError> {
    authorize(&state, &headers)?;
    let tenant = state.tenants.store().get(&id).await?;
    tenant.map(Json).ok_or(AdminError::NotFound(id))
}

/// A `failed` tenant goes back to the step it failed in, and provisioning starts again.
async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, AdminError> {
    authorize(&state, &headers)?;
    let tenant = load(&state, &id).await?;
    if tenant.state != TenantState::Failed {
        return Err(AdminError::Conflict(format!(
            "tenant {id} is `{}`; only a `failed` tenant can be retried",
            tenant.state
        )));
    }
    let resumed = state.tenants.store().resume(&id).await?;
    state.tenants.remember(&resumed);
    tracing::info!(tenant = %id, state = %resumed.state, "operator retried a failed tenant");
    state.provisioner.start(&id);
    Ok(Json(resumed))
}

async fn suspend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, AdminError> {
    authorize(&state, &headers)?;
    let suspended = state
        .tenants
        .store()
        .transition(
            &id,
            TenantState::Ready,
            TenantState::Suspended,
            &Learned::default(),
            None,
        )
        .await
        .map_err(|e| explain(&id, "only a `ready` tenant can be suspended", e))?;
    state.tenants.remember(&suspended);
    tracing::info!(tenant = %id, "operator suspended a tenant");
    Ok(Json(suspended))
}

async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Tenant>, AdminError> {
    authorize(&state, &headers)?;
    let resumed = state
        .tenants
        .store()
        .transition(
            &id,
            TenantState::Suspended,
            TenantState::Ready,
            &Learned::default(),
            None,
        )
        .await
        .map_err(|e| explain(&id, "only a `suspended` tenant can be resumed", e))?;
    state.tenants.remember(&resumed);
    tracing::info!(tenant = %id, "operator resumed a tenant");
    Ok(Json(resumed))
}

#[derive(serde::Deserialize)]
struct UpdateQuery {
    /// Update even when the tenant already runs the template's image (a changed size or env).
    #[serde(default)]
    force: bool,
}

/// Replaces the tenant's machine config with the current template's (a new workspace image):
/// a running machine reboots into it, a stopped one boots it on its next request. Answers
/// whether anything changed, so a rollout can be re-run safely.
async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<UpdateQuery>,
) -> Result<Json<Updated>, AdminError> {
    authorize(&state, &headers)?;
    match state.provisioner.update_machine(&id, query.force).await {
        Ok(updated) => Ok(Json(updated)),
        Err(UpdateError::Store(e)) => Err(e.into()),
        Err(UpdateError::NotUpdatable(why) | UpdateError::Busy(why)) => {
            Err(AdminError::Conflict(why))
        }
        Err(UpdateError::Fly(why)) => {
            tracing::warn!(tenant = %id, error = %why, "a machine update failed");
            Err(AdminError::Upstream(why))
        }
    }
}

/// Deletes the tenant's Fly app (its machine and volume go with it: the user's data is gone).
/// Answers 202 while the deletion runs; asking again retries a deletion that stopped.
async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Tenant>), AdminError> {
    authorize(&state, &headers)?;
    let tenant = load(&state, &id).await?;
    let deleting = match tenant.state {
        TenantState::Deleted => return Ok((StatusCode::OK, Json(tenant))),
        TenantState::Deleting => tenant,
        from => {
            state
                .tenants
                .store()
                .transition(&id, from, TenantState::Deleting, &Learned::default(), None)
                .await?
        }
    };
    state.tenants.remember(&deleting);
    tracing::warn!(tenant = %id, app = %deleting.app_name, "operator deleted a tenant");
    state.provisioner.start(&id);
    Ok((StatusCode::ACCEPTED, Json(deleting)))
}

async fn load(state: &AppState, id: &str) -> Result<Tenant, AdminError> {
    state
        .tenants
        .store()
        .get(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(id.to_owned()))
}

/// A refused state change, said in the operator's terms.
fn explain(id: &str, rule: &str, error: StoreError) -> AdminError {
    match error {
        StoreError::Conflict { actual, .. } => {
            AdminError::Conflict(format!("tenant {id} is `{actual}`: {rule}"))
        }
        other => other.into(),
    }
}

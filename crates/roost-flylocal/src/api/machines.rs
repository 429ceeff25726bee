//! Machines: create, get, list (with `metadata.*`, `state`, `include_deleted` filters),
//! full-config update, start, stop, suspend, restart, wait, destroy, events (fly.md §2.3).
//! Processes are the supervisor's business; these handlers validate, record and delegate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::apps::app_not_found;
use super::leases::{check_lease, new_lease};
use super::{ApiError, parse_body};
use crate::machine::{ConfigView, Machine, MachineState, Runtime, parse_duration};
use crate::platform::Platform;
use crate::store::{Inner, random_base32, random_hex};
use crate::supervisor::{self, event};

/// Fly caps `wait` at 60 s (fly.md §2.3).
const MAX_WAIT: Duration = Duration::from_secs(60);

pub(super) fn router() -> Router<Arc<Platform>> {
    Router::new()
        .route("/v1/apps/{app}/machines", get(list).post(create))
        .route(
            "/v1/apps/{app}/machines/{id}",
            get(show).post(update).delete(destroy),
        )
        .route("/v1/apps/{app}/machines/{id}/start", post(start))
        .route("/v1/apps/{app}/machines/{id}/stop", post(stop))
        .route("/v1/apps/{app}/machines/{id}/suspend", post(suspend))
        .route("/v1/apps/{app}/machines/{id}/restart", post(restart))
        .route("/v1/apps/{app}/machines/{id}/wait", get(wait))
        .route("/v1/apps/{app}/machines/{id}/events", get(events))
}

/// The machine `id` of `app`, or Fly's 404s.
pub(super) fn machine_mut<'a>(
    inner: &'a mut Inner,
    app: &str,
    id: &str,
) -> Result<&'a mut Machine, ApiError> {
    if !inner.apps.contains_key(app) {
        return Err(app_not_found());
    }
    inner
        .machines
        .get_mut(id)
        .filter(|m| m.app == app)
        .ok_or_else(machine_not_found)
}

fn machine_not_found() -> ApiError {
    ApiError::NotFound("machine not found".into())
}

fn machine_json(platform: &Platform, app: &str, id: &str) -> Result<Json<Value>, ApiError> {
    let mut inner = platform.store.lock();
    Ok(Json(machine_mut(&mut inner, app, id)?.to_json()))
}

#[derive(Deserialize)]
struct LaunchInput {
    name: Option<String>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    skip_launch: bool,
    lease_ttl: Option<u64>,
}

/// Checks what Fly would refuse and flylocal cannot run: no image, an image with no local
/// executable, a mount of a volume that does not exist or is in use.
fn validate_config(
    platform: &Platform,
    inner: &Inner,
    app: &str,
    machine_id: Option<&str>,
    config: &Value,
) -> Result<(), ApiError> {
    if !config.is_object() {
        return Err(ApiError::BadRequest("config is required".into()));
    }
    let view = ConfigView::parse(config);
    if view.image.is_empty() {
        return Err(ApiError::Unprocessable("config.image is required".into()));
    }
    if platform.config.image(&view.image).is_none() {
        return Err(ApiError::Unprocessable(format!(
            "failed to get manifest for image {}: flylocal has no executable mapped to it (add --image)",
            view.image
        )));
    }
    if view.mounts.len() > 1 {
        return Err(ApiError::Unprocessable(
            "a machine can mount at most one volume".into(),
        ));
    }
    for mount in &view.mounts {
        let volume = inner
            .volumes
            .get(&mount.volume)
            .filter(|v| v.app == app)
            .ok_or_else(|| {
                ApiError::NotFound(format!("volume {} not found in app {app}", mount.volume))
            })?;
        if let Some(other) = inner
            .attached_machine(&volume.id)
            .filter(|m| Some(m.id.as_str()) != machine_id)
        {
            return Err(ApiError::Precondition(format!(
                "volume {} is already attached to machine {}",
                volume.id, other.id
            )));
        }
    }
    Ok(())
}

async fn create(
    State(platform): State<Arc<Platform>>,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: LaunchInput = parse_body(&body)?;
    let config = input.config.unwrap_or(Value::Null);
    let (id, nonce) = platform.store.update(|inner| {
        if !inner.apps.contains_key(&app) {
            return Err(app_not_found());
        }
        validate_config(&platform, inner, &app, None, &config)?;
        let id = random_hex(14);
        let now = crate::time::rfc3339_now();
        let lease = input.lease_ttl.map(|ttl| new_lease(ttl, String::new()));
        let nonce = lease.as_ref().map(|l| l.nonce.clone());
        let mut machine = Machine {
            id: id.clone(),
            name: input
                .name
                .unwrap_or_else(|| format!("machine-{}", &id[..6])),
            app: app.clone(),
            region: platform.config.region.clone(),
            state: MachineState::Created,
            instance_id: random_base32(26),
            private_ip: inner.next_private_ip(),
            config,
            created_at: now.clone(),
            updated_at: now,
            events: Vec::new(),
            lease,
            runtime: Runtime::default(),
        };
        machine.push_event(event("launch", "created", "user"));
        inner.machines.insert(id.clone(), machine);
        Ok((id, nonce))
    })?;
    tracing::info!(app = %app, machine = %id, "machine created");
    if !input.skip_launch {
        supervisor::start(&platform, &id, "user")?;
    }
    let Json(mut body) = machine_json(&platform, &app, &id)?;
    if let Some(nonce) = nonce {
        body["nonce"] = json!(nonce);
    }
    Ok(Json(body))
}

async fn show(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    machine_json(&platform, &app, &id)
}

async fn events(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let Json(machine) = machine_json(&platform, &app, &id)?;
    Ok(Json(machine["events"].clone()))
}

async fn list(
    State(platform): State<Arc<Platform>>,
    Path(app): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let include_deleted = query
        .iter()
        .any(|(k, v)| k == "include_deleted" && v == "true");
    let states: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "state")
        .flat_map(|(_, v)| v.split(','))
        .collect();
    let wanted: BTreeMap<&str, &str> = query
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metadata.")?, v.as_str())))
        .collect();
    let inner = platform.store.lock();
    if !inner.apps.contains_key(&app) {
        return Err(app_not_found());
    }
    let machines: Vec<Value> = inner
        .machines_of(&app)
        .filter(|m| include_deleted || m.state != MachineState::Destroyed)
        .filter(|m| states.is_empty() || states.contains(&m.state.as_str()))
        .filter(|m| {
            let metadata = m.metadata();
            wanted
                .iter()
                .all(|(k, v)| metadata.get(*k).map(String::as_str) == Some(*v))
        })
        .map(Machine::to_json)
        .collect();
    Ok(Json(Value::Array(machines)))
}

#[derive(Deserialize)]
struct UpdateInput {
    config: Option<Value>,
    #[serde(default)]
    skip_launch: bool,
    current_version: Option<String>,
}

/// Full-config replacement (no merge, fly.md §2.3); a new `instance_id`; a running machine
/// reboots with the new config, a stopped one boots unless `skip_launch`.
async fn update(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: UpdateInput = parse_body(&body)?;
    let config = input.config.unwrap_or(Value::Null);
    let previous = platform.store.update(|inner| {
        validate_config(&platform, inner, &app, Some(&id), &config)?;
        let machine = machine_mut(inner, &app, &id)?;
        check_lease(machine, &headers)?;
        if machine.state.is_gone() {
            return Err(ApiError::Precondition(format!("machine {id} is {}", machine.state.as_str())));
        }
        if let Some(version) = &input.current_version
            && version != &machine.instance_id
        {
            return Err(ApiError::Precondition(format!(
                "current_version {version} does not match the machine's version {}",
                machine.instance_id
            )));
        }
        let old_volumes: Vec<String> = machine.spec().mounts.into_iter().map(|m| m.volume).collect();
        let new_volumes: Vec<String> = ConfigView::parse(&config).mounts.into_iter().map(|m| m.volume).collect();
        if !old_volumes.is_empty() && old_volumes != new_volumes {
            return Err(ApiError::BadRequest(
                "a machine's volume cannot be changed by an update; destroy and recreate the machine".into(),
            ));
        }
        machine.config = config;
        machine.instance_id = random_base32(26);
        machine.push_event(event("update", "replaced", "user"));
        Ok(machine.state)
    })?;
    match previous {
        MachineState::Started | MachineState::Starting => {
            supervisor::restart(&platform, &id, None, None)?
        }
        state if state.is_at_rest() && !input.skip_launch => {
            supervisor::start(&platform, &id, "user")?;
        }
        _ => {}
    }
    machine_json(&platform, &app, &id)
}

/// Refuses the call if `id` is leased by someone else; the 404s otherwise.
fn guard(platform: &Platform, app: &str, id: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let mut inner = platform.store.lock();
    check_lease(machine_mut(&mut inner, app, id)?, headers)
}

async fn start(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    guard(&platform, &app, &id, &headers)?;
    let previous = supervisor::start(&platform, &id, "user")?;
    Ok(Json(
        json!({"previous_state": previous.as_str(), "migrated": false, "new_host": ""}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StopInput {
    signal: Option<String>,
    timeout: Option<Value>,
}

async fn stop(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: StopInput = parse_body(&body)?;
    if let Some(signal) = &input.signal
        && supervisor::parse_signal(signal).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "unknown signal '{signal}' (use e.g. SIGINT or SIGTERM)"
        )));
    }
    guard(&platform, &app, &id, &headers)?;
    let timeout = input.timeout.as_ref().and_then(parse_duration);
    supervisor::stop(&platform, &id, input.signal, timeout, MachineState::Stopped)?;
    Ok(Json(json!({"ok": true})))
}

/// flylocal keeps no memory snapshot: suspend stops the process and lands in `suspended`.
async fn suspend(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    guard(&platform, &app, &id, &headers)?;
    supervisor::stop(&platform, &id, None, None, MachineState::Suspended)?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
struct RestartQuery {
    signal: Option<String>,
    timeout: Option<String>,
}

async fn restart(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<RestartQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    guard(&platform, &app, &id, &headers)?;
    let timeout = query
        .timeout
        .map(Value::String)
        .as_ref()
        .and_then(parse_duration);
    supervisor::restart(&platform, &id, query.signal, timeout)?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
struct DestroyQuery {
    force: Option<bool>,
    /// fly-go's spelling of `force` (fly.md §2.3 CONFLICT); both are honoured.
    kill: Option<bool>,
}

async fn destroy(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<DestroyQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let force = query.force.or(query.kill).unwrap_or(false);
    let state = {
        let mut inner = platform.store.lock();
        let machine = machine_mut(&mut inner, &app, &id)?;
        check_lease(machine, &headers)?;
        machine.state
    };
    if matches!(
        state,
        MachineState::Started | MachineState::Starting | MachineState::Stopping
    ) && !force
    {
        return Err(ApiError::Precondition(format!(
            "unable to destroy machine {id}: it is {}; stop it first or pass force=true",
            state.as_str()
        )));
    }
    let (signal, timeout) = if force {
        (Some("SIGKILL".to_owned()), Some(Duration::ZERO))
    } else {
        (None, None)
    };
    supervisor::stop(&platform, &id, signal, timeout, MachineState::Destroyed)?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
struct WaitQuery {
    state: Option<String>,
    timeout: Option<u64>,
}

/// Long-polls until the machine reaches `state` (default `started`), 408 after `timeout`
/// seconds (default and maximum 60; flylocal refuses more instead of clamping, so a client
/// that forgets the cap finds out locally).
async fn wait(
    State(platform): State<Arc<Platform>>,
    Path((app, id)): Path<(String, String)>,
    Query(query): Query<WaitQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = query.state.unwrap_or_else(|| "started".into());
    let timeout = Duration::from_secs(query.timeout.unwrap_or(60));
    if timeout.is_zero() || timeout > MAX_WAIT {
        return Err(ApiError::BadRequest(
            "timeout must be between 1 and 60 seconds".into(),
        ));
    }
    if ![
        "started",
        "stopped",
        "suspended",
        "destroyed",
        "failed",
        "settled",
    ]
    .contains(&wanted.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "invalid state '{wanted}' to wait for"
        )));
    }
    let mut changes = platform.store.subscribe();
    let reached = || -> Result<Option<&'static str>, ApiError> {
        let mut inner = platform.store.lock();
        let state = machine_mut(&mut inner, &app, &id)?.state;
        let hit = match wanted.as_str() {
            "settled" => state.is_at_rest() || state == MachineState::Started,
            other => state.as_str() == other,
        };
        Ok(hit.then_some(state.as_str()))
    };
    let outcome = tokio::time::timeout(timeout, async {
        loop {
            if let Some(state) = reached()? {
                return Ok(state);
            }
            if changes.changed().await.is_err() {
                return Err(ApiError::NotFound("machine not found".into()));
            }
        }
    })
    .await;
    match outcome {
        Ok(Ok(state)) => Ok(Json(json!({"ok": true, "state": state}))),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(ApiError::WaitTimeout(format!(
            "deadline_exceeded: machine {id} did not reach state '{wanted}' within {}s",
            timeout.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lease_json_has_fly_shape() {
        let lease = super::new_lease(30, "deploy".into());
        let body = super::super::leases::lease_json(&lease);
        assert_eq!(body["status"], "success");
        assert_eq!(body["data"]["nonce"], lease.nonce.as_str());
        assert_eq!(body["data"]["description"], "deploy");
    }
}

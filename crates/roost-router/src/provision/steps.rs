//! The provisioning steps: each moves one tenant one state forward by creating (or finding)
//! one Fly resource, and is safe to run again after any failure.
//!
//! Fly has no idempotency keys (fly.md §2.7), so every step looks before it creates: the app by
//! its name, the volume by its name inside the tenant's own app, the machine by its
//! `metadata.roost_tenant` tag. A create that failed ambiguously (timeout, 5xx) is never
//! repeated blindly: the step returns a transient error and the next attempt, after a backoff
//! that gives Fly's eventually consistent lists time to catch up, looks first.

use std::time::Duration;

use roost_fly::types::{CreateMachineRequest, CreateVolumeRequest, Machine, MachineState, Volume};
use roost_fly::{FlyError, FlyErrorKind};

use super::template::TENANT_TAG;
use super::{Context, MAX_APP_NAME_SUFFIX};
use crate::tenants::{Learned, StoreError, Tenant, TenantState, alternative_app_name};

/// How long the last step waits for the new machine to report `started`.
const START_WAIT: Duration = Duration::from_secs(60);
/// Launch failures of a new machine before the tenant is marked `failed`.
const LAUNCH_ATTEMPTS: i64 = 3;

/// Why a step did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Worth retrying: Fly was unavailable, rate-limited, slow, or answered ambiguously.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help (bad token, invalid config, no usable app name); an operator
    /// must act. The tenant goes to `failed` with this reason.
    #[error("{0}")]
    Permanent(String),
    /// The tenant row changed under us (another router, or our lease lapsed): reload.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StepError {
    fn fly(what: &str, err: &FlyError) -> Self {
        let message = format!("{what}: {err}");
        match err.kind {
            FlyErrorKind::Transient
            | FlyErrorKind::RateLimited { .. }
            | FlyErrorKind::Precondition
            | FlyErrorKind::LeaseHeld
            | FlyErrorKind::InsufficientCapacity
            | FlyErrorKind::WaitTimedOut => StepError::Transient(message),
            _ => StepError::Permanent(message),
        }
    }
}

/// The metric label of the step that moves a tenant out of `state`.
pub fn step_name(state: TenantState) -> &'static str {
    match state {
        TenantState::Pending => "create_app",
        TenantState::AppCreated => "create_volume",
        TenantState::VolumeCreated => "create_machine",
        TenantState::MachineCreated => "start_machine",
        TenantState::Deleting => "delete_app",
        _ => "none",
    }
}

/// Runs the step for `tenant`'s state; returns the tenant after it.
pub async fn advance(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    match tenant.state {
        TenantState::Pending => create_app(ctx, tenant).await,
        TenantState::AppCreated => create_volume(ctx, tenant).await,
        TenantState::VolumeCreated => create_machine(ctx, tenant).await,
        TenantState::MachineCreated => wait_started(ctx, tenant).await,
        TenantState::Deleting => delete_app(ctx, tenant).await,
        other => Err(StepError::Permanent(format!(
            "no provisioning step from `{other}`"
        ))),
    }
}

async fn create_app(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    let name = &tenant.app_name;
    let existing = match ctx.fly.find_app_by_name(name).await {
        Ok(existing) => existing,
        Err(err) if err.kind == FlyErrorKind::NameTaken => return rename(ctx, tenant).await,
        Err(err) => return Err(StepError::fly("looking up the app", &err)),
    };
    // An app of this name in our org is ours: the name is derived from the tenant id, and the
    // only way it exists already is an earlier attempt whose answer we did not get.
    let app_id = match existing {
        Some(app) => {
            tracing::info!(tenant = %tenant.id, app = %name, "adopting the app an earlier attempt created");
            app.id
        }
        None => match ctx.fly.create_app(name, None).await {
            Ok(created) => created.id,
            // 422 can still be our own app from a lost answer: the next attempt looks first.
            Err(err) if err.kind == FlyErrorKind::NameTaken => {
                return Err(StepError::Transient(format!(
                    "app name {name} is taken; checking whose"
                )));
            }
            Err(err) => return Err(StepError::fly("creating the app", &err)),
        },
    };
    let learned = Learned {
        app_id: Some(app_id),
        ..Learned::default()
    };
    ctx.transition(tenant, TenantState::AppCreated, &learned)
        .await
}

/// The tenant's app name belongs to somebody else: pick the next suffix.
async fn rename(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    let attempt = suffix_of(&tenant.id, &tenant.app_name).map_or(1, |n| n);
    if attempt > MAX_APP_NAME_SUFFIX {
        return Err(StepError::Permanent(format!(
            "every app name from {} to {} is taken on Fly; set ROOST_APP_PREFIX to a prefix of your own",
            tenant.id, tenant.app_name
        )));
    }
    let next = alternative_app_name(&tenant.id, attempt);
    tracing::warn!(tenant = %tenant.id, taken = %tenant.app_name, next = %next, "app name taken by someone else");
    ctx.tenants
        .store()
        .rename_app(&tenant.id, &next, &ctx.owner)
        .await?;
    Err(StepError::Transient(format!(
        "app name {} is taken by another organization; trying {next}",
        tenant.app_name
    )))
}

/// `roost-u-abc-3` → `Some(3)`, `roost-u-abc` → `None`.
fn suffix_of(tenant_id: &str, app_name: &str) -> Option<u32> {
    app_name
        .strip_prefix(tenant_id)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

async fn create_volume(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    let app = &tenant.app_name;
    let found = ctx
        .fly
        .find_volumes_by_name(app, &ctx.template.volume_name)
        .await
        .map_err(|e| StepError::fly("looking up the volume", &e))?;
    let volume = match oldest(found) {
        Some(volume) => volume,
        None => {
            let request = CreateVolumeRequest {
                name: ctx.template.volume_name.clone(),
                region: ctx.region.clone(),
                size_gb: Some(ctx.template.volume_size_gb),
                ..CreateVolumeRequest::default()
            };
            ctx.fly
                .create_volume(app, &request)
                .await
                .map_err(|e| StepError::fly("creating the volume", &e))?
        }
    };
    let learned = Learned {
        volume_id: Some(volume.id),
        region: Some(volume.region).filter(|r| !r.is_empty()),
        ..Learned::default()
    };
    ctx.transition(tenant, TenantState::VolumeCreated, &learned)
        .await
}

/// The volume to keep when an earlier race left several: a stable choice (lowest id) so two
/// routers looking at the same list agree. The others are removed once the tenant is ready.
fn oldest(mut volumes: Vec<Volume>) -> Option<Volume> {
    volumes.sort_by(|a, b| a.id.cmp(&b.id));
    volumes.into_iter().next()
}

async fn create_machine(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    let app = &tenant.app_name;
    let volume_id = tenant.volume_id.as_deref().ok_or_else(|| {
        StepError::Permanent("the tenant reached volume_created without a volume id".to_owned())
    })?;
    let found = ctx
        .fly
        .find_machines_by_tag(app, TENANT_TAG, &tenant.id)
        .await
        .map_err(|e| StepError::fly("looking up the machine", &e))?;
    let machine = match pick_machine(found, volume_id) {
        Some(machine) => machine,
        None => {
            let request = CreateMachineRequest {
                region: tenant.region.clone().or_else(|| Some(ctx.region.clone())),
                config: ctx
                    .template
                    .machine_config(volume_id, &ctx.env.for_tenant(&tenant.id)),
                ..CreateMachineRequest::default()
            };
            ctx.fly
                .create_machine(app, &request)
                .await
                .map_err(|e| StepError::fly("creating the machine", &e))?
        }
    };
    let learned = Learned {
        machine_id: Some(machine.id),
        region: Some(machine.region).filter(|r| !r.is_empty()),
        image: Some(ctx.template.image.clone()),
        ..Learned::default()
    };
    ctx.transition(tenant, TenantState::MachineCreated, &learned)
        .await
}

/// The machine to adopt: one mounting the tenant's volume, lowest id first.
fn pick_machine(mut machines: Vec<Machine>, volume_id: &str) -> Option<Machine> {
    machines.sort_by(|a, b| a.id.cmp(&b.id));
    let mounts = |m: &Machine| {
        m.config
            .as_ref()
            .is_some_and(|c| c.mounts.iter().any(|mount| mount.volume == volume_id))
    };
    let index = machines.iter().position(mounts)?;
    Some(machines.swap_remove(index))
}

async fn wait_started(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    let app = &tenant.app_name;
    let machine_id = tenant.machine_id.as_deref().ok_or_else(|| {
        StepError::Permanent("the tenant reached machine_created without a machine id".to_owned())
    })?;
    let machine = ctx
        .fly
        .get_machine(app, machine_id)
        .await
        .map_err(|e| StepError::fly("reading the machine", &e))?;
    if machine.state == MachineState::Failed {
        // A launch failure (bad image, crash at boot) rarely fixes itself: try starting it
        // again a couple of times, then hand it to an operator instead of looping.
        if tenant.attempts + 1 >= LAUNCH_ATTEMPTS {
            return Err(StepError::Permanent(format!(
                "machine {machine_id} failed to launch {LAUNCH_ATTEMPTS} times: check the image \
                 ({}) and the machine's logs",
                ctx.template.image
            )));
        }
        if let Err(e) = ctx.fly.start_machine(app, machine_id, None).await {
            return Err(StepError::fly("restarting the failed machine", &e));
        }
        return Err(StepError::Transient(format!(
            "machine {machine_id} failed to launch; restarted it"
        )));
    }
    // A machine whose workspace already went idle and stopped is provisioned all the same:
    // the next replay autostarts it.
    if !matches!(machine.state, MachineState::Started | MachineState::Stopped) {
        ctx.fly
            .wait_for_state(app, machine_id, &MachineState::Started, None, START_WAIT)
            .await
            .map_err(|e| StepError::fly("waiting for the machine to start", &e))?;
    }
    remove_orphans(ctx, tenant, machine_id).await;
    ctx.transition(tenant, TenantState::Ready, &Learned::default())
        .await
}

/// Deletes the tenant's app, which takes its machine and volume with it (fly.md §2.2). An app
/// that is already gone (or was never created) counts as deleted.
async fn delete_app(ctx: &Context, tenant: &Tenant) -> Result<Tenant, StepError> {
    match ctx.fly.delete_app(&tenant.app_name, true).await {
        Ok(()) => {}
        Err(err) if err.is_not_found() => {}
        Err(err) => return Err(StepError::fly("deleting the app", &err)),
    }
    tracing::info!(tenant = %tenant.id, app = %tenant.app_name, "tenant app deleted");
    ctx.transition(tenant, TenantState::Deleted, &Learned::default())
        .await
}

/// Deletes volumes and machines a lost race left behind in the tenant's app (best effort: a
/// failure is logged and the next readiness check of an operator can retry).
async fn remove_orphans(ctx: &Context, tenant: &Tenant, machine_id: &str) {
    let app = &tenant.app_name;
    if let Ok(machines) = ctx
        .fly
        .find_machines_by_tag(app, TENANT_TAG, &tenant.id)
        .await
    {
        for machine in machines.iter().filter(|m| m.id != machine_id) {
            tracing::warn!(tenant = %tenant.id, machine = %machine.id, "destroying a duplicate machine");
            if let Err(e) = ctx.fly.destroy_machine(app, &machine.id, true, None).await {
                tracing::warn!(tenant = %tenant.id, machine = %machine.id, error = %e, "could not destroy a duplicate machine");
            }
        }
    }
    let keep = tenant.volume_id.as_deref().unwrap_or_default();
    if let Ok(volumes) = ctx
        .fly
        .find_volumes_by_name(app, &ctx.template.volume_name)
        .await
    {
        for volume in volumes.iter().filter(|v| v.id != keep) {
            tracing::warn!(tenant = %tenant.id, volume = %volume.id, "deleting a duplicate volume");
            if let Err(e) = ctx.fly.delete_volume(app, &volume.id).await {
                tracing::warn!(tenant = %tenant.id, volume = %volume.id, error = %e, "could not delete a duplicate volume");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_name_suffixes_are_read_back() {
        assert_eq!(suffix_of("roost-u-abc", "roost-u-abc"), None);
        assert_eq!(suffix_of("roost-u-abc", "roost-u-abc-2"), Some(2));
        assert_eq!(suffix_of("roost-u-abc", "roost-u-abcd-2"), None);
    }

    #[test]
    fn duplicates_resolve_to_the_same_survivor_in_any_order() {
        let volume = |id: &str| Volume {
            id: id.into(),
            name: "data".into(),
            ..Volume::default()
        };
        let a = oldest(vec![volume("vol_b"), volume("vol_a")]).unwrap();
        let b = oldest(vec![volume("vol_a"), volume("vol_b")]).unwrap();
        assert_eq!(a.id, "vol_a");
        assert_eq!(b.id, "vol_a");
    }
}

//! Rolling the current machine template out to a tenant that already has a machine: a new
//! workspace image (`ROOST_USER_IMAGE`), a new guest size, new env. Per-user apps are not
//! deployed by `fly deploy`, so this is roost's deploy (fly.md §4.8): one full-config update
//! per machine (§2.4: there is no merge, so the config is rebuilt whole from the template,
//! exactly as a new tenant's would be), under a Fly lease so two routers, or an operator's
//! `fly` command, never change the machine at once (§2.5).
//!
//! A running machine reboots into the new config (its workspace drains on SIGTERM; clients
//! keep their sessions), and the update waits until it is `started` again, so a bad image
//! shows up as a failed update. A stopped one stays stopped (`skip_launch`) and boots the new
//! image on its user's next request. The volume, and so the user's data, is untouched.

use std::time::Duration;

use roost_fly::FlyErrorKind;
use roost_fly::types::{MachineState, UpdateMachineRequest};

use super::Provisioner;
use crate::tenants::{StoreError, Tenant, TenantState};

/// How long the lease around one update lasts: longer than an update and the restart wait.
const LEASE_TTL: Duration = Duration::from_secs(120);
/// How long a running machine may take to come back on the new config (≈ 20 s on Fly).
const RESTART_WAIT: Duration = Duration::from_secs(60);

/// What an update did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Updated {
    /// Whether the machine's config was replaced (false: it already ran the template's image).
    pub updated: bool,
    /// The image the tenant ran before.
    pub previous_image: Option<String>,
    /// The tenant after the update.
    pub tenant: Tenant,
}

/// Why a tenant's machine was not updated.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The tenant has no machine in a state that can be updated.
    #[error("{0}")]
    NotUpdatable(String),
    /// Someone else holds the machine's lease.
    #[error("{0}")]
    Busy(String),
    /// Fly refused or failed the update.
    #[error("{0}")]
    Fly(String),
    /// The tenant row could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Provisioner {
    /// Replaces tenant `id`'s machine config with the current template's, unless the tenant
    /// already runs the template's image and `force` is false.
    pub async fn update_machine(&self, id: &str, force: bool) -> Result<Updated, UpdateError> {
        let ctx = self.context();
        let store = ctx.tenants.store();
        let tenant = store
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        if !matches!(tenant.state, TenantState::Ready | TenantState::Suspended) {
            return Err(UpdateError::NotUpdatable(format!(
                "tenant {id} is `{}`; only a `ready` or `suspended` tenant has a machine to update \
                 (a tenant still provisioning gets the current template anyway)",
                tenant.state
            )));
        }
        let image = &ctx.template.image;
        if !force && tenant.image.as_deref() == Some(image.as_str()) {
            return Ok(Updated {
                updated: false,
                previous_image: tenant.image.clone(),
                tenant,
            });
        }
        let (Some(machine_id), Some(volume_id)) = (&tenant.machine_id, &tenant.volume_id) else {
            return Err(UpdateError::NotUpdatable(format!(
                "tenant {id} has no machine or volume on record; retry its provisioning instead"
            )));
        };
        let app = &tenant.app_name;
        let fly_error = |what: &str, e: roost_fly::FlyError| {
            UpdateError::Fly(format!("{what} of machine {machine_id} in {app}: {e}"))
        };
        let lease = match ctx
            .fly
            .acquire_lease(app, machine_id, LEASE_TTL, "roost: updating the workspace")
            .await
        {
            Ok(lease) => lease,
            Err(e) if e.kind == FlyErrorKind::LeaseHeld => {
                return Err(UpdateError::Busy(format!(
                    "machine {machine_id} of tenant {id} is being changed by someone else (its \
                     lease is held); try again in a couple of minutes"
                )));
            }
            Err(e) => return Err(fly_error("taking the lease", e)),
        };
        let result = async {
            let machine = ctx
                .fly
                .get_machine(app, machine_id)
                .await
                .map_err(|e| fly_error("reading the config", e))?;
            let running = matches!(
                machine.state,
                MachineState::Started | MachineState::Starting
            );
            let request = UpdateMachineRequest {
                skip_launch: !running,
                ..UpdateMachineRequest::new(
                    ctx.template
                        .machine_config(volume_id, &ctx.env.for_tenant(&tenant.id)),
                )
            };
            let updated = ctx
                .fly
                .update_machine(app, machine_id, &request, Some(&lease.nonce))
                .await
                .map_err(|e| fly_error("updating the config", e))?;
            if running {
                // A machine that does not come back is a bad image: say so now, while the
                // operator is watching the rollout, not at the user's next request.
                ctx.fly
                    .wait_for_state(
                        app,
                        machine_id,
                        &MachineState::Started,
                        Some(&updated.instance_id),
                        RESTART_WAIT,
                    )
                    .await
                    .map_err(|e| fly_error("waiting for the restart on the new image", e))?;
            }
            Ok::<(), UpdateError>(())
        }
        .await;
        if let Err(e) = ctx.fly.release_lease(app, machine_id, &lease.nonce).await {
            // It lapses by itself after LEASE_TTL.
            tracing::warn!(tenant = %id, machine = %machine_id, error = %e, "could not release a machine lease");
        }
        result?;
        let updated = store.record_image(id, image).await?;
        ctx.tenants.remember(&updated);
        tracing::info!(tenant = %id, machine = %machine_id, from = ?tenant.image, to = %image, "updated a tenant's machine");
        Ok(Updated {
            updated: true,
            previous_image: tenant.image,
            tenant: updated,
        })
    }
}

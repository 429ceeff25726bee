//! Tenant rows: reading them, creating them for new users, and moving them through the state
//! machine with compare-and-set writes so two routers can never both win one step.
//!
//! Every write that changes a state names the state it expects (`WHERE state = $from`), and
//! provisioning writes also name the lease owner, so a router that lost its claim (paused past
//! the lease, or raced by a peer) gets [`StoreError::Conflict`] / [`StoreError::LeaseLost`]
//! instead of overwriting newer work.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::state::{IllegalTransition, TenantState, check_transition};
use crate::db::{Db, now_ms};

/// Why a tenant read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The state machine forbids the transition.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The tenant was not in the expected state: somebody else moved it first.
    #[error("tenant {id} is `{actual}`, not `{expected}` as this write expected")]
    Conflict {
        /// The tenant.
        id: String,
        /// The state the write expected.
        expected: TenantState,
        /// The state it is in.
        actual: TenantState,
    },
    /// This router no longer holds the tenant's provisioning lease.
    #[error("tenant {id}: the provisioning lease is held by another router")]
    LeaseLost {
        /// The tenant.
        id: String,
    },
    /// No such tenant.
    #[error("no tenant {0}")]
    NotFound(String),
    /// A row holds a value the code does not understand (a newer router wrote it?).
    #[error("tenant {id} has an unreadable row: {why}")]
    Corrupt {
        /// The tenant.
        id: String,
        /// What was wrong.
        why: String,
    },
}

/// One tenant: a user's Fly app, volume and machine, and where provisioning is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Tenant {
    /// Stable id: the `tenant` claim and `metadata.roost_tenant`.
    pub id: String,
    /// The user (token `sub`) this tenant belongs to.
    pub user_id: String,
    /// Where the tenant is in its life.
    pub state: TenantState,
    /// For `failed` / `suspended`: the state a retry or resume returns to.
    pub resume_state: Option<TenantState>,
    /// The Fly app name (the first choice, or a suffixed one when that was taken).
    pub app_name: String,
    /// Fly's id of the app, once created.
    pub app_id: Option<String>,
    /// The `/data` volume, once created.
    pub volume_id: Option<String>,
    /// The machine, once created.
    pub machine_id: Option<String>,
    /// The region the volume (and so the machine) is in.
    pub region: Option<String>,
    /// The image the machine runs.
    pub image: Option<String>,
    /// Why the last attempt failed (operator-visible).
    pub last_error: Option<String>,
    /// Failed attempts at the current step since the last success.
    pub attempts: i64,
    /// The router process driving provisioning, if any.
    pub lease_owner: Option<String>,
    /// Until when that router's claim holds.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// When the tenant first became ready.
    pub ready_at: Option<DateTime<Utc>>,
}

/// Fly ids a provisioning step learned; `None` leaves the stored value unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learned {
    /// Fly's app id.
    pub app_id: Option<String>,
    /// The volume id.
    pub volume_id: Option<String>,
    /// The machine id.
    pub machine_id: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// The image.
    pub image: Option<String>,
}

/// Reads and writes tenant and user rows. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TenantStore {
    db: Db,
}

const COLUMNS: &str = "id, user_id, state, resume_state, app_name, app_id, volume_id, \
    machine_id, region, image, last_error, attempts, lease_owner, lease_expires_at, created_at, \
    updated_at, ready_at";

impl TenantStore {
    /// A store over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The tenant with id `id`.
    pub async fn get(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// The tenant of user `user_id`.
    pub async fn get_by_user(&self, user_id: &str) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE user_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// The user's tenant, creating the user and a `pending` tenant with id `tenant_id` (also
    /// its first-choice app name) when the user has none. Safe to race: concurrent callers all
    /// get the one row that won.
    pub async fn ensure_for_user(
        &self,
        user_id: &str,
        tenant_id: &str,
    ) -> Result<Tenant, StoreError> {
        if let Some(tenant) = self.get_by_user(user_id).await? {
            return Ok(tenant);
        }
        let now = now_ms();
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO users (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Both unique keys (user, app name) may conflict; either way the winner's row stands.
        sqlx::query(
            "INSERT INTO tenants (id, user_id, state, app_name, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $1, 0, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(TenantState::Pending.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_by_user(user_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                id: tenant_id.to_owned(),
                why: format!(
                    "tenant id {tenant_id:?} or its app name already belongs to another user"
                ),
            })
    }

    /// Moves tenant `id` from `from` to `to`, recording what the step `learned` and clearing
    /// the error count. When `lease_owner` is given, the write only happens while that router
    /// holds the tenant's lease.
    pub async fn transition(
        &self,
        id: &str,
        from: TenantState,
        to: TenantState,
        learned: &Learned,
        lease_owner: Option<&str>,
    ) -> Result<Tenant, StoreError> {
        check_transition(from, to)?;
        let resume_state = match to {
            TenantState::Failed => Some(from),
            TenantState::Suspended => Some(TenantState::Ready),
            _ => None,
        };
        let now = now_ms();
        let ready_at = (to == TenantState::Ready).then_some(now);
        let result = sqlx::query(
            "UPDATE tenants SET state = $1, resume_state = $2, \
                app_id = COALESCE($3, app_id), volume_id = COALESCE($4, volume_id), \
                machine_id = COALESCE($5, machine_id), region = COALESCE($6, region), \
                image = COALESCE($7, image), ready_at = COALESCE(ready_at, $8), \
                attempts = 0, last_error = CASE WHEN $1 = 'failed' THEN last_error END, \
                updated_at = $9 \
             WHERE id = $10 AND state = $11 AND ($12 IS NULL OR lease_owner = $12)",
        )
        .bind(to.as_str())
        .bind(resume_state.map(TenantState::as_str))
        .bind(learned.app_id.as_deref())
        .bind(learned.volume_id.as_deref())
        .bind(learned.machine_id.as_deref())
        .bind(learned.region.as_deref())
        .bind(learned.image.as_deref())
        .bind(ready_at)
        .bind(now)
        .bind(id)
        .bind(from.as_str())
        .bind(lease_owner)
        .execute(self.db.pool())
        .await?;
        let tenant = self
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        if result.rows_affected() == 1 {
            return Ok(tenant);
        }
        if tenant.state != from {
            return Err(StoreError::Conflict {
                id: id.to_owned(),
                expected: from,
                actual: tenant.state,
            });
        }
        Err(StoreError::LeaseLost { id: id.to_owned() })
    }

    /// Marks tenant `id` `failed` from `from` with an operator-visible `reason`.
    pub async fn fail(
        &self,
        id: &str,
        from: TenantState,
        reason: &str,
        lease_owner: Option<&str>,
    ) -> Result<Tenant, StoreError> {
        self.record_error(id, reason, lease_owner).await?;
        self.transition(
            id,
            from,
            TenantState::Failed,
            &Learned::default(),
            lease_owner,
        )
        .await
    }

    /// Returns a `failed` or `suspended` tenant to the state it was in before.
    pub async fn resume(&self, id: &str) -> Result<Tenant, StoreError> {
        let tenant = self
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
        let to = tenant.resume_state.ok_or_else(|| StoreError::Corrupt {
            id: id.to_owned(),
            why: format!("a `{}` tenant has no state to resume to", tenant.state),
        })?;
        self.transition(id, tenant.state, to, &Learned::default(), None)
            .await
    }

    /// Records a failed attempt at the current step: `last_error` and one more `attempts`.
    /// Returns the new attempt count.
    pub async fn record_error(
        &self,
        id: &str,
        error: &str,
        lease_owner: Option<&str>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE tenants SET last_error = $1, attempts = attempts + 1, updated_at = $2 \
             WHERE id = $3 AND ($4 IS NULL OR lease_owner = $4) RETURNING attempts",
        )
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .bind(lease_owner)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(row) => Ok(row.try_get("attempts")?),
            None => Err(self.missing_or_lease_lost(id).await),
        }
    }

    /// Records a new app name for a `pending` tenant (its first choice was taken on Fly).
    pub async fn rename_app(
        &self,
        id: &str,
        app_name: &str,
        lease_owner: &str,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE tenants SET app_name = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'pending' AND lease_owner = $4",
        )
        .bind(app_name)
        .bind(now_ms())
        .bind(id)
        .bind(lease_owner)
        .execute(self.db.pool())
        .await?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        match self.get(id).await? {
            Some(tenant) if tenant.state != TenantState::Pending => Err(StoreError::Conflict {
                id: id.to_owned(),
                expected: TenantState::Pending,
                actual: tenant.state,
            }),
            Some(_) => Err(StoreError::LeaseLost { id: id.to_owned() }),
            None => Err(StoreError::NotFound(id.to_owned())),
        }
    }

    /// Records that tenant `id`'s machine now runs `image` (after a config update).
    pub async fn record_image(&self, id: &str, image: &str) -> Result<Tenant, StoreError> {
        sqlx::query("UPDATE tenants SET image = $1, updated_at = $2 WHERE id = $3")
            .bind(image)
            .bind(now_ms())
            .bind(id)
            .execute(self.db.pool())
            .await?;
        self.get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    /// Claims tenant `id` for provisioning by `owner` for `ttl`. Succeeds when nobody holds
    /// the claim, `owner` already does (a renewal), or the holder's claim has expired (it
    /// crashed). Returns whether `owner` now holds it.
    pub async fn claim(&self, id: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.claim_at(id, owner, ttl, now_ms()).await
    }

    async fn claim_at(
        &self,
        id: &str,
        owner: &str,
        ttl: Duration,
        now: i64,
    ) -> Result<bool, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let result = sqlx::query(
            "UPDATE tenants SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < $4)",
        )
        .bind(owner)
        .bind(now.saturating_add(ttl_ms))
        .bind(id)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives up `owner`'s claim on tenant `id` (a no-op when `owner` does not hold it).
    pub async fn release(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tenants SET lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Tenants with work left (provisioning or deleting), oldest first: what a starting router
    /// resumes.
    pub async fn unfinished(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tenants \
             WHERE state IN ('pending', 'app_created', 'volume_created', 'machine_created', 'deleting') \
             ORDER BY created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Up to `limit` tenants, newest first, only those in `state` when given.
    pub async fn list(
        &self,
        state: Option<TenantState>,
        limit: i64,
    ) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tenants WHERE ($1 IS NULL OR state = $1) \
             ORDER BY created_at DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.map(TenantState::as_str))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Up to `limit` tenants (in `state`, if given) whose ids sort after `after`, in id order:
    /// a stable way to page through every tenant while tenants come and go.
    pub async fn list_after(
        &self,
        state: Option<TenantState>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tenants WHERE ($1 IS NULL OR state = $1) AND id > $2 \
             ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state.map(TenantState::as_str))
            .bind(after)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// The id and `updated_at` (ms) of every tenant updated at or after `since` (ms).
    pub async fn changed_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, updated_at FROM tenants WHERE updated_at >= $1")
            .bind(since)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("updated_at")?)))
            .collect()
    }

    /// How many tenants are in each state (states with none are left out).
    pub async fn count_by_state(&self) -> Result<Vec<(TenantState, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM tenants GROUP BY state")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                let count: i64 = row.try_get("n")?;
                let state =
                    state
                        .parse()
                        .map_err(|e: super::state::UnknownState| StoreError::Corrupt {
                            id: "(count)".to_owned(),
                            why: e.to_string(),
                        })?;
                Ok((state, count))
            })
            .collect()
    }

    async fn missing_or_lease_lost(&self, id: &str) -> StoreError {
        match self.get(id).await {
            Ok(Some(_)) => StoreError::LeaseLost { id: id.to_owned() },
            Ok(None) => StoreError::NotFound(id.to_owned()),
            Err(e) => e,
        }
    }
}

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    let id: String = row.try_get("id")?;
    let corrupt = |why: String| StoreError::Corrupt {
        id: id.clone(),
        why,
    };
    let state = |column: &str| -> Result<Option<TenantState>, StoreError> {
        let value: Option<String> = row.try_get(column)?;
        value
            .map(|s| {
                s.parse()
                    .map_err(|e: super::state::UnknownState| corrupt(e.to_string()))
            })
            .transpose()
    };
    let time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        let value: Option<i64> = row.try_get(column)?;
        value
            .map(|ms| {
                DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| corrupt(format!("`{column}` {ms} is out of range")))
            })
            .transpose()
    };
    let required = |value: Option<DateTime<Utc>>, column: &str| {
        value.ok_or_else(|| corrupt(format!("`{column}` is empty")))
    };
    Ok(Tenant {
        state: state("state")?.ok_or_else(|| corrupt("`state` is empty".to_owned()))?,
        resume_state: state("resume_state")?,
        user_id: row.try_get("user_id")?,
        app_name: row.try_get("app_name")?,
        app_id: row.try_get("app_id")?,
        volume_id: row.try_get("volume_id")?,
        machine_id: row.try_get("machine_id")?,
        region: row.try_get("region")?,
        image: row.try_get("image")?,
        last_error: row.try_get("last_error")?,
        attempts: row.try_get("attempts")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: time("lease_expires_at")?,
        created_at: required(time("created_at")?, "created_at")?,
        updated_at: required(time("updated_at")?, "updated_at")?,
        ready_at: time("ready_at")?,
        id,
    })
}

#[cfg(test)]
mod tests;

//! Access tokens' rows (migration `0104_oauth_access_tokens.sql`): recorded when issued,
//! revoked with their family or one by one, and read back by every router's revocation poll.
//! The in-memory side is [`crate::auth::RevokedTokens`].

use sqlx::Row as _;

use super::{OAuthStore, StoreError};
use crate::db::now_ms;

impl OAuthStore {
    /// Records the access token `jti` of `family_id`, expiring at `exp` (Unix seconds), so that
    /// revoking the family can find it.
    pub async fn record_access_token(
        &self,
        jti: &str,
        family_id: &str,
        exp: i64,
    ) -> Result<(), StoreError> {
        // Expired tokens need no revocation; sweeping here keeps the table at one lifetime.
        sqlx::query("DELETE FROM oauth_access_tokens WHERE expires_at < $1")
            .bind(now_ms())
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO oauth_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(jti)
        .bind(family_id)
        .bind(exp.saturating_mul(1000))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Whether `family_id` has been revoked.
    pub async fn family_revoked(&self, family_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT revoked_at FROM oauth_families WHERE id = $1")
            .bind(family_id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>, _>(0)?.is_some(),
            None => true,
        })
    }

    /// Revokes every unexpired access token of `family_id`, in the database and on this router.
    pub(super) async fn revoke_family_access_tokens(
        &self,
        family_id: &str,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "UPDATE oauth_access_tokens SET revoked_at = $1 \
             WHERE family_id = $2 AND revoked_at IS NULL AND expires_at > $1 \
             RETURNING jti, expires_at",
        )
        .bind(now_ms())
        .bind(family_id)
        .fetch_all(self.db.pool())
        .await?;
        for row in rows {
            self.revoked.revoke(
                &row.try_get::<String, _>(0)?,
                row.try_get::<i64, _>(1)? / 1000,
            );
        }
        Ok(())
    }

    /// Revokes the one access token `jti`, expiring at `exp` (Unix seconds), in the database
    /// and on this router (RFC 7009 on an access token).
    pub async fn revoke_access_token(&self, jti: &str, exp: i64) -> Result<(), StoreError> {
        // A token issued before its row could exist still gets one, so other routers learn it.
        sqlx::query(
            "INSERT INTO oauth_access_tokens (jti, family_id, expires_at, revoked_at) VALUES ($1, '', $2, $3) \
             ON CONFLICT (jti) DO UPDATE SET revoked_at = COALESCE(oauth_access_tokens.revoked_at, excluded.revoked_at)",
        )
        .bind(jti)
        .bind(exp.saturating_mul(1000))
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        self.revoked.revoke(jti, exp);
        Ok(())
    }

    /// Adds to this router's set every unexpired token revoked at or after `since` (ms), by
    /// any router; returns how many rows were read.
    pub async fn load_revocations(&self, since: i64) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT jti, expires_at FROM oauth_access_tokens WHERE revoked_at >= $1 AND expires_at > $2",
        )
        .bind(since)
        .bind(now_ms())
        .fetch_all(self.db.pool())
        .await?;
        for row in &rows {
            self.revoked.revoke(
                &row.try_get::<String, _>(0)?,
                row.try_get::<i64, _>(1)? / 1000,
            );
        }
        Ok(rows.len())
    }
}

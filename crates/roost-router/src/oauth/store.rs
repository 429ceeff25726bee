//! The authorization server's rows: registered clients, pending authorization requests, codes,
//! refresh-token families and tokens, remembered consent (migration `0100_oauth.sql`).
//!
//! Single use is decided by the database, not by a read-then-write in Rust: redeeming a code or
//! rotating a refresh token is one `UPDATE … WHERE used_at IS NULL`, and only the caller whose
//! update touched the row wins, so two routers sharing PostgreSQL cannot both redeem one code.

use std::time::Duration;

use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use super::clients::Client;
use crate::auth::RevokedTokens;
use crate::db::{Db, now_ms};

mod access;

/// A database failure (the detail is logged by the caller, never shown).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored JSON value no longer parses.
    #[error("stored value is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

/// 32 random bytes, base64url without padding: codes, tokens, ids.
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a bearer secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A day in milliseconds: how long expired rows are kept before a sweep removes them.
const DAY_MS: i64 = 24 * 3600 * 1000;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What a form posted for a pending request must match.
pub struct PendingGuard {
    /// The CSRF value of the request's pages.
    pub csrf: String,
    /// The SHA-256 of the binding value of the browser that started the request.
    browser_hash: String,
}

impl PendingGuard {
    /// Whether `binding` (the browser's `roost-request` cookie) is the one of the browser that
    /// started the request; compared in constant time.
    pub fn same_browser(&self, binding: Option<&str>) -> bool {
        let Some(binding) = binding else { return false };
        !self.browser_hash.is_empty()
            && bool::from(
                hash_secret(binding)
                    .as_bytes()
                    .ct_eq(self.browser_hash.as_bytes()),
            )
    }
}

impl std::fmt::Debug for PendingGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingGuard").finish_non_exhaustive()
    }
}

/// A validated authorization request, kept while the user signs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI the client sent (validated).
    pub redirect_uri: String,
    /// Requested scopes, space-separated, normalised.
    pub scope: String,
    /// The client's `state`, echoed back.
    pub state: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The `resource` (always the MCP URL once validated).
    pub resource: String,
}

/// What a code was issued for.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    /// The refresh-token family the code starts.
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who consented.
    pub user_id: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scope: String,
    /// The PKCE challenge to check the verifier against.
    pub code_challenge: String,
    /// The resource.
    pub resource: String,
    /// Expiry (ms).
    pub expires_at: i64,
}

/// The outcome of redeeming a code.
#[derive(Debug)]
pub enum Redeemed {
    /// First use.
    Fresh(CodeGrant),
    /// The code was already used: its family, and the tokens issued from it, are now revoked.
    Replayed,
    /// No such code.
    Unknown,
}

/// The family a refresh token belongs to.
#[derive(Debug, Clone)]
pub struct Family {
    /// Family id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// Scopes of the grant.
    pub scope: String,
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Refreshed {
    /// First use (or a concurrent use within the grace window): issue a successor.
    Rotate(Family),
    /// A reuse after the grace window: the family has now been revoked.
    Reused,
    /// Unknown, expired, or its family was revoked.
    Invalid,
}

/// The OAuth tables, and this router's set of revoked access tokens they feed. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OAuthStore {
    db: Db,
    revoked: RevokedTokens,
}

impl OAuthStore {
    /// A store over `db` that adds the access tokens it revokes to `revoked`.
    pub fn new(db: Db, revoked: RevokedTokens) -> Self {
        OAuthStore { db, revoked }
    }

    /// The database (for the sign-in store).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Stores a dynamically registered client.
    pub async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, metadata, created_at) VALUES ($1, $2, $3)",
        )
        .bind(&client.client_id)
        .bind(serde_json::to_string(client)?)
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A dynamically registered client.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query("SELECT metadata FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(&row.try_get::<String, _>(0)?)?)),
            None => Ok(None),
        }
    }

    /// Keeps `request` for `ttl`, bound to the browser whose binding value hashes to
    /// `browser_hash`; returns its id and the CSRF token of forms posted for it.
    pub async fn put_pending(
        &self,
        request: &PendingRequest,
        ttl: Duration,
        browser_hash: &str,
    ) -> Result<(String, String), StoreError> {
        let id = random_token();
        let csrf = random_token();
        let now = now_ms();
        // Expired requests are swept here rather than by a timer.
        sqlx::query("DELETE FROM oauth_pending WHERE expires_at < $1")
            .bind(now)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO oauth_pending (id, request, csrf, browser_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(serde_json::to_string(request)?)
        .bind(&csrf)
        .bind(browser_hash)
        .bind(now + ms(ttl))
        .execute(self.db.pool())
        .await?;
        Ok((id, csrf))
    }

    /// A pending request that has not expired, with what its forms must carry.
    pub async fn pending(
        &self,
        id: &str,
    ) -> Result<Option<(PendingRequest, PendingGuard)>, StoreError> {
        let row = sqlx::query(
            "SELECT request, csrf, browser_hash FROM oauth_pending WHERE id = $1 AND expires_at >= $2",
        )
        .bind(id)
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some(row) => Ok(Some((
                serde_json::from_str(&row.try_get::<String, _>(0)?)?,
                PendingGuard {
                    csrf: row.try_get(1)?,
                    browser_hash: row.try_get(2)?,
                },
            ))),
            None => Ok(None),
        }
    }

    /// Counts one wrong password posted for pending request `id`; returns how many there
    /// have been (0 when the request is gone).
    pub async fn pending_failed(&self, id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE oauth_pending SET failures = failures + 1 WHERE id = $1 RETURNING CAST(failures AS BIGINT)",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64, _>(0)?,
            None => 0,
        })
    }

    /// Forgets a pending request (it was answered).
    pub async fn delete_pending(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oauth_pending WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Issues a code for `grant`: creates its family and stores the code hashed.
    pub async fn insert_code(&self, code: &str, grant: &CodeGrant) -> Result<(), StoreError> {
        let now = now_ms();
        // Codes past their expiry by a day can no longer be replayed meaningfully; sweep them.
        sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
            .bind(now - DAY_MS)
            .execute(self.db.pool())
            .await?;
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO oauth_families (id, client_id, user_id, scope, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&grant.family_id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(&grant.scope)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, family_id, client_id, user_id, redirect_uri, scope, \
             code_challenge, resource, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(hash_secret(code))
        .bind(&grant.family_id)
        .bind(&grant.client_id)
        .bind(&grant.user_id)
        .bind(&grant.redirect_uri)
        .bind(&grant.scope)
        .bind(&grant.code_challenge)
        .bind(&grant.resource)
        .bind(grant.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks `code` used. The first caller gets the grant; any later caller gets
    /// [`Redeemed::Replayed`] and the family is revoked (OAuth 2.1 §4.1.3: a replayed code
    /// SHOULD revoke the tokens issued from it).
    pub async fn redeem_code(&self, code: &str) -> Result<Redeemed, StoreError> {
        let hash = hash_secret(code);
        let now = now_ms();
        let won = sqlx::query(
            "UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&hash)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(
            "SELECT family_id, client_id, user_id, redirect_uri, scope, code_challenge, resource, expires_at \
             FROM oauth_codes WHERE code_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Redeemed::Unknown);
        };
        let grant = CodeGrant {
            family_id: row.try_get(0)?,
            client_id: row.try_get(1)?,
            user_id: row.try_get(2)?,
            redirect_uri: row.try_get(3)?,
            scope: row.try_get(4)?,
            code_challenge: row.try_get(5)?,
            resource: row.try_get(6)?,
            expires_at: row.try_get(7)?,
        };
        if won {
            Ok(Redeemed::Fresh(grant))
        } else {
            self.revoke_family(&grant.family_id).await?;
            Ok(Redeemed::Replayed)
        }
    }

    /// Revokes a family: every refresh token in it, and every access token issued from it.
    pub async fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        // The family first: a token being issued concurrently checks it after recording its
        // access token (see `token::issue`), so either it sees the family revoked or its
        // token's row exists by the time the update below runs.
        sqlx::query(
            "UPDATE oauth_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(family_id)
        .execute(self.db.pool())
        .await?;
        self.revoke_family_access_tokens(family_id).await
    }

    /// Stores a new refresh token of `family_id`.
    pub async fn insert_refresh(
        &self,
        token: &str,
        family_id: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        // Expired tokens are kept a day (a late reuse still finds its family), then swept.
        sqlx::query("DELETE FROM oauth_refresh_tokens WHERE expires_at < $1")
            .bind(now - DAY_MS)
            .execute(self.db.pool())
            .await?;
        sqlx::query(
            "INSERT INTO oauth_refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash_secret(token))
        .bind(family_id)
        .bind(now)
        .bind(now + ms(ttl))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Presents a refresh token for rotation. A token used for the first time, or again
    /// within `grace` of its first use (two requests racing), rotates; a later reuse means the
    /// token leaked or a client misbehaves, so the whole family is revoked (OAuth 2.1 §4.3.1,
    /// RFC 9700 §4.14.2).
    pub async fn use_refresh(
        &self,
        token: &str,
        client_id: &str,
        grace: Duration,
    ) -> Result<Refreshed, StoreError> {
        let hash = hash_secret(token);
        let now = now_ms();
        let row = sqlx::query(
            "SELECT t.family_id, t.expires_at, t.used_at, f.client_id, f.user_id, f.scope, f.revoked_at \
             FROM oauth_refresh_tokens t JOIN oauth_families f ON f.id = t.family_id WHERE t.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(Refreshed::Invalid);
        };
        let family = Family {
            id: row.try_get(0)?,
            client_id: row.try_get(3)?,
            user_id: row.try_get(4)?,
            scope: row.try_get(5)?,
        };
        let expires_at: i64 = row.try_get(1)?;
        let revoked_at: Option<i64> = row.try_get(6)?;
        // A token shown by another client is treated as unknown (and not as a reuse: that
        // would let any client kill other clients' grants).
        if revoked_at.is_some() || expires_at < now || family.client_id != client_id {
            return Ok(Refreshed::Invalid);
        }
        let won = sqlx::query("UPDATE oauth_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(&hash)
            .execute(self.db.pool())
            .await?
            .rows_affected()
            == 1;
        if won {
            return Ok(Refreshed::Rotate(family));
        }
        let used_at: Option<i64> =
            sqlx::query("SELECT used_at FROM oauth_refresh_tokens WHERE token_hash = $1")
                .bind(&hash)
                .fetch_one(self.db.pool())
                .await?
                .try_get(0)?;
        if used_at.is_some_and(|used| now - used <= ms(grace)) {
            return Ok(Refreshed::Rotate(family));
        }
        self.revoke_family(&family.id).await?;
        Ok(Refreshed::Reused)
    }

    /// Revokes the family of a refresh token if `client_id` owns it (RFC 7009 §2.1: revoking a
    /// refresh token SHOULD revoke the grant). Unknown tokens are ignored (RFC 7009 §2.2).
    pub async fn revoke_refresh(&self, token: &str, client_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT f.id, f.client_id FROM oauth_refresh_tokens t JOIN oauth_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1",
        )
        .bind(hash_secret(token))
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let (family, owner): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        if owner != client_id {
            return Ok(false);
        }
        self.revoke_family(&family).await?;
        Ok(true)
    }

    /// The scopes `user_id` granted `client_id`, if any.
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Remembers that `user_id` granted `scope` to `client_id` (replacing an older grant).
    pub async fn put_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_consents (user_id, client_id, scope, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

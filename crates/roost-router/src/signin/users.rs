//! roost users and the identities they sign in with: `identities` maps (provider, subject) to
//! a user id, so the same person signing in through the same provider always reaches the same
//! workspace. Providers: `local`, `dev`, `github`, `oidc:<id>`.
//!
//! Subjects are the provider's stable ids (OIDC `sub`, GitHub's numeric user id), never e-mail
//! addresses or logins, which can change owner. Identities from different providers are not
//! merged by e-mail: a provider that does not verify e-mail could otherwise take over an account.

use sqlx::Row as _;

use crate::db::{Db, now_ms};

/// An identity an upstream provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `local`, `dev`, `github`, `oidc:<id>`.
    pub provider: String,
    /// The provider's stable id for the person.
    pub subject: String,
    /// E-mail, when given (display only).
    pub email: Option<String>,
    /// Display name, when given.
    pub name: Option<String>,
}

/// The user of `identity`, creating the user on first sign-in. Safe to race.
pub async fn user_for(db: &Db, identity: &Identity) -> Result<String, sqlx::Error> {
    if let Some(user) = find(db, &identity.provider, &identity.subject).await? {
        // Keep the display fields fresh.
        sqlx::query(
            "UPDATE identities SET email = $1, name = $2 WHERE provider = $3 AND subject = $4",
        )
        .bind(&identity.email)
        .bind(&identity.name)
        .bind(&identity.provider)
        .bind(&identity.subject)
        .execute(db.pool())
        .await?;
        return Ok(user);
    }
    let user_id = format!("u-{}", uuid::Uuid::now_v7().simple());
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    sqlx::query("INSERT INTO users (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO identities (provider, subject, user_id, email, name, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (provider, subject) DO NOTHING",
    )
    .bind(&identity.provider)
    .bind(&identity.subject)
    .bind(&user_id)
    .bind(&identity.email)
    .bind(&identity.name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // A concurrent first sign-in may have won; its user is the one.
    Ok(find(db, &identity.provider, &identity.subject)
        .await?
        .unwrap_or(user_id))
}

async fn find(db: &Db, provider: &str, subject: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT user_id FROM identities WHERE provider = $1 AND subject = $2")
        .bind(provider)
        .bind(subject)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// How to name `user_id` to its owner on the consent page: e-mail, name or username.
pub async fn label(db: &Db, user_id: &str) -> Result<String, sqlx::Error> {
    let row = sqlx::query("SELECT email, name, subject, provider FROM identities WHERE user_id = $1 ORDER BY created_at")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(row) => {
            let email: Option<String> = row.try_get(0)?;
            let name: Option<String> = row.try_get(1)?;
            let subject: String = row.try_get(2)?;
            email.or(name).unwrap_or(subject)
        }
        None => user_id.to_owned(),
    })
}

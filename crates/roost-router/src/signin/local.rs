//! Local accounts: a username and an argon2id password hash, for self-hosting and `roost dev`.
//! Accounts come from the config file (`[[accounts]]`, already hashed) or from
//! [`create_account`] (an operator CLI, `roost dev`, tests).
//!
//! Hashing and verifying run on the blocking pool (argon2 is deliberately slow), and an unknown
//! username still costs one verification, so response time does not reveal which usernames
//! exist. A verification needs a permit from the caller's semaphore ([`ARGON2_PERMITS`] in
//! the router): each one holds ~19 MiB and tens of milliseconds of CPU, so a burst of sign-in
//! posts must be turned away, not queued until the router runs out of memory.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sqlx::Row as _;

use super::SignInError;
use super::users::{Identity, user_for};
use crate::db::{Db, now_ms};

/// The identity provider name of local accounts.
pub const PROVIDER: &str = "local";

/// A username as stored: trimmed and lower-cased; 1 to 64 of `a-z 0-9 . _ @ -`.
pub fn normalise_username(raw: &str) -> Result<String, SignInError> {
    let name = raw.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(SignInError::BadUsername)
    }
}

/// The argon2id parameters of every password hash: memory in KiB, iterations, lanes (the
/// argon2 crate's defaults, OWASP's first recommendation). Stored hashes must use these too:
/// an unknown username is verified against a dummy hash with these parameters, so a hash with
/// others would take measurably longer or shorter and reveal that the account exists.
pub const ARGON2_M_COST: u32 = 19_456;
/// Iterations; see [`ARGON2_M_COST`].
pub const ARGON2_T_COST: u32 = 2;
/// Lanes; see [`ARGON2_M_COST`].
pub const ARGON2_P_COST: u32 = 1;

/// The hasher with the router's parameters.
fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST, None)
        .expect("the argon2 parameter constants are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks that `hash` is an argon2id PHC string with the router's parameters; the error says
/// what differs.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not an argon2 PHC string: {e}"))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!(
            "the algorithm is {}, not argon2id",
            parsed.algorithm
        ));
    }
    let params = Params::try_from(&parsed).map_err(|e| format!("unreadable parameters: {e}"))?;
    let have = (params.m_cost(), params.t_cost(), params.p_cost());
    let want = (ARGON2_M_COST, ARGON2_T_COST, ARGON2_P_COST);
    if have != want {
        return Err(format!(
            "its parameters are m={},t={},p={} but the router's are m={},t={},p={} (a hash with \
             other parameters takes a different time to check, which tells a stranger the \
             account exists); make it with `roost admin hash-password` or \
             `argon2 \"$(openssl rand -hex 8)\" -id -t 2 -k 19456 -p 1 -e`",
            have.0, have.1, have.2, want.0, want.1, want.2
        ));
    }
    Ok(())
}

/// An argon2id PHC string for `password`, with the router's parameters.
pub async fn hash_password(password: String) -> Result<String, SignInError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| SignInError::Hash(e.to_string()))?
    .map_err(|e| SignInError::Hash(e.to_string()))
}

/// Creates local account `username` with `password`, or sets its password if it exists.
/// Returns the account's user id.
pub async fn create_account(
    db: &Db,
    username: &str,
    password: &str,
) -> Result<String, SignInError> {
    if password.chars().count() < 8 {
        return Err(SignInError::WeakPassword);
    }
    let hash = hash_password(password.to_owned()).await?;
    store_account(db, username, &hash).await
}

/// Creates or updates `username` with an existing argon2 PHC `hash` (from the config file).
pub async fn store_account(db: &Db, username: &str, hash: &str) -> Result<String, SignInError> {
    let username = normalise_username(username)?;
    PasswordHash::new(hash).map_err(|e| SignInError::Hash(e.to_string()))?;
    let user_id = user_for(
        db,
        &Identity {
            provider: PROVIDER.into(),
            subject: username.clone(),
            email: None,
            name: Some(username.clone()),
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO local_accounts (username, user_id, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
    )
    .bind(&username)
    .bind(&user_id)
    .bind(hash)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(user_id)
}

/// How many password verifications may run at once.
pub const ARGON2_PERMITS: usize = 2;

/// The user id of `username` if `password` is right, else `None`. `permit` is held until the
/// verification ends, even if the request is abandoned.
pub async fn verify(
    db: &Db,
    username: &str,
    password: &str,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<Option<String>, SignInError> {
    let Ok(username) = normalise_username(username) else {
        return Ok(None);
    };
    let row = sqlx::query("SELECT user_id, password_hash FROM local_accounts WHERE username = $1")
        .bind(&username)
        .fetch_optional(db.pool())
        .await?;
    let (user_id, hash) = match row {
        Some(row) => (
            Some(row.try_get::<String, _>(0)?),
            row.try_get::<String, _>(1)?,
        ),
        None => (None, dummy_hash().to_owned()),
    };
    let password = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|e| SignInError::Hash(e.to_string()))?;
    Ok(user_id.filter(|_| matches))
}

/// A hash of nothing anyone types, verified against when the username is unknown.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(
            normalise_username("  Alice@Example.com ").unwrap(),
            "alice@example.com"
        );
        assert!(normalise_username("").is_err());
        assert!(normalise_username("a b").is_err());
        assert!(normalise_username(&"a".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn hashes_with_other_parameters_than_the_dummy_are_refused() {
        let ours = hash_password("correct horse".into()).await.unwrap();
        assert!(check_hash(&ours).is_ok());
        assert!(
            check_hash(dummy_hash()).is_ok(),
            "the dummy uses the same parameters"
        );
        // What `argon2 … -id -e` makes by default: t=3, m=4 MiB.
        let salt = SaltString::generate(&mut OsRng);
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap(),
        )
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
        let err = check_hash(&other).unwrap_err();
        assert!(
            err.contains("m=4096,t=3,p=1") && err.contains("hash-password"),
            "{err}"
        );
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(check_hash(&argon2i).unwrap_err().contains("argon2i"));
        assert!(check_hash("not a hash").is_err());
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let db = crate::db::testing::TestDb::sqlite().await;
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
        let verify = |db, user, password| {
            let permit = permits.clone().try_acquire_owned().unwrap();
            verify(db, user, password, permit)
        };
        let user = create_account(&db.db, "Alice", "correct horse")
            .await
            .unwrap();
        assert_eq!(
            verify(&db.db, "alice", "correct horse").await.unwrap(),
            Some(user.clone())
        );
        assert_eq!(verify(&db.db, "alice", "wrong horse!").await.unwrap(), None);
        assert_eq!(verify(&db.db, "bob", "correct horse").await.unwrap(), None);
        assert!(matches!(
            create_account(&db.db, "carol", "short").await,
            Err(SignInError::WeakPassword)
        ));
        // Setting a new password keeps the user (and so the workspace).
        assert_eq!(
            create_account(&db.db, "alice", "battery staple")
                .await
                .unwrap(),
            user
        );
        assert_eq!(
            verify(&db.db, "alice", "correct horse").await.unwrap(),
            None
        );
    }
}

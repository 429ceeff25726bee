//! Legacy (≤ 2025-11-25) MCP sessions that survive a stop: rmcp's [`SessionStore`] in SQLite.
//!
//! The server exits when idle and the Machine's root filesystem is wiped on stop, so an
//! in-memory session table would force every client to re-`initialize` after each idle stop
//! (and most clients handle the resulting 404 badly). rmcp calls [`SessionStore::store`] after a
//! successful `initialize` and, when a request names a session it does not hold in memory,
//! replays the stored `initialize` to rebuild it. The table lives in `<data dir>/roost.db`.
//!
//! Each row is also bound to the token subject (`sub`) that created it: a session id is not a
//! credential (MCP 2025-11-25 security best practices, "session hijacking"), so the token gate
//! refuses a session id presented with another user's token as if it did not exist (404).
//!
//! Rows remember when they were last stored or rebuilt (`used_at`). Every client connection
//! makes a session and few clients end theirs with `DELETE`, so sessions unused for
//! [`SESSION_RETENTION`] are swept when the server starts (it starts after every idle stop).

use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sqlx::SqlitePool;

/// Errors of the session table.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The database refused a query.
    #[error("session store query failed: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row could not be decoded (written by an incompatible version).
    #[error("stored session is unreadable: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Who may use a session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// No such session is stored.
    Unknown,
    /// The session exists and belongs to this subject.
    Owner(String),
    /// The session exists but has not been bound to a subject yet.
    Unbound,
}

/// How long a stored session is kept after it was last used. A client that comes back later
/// gets 404 for its old session id and starts a new one (MCP 2025-11-25, session management).
pub const SESSION_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Owners held in memory so the gate's per-request check needs no query. Bounded: cleared
/// when it grows past this (the database stays the source of truth).
const OWNER_CACHE_LIMIT: usize = 4096;

/// SQLite-backed session store, shared by rmcp (through [`SessionStore`]) and the token gate.
#[derive(Clone)]
pub struct SqliteSessionStore {
    pool: SqlitePool,
    owners: Arc<Mutex<HashMap<String, String>>>,
}

impl SqliteSessionStore {
    /// Create the table if needed, forget sessions unused for [`SESSION_RETENTION`], and
    /// return the store.
    pub async fn open(pool: SqlitePool) -> Result<Self, SessionError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS mcp_sessions (
                id TEXT PRIMARY KEY NOT NULL,
                state TEXT NOT NULL,
                subject TEXT,
                created_at INTEGER NOT NULL DEFAULT (unixepoch()),
                used_at INTEGER
            )",
        )
        .execute(&pool)
        .await?;
        // Volumes written by a version without `used_at` get the column; their rows count
        // from `created_at`.
        let (has_used_at,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pragma_table_info('mcp_sessions') WHERE name = 'used_at'",
        )
        .fetch_one(&pool)
        .await?;
        if has_used_at == 0 {
            sqlx::query("ALTER TABLE mcp_sessions ADD COLUMN used_at INTEGER")
                .execute(&pool)
                .await?;
        }
        let swept = sqlx::query(
            "DELETE FROM mcp_sessions WHERE COALESCE(used_at, created_at) < unixepoch() - ?",
        )
        .bind(i64::try_from(SESSION_RETENTION.as_secs()).unwrap_or(i64::MAX))
        .execute(&pool)
        .await?
        .rows_affected();
        if swept > 0 {
            let days = SESSION_RETENTION.as_secs() / 86_400;
            tracing::info!(
                sessions = swept,
                days,
                "forgot stored sessions unused that long"
            );
        }
        Ok(Self {
            pool,
            owners: Arc::default(),
        })
    }

    /// Record which token subject owns a freshly created session.
    ///
    /// Only an unbound row can be bound, so a later call cannot move a session to someone else.
    pub async fn bind(&self, session_id: &str, subject: &str) -> Result<bool, SessionError> {
        let done =
            sqlx::query("UPDATE mcp_sessions SET subject = ? WHERE id = ? AND subject IS NULL")
                .bind(subject)
                .bind(session_id)
                .execute(&self.pool)
                .await?;
        let bound = done.rows_affected() == 1;
        if bound {
            self.remember_owner(session_id, subject);
        }
        Ok(bound)
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember_owner(&self, session_id: &str, subject: &str) {
        let mut owners = self.owners();
        if owners.len() >= OWNER_CACHE_LIMIT {
            owners.clear();
        }
        owners.insert(session_id.to_owned(), subject.to_owned());
    }

    /// Who owns `session_id`.
    pub async fn ownership(&self, session_id: &str) -> Result<Ownership, SessionError> {
        if let Some(owner) = self.owners().get(session_id) {
            return Ok(Ownership::Owner(owner.clone()));
        }
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT subject FROM mcp_sessions WHERE id = ?")
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            None => Ownership::Unknown,
            Some((None,)) => Ownership::Unbound,
            Some((Some(subject),)) => {
                self.remember_owner(session_id, &subject);
                Ownership::Owner(subject)
            }
        })
    }
}

#[async_trait::async_trait]
impl SessionStore for SqliteSessionStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        // rmcp loads a session to rebuild it after a restart: that is a use.
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE mcp_sessions SET used_at = unixepoch() WHERE id = ? RETURNING state",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(SessionError::from)?;
        Ok(row
            .map(|(state,)| serde_json::from_str(&state).map_err(SessionError::from))
            .transpose()?)
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let json = serde_json::to_string(state).map_err(SessionError::from)?;
        // Keep `subject` on conflict: re-storing a session must not unbind it.
        sqlx::query(
            "INSERT INTO mcp_sessions (id, state, used_at) VALUES (?, ?, unixepoch())
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, used_at = excluded.used_at",
        )
        .bind(session_id)
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(SessionError::from)?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.owners().remove(session_id);
        sqlx::query("DELETE FROM mcp_sessions WHERE id = ?")
            .bind(session_id)
            .execute(&self.pool)
            .await
            .map_err(SessionError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams};

    use super::*;

    /// One connection: every connection to `:memory:` is a separate database.
    async fn memory_pool() -> SqlitePool {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    async fn store() -> SqliteSessionStore {
        SqliteSessionStore::open(memory_pool().await).await.unwrap()
    }

    fn state() -> SessionState {
        SessionState::new(InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new("test-client", "1.0"),
        ))
    }

    #[tokio::test]
    async fn stored_sessions_load_back_and_delete() {
        let store = store().await;
        store.store("s1", &state()).await.unwrap();
        let loaded = store.load("s1").await.unwrap().expect("stored session");
        assert_eq!(loaded.initialize_params.client_info.name, "test-client");
        store.delete("s1").await.unwrap();
        assert!(store.load("s1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_unused_for_the_retention_are_forgotten_at_start_and_used_ones_kept() {
        let pool = memory_pool().await;
        let store = SqliteSessionStore::open(pool.clone()).await.unwrap();
        for id in ["old", "rebuilt", "recent"] {
            store.store(id, &state()).await.unwrap();
        }
        let retention = i64::try_from(SESSION_RETENTION.as_secs()).unwrap();
        sqlx::query("UPDATE mcp_sessions SET used_at = unixepoch() - ? - 60, created_at = 0")
            .bind(retention)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE mcp_sessions SET used_at = unixepoch() - 3600 WHERE id = 'recent'")
            .execute(&pool)
            .await
            .unwrap();
        // A client came back to `rebuilt` (rmcp loads it): that counts as a use.
        assert!(store.load("rebuilt").await.unwrap().is_some());

        let reopened = SqliteSessionStore::open(pool).await.unwrap();
        assert!(reopened.load("old").await.unwrap().is_none());
        assert!(reopened.load("rebuilt").await.unwrap().is_some());
        assert!(reopened.load("recent").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_table_from_before_used_at_gets_the_column_and_keeps_its_sessions() {
        let pool = memory_pool().await;
        sqlx::query(
            "CREATE TABLE mcp_sessions (id TEXT PRIMARY KEY NOT NULL, state TEXT NOT NULL, \
             subject TEXT, created_at INTEGER NOT NULL DEFAULT (unixepoch()))",
        )
        .execute(&pool)
        .await
        .unwrap();
        let json = serde_json::to_string(&state()).unwrap();
        sqlx::query("INSERT INTO mcp_sessions (id, state, subject) VALUES ('s1', ?, 'alice')")
            .bind(json)
            .execute(&pool)
            .await
            .unwrap();
        let store = SqliteSessionStore::open(pool).await.unwrap();
        assert!(store.load("s1").await.unwrap().is_some());
        assert_eq!(
            store.ownership("s1").await.unwrap(),
            Ownership::Owner("alice".into())
        );
    }

    #[tokio::test]
    async fn a_session_binds_to_its_first_owner_only() {
        let store = store().await;
        assert_eq!(store.ownership("s1").await.unwrap(), Ownership::Unknown);
        store.store("s1", &state()).await.unwrap();
        assert_eq!(store.ownership("s1").await.unwrap(), Ownership::Unbound);
        assert!(store.bind("s1", "alice").await.unwrap());
        assert!(!store.bind("s1", "mallory").await.unwrap());
        // Re-storing the handshake keeps the owner.
        store.store("s1", &state()).await.unwrap();
        assert_eq!(
            store.ownership("s1").await.unwrap(),
            Ownership::Owner("alice".into())
        );
    }
}

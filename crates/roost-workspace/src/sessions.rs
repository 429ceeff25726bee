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
    /// Create the table if needed and return the store.
    pub async fn open(pool: SqlitePool) -> Result<Self, SessionError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS mcp_sessions (
                id TEXT PRIMARY KEY NOT NULL,
                state TEXT NOT NULL,
                subject TEXT,
                created_at INTEGER NOT NULL DEFAULT (unixepoch())
            )",
        )
        .execute(&pool)
        .await?;
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
        let row: Option<(String,)> = sqlx::query_as("SELECT state FROM mcp_sessions WHERE id = ?")
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
            "INSERT INTO mcp_sessions (id, state) VALUES (?, ?)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state",
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

    async fn store() -> SqliteSessionStore {
        // One connection: every connection to `:memory:` is a separate database.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        SqliteSessionStore::open(pool).await.unwrap()
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

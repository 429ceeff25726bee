//! The router's database: one connection pool over SQLite or PostgreSQL, and the migrations.
//!
//! Why sqlx's `Any` driver rather than an enum over a `SqlitePool` and a `PgPool`: every query
//! the router runs is plain portable SQL over TEXT and BIGINT columns with `$n` placeholders
//! (which SQLite accepts too), so `Any` gives one code path, one set of migrations and one test
//! suite for both databases. The price is `Any`'s small type set (no native timestamps), which
//! the schema avoids by storing milliseconds since the epoch. The hot path never touches the
//! database, so `Any`'s per-query dispatch costs nothing that matters.

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("ROOST_DATABASE_URL must start with `sqlite://` or `postgres://` (got a `{0}:` URL)")]
    UnsupportedScheme(String),
    /// The URL did not parse.
    #[error("ROOST_DATABASE_URL is not a valid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The SQLite file's folder could not be created.
    #[error("cannot create the database folder {path}: {source}")]
    CreateDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to the {kind} database: {source}")]
    Connect {
        /// `SQLite` or `PostgreSQL`.
        kind: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Switching SQLite to write-ahead logging failed.
    #[error("cannot switch the SQLite database to WAL mode: {0}")]
    Wal(#[source] sqlx::Error),
}

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    /// A SQLite file (one router machine).
    Sqlite,
    /// PostgreSQL (several router machines).
    Postgres,
}

impl DbKind {
    /// The kind a URL names, from its scheme.
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Ok(DbKind::Sqlite),
            "postgres" | "postgresql" => Ok(DbKind::Postgres),
            other => Err(DbError::UnsupportedScheme(other.to_owned())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            DbKind::Sqlite => "SQLite",
            DbKind::Postgres => "PostgreSQL",
        }
    }
}

/// The router's connection pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// The default database: a SQLite file `roost.db` in `data_dir`.
    pub fn default_url(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("roost.db").display())
    }

    /// Opens the database at `url` (creating a SQLite file and its folder if missing), switches
    /// SQLite to WAL, and applies any pending migrations.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        let kind = DbKind::of_url(url)?;
        install_drivers();
        let mut options = AnyConnectOptions::from_str(url).map_err(DbError::InvalidUrl)?;
        if kind == DbKind::Sqlite {
            let path = sqlite_path(url);
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            // `mode=rwc` creates the file when missing; sqlx's default for a URL is `rw`.
            if !url.contains("mode=") {
                let separator = if url.contains('?') { '&' } else { '?' };
                options = AnyConnectOptions::from_str(&format!("{url}{separator}mode=rwc"))
                    .map_err(DbError::InvalidUrl)?;
            }
        }
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer at a time; a handful of connections serve reads while
            // writes queue on the busy timeout sqlx sets (5 s).
            .max_connections(if kind == DbKind::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| DbError::Connect {
                kind: kind.name(),
                source,
            })?;
        if kind == DbKind::Sqlite {
            // WAL lets readers proceed during a write. The mode is stored in the file, so
            // setting it once per start is enough for every connection.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(DbError::Wal)?;
        }
        MIGRATOR.run(&pool).await?;
        Ok(Db { pool, kind })
    }

    /// The pool, for the stores.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Whether the database answers a trivial query (for `/health`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Closes every connection, waiting for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Registers the SQLite and PostgreSQL drivers with `Any` (required once per process).
fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// The file path of a `sqlite://path?query` URL.
fn sqlite_path(url: &str) -> &str {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    rest.split('?').next().unwrap_or(rest)
}

/// The current time in milliseconds since the Unix epoch, as stored in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// How far back each [`follow_changes`] look reaches before the previous one started: rows are
/// stamped by the writing router's clock and become visible when their transaction commits,
/// so the overlap absorbs clock skew between routers and slow commits.
const FOLLOW_OVERLAP_MS: i64 = 60_000;

/// Every `every`, calls `look(since)` to apply what other routers wrote since `since` (ms), so
/// several routers sharing PostgreSQL stay in step. Rows are read more than once (see
/// [`FOLLOW_OVERLAP_MS`]), so `look` must be idempotent. A failed look is logged and its window
/// retried at the next tick. Runs until its task is aborted.
pub async fn follow_changes<F, Fut, E>(what: &'static str, every: Duration, mut look: F)
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = Result<usize, E>>,
    E: std::fmt::Display,
{
    let mut since = now_ms() - FOLLOW_OVERLAP_MS;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = now_ms();
        match look(since).await {
            Ok(_) => since = started - FOLLOW_OVERLAP_MS,
            Err(e) => tracing::warn!(error = %e, "cannot read {what}; retrying at the next poll"),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted() {
        assert_eq!(
            DbKind::of_url("sqlite:///data/roost.db").unwrap(),
            DbKind::Sqlite
        );
        assert_eq!(
            DbKind::of_url("postgres://u@h/db").unwrap(),
            DbKind::Postgres
        );
        assert_eq!(
            DbKind::of_url("postgresql://u@h/db").unwrap(),
            DbKind::Postgres
        );
        let err = DbKind::of_url("mysql://u@h/db").unwrap_err().to_string();
        assert!(
            err.contains("ROOST_DATABASE_URL") && err.contains("mysql"),
            "{err}"
        );
    }

    #[test]
    fn sqlite_path_drops_scheme_and_query() {
        assert_eq!(
            sqlite_path("sqlite:///data/roost.db?mode=rwc"),
            "/data/roost.db"
        );
        assert_eq!(sqlite_path("sqlite://.roost/roost.db"), ".roost/roost.db");
        assert_eq!(sqlite_path("sqlite:roost.db"), "roost.db");
    }

    #[tokio::test]
    async fn a_missing_sqlite_file_and_folder_are_created_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = Db::default_url(&dir.path().join("nested"));
        let db = Db::open(&url).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        db.close().await;
        assert!(dir.path().join("nested/roost.db").exists());
        // Opening again finds the migrations applied and changes nothing.
        let again = Db::open(&url).await.unwrap();
        again.ping().await.unwrap();
    }
}

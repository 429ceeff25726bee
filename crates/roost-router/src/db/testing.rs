//! Throw-away databases for tests: always a SQLite file in a temporary folder, and also a fresh
//! PostgreSQL database when `ROOST_TEST_DATABASE_URL` is set (CI sets it).
//!
//! Each PostgreSQL test database gets a unique name so tests run in parallel, and is dropped
//! when the [`TestDb`] is, even when the test panicked.

use sqlx::Connection;

use super::{Db, DbKind};

/// A migrated, empty database that disappears when dropped.
pub(crate) struct TestDb {
    /// The open database.
    pub(crate) db: Db,
    /// Its URL, for opening a second pool on the same database (a second router).
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<PgCleanup>,
}

struct PgCleanup {
    admin_url: String,
    name: String,
}

impl TestDb {
    /// One database of each kind available here: SQLite always, PostgreSQL when configured.
    pub(crate) async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        if let Some(pg) = TestDb::postgres().await {
            dbs.push(pg);
        }
        dbs
    }

    /// A fresh SQLite file.
    pub(crate) async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = Db::default_url(dir.path());
        let db = Db::open(&url).await.expect("open the SQLite test database");
        TestDb {
            db,
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` when `ROOST_TEST_DATABASE_URL` is unset.
    pub(crate) async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("ROOST_TEST_DATABASE_URL").ok()?;
        assert_eq!(
            DbKind::of_url(&admin_url).ok(),
            Some(DbKind::Postgres),
            "ROOST_TEST_DATABASE_URL must be a postgres:// URL"
        );
        super::install_drivers();
        let name = format!("roost_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.expect(
            "connect to ROOST_TEST_DATABASE_URL (is PostgreSQL running? `.ci/run` starts it)",
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let cleanup = PgCleanup { admin_url, name };
        let db = Db::open(&url)
            .await
            .expect("open the PostgreSQL test database");
        Some(TestDb {
            db,
            url,
            _dir: None,
            postgres: Some(cleanup),
        })
    }

    /// Which database this is, for assertion messages.
    pub(crate) fn kind(&self) -> DbKind {
        self.db.kind()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(PgCleanup { admin_url, name }) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async context (and maybe during a panic), so the cleanup gets its
        // own thread and runtime. `WITH (FORCE)` ends the pool's connections first.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await;
                        let _ = admin.close().await;
                    }
                });
            }
        })
        .join();
    }
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("ROOST_TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

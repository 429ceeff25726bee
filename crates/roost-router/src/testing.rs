//! A whole router on a loopback port for tests (cargo feature `testing`): SQLite in a
//! temporary folder, a fresh signing key, local accounts created up front, optionally the dev
//! sign-in, and a client-metadata fetcher that may reach loopback test servers over plain http.
//!
//! ```no_run
//! # async fn demo() {
//! use roost_router::testing::{TestRouter, TestOptions};
//! let router = TestRouter::start(TestOptions::default().account("alice", "correct horse")).await;
//! println!("MCP URL: {}", router.mcp_url);
//! router.stop().await;
//! # }
//! ```

use std::sync::Arc;

use clap::Parser as _;
use roost_token::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::AppState;
use crate::config::Config;
use crate::oauth::fetch::AddressPolicy;

/// How a test router is set up.
#[derive(Clone, Debug)]
pub struct TestOptions {
    /// Local accounts to create: (username, password).
    pub accounts: Vec<(String, String)>,
    /// Turn on the development sign-in (no form, fixed user `dev`).
    pub dev_signin: bool,
    /// The Machines API (default: nothing listening; OAuth needs no Fly).
    pub fly_api_url: String,
    /// A database URL (default: SQLite in the temporary folder).
    pub database_url: Option<String>,
    /// More `roost-router` flags, e.g. `--access-token-ttl=5s`.
    pub extra_args: Vec<String>,
    /// A path for the issuer (`ROOST_ISSUER=<url><path>`, e.g. `/auth`); default: none.
    pub issuer_path: Option<String>,
    /// Fetch client metadata documents under the production address policy (https, public
    /// addresses only) instead of also admitting loopback test servers.
    pub production_fetch_policy: bool,
    /// The signing key (default: a fresh one). Routers that share a database and a public URL
    /// share it, as production routers behind one name do.
    pub key: Option<SigningKey>,
    /// The public URL (default: the router's own address).
    pub public_url: Option<String>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            accounts: Vec::new(),
            dev_signin: false,
            fly_api_url: "http://127.0.0.1:9".into(),
            database_url: None,
            extra_args: Vec::new(),
            production_fetch_policy: false,
            issuer_path: None,
            key: None,
            public_url: None,
        }
    }
}

impl TestOptions {
    /// Adds a local account.
    pub fn account(mut self, username: &str, password: &str) -> Self {
        self.accounts.push((username.into(), password.into()));
        self
    }

    /// Adds a flag.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

/// A running router.
pub struct TestRouter {
    /// Its own address, `http://127.0.0.1:<port>` (also the public URL and the issuer unless
    /// the options name others).
    pub url: String,
    /// The MCP URL (`<public URL>/mcp`): the `resource` and token audience.
    pub mcp_url: String,
    /// The state, for looking inside.
    pub state: AppState,
    /// The key that signs its tokens.
    pub key: SigningKey,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    database_url: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestRouter {
    /// Starts a router as `options` say. Panics on failure (it is for tests).
    pub async fn start(options: TestOptions) -> TestRouter {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let public_url = options.public_url.clone().unwrap_or_else(|| url.clone());
        let key = options.key.clone().unwrap_or_else(SigningKey::generate);
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fly.user.toml");
        let mut args = vec![
            "roost-router".to_owned(),
            format!("--public-url={public_url}"),
            format!("--signing-key={}", key.to_pkcs8_pem()),
            "--fly-api-token=test-token".to_owned(),
            format!("--fly-api-url={}", options.fly_api_url),
            format!("--data-dir={}", dir.path().display()),
            format!("--user-template={template}"),
            "--user-image=registry.fly.io/roost-test:1".to_owned(),
            "--tenant-region=lcl".to_owned(),
            "--log-format=text".to_owned(),
            format!("--dev-signin={}", options.dev_signin),
        ];
        if let Some(db) = &options.database_url {
            args.push(format!("--database-url={db}"));
        }
        if let Some(path) = &options.issuer_path {
            args.push(format!("--issuer={public_url}{path}"));
        }
        args.extend(options.extra_args.iter().cloned());
        let settings = Config::try_parse_from(args)
            .expect("test flags parse")
            .settings()
            .expect("test settings are valid");
        let network = Arc::new(crate::proxy::FlyLocalNetwork::new(
            options.fly_api_url.parse().expect("a URL"),
        ));
        let mut state = AppState::start(settings, network)
            .await
            .expect("the router starts");
        if !options.production_fetch_policy {
            state = state.with(|shared| {
                shared.oauth = shared
                    .oauth
                    .clone()
                    .with_fetch_policy(AddressPolicy::allow_loopback_for_tests());
            });
        }
        for (username, password) in &options.accounts {
            crate::signin::local::create_account(&state.db, username, password)
                .await
                .expect("a local account");
        }
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(crate::run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let mcp_url = format!("{public_url}/mcp");
        TestRouter {
            url,
            mcp_url,
            state,
            key,
            shutdown: Some(tx),
            task,
            database_url: options.database_url.clone(),
            _dir: dir,
        }
    }

    /// Stops the router and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.state.db.close().await;
        // A database made by `fresh_postgres_url` goes with its router.
        if let (Some(url), Ok(admin_url)) =
            (&self.database_url, std::env::var("ROOST_TEST_DATABASE_URL"))
            && let Some(name) = url::Url::parse(url)
                .ok()
                .map(|u| u.path().trim_start_matches('/').to_owned())
            && name.starts_with("roost_oauth_")
        {
            use sqlx::Connection as _;
            if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await;
                let _ = admin.close().await;
            }
        }
    }
}

/// A fresh, empty PostgreSQL database's URL when `ROOST_TEST_DATABASE_URL` (a `postgres://`
/// admin URL) is set, else `None`. The database is named `roost_oauth_<uuid>`; CI throws the
/// server away afterwards.
pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    let admin_url = std::env::var("ROOST_TEST_DATABASE_URL").ok()?;
    sqlx::any::install_default_drivers();
    let name = format!("roost_oauth_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(&admin_url)
        .await
        .expect("connect to ROOST_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let _ = admin.close().await;
    let mut url = url::Url::parse(&admin_url).expect("ROOST_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

/// Makes `user_id`'s tenant ready as if provisioning had finished (app, volume `vol_1`, machine
/// `m1`), without Fly; returns its id. The tenant may already exist, still pending (issuing a
/// token creates it).
pub async fn seed_ready_tenant(state: &AppState, user_id: &str) -> String {
    use crate::tenants::{Learned, TenantState, tenant_id_for_user};
    let store = state.tenants.store();
    let id = tenant_id_for_user(&state.settings.app_prefix, user_id);
    store
        .ensure_for_user(user_id, &id)
        .await
        .expect("the tenant row");
    let learned = |volume: Option<&str>, machine: Option<&str>| Learned {
        volume_id: volume.map(str::to_owned),
        machine_id: machine.map(str::to_owned),
        ..Learned::default()
    };
    for (from, to, learned) in [
        (
            TenantState::Pending,
            TenantState::AppCreated,
            learned(None, None),
        ),
        (
            TenantState::AppCreated,
            TenantState::VolumeCreated,
            learned(Some("vol_1"), None),
        ),
        (
            TenantState::VolumeCreated,
            TenantState::MachineCreated,
            learned(None, Some("m1")),
        ),
        (
            TenantState::MachineCreated,
            TenantState::Ready,
            learned(None, None),
        ),
    ] {
        store
            .transition(&id, from, to, &learned, None)
            .await
            .expect("a legal transition");
    }
    id
}

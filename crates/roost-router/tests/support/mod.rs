//! A router on port 0 for integration tests, optionally in front of a flylocal (the real local
//! Fly platform) whose "image" is a sleeping process: provisioning only needs machines that
//! start, and replay answers never reach the tenant in these tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use roost_flylocal::{Config as FlyConfig, FlyLocal, ImageSpec, Listeners};
use roost_router::AppState;
use roost_router::config::Config;
use roost_router::proxy::FlyLocalNetwork;
use roost_router::tenants::tenant_id_for_user;
use roost_token::{AccessClaims, SigningKey};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const IMAGE: &str = "registry.fly.io/roost-test:1";
pub const REGION: &str = "lcl";
pub const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fly.user.toml");

/// How a test router is set up.
#[derive(Clone)]
pub struct Options {
    pub fly_api_url: String,
    /// The public URL (shared by routers behind one name); default: the router's own address.
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub instance_id: Option<String>,
    pub provision_wait: Duration,
    pub key: Option<SigningKey>,
    /// The workspace image of new tenants (`--user-image`).
    pub image: String,
    /// More router flags.
    pub args: Vec<String>,
}

impl Options {
    /// A router whose Fly API is unreachable (hot-path tests with pre-made tenants).
    pub fn offline() -> Self {
        Options::with_fly("http://127.0.0.1:9")
    }

    pub fn with_fly(api_url: &str) -> Self {
        Options {
            fly_api_url: api_url.to_owned(),
            public_url: None,
            database_url: None,
            instance_id: None,
            provision_wait: Duration::from_secs(30),
            key: None,
            image: IMAGE.to_owned(),
            args: Vec::new(),
        }
    }
}

pub struct TestRouter {
    pub url: String,
    pub state: AppState,
    pub key: SigningKey,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TestRouter {
    pub async fn start(options: Options) -> TestRouter {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let public_url = options.public_url.clone().unwrap_or_else(|| url.clone());
        let key = options.key.clone().unwrap_or_else(SigningKey::generate);
        let mut args = vec![
            "roost-router".to_owned(),
            format!("--public-url={public_url}"),
            format!("--signing-key={}", key.to_pkcs8_pem()),
            "--fly-api-token=test-token".to_owned(),
            format!("--fly-api-url={}", options.fly_api_url),
            format!("--data-dir={}", dir.path().display()),
            format!("--user-template={TEMPLATE}"),
            format!("--user-image={}", options.image),
            format!("--tenant-region={REGION}"),
            format!("--provision-wait={}s", options.provision_wait.as_secs()),
            "--log-format=text".to_owned(),
        ];
        if let Some(db) = &options.database_url {
            args.push(format!("--database-url={db}"));
        }
        if let Some(id) = &options.instance_id {
            args.push(format!("--instance-id={id}"));
        }
        args.extend(options.args.iter().cloned());
        let settings = Config::try_parse_from(args).unwrap().settings().unwrap();
        let network = Arc::new(FlyLocalNetwork::new(options.fly_api_url.parse().unwrap()));
        let state = AppState::start(settings, network).await.unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(roost_router::run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        TestRouter {
            url,
            state,
            key,
            client,
            shutdown: Some(tx),
            task,
            _dir: dir,
        }
    }

    /// A `roost:workspace` token for user `sub`, with its derived tenant.
    pub fn token(&self, sub: &str) -> String {
        self.token_with(sub, "roost:workspace")
    }

    pub fn token_with(&self, sub: &str, scope: &str) -> String {
        self.sign(&self.key, sub, &self.tenant_of(sub), scope)
    }

    /// A token signed by `key` (e.g. one the router does not trust).
    pub fn token_with_key(&self, key: &SigningKey, sub: &str) -> String {
        self.sign(key, sub, &self.tenant_of(sub), "roost:workspace")
    }

    /// A token for `sub` naming `tenant` (possibly not theirs).
    pub fn token_for_tenant(&self, sub: &str, tenant: &str) -> String {
        self.sign(&self.key, sub, tenant, "roost:workspace")
    }

    fn sign(&self, key: &SigningKey, sub: &str, tenant: &str, scope: &str) -> String {
        let settings = &self.state.settings;
        let now = chrono::Utc::now().timestamp();
        key.sign(&AccessClaims {
            iss: settings.issuer.clone(),
            aud: settings.mcp_url.clone(),
            sub: sub.to_owned(),
            tenant: tenant.to_owned(),
            scope: scope.to_owned(),
            client_id: "test-client".to_owned(),
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: uuid::Uuid::new_v4().to_string(),
        })
        .unwrap()
    }

    pub fn tenant_of(&self, sub: &str) -> String {
        tenant_id_for_user(&self.state.settings.app_prefix, sub)
    }

    /// A tenant that is already fully provisioned (no Fly involved).
    pub async fn seed_ready_tenant(&self, sub: &str) -> String {
        roost_router::testing::seed_ready_tenant(&self.state, sub).await
    }

    pub async fn mcp(&self, token: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/mcp", self.url))
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Stops serving (the provisioner's tasks live on in the runtime).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// A flylocal on port 0 whose image is `sleep`: machines start and stay up.
pub async fn flylocal(adjust: impl FnOnce(&mut FlyConfig)) -> (FlyLocal, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = FlyConfig::new(dir.path());
    config.region = REGION.to_owned();
    let mut sleep = ImageSpec::new("/bin/sleep");
    sleep.args = vec!["3600".to_owned()];
    config.images.insert(IMAGE.to_owned(), sleep);
    adjust(&mut config);
    let listeners = Listeners {
        api: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        edge: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    (FlyLocal::start(listeners, config).unwrap(), dir)
}

/// Per-app counts of live resources as flylocal sees them.
pub async fn fly_counts(fly: &FlyLocal, app: &str) -> (usize, usize) {
    let client = reqwest::Client::new();
    // flylocal enforces Fly's rate limits on list calls too: wait out a 429.
    let get = |path: String| {
        let client = client.clone();
        async move {
            loop {
                let response = client
                    .get(&path)
                    .header("authorization", "Bearer test-token")
                    .send()
                    .await
                    .unwrap();
                if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                    return response.json::<serde_json::Value>().await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let machines = get(format!("{}/v1/apps/{app}/machines", fly.api_url())).await;
    let volumes = get(format!("{}/v1/apps/{app}/volumes", fly.api_url())).await;
    let live_machines = machines.as_array().map_or(0, |m| {
        m.iter()
            .filter(|m| m["state"] != "destroyed" && m["state"] != "destroying")
            .count()
    });
    if std::env::var("ROOST_TEST_DEBUG").is_ok() {
        eprintln!("{app} machines: {machines:#}\nvolumes: {volumes:#}");
    }
    let live_volumes = volumes.as_array().map_or(0, |v| {
        v.iter()
            .filter(|v| v["state"] != "destroyed" && v["state"] != "pending_destroy")
            .count()
    });
    (live_machines, live_volumes)
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A fresh PostgreSQL database when `ROOST_TEST_DATABASE_URL` is set (dropped with the guard).
pub async fn postgres_database() -> Option<(String, PgGuard)> {
    use sqlx::Connection as _;
    let admin_url = std::env::var("ROOST_TEST_DATABASE_URL").ok()?;
    sqlx::any::install_default_drivers();
    let name = format!("roost_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    Some((url.to_string(), PgGuard { admin_url, name }))
}

/// Drops its test database when dropped.
pub struct PgGuard {
    admin_url: String,
    name: String,
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        use sqlx::Connection as _;
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

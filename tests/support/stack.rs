//! The whole roost stack on loopback ports, as end-to-end tests use it: roost-flylocal (the
//! Machines API and the edge proxy that honours `fly-replay`), the router behind the edge as
//! the app `roost`, and tenant workspaces that flylocal starts as real processes.
//!
//! A client talks only to the edge, exactly as it would talk to Fly's proxy: the MCP URL is
//! `<edge>/mcp`, the router answers there (OAuth, sign-in, `fly-replay`), and the edge replays
//! MCP requests to the user's own workspace process.
//!
//! ```no_run
//! # async fn demo() {
//! use support::stack::{Stack, StackOptions};
//! let stack = Stack::start(StackOptions::new(env!("CARGO_BIN_EXE_roost-e2e-workspace")).account("alice", "pw")).await;
//! println!("paste into a client: {}", stack.mcp_url);
//! stack.stop().await;
//! # }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser as _;
use roost_flylocal::{Config as FlyConfig, FlyLocal, ImageSpec, Listeners};
use roost_router::AppState;
use roost_router::config::Config as RouterConfig;
use roost_router::oauth::fetch::AddressPolicy;
use roost_router::proxy::FlyLocalNetwork;
use roost_token::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The image name the router's tenants run; flylocal maps it to the workspace executable.
pub const WORKSPACE_IMAGE: &str = "registry.fly.io/roost-workspace:e2e";
/// The region flylocal pretends to be.
pub const REGION: &str = "lcl";

/// How a stack is set up.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// The executable tenant machines run (`env!("CARGO_BIN_EXE_roost-e2e-workspace")`).
    pub workspace_bin: PathBuf,
    /// Local accounts: (username, password).
    pub accounts: Vec<(String, String)>,
    /// Turn on the development sign-in (no form, user `dev`).
    pub dev_signin: bool,
    /// The OAuth config file's text (`[[oidc]]`, `[[clients]]`, …), written for the router.
    pub oauth_config: Option<String>,
    /// More router flags, e.g. `--access-token-ttl=5s`.
    pub router_args: Vec<String>,
}

impl StackOptions {
    /// A stack whose tenants run `workspace_bin`.
    pub fn new(workspace_bin: impl Into<PathBuf>) -> Self {
        Self {
            workspace_bin: workspace_bin.into(),
            accounts: Vec::new(),
            dev_signin: false,
            oauth_config: None,
            router_args: Vec::new(),
        }
    }

    /// Adds a local account.
    pub fn account(mut self, username: &str, password: &str) -> Self {
        self.accounts
            .push((username.to_owned(), password.to_owned()));
        self
    }

    /// Turns on the development sign-in.
    pub fn dev_signin(mut self) -> Self {
        self.dev_signin = true;
        self
    }

    /// Sets the OAuth config file's text.
    pub fn oauth_config(mut self, toml: impl Into<String>) -> Self {
        self.oauth_config = Some(toml.into());
        self
    }

    /// Adds a router flag.
    pub fn router_arg(mut self, arg: impl Into<String>) -> Self {
        self.router_args.push(arg.into());
        self
    }
}

/// The router's address decided before anything starts, so that other parts (an upstream
/// OpenID provider's redirect URI) can be configured with the router's public URL first.
pub struct Reservation {
    edge: TcpListener,
    api: TcpListener,
    router: TcpListener,
    /// The public base URL (the edge): issuer, and base of every sign-in URL.
    pub public_url: String,
}

impl Reservation {
    /// Binds the three loopback listeners.
    pub async fn new() -> Self {
        let bind = || TcpListener::bind("127.0.0.1:0");
        let (edge, api, router) = (
            bind().await.expect("edge port"),
            bind().await.expect("api port"),
            bind().await.expect("router port"),
        );
        let public_url = format!("http://{}", edge.local_addr().expect("bound"));
        Self {
            edge,
            api,
            router,
            public_url,
        }
    }
}

/// A running stack.
pub struct Stack {
    /// The MCP URL clients use (on the edge): `resource`, token audience.
    pub mcp_url: String,
    /// The public base URL (the edge), also the issuer.
    pub public_url: String,
    /// The router's state, for looking inside (users, tenants, clients).
    pub router: AppState,
    /// The local Fly platform (its machines, request log, faults).
    pub fly: FlyLocal,
    /// The key that signs the router's tokens.
    pub key: SigningKey,
    dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    router_task: JoinHandle<std::io::Result<()>>,
}

impl Stack {
    /// Starts a stack on fresh ports. Panics on failure (it is for tests).
    pub async fn start(options: StackOptions) -> Stack {
        Stack::start_reserved(Reservation::new().await, options).await
    }

    /// Starts a stack on ports reserved earlier.
    pub async fn start_reserved(ports: Reservation, options: StackOptions) -> Stack {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let Reservation {
            edge,
            api,
            router,
            public_url,
        } = ports;
        let api_url = format!("http://{}", api.local_addr().expect("bound"));
        let router_addr = router.local_addr().expect("bound");
        let key = SigningKey::generate();

        let mut args = vec![
            "roost-router".to_owned(),
            format!("--public-url={public_url}"),
            format!("--signing-key={}", key.to_pkcs8_pem()),
            "--fly-api-token=e2e-token".to_owned(),
            format!("--fly-api-url={api_url}"),
            format!("--data-dir={}", dir.path().join("router").display()),
            format!(
                "--user-template={}",
                repo_root().join("fly.user.toml").display()
            ),
            format!("--user-image={WORKSPACE_IMAGE}"),
            format!("--tenant-region={REGION}"),
            "--log-format=text".to_owned(),
            format!("--dev-signin={}", options.dev_signin),
        ];
        if let Some(toml) = &options.oauth_config {
            let path = dir.path().join("oauth.toml");
            std::fs::write(&path, toml).expect("writing the OAuth config");
            args.push(format!("--oauth-config={}", path.display()));
        }
        args.extend(options.router_args.iter().cloned());
        std::fs::create_dir_all(dir.path().join("router")).expect("router data dir");
        let settings = RouterConfig::try_parse_from(args)
            .expect("router flags parse")
            .settings()
            .expect("router settings are valid");
        let network = Arc::new(FlyLocalNetwork::new(api_url.parse().expect("a URL")));
        let mut state = AppState::start(settings, network)
            .await
            .expect("the router starts");
        // Client metadata documents in these tests are served by the test on loopback.
        state = state.with(|shared| {
            shared.oauth = shared
                .oauth
                .clone()
                .with_fetch_policy(AddressPolicy::allow_loopback_for_tests());
        });
        for (username, password) in &options.accounts {
            roost_router::signin::local::create_account(&state.db, username, password)
                .await
                .expect("a local account");
        }

        let mut fly_config = FlyConfig::new(dir.path().join("fly"));
        fly_config.images.insert(
            WORKSPACE_IMAGE.to_owned(),
            ImageSpec::new(&options.workspace_bin),
        );
        fly_config.external_apps = HashMap::from([("roost".to_owned(), router_addr)]);
        fly_config.default_app = Some("roost".to_owned());
        fly_config.region = REGION.to_owned();
        fly_config.rate_limits = false;
        let fly = FlyLocal::start(Listeners { api, edge }, fly_config).expect("flylocal starts");

        let (tx, rx) = oneshot::channel();
        let router_task = tokio::spawn(roost_router::run(router, state.clone(), async {
            let _ = rx.await;
        }));
        Stack {
            mcp_url: format!("{public_url}/mcp"),
            public_url,
            router: state,
            fly,
            key,
            dir,
            shutdown: Some(tx),
            router_task,
        }
    }

    /// A folder inside the stack's temporary folder (gone when the stack is dropped).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The tenant (Fly app) of the user with subject `sub`.
    pub fn tenant_of(&self, sub: &str) -> String {
        roost_router::tenants::tenant_id_for_user(&self.router.settings.app_prefix, sub)
    }

    /// Stops the router and every machine.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.router_task).await;
        let _ = self.fly.shutdown().await;
    }
}

/// The repository root (`fly.user.toml`, `target/`): the nearest folder above the crate that
/// includes this file with a `Cargo.lock` (this harness is shared by `tests/` and `crates/roost`).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .expect("the crate is inside the repository")
}

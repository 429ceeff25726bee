//! `roost dev`: the whole system on this computer, in one process.
//!
//! roost-flylocal plays Fly.io (the Machines API and the edge proxy that honours `fly-replay`),
//! the router runs behind its edge as the app `roost`, and every user's "machine" is a
//! `roost-workspace` process that flylocal starts, stops when idle, and wakes on the next
//! request. The code path is production's: the router talks HTTP to a Machines API and answers
//! `fly-replay`. State lives in `./.roost/` (SQLite, the signing key, the admin token, the
//! volumes, and flylocal's `fly/state.json` with the apps, machines and volumes), so a restart
//! keeps users, tenants, their machines and their files, on the same ports or others. Ctrl-C or SIGTERM stops everything,
//! machines included.

mod workspace_bin;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Parser as _;
use roost_flylocal::{Config as FlyConfig, FlyLocal, ImageSpec, Listeners};
use roost_router::AppState;
use roost_router::config::Config as RouterConfig;
use roost_router::proxy::FlyLocalNetwork;
use roost_token::{AccessClaims, SigningKey};
use tokio::net::TcpListener;

/// The image name tenant machines get in development; flylocal maps it to the local binary.
const DEV_IMAGE: &str = "registry.fly.io/roost-workspace:dev";
/// flylocal's one region.
const DEV_REGION: &str = "lcl";
/// The user the development sign-in signs in.
const DEV_USER: &str = "dev";

/// `roost dev` options.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Port of the edge: the MCP URL is `http://127.0.0.1:<port>/mcp`.
    #[arg(long, env = "ROOST_DEV_PORT", default_value_t = 8080)]
    port: u16,

    /// Port of the local Machines API (flylocal).
    #[arg(long, env = "ROOST_DEV_API_PORT", default_value_t = 4280)]
    api_port: u16,

    /// Where development state lives (database, signing key, volumes).
    #[arg(long, env = "ROOST_DEV_DIR", default_value = ".roost")]
    dir: PathBuf,

    /// The `roost-workspace` executable tenant machines run. Default: next to this `roost`
    /// executable, built with cargo when missing.
    #[arg(long, env = "ROOST_DEV_WORKSPACE_BIN")]
    workspace_bin: Option<PathBuf>,

    /// Idle time after which a tenant workspace exits (its machine stops; the next request
    /// wakes it).
    #[arg(long, default_value = "10m")]
    idle_timeout: String,

    /// How long the printed development token stays valid.
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    token_ttl: Duration,
}

/// Runs the local stack until Ctrl-C or SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let workspace = workspace_bin::locate(args.workspace_bin.as_deref())?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating the development folder {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let key = signing_key(&dir.join("signing-key.pem"))?;
    let admin_token = admin_token(&dir.join(crate::admin::DEV_TOKEN_FILE))?;

    let localhost = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let edge = bind(localhost(args.port), "ROOST_DEV_PORT / --port").await?;
    let api = bind(localhost(args.api_port), "ROOST_DEV_API_PORT / --api-port").await?;
    let router = TcpListener::bind(localhost(0)).await?;
    let public_url = format!("http://{}", edge.local_addr()?);
    let api_url = format!("http://{}", api.local_addr()?);

    let template = dir.join("fly.user.toml");
    write_template(&template, &args.idle_timeout)?;
    let settings = RouterConfig::try_parse_from([
        "roost-router".to_owned(),
        format!("--public-url={public_url}"),
        format!("--signing-key={}", key.to_pkcs8_pem()),
        "--fly-api-token=dev".to_owned(),
        format!("--fly-api-url={api_url}"),
        format!("--data-dir={}", dir.join("router").display()),
        format!("--user-template={}", template.display()),
        format!("--user-image={DEV_IMAGE}"),
        format!("--tenant-region={DEV_REGION}"),
        "--instance-id=roost-dev".to_owned(),
        // Browser sign-in grants every authorization to the user `dev` without a form (the
        // router refuses this anywhere but on loopback).
        "--dev-signin=true".to_owned(),
        "--log-format=text".to_owned(),
        format!("--admin-token={admin_token}"),
    ])?
    .settings()?;
    let mcp_url = settings.mcp_url.clone();
    let network = Arc::new(FlyLocalNetwork::new(api_url.parse()?));
    let state = AppState::start(settings, network).await?;
    let token = dev_token(&state, &key, args.token_ttl).await?;

    let mut fly_config = FlyConfig::new(dir.join("fly"));
    fly_config
        .images
        .insert(DEV_IMAGE.to_owned(), ImageSpec::new(&workspace));
    fly_config.external_apps = HashMap::from([("roost".to_owned(), router.local_addr()?)]);
    fly_config.default_app = Some("roost".to_owned());
    fly_config.region = DEV_REGION.to_owned();
    // The router's database remembers each tenant's app and machine, so the platform must
    // remember them too (as Fly does): otherwise a restart leaves every user unreachable.
    fly_config.state_file = Some(dir.join("fly").join("state.json"));
    let fly = FlyLocal::start(Listeners { api, edge }, fly_config)?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(roost_router::run(router, state.clone(), async {
        let _ = stop_rx.await;
    }));
    follow_public_url(&dir, &public_url, &state).await?;
    print_banner(&mcp_url, &token, &admin_token, &dir, &workspace);

    let signal = stop_signal().await?;
    eprintln!("\n{signal}: stopping the router, then every workspace machine…");
    let _ = stop_tx.send(());
    if let Ok(Err(e)) = server.await {
        tracing::warn!(error = %e, "the router stopped with an error");
    }
    fly.shutdown()
        .await
        .context("stopping the local machines")?;
    eprintln!("stopped.");
    Ok(())
}

/// The file in the development folder holding the public URL the tenants' machines were last
/// configured with.
const PUBLIC_URL_FILE: &str = "public-url";

/// Tenants' machines carry the public URL in their env (it is the issuer and audience of
/// their tokens). When `roost dev` runs on another port than last time, their configs are
/// rebuilt from the template (`roost admin rollout --force`, done here) before the new URL is
/// printed, so its tokens work on every user's workspace.
async fn follow_public_url(dir: &Path, public_url: &str, state: &AppState) -> anyhow::Result<()> {
    use roost_router::tenants::TenantState;
    let file = dir.join(PUBLIC_URL_FILE);
    let previous = std::fs::read_to_string(&file).ok();
    if let Some(previous) = previous.as_deref().map(str::trim)
        && previous != public_url
    {
        let store = state.tenants.store();
        let mut moved = 0;
        for wanted in [TenantState::Ready, TenantState::Suspended] {
            let mut after = String::new();
            loop {
                let page = store.list_after(Some(wanted), &after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.id.clone();
                for tenant in &page {
                    match state.provisioner.update_machine(&tenant.id, true).await {
                        Ok(_) => moved += 1,
                        Err(e) => eprintln!(
                            "warning: tenant {} still expects {previous}: {e}",
                            tenant.id
                        ),
                    }
                }
            }
        }
        if moved > 0 {
            eprintln!("moved {moved} tenant machine(s) from {previous} to {public_url}");
        }
    }
    std::fs::write(&file, public_url).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM (what `kill`, systemd and process managers send), so
/// both stop the machines instead of orphaning them.
async fn stop_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => {
            interrupted.context("waiting for Ctrl-C")?;
            Ok("interrupted")
        }
        _ = terminate.recv() => Ok("terminated"),
    }
}

async fn bind(addr: SocketAddr, setting: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr}: is another `roost dev` running? Choose another port with {setting}")
    })
}

/// The signing key persisted in the development folder (created on first run, mode 0600), so
/// tokens stay valid across restarts.
fn signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return SigningKey::from_pkcs8_pem(&pem).with_context(|| {
            format!(
                "{} is not a signing key; delete it to get a new one",
                path.display()
            )
        });
    }
    let key = SigningKey::generate();
    write_private(path, &key.to_pkcs8_pem())?;
    Ok(key)
}

/// The admin API token persisted in the development folder (created on first run, mode 0600),
/// which `roost admin` run next to it picks up by itself.
fn admin_token(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        let token =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(token.trim().to_owned());
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    write_private(path, &token)?;
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// The repository's tenant template with the development idle timeout.
fn write_template(path: &Path, idle_timeout: &str) -> anyhow::Result<()> {
    let template = include_str!("../../../fly.user.toml").replace(
        "ROOST_IDLE_TIMEOUT = \"10m\"",
        &format!("ROOST_IDLE_TIMEOUT = \"{idle_timeout}\""),
    );
    std::fs::write(path, template).with_context(|| format!("writing {}", path.display()))
}

/// A token for the development user (the one the development sign-in signs in), as the
/// OAuth server would mint it, for clients that take a header instead of signing in.
async fn dev_token(state: &AppState, key: &SigningKey, ttl: Duration) -> anyhow::Result<String> {
    let settings = &state.settings;
    let user = state
        .oauth
        .signin()
        .dev_user()
        .await
        .context("creating the development user")?;
    let tenant = state
        .oauth
        .tenant_of(&user)
        .await
        .context("creating the development tenant")?;
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.mcp_url.clone(),
        sub: user,
        tenant,
        scope: roost_token::scopes::ALL.join(" "),
        client_id: "roost-dev".to_owned(),
        iat: now,
        nbf: now,
        exp: now + i64::try_from(ttl.as_secs())?,
        jti: format!("dev-{now}-{}", std::process::id()),
    };
    Ok(key.sign(&claims)?)
}

fn print_banner(mcp_url: &str, token: &str, admin_token: &str, dir: &Path, workspace: &Path) {
    println!();
    println!("roost dev is running (Ctrl-C stops it and every workspace machine).");
    println!();
    println!("  MCP URL:  {mcp_url}");
    println!();
    println!("  Paste it into your MCP client: it signs in through the browser, automatically as");
    println!("  the user `{DEV_USER}` (development sign-in). Clients that take a header instead:");
    println!("  Authorization: Bearer {token}");
    println!();
    println!("  Try it:   npx @modelcontextprotocol/inspector  → Streamable HTTP, {mcp_url}");
    println!(
        "  Admin:    roost admin tenants list  (ROOST_ADMIN_TOKEN={admin_token}, also in {})",
        dir.join(crate::admin::DEV_TOKEN_FILE).display()
    );
    println!(
        "  State:    {} (delete it to start from scratch)",
        dir.display()
    );
    println!(
        "  Machines: {} (one process per user, stops when idle)",
        workspace.display()
    );
    println!();
}

//! Putting the server together and running it: storage, the MCP service, the HTTP routes, and
//! the lifecycle (idle exit, drain on shutdown).
//!
//! Shutdown order, for a SIGTERM-style `shutdown` future:
//! 1. the gate starts answering 503 to new requests, and open `subscriptions/listen` streams get
//!    their graceful final result;
//! 2. requests already in flight may finish, up to `drain timeout`;
//! 3. the MCP transport is cancelled (GET streams and session workers end), axum closes its
//!    connections, and [`run`] returns [`Exit::Shutdown`].
//!
//! The idle watchdog takes the same path without step 2 (nothing is in flight by definition)
//! and returns [`Exit::Idle`]. Either way `main` exits 0.

use std::{
    future::{Future, IntoFuture},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use axum::{
    Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get,
    serve::ListenerExt,
};
use rmcp::{
    handler::server::router::tool::ToolRouter,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::json;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{self, Gate, keys::TokenKeys},
    config::{Config, Settings},
    idle::IdleWatchdog,
    metrics,
    server::{Services, Workspace, changes::ChangeHub},
    sessions::SqliteSessionStore,
    tools::{
        command::{CommandLimits, CommandRunner},
        files::Files,
        notes::Notes,
    },
};

/// How long connections may take to close after the transport was cancelled before `run`
/// gives up on them.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// No MCP request for the idle timeout: the Machine should stop.
    Idle,
    /// The shutdown future resolved (SIGINT/SIGTERM) and in-flight requests were drained.
    Shutdown,
}

/// Serve the workspace on `listener` until `shutdown` resolves or the server goes idle.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Exit> {
    run_with_tools(listener, config, Workspace::builtin_tools(), shutdown).await
}

/// [`run`] with a custom tool set (start from [`Workspace::builtin_tools`] and add routes).
pub async fn run_with_tools(
    listener: TcpListener,
    config: Config,
    tools: ToolRouter<Workspace>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Exit> {
    let settings = config.validate()?;
    let storage = Storage::open(&settings.data_dir).await?;
    let keys = TokenKeys::load(
        &settings.issuer,
        &settings.audience,
        settings.token_keys.as_deref(),
        settings.jwks_url.clone(),
    )
    .await?;

    let watchdog = IdleWatchdog::new(settings.idle_timeout);
    let transport = CancellationToken::new();
    let draining = CancellationToken::new();
    let draining_flag = Arc::new(AtomicBool::new(false));
    let services = Arc::new(Services {
        files: storage.files.clone(),
        commands: CommandRunner::new(storage.workspace_dir.clone(), CommandLimits::default()),
        notes: storage.notes.clone(),
        changes: ChangeHub::new(),
        draining: draining.clone(),
    });
    let gate = Gate {
        keys,
        tenant: settings.tenant.as_str().into(),
        resource_metadata_url: settings.resource_metadata_url.as_str().into(),
        sessions: storage.sessions.clone(),
        watchdog: watchdog.clone(),
        draining: draining_flag.clone(),
        max_body_bytes: settings.max_body_bytes,
    };
    let app = router(
        &settings,
        services,
        tools,
        gate,
        &storage,
        transport.clone(),
    );

    let address = listener.local_addr()?;
    tracing::info!(%address, tenant = %settings.tenant, "roost-workspace listening");

    let stopped = CancellationToken::new();
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
    let signal = {
        let watchdog = watchdog.clone();
        let stopped = stopped.clone();
        let drain_timeout = settings.drain_timeout;
        async move {
            let exit = tokio::select! {
                () = shutdown => Exit::Shutdown,
                () = watchdog.idle() => Exit::Idle,
            };
            tracing::info!(?exit, in_flight = watchdog.in_flight(), "stopping");
            draining_flag.store(true, Ordering::Release);
            draining.cancel();
            if exit == Exit::Shutdown
                && tokio::time::timeout(drain_timeout, watchdog.drained())
                    .await
                    .is_err()
            {
                tracing::warn!(
                    in_flight = watchdog.in_flight(),
                    "drain timeout: cutting requests still in flight"
                );
            }
            transport.cancel();
            stopped.cancel();
            let _ = exit_tx.send(exit);
        }
    };
    // TCP_NODELAY: responses are small and often streamed (SSE) in several writes; with Nagle
    // on, each later write waits for the client's delayed ACK (~40 ms per request).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.context("HTTP server failed")?,
        () = async { stopped.cancelled().await; tokio::time::sleep(CLOSE_GRACE).await } => {
            tracing::warn!("connections did not close in time; exiting anyway");
        }
    }
    storage.pool.close().await;
    let exit = exit_rx.await.unwrap_or(Exit::Shutdown);
    tracing::info!(?exit, "roost-workspace stopped");
    Ok(exit)
}

/// Everything on disk: the workspace folder and the SQLite database.
struct Storage {
    data_dir: std::path::PathBuf,
    workspace_dir: std::path::PathBuf,
    pool: SqlitePool,
    files: Files,
    notes: Notes,
    sessions: SqliteSessionStore,
}

impl Storage {
    async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let workspace_dir = data_dir.join("workspace");
        std::fs::create_dir_all(&workspace_dir).with_context(|| {
            format!(
                "cannot create {}: set ROOST_DATA_DIR to a writable folder",
                workspace_dir.display()
            )
        })?;
        let db = data_dir.join("roost.db");
        let options = SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable against process crashes in WAL mode and skips an fsync per
            // commit; a power loss can only lose the last commits, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database {}", db.display()))?;
        let files = Files::open(&workspace_dir)
            .with_context(|| format!("cannot open the workspace {}", workspace_dir.display()))?;
        let notes = Notes::open(pool.clone())
            .await
            .context("cannot prepare the notes table")?;
        let sessions = SqliteSessionStore::open(pool.clone())
            .await
            .context("cannot prepare the session table")?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            workspace_dir,
            pool,
            files,
            notes,
            sessions,
        })
    }
}

fn router(
    settings: &Settings,
    services: Arc<Services>,
    tools: ToolRouter<Workspace>,
    gate: Gate,
    storage: &Storage,
    transport: CancellationToken,
) -> Router {
    let mut sessions = LocalSessionManager::default();
    // rmcp reaps in-memory sessions idle this long; the SQLite copy brings them back on demand.
    sessions.session_config.keep_alive = Some(settings.idle_timeout);
    let mut mcp_config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(settings.sse_keep_alive))
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_allowed_origins(settings.allowed_origins.clone())
        .with_max_request_body_bytes(settings.max_body_bytes)
        .with_cancellation_token(transport);
    mcp_config.session_store = Some(Arc::new(storage.sessions.clone()));
    let mcp = StreamableHttpService::new(
        move || Ok(Workspace::new(services.clone(), tools.clone())),
        Arc::new(sessions),
        mcp_config,
    );

    let health = Health {
        data_dir: storage.data_dir.clone(),
        pool: storage.pool.clone(),
    };
    let metadata = Arc::new(json!({
        "resource": settings.audience,
        "authorization_servers": [settings.issuer],
        "scopes_supported": [roost_token::scopes::WORKSPACE, roost_token::scopes::RUN],
        "bearer_methods_supported": ["header"],
        "resource_name": "roost workspace",
    }));
    let metadata_path = url::Url::parse(&settings.resource_metadata_url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/.well-known/oauth-protected-resource/mcp".to_owned());
    let prometheus = metrics::handle();

    Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(gate, auth::gate))
        .route("/health", get(health_check).with_state(health))
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let prometheus = prometheus.clone();
                async move { prometheus.render() }
            }),
        )
        // RFC 9728: where clients learn which authorization server issues tokens for us.
        .route(
            &metadata_path,
            get(move || {
                let metadata = metadata.clone();
                async move { Json(metadata.as_ref().clone()) }
            }),
        )
}

#[derive(Clone)]
struct Health {
    data_dir: std::path::PathBuf,
    pool: SqlitePool,
}

/// Readiness: the volume is writable and the database answers.
async fn health_check(State(health): State<Health>) -> impl IntoResponse {
    let probe = health.data_dir.join(".health-probe");
    let data_dir = match tokio::fs::write(&probe, b"ok").await {
        Ok(()) => {
            let _ = tokio::fs::remove_file(&probe).await;
            Ok(())
        }
        Err(e) => Err(format!(
            "data dir {} is not writable: {e}",
            health.data_dir.display()
        )),
    };
    let database = sqlx::query("SELECT 1")
        .execute(&health.pool)
        .await
        .map(|_| ())
        .map_err(|e| format!("database unavailable: {e}"));
    let ok = data_dir.is_ok() && database.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ok" } else { "unavailable" },
            "checks": { "data_dir": show(&data_dir), "database": show(&database) },
        })),
    )
}

//! The local Fly platform: the Machines API subset roost uses and an edge proxy that honours
//! `fly-replay`, where machines are local processes and volumes are folders.
//!
//! Production never runs this. `roost dev` runs it in-process, and the tests of every crate
//! that talks to Fly run against it, so the same client code is exercised unchanged. The wire
//! format is implemented from Fly's documentation (`shared/reference/fly.md`), never from
//! roost-fly's types, so a field-name bug in the client cannot hide behind a matching bug here.
//! `docs/flylocal.md` lists what is emulated, what is not, and the laptop translations (ports,
//! mounts, private network).

mod api;
mod config;
mod edge;
mod faults;
mod machine;
mod persist;
mod platform;
mod store;
mod supervisor;
mod time;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;

pub use config::{Config, ImageSpec, Listeners};
pub use faults::{EndpointFaults, Faults, StartFailure};
pub use machine::MachineState;
pub use platform::LoggedRequest;

use platform::Platform;

/// How long shutdown waits for machine processes to be reaped after killing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs flylocal until `shutdown` resolves, then stops every machine process.
pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let flylocal = FlyLocal::start(listeners, config)?;
    shutdown.await;
    flylocal.shutdown().await
}

/// A running flylocal, for tests and `roost dev`: its URLs, fault controls, request log and a
/// view of its machines. Dropping it without [`FlyLocal::shutdown`] still kills the machine
/// processes (they are spawned kill-on-drop), but only `shutdown` waits for them to be gone.
#[derive(Debug)]
pub struct FlyLocal {
    platform: Arc<Platform>,
    api_addr: SocketAddr,
    edge_addr: SocketAddr,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
}

/// A machine as [`FlyLocal::machines`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    /// Machine id.
    pub id: String,
    /// App the machine belongs to.
    pub app: String,
    /// Current state.
    pub state: MachineState,
    /// Process id while a process runs.
    pub pid: Option<u32>,
    /// internal_port → local port while a process runs.
    pub ports: std::collections::BTreeMap<u16, u16>,
}

impl FlyLocal {
    /// Starts serving the API and the edge on `listeners`. Must be called inside a Tokio runtime.
    pub fn start(listeners: Listeners, config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating flylocal data dir {}", config.data_dir.display()))?;
        let api_addr = listeners
            .api
            .local_addr()
            .context("reading the API listener address")?;
        let edge_addr = listeners
            .edge
            .local_addr()
            .context("reading the edge listener address")?;
        let platform = Arc::new(Platform::new(config)?);
        let api_router = api::router(Arc::clone(&platform));
        let api_shutdown = platform.shutdown.clone();
        let api = tokio::spawn(async move {
            axum::serve(listeners.api, api_router)
                .with_graceful_shutdown(async move { api_shutdown.cancelled().await })
                .await
        });
        let edge = tokio::spawn(edge::serve(listeners.edge, Arc::clone(&platform)));
        tracing::info!(api = %api_addr, edge = %edge_addr, "flylocal listening");
        Ok(Self {
            platform,
            api_addr,
            edge_addr,
            servers: vec![api, edge],
        })
    }

    /// Base URL of the Machines API, e.g. `http://127.0.0.1:4280` (append `/v1/...`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Base URL of the edge proxy.
    pub fn edge_url(&self) -> String {
        format!("http://{}", self.edge_addr)
    }

    /// Address of the edge proxy (send a `Host` header naming the app).
    pub fn edge_addr(&self) -> SocketAddr {
        self.edge_addr
    }

    /// The fault settings in force.
    pub fn faults(&self) -> Faults {
        self.platform.faults.get()
    }

    /// Replaces the fault settings (and re-seeds their RNG).
    pub fn set_faults(&self, faults: Faults) {
        self.platform.faults.set(faults);
    }

    /// Every Machines API call so far, in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.platform.request_log()
    }

    /// Every machine, destroyed ones included.
    pub fn machines(&self) -> Vec<MachineInfo> {
        let inner = self.platform.store.lock();
        inner
            .machines
            .values()
            .map(|m| MachineInfo {
                id: m.id.clone(),
                app: m.app.clone(),
                state: m.state,
                pid: m.runtime.pid,
                ports: m.runtime.ports.clone(),
            })
            .collect()
    }

    /// Names of every app.
    pub fn apps(&self) -> Vec<String> {
        self.platform.store.lock().apps.keys().cloned().collect()
    }

    /// The private-network lookup (`<id>.vm.<app>.internal` or `<app>.internal`, internal
    /// port) → the local address of a started machine.
    pub fn resolve(&self, host: &str, port: u16) -> Option<String> {
        api::resolve_internal(&self.platform, host, port)
    }

    /// Stops serving, kills every machine process and waits until they are reaped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.platform.shutdown.cancel();
        supervisor::kill_all(&self.platform);
        self.platform.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.platform.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some machine processes were still being reaped at shutdown");
        }
        for mut server in std::mem::take(&mut self.servers) {
            // In-flight long polls (`wait` holds up to 60 s) must not hold shutdown up.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(joined) => joined
                    .context("flylocal server task panicked")?
                    .context("flylocal server failed")?,
                Err(_) => server.abort(),
            }
        }
        Ok(())
    }
}

impl Drop for FlyLocal {
    fn drop(&mut self) {
        self.platform.shutdown.cancel();
        supervisor::kill_all(&self.platform);
    }
}

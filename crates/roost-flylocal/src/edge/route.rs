//! Choosing the machine a request goes to: by app, forced `instance`, `prefer_instance`, or
//! round robin over started machines, autostarting a stopped one when its service allows it
//! (`autostart: true`, fly.md §3) and waiting until its port accepts connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::replay::FailReason;
use crate::machine::{DEFAULT_IDLE_TIMEOUT, Machine, MachineState};
use crate::platform::Platform;
use crate::supervisor;

/// How often readiness is re-checked while a machine boots.
const READY_POLL: Duration = Duration::from_millis(50);

/// Which machine of an app a hop may go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Any started machine (round robin), else an autostartable one.
    Any { exclude: Option<String> },
    /// Only this machine (`instance`, `force_self`).
    Instance(String),
    /// This machine if it can serve, else any (`prefer_instance`, `prefer_self`).
    Prefer(String),
}

/// Where a hop goes.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub app: String,
    pub machine_id: String,
    pub addr: SocketAddr,
    /// The service's `http_options.idle_timeout`.
    pub idle_timeout: Duration,
    /// Set when `Prefer` could not use its machine (`fly-preferred-instance-unavailable`).
    pub preferred_unavailable: Option<String>,
}

/// Why no target was reached, with Fly's error code for the edge's answer (fly.md §1.6).
#[derive(Debug, Clone)]
pub(crate) struct Unreachable {
    pub reason: FailReason,
    pub code: &'static str,
    pub message: String,
    /// The machine that was tried, if one was.
    pub instance: Option<String>,
}

fn no_candidate(code: &'static str, message: String, instance: Option<String>) -> Unreachable {
    Unreachable {
        reason: FailReason::NoCandidate,
        code,
        message,
        instance,
    }
}

/// The id the edge gives an external app's single pseudo-machine.
pub(crate) fn external_machine_id(app: &str) -> String {
    format!("{app}-external")
}

/// Round-robin position shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin(AtomicUsize);

/// Finds (and if needed wakes) a machine of `app` for `pick`, trying until `deadline`.
pub(crate) async fn select(
    platform: &Arc<Platform>,
    rr: &RoundRobin,
    app: &str,
    pick: &Pick,
    deadline: Instant,
) -> Result<Target, Unreachable> {
    if let Some(addr) = platform.config.external_apps.get(app) {
        return Ok(Target {
            app: app.to_owned(),
            machine_id: external_machine_id(app),
            addr: *addr,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            preferred_unavailable: None,
        });
    }
    if platform.config.foreign_apps.contains(app) {
        return Err(no_candidate(
            "PA05",
            format!("target app '{app}' is in another organisation"),
            None,
        ));
    }
    if !platform.store.lock().apps.contains_key(app) {
        return Err(no_candidate(
            "PA04",
            format!("target app '{app}' not found"),
            None,
        ));
    }
    match pick {
        Pick::Instance(id) => wake(platform, app, id, deadline).await,
        Pick::Prefer(id) => match wake(platform, app, id, deadline).await {
            Ok(target) => Ok(target),
            Err(err) if err.reason == FailReason::NoCandidate => {
                let mut target = any(platform, rr, app, Some(id), deadline).await?;
                target.preferred_unavailable = Some(id.clone());
                Ok(target)
            }
            Err(err) => Err(err),
        },
        Pick::Any { exclude } => any(platform, rr, app, exclude.as_deref(), deadline).await,
    }
}

/// A started machine round robin, else the first that may be autostarted. `exclude`
/// (`elsewhere`) is skipped while another machine is available.
async fn any(
    platform: &Arc<Platform>,
    rr: &RoundRobin,
    app: &str,
    exclude: Option<&str>,
    deadline: Instant,
) -> Result<Target, Unreachable> {
    let (started, startable) = {
        let inner = platform.store.lock();
        let live: Vec<&Machine> = inner
            .machines_of(app)
            .filter(|m| !m.state.is_gone())
            .collect();
        let mut preferred: Vec<&Machine> = live
            .iter()
            .copied()
            .filter(|m| Some(m.id.as_str()) != exclude)
            .collect();
        if preferred.is_empty() {
            preferred = live;
        }
        let started: Vec<String> = preferred
            .iter()
            .filter(|m| matches!(m.state, MachineState::Started | MachineState::Starting))
            .map(|m| m.id.clone())
            .collect();
        let startable: Vec<String> = preferred
            .iter()
            .filter(|m| m.state.can_start() && autostart(m))
            .map(|m| m.id.clone())
            .collect();
        (started, startable)
    };
    let chosen = if started.is_empty() {
        startable.first().cloned()
    } else {
        Some(started[rr.0.fetch_add(1, Ordering::Relaxed) % started.len()].clone())
    };
    let Some(id) = chosen else {
        return Err(no_candidate(
            "PR01",
            format!("app '{app}' has no started machine and none it may autostart"),
            None,
        ));
    };
    wake(platform, app, &id, deadline).await
}

/// Whether the edge may start this machine: its http service says `autostart: true`.
fn autostart(machine: &Machine) -> bool {
    machine
        .spec()
        .http_service()
        .and_then(|s| s.autostart)
        .unwrap_or(false)
}

/// Makes sure machine `id` runs (autostarting it if allowed) and accepts connections.
async fn wake(
    platform: &Arc<Platform>,
    app: &str,
    id: &str,
    deadline: Instant,
) -> Result<Target, Unreachable> {
    let started = Instant::now();
    let (state, may_start, internal_port, idle_timeout) = {
        let inner = platform.store.lock();
        let machine = inner
            .machines
            .get(id)
            .filter(|m| m.app == app && !m.state.is_gone())
            .ok_or_else(|| {
                no_candidate(
                    "PR02",
                    format!("machine {id} not found in app '{app}'"),
                    Some(id.into()),
                )
            })?;
        let spec = machine.spec();
        let service = spec.http_service();
        (
            machine.state,
            autostart(machine),
            service.map(|s| s.internal_port),
            service.map_or(DEFAULT_IDLE_TIMEOUT, |s| s.idle_timeout()),
        )
    };
    let internal_port = internal_port.ok_or_else(|| {
        no_candidate(
            "PR01",
            format!("machine {id} has no service to route to"),
            Some(id.into()),
        )
    })?;
    if state.can_start() {
        if !may_start {
            return Err(no_candidate(
                "PR01",
                format!(
                    "machine {id} is {} and its service does not set autostart: true",
                    state.as_str()
                ),
                Some(id.into()),
            ));
        }
        tracing::info!(app, machine = %id, "edge autostarting machine");
        supervisor::start(platform, id, "flyproxy")
            .map_err(|err| no_candidate("PM08", err.to_string(), Some(id.into())))?;
    } else if state == MachineState::Stopping {
        return Err(no_candidate(
            "PM08",
            format!("machine {id} is stopping"),
            Some(id.into()),
        ));
    }
    loop {
        let (state, port) = {
            let inner = platform.store.lock();
            match inner.machines.get(id) {
                Some(m) => (m.state, m.runtime.ports.get(&internal_port).copied()),
                None => {
                    return Err(no_candidate(
                        "PR02",
                        format!("machine {id} is gone"),
                        Some(id.into()),
                    ));
                }
            }
        };
        if let (MachineState::Started, Some(port)) = (state, port) {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(Target {
                    app: app.to_owned(),
                    machine_id: id.to_owned(),
                    addr,
                    idle_timeout,
                    preferred_unavailable: None,
                });
            }
        }
        if state.is_gone() || (state.is_at_rest() && started.elapsed() > READY_POLL * 4) {
            return Err(no_candidate(
                "PM01",
                format!("machine {id} did not stay up ({})", state.as_str()),
                Some(id.into()),
            ));
        }
        if Instant::now() + READY_POLL > deadline {
            return Err(Unreachable {
                reason: FailReason::Timeout,
                code: "PM03",
                message: format!("machine {id} did not accept connections in time"),
                instance: Some(id.into()),
            });
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

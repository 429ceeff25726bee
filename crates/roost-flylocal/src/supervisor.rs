//! Machines are processes: booting one spawns its image's executable, stopping one signals it,
//! and its exit is settled by the restart policy (fly.md §3).
//!
//! Each boot has a *generation*; the task watching a process only writes back if the machine is
//! still on that generation, so a slow exit of an old process never clobbers a newer boot.
//! Every process leads its own process group, and stops and cleanups signal the whole group, the
//! way stopping a VM ends everything inside it.

mod launch;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;
use tracing::{info, warn};

use crate::machine::{Event, MachineState};
use crate::platform::Platform;

use launch::{allocate_ports, launch_plan, spawn_process};

/// Pause before restarting an exited process, so a crash loop cannot spin a core.
const RESTART_DELAY: Duration = Duration::from_millis(200);

/// Why a lifecycle call was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LifecycleError {
    #[error("machine {0} not found")]
    NotFound(String),
    #[error("flylocal is shutting down")]
    ShuttingDown,
    #[error("unable to {action} machine {id} from its current state '{state}'")]
    WrongState {
        action: &'static str,
        id: String,
        state: &'static str,
    },
}

/// Asks `id` to boot. Returns the state it was in (the start response's `previous_state`).
pub(crate) fn start(
    platform: &Arc<Platform>,
    id: &str,
    source: &'static str,
) -> Result<MachineState, LifecycleError> {
    let previous = platform.store.update(|inner| {
        let machine = inner
            .machines
            .get_mut(id)
            .ok_or_else(|| LifecycleError::NotFound(id.into()))?;
        let previous = machine.state;
        if platform.shutdown.is_cancelled() {
            return Err(LifecycleError::ShuttingDown);
        }
        if previous == MachineState::Started || previous == MachineState::Starting {
            return Ok(previous);
        }
        if !previous.can_start() {
            return Err(LifecycleError::WrongState {
                action: "start",
                id: id.into(),
                state: previous.as_str(),
            });
        }
        machine.state = MachineState::Starting;
        machine.runtime.restarts = 0;
        machine.runtime.requested = None;
        machine.push_event(event("start", "pending", source));
        Ok(previous)
    })?;
    if previous != MachineState::Started && previous != MachineState::Starting {
        spawn_boot(platform, id);
    }
    Ok(previous)
}

/// Asks a running machine to settle in `target` (stopped, suspended or destroyed): sends
/// `signal` to its process group, waits `timeout`, then kills the group.
pub(crate) fn stop(
    platform: &Arc<Platform>,
    id: &str,
    signal: Option<String>,
    timeout: Option<Duration>,
    target: MachineState,
) -> Result<(), LifecycleError> {
    let plan = platform.store.update(|inner| {
        let machine = inner
            .machines
            .get_mut(id)
            .ok_or_else(|| LifecycleError::NotFound(id.into()))?;
        match machine.state {
            MachineState::Started | MachineState::Starting | MachineState::Stopping => {}
            state if state.is_at_rest() => {
                // Nothing runs: settle at once (stopping a stopped machine is not an error).
                if target == MachineState::Destroyed || state != MachineState::Created {
                    machine.state = settle_state(target, state);
                    machine.push_event(event(event_kind(target), machine.state.as_str(), "user"));
                }
                return Ok(None);
            }
            state => {
                return Err(LifecycleError::WrongState {
                    action: "stop",
                    id: id.into(),
                    state: state.as_str(),
                });
            }
        }
        let (default_signal, default_timeout) = machine.spec().stop_config();
        machine.state = if target == MachineState::Destroyed {
            MachineState::Destroying
        } else {
            MachineState::Stopping
        };
        machine.runtime.requested = Some(target);
        machine.push_event(event(event_kind(target), "pending", "user"));
        Ok(Some((
            machine.runtime.pid,
            machine.runtime.generation,
            signal.unwrap_or(default_signal),
            timeout.unwrap_or(default_timeout),
        )))
    })?;
    if let Some((pid, generation, signal, timeout)) = plan {
        let platform = Arc::clone(platform);
        let id = id.to_owned();
        platform.clone().tasks.spawn(async move {
            if let Some(pid) = pid {
                let signal = parse_signal(&signal).unwrap_or(Signal::SIGINT);
                signal_group(pid, signal);
                if !wait_for_exit(&platform, &id, generation, timeout).await {
                    warn!(machine = %id, "process ignored the stop signal; killing it");
                    signal_group(pid, Signal::SIGKILL);
                }
            }
        });
    }
    Ok(())
}

fn settle_state(target: MachineState, current: MachineState) -> MachineState {
    match target {
        MachineState::Suspended if current == MachineState::Stopped => MachineState::Stopped,
        other => other,
    }
}

fn event_kind(target: MachineState) -> &'static str {
    match target {
        MachineState::Suspended => "suspend",
        MachineState::Destroyed => "destroy",
        _ => "stop",
    }
}

/// Waits until the boot `generation` of `id` has exited, up to `timeout`.
async fn wait_for_exit(platform: &Platform, id: &str, generation: u64, timeout: Duration) -> bool {
    let mut changes = platform.store.subscribe();
    let exited = || {
        let inner = platform.store.lock();
        inner
            .machines
            .get(id)
            .is_none_or(|m| m.runtime.generation != generation || m.runtime.pid.is_none())
    };
    tokio::time::timeout(timeout, async {
        while !exited() {
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await
    .is_ok()
}

fn spawn_boot(platform: &Arc<Platform>, id: &str) {
    let task_platform = Arc::clone(platform);
    let id = id.to_owned();
    platform
        .tasks
        .spawn(async move { boot(task_platform, id).await });
}

async fn boot(platform: Arc<Platform>, id: String) {
    if platform.shutdown.is_cancelled() {
        return;
    }
    let ports = match allocate_ports(&platform, &id) {
        Ok(ports) => ports,
        Err(err) => return launch_failed(&platform, &id, &format!("no free local port: {err}")),
    };
    let plan = platform.store.update(|inner| {
        let secrets = {
            let machine = inner.machines.get(&id)?;
            inner
                .apps
                .get(&machine.app)
                .map(|app| app.secrets.clone())
                .unwrap_or_default()
        };
        let volumes = inner.volumes.clone();
        let machine = inner.machines.get_mut(&id)?;
        if machine.state != MachineState::Starting {
            // A stop arrived before anything was spawned: settle where it asked, now.
            if let Some(target) = machine.runtime.requested.take() {
                machine.state = target;
                machine.push_event(event("exit", target.as_str(), "user"));
            }
            return None;
        }
        machine.runtime.generation += 1;
        let secrets = secrets.into_iter().map(|(k, s)| (k, s.value)).collect();
        Some(launch_plan(&platform, machine, &secrets, &volumes, ports))
    });
    let Some(plan) = plan else { return };
    let generation = plan.generation;
    match spawn_process(&plan) {
        Ok(child) => {
            let pid = child.id();
            let kept = platform.store.update(|inner| {
                let Some(machine) = inner.machines.get_mut(&id) else {
                    return false;
                };
                if machine.runtime.generation != generation {
                    return false;
                }
                machine.runtime.pid = pid;
                machine.runtime.ports = plan.ports.clone();
                if machine.state != MachineState::Starting {
                    // A stop arrived while spawning, when there was no process to signal yet:
                    // end this one; its exit settles the requested state.
                    return false;
                }
                machine.state = MachineState::Started;
                machine.push_event(event("start", "started", "flyd"));
                true
            });
            info!(machine = %id, pid = ?pid, ports = ?plan.ports, "machine process started");
            if let (false, Some(pid)) = (kept, pid) {
                signal_group(pid, Signal::SIGKILL);
            }
            let task_platform = Arc::clone(&platform);
            platform
                .tasks
                .spawn(watch_exit(task_platform, id, generation, child));
        }
        Err(err) => launch_failed(
            &platform,
            &id,
            &format!("{}: {err}", plan.command.display()),
        ),
    }
}

fn launch_failed(platform: &Platform, id: &str, why: &str) {
    warn!(machine = %id, error = %why, "machine failed to launch");
    platform.store.update(|inner| {
        if let Some(machine) = inner.machines.get_mut(id) {
            machine.state = machine
                .runtime
                .requested
                .take()
                .unwrap_or(MachineState::Failed);
            machine.runtime.pid = None;
            machine.push_event(event("launch", "failed", "flyd"));
        }
    });
}

/// Waits for one boot's process to exit and settles the machine: the state a user asked for,
/// or what the restart policy says (fly.md §3).
async fn watch_exit(platform: Arc<Platform>, id: String, generation: u64, mut child: Child) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = platform.shutdown.cancelled() => {
            if let Some(pid) = child.id() {
                signal_group(pid, Signal::SIGKILL);
            }
            child.wait().await
        }
    };
    // The leader is gone; end whatever it left behind in its group, as a VM stop would.
    if let Some(pid) = platform
        .store
        .lock()
        .machines
        .get(&id)
        .and_then(|m| m.runtime.pid)
    {
        signal_group(pid, Signal::SIGKILL);
    }
    let code = status.ok().and_then(|s| s.code()).unwrap_or(-1);
    let restart = platform.store.update(|inner| {
        let machine = inner.machines.get_mut(&id)?;
        if machine.runtime.generation != generation {
            return None;
        }
        machine.runtime.pid = None;
        machine.runtime.ports.clear();
        if let Some(target) = machine.runtime.requested.take() {
            machine.state = target;
            machine.push_event(Event {
                exit_code: Some(code),
                ..event("exit", target.as_str(), "user")
            });
            return None;
        }
        if platform.shutdown.is_cancelled() {
            machine.state = MachineState::Stopped;
            return None;
        }
        let spec = machine.spec();
        let (policy, max_retries) = spec.restart_policy();
        let restart = match policy.as_str() {
            "always" => true,
            "no" => false,
            _ => code != 0 && machine.runtime.restarts < max_retries,
        };
        if restart {
            machine.runtime.restarts += 1;
            machine.state = MachineState::Starting;
            let count = machine.runtime.restarts;
            machine.push_event(Event {
                exit_code: Some(code),
                restart_count: Some(count),
                ..event("exit", "restarting", "flyd")
            });
            Some(())
        } else {
            machine.state = if spec.auto_destroy {
                MachineState::Destroyed
            } else {
                MachineState::Stopped
            };
            machine.push_event(Event {
                exit_code: Some(code),
                ..event("exit", machine.state.as_str(), "flyd")
            });
            None
        }
    });
    info!(machine = %id, exit_code = code, restarting = restart.is_some(), "machine process exited");
    if restart.is_some() {
        tokio::select! {
            () = tokio::time::sleep(RESTART_DELAY) => spawn_boot(&platform, &id),
            () = platform.shutdown.cancelled() => {}
        }
    }
}

/// `SIGTERM`, `TERM` or `sigterm` → the signal.
pub(crate) fn parse_signal(name: &str) -> Option<Signal> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok()
}

pub(crate) fn signal_group(pid: u32, signal: Signal) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // ESRCH (already gone) is the normal outcome of a race with the exit; nothing to do.
    let _ = killpg(Pid::from_raw(pid), signal);
}

/// Kills every machine process group (flylocal shutdown).
pub(crate) fn kill_all(platform: &Platform) {
    let pids: Vec<u32> = platform
        .store
        .lock()
        .machines
        .values()
        .filter_map(|m| m.runtime.pid)
        .collect();
    for pid in pids {
        signal_group(pid, Signal::SIGKILL);
    }
}

pub(crate) fn event(kind: &'static str, status: &'static str, source: &'static str) -> Event {
    Event {
        kind,
        status,
        source,
        timestamp_ms: crate::time::unix_millis(),
        exit_code: None,
        restart_count: None,
    }
}

/// Stops a machine and boots it again once its process is gone (restart, and the reboot an
/// update of a running machine causes).
pub(crate) fn restart(
    platform: &Arc<Platform>,
    id: &str,
    signal: Option<String>,
    timeout: Option<Duration>,
) -> Result<(), LifecycleError> {
    stop(platform, id, signal, timeout, MachineState::Stopped)?;
    let task_platform = Arc::clone(platform);
    let id = id.to_owned();
    platform.tasks.spawn(async move {
        let platform = task_platform;
        let mut changes = platform.store.subscribe();
        loop {
            match platform.store.lock().machines.get(&id).map(|m| m.state) {
                Some(state) if state.is_at_rest() => break,
                Some(_) => {}
                None => return,
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
        if let Err(err) = start(&platform, &id, "flyd") {
            warn!(machine = %id, error = %err, "restart could not boot the machine again");
        }
    });
    Ok(())
}

//! Turning a machine record into a process: the local ports, the environment (with the
//! laptop translations for ports and mounts, see `docs/flylocal.md`), the working directory
//! and log file, and the spawn itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::config::ImageSpec;
use crate::faults::StartFailure;
use crate::machine::Machine;
use crate::platform::Platform;
use crate::store::Volume;

/// Environment a process may inherit from flylocal: what a binary needs to run on this host,
/// nothing about flylocal's own configuration.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// Everything needed to spawn one boot of a machine, gathered under the lock.
pub(super) struct LaunchPlan {
    pub generation: u64,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub ports: BTreeMap<u16, u16>,
    pub workdir: PathBuf,
    pub log_file: PathBuf,
    pub failure: Option<StartFailure>,
    /// `app/machine` label when machine output is also echoed through tracing.
    pub echo_as: Option<String>,
}

/// One free local port per distinct `internal_port` (bound to port 0, then released: the
/// process binds it a moment later; a collision in that window is possible but rare).
pub(super) fn allocate_ports(platform: &Platform, id: &str) -> std::io::Result<BTreeMap<u16, u16>> {
    let internal: Vec<u16> = {
        let inner = platform.store.lock();
        inner
            .machines
            .get(id)
            .map(|m| m.spec().services.iter().map(|s| s.internal_port).collect())
            .unwrap_or_default()
    };
    let mut ports = BTreeMap::new();
    for port in internal {
        if let std::collections::btree_map::Entry::Vacant(slot) = ports.entry(port) {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            slot.insert(listener.local_addr()?.port());
        }
    }
    Ok(ports)
}

pub(super) fn launch_plan(
    platform: &Platform,
    machine: &Machine,
    secrets: &BTreeMap<String, String>,
    volumes: &BTreeMap<String, Volume>,
    ports: BTreeMap<u16, u16>,
) -> LaunchPlan {
    let config = &platform.config;
    let spec = machine.spec();
    let image = config
        .image(&spec.image)
        .cloned()
        .unwrap_or_else(|| ImageSpec::new(""));
    let mut env: BTreeMap<String, String> = INHERITED_ENV
        .iter()
        .filter_map(|k| Some(((*k).to_owned(), std::env::var(k).ok()?)))
        .collect();
    env.extend(image.env.clone());
    env.extend(spec.env.clone());
    env.extend(secrets.clone());

    // Mounts: the process cannot see a real `/data`, so the volume folder is announced as
    // FLYLOCAL_MOUNT_<PATH> and env values naming the mount path are rewritten to the folder.
    for mount in &spec.mounts {
        let Some(volume) = volumes.get(&mount.volume) else {
            continue;
        };
        let folder = volume.path.display().to_string();
        let mount_path = mount.path.trim_end_matches('/');
        for value in env.values_mut() {
            if let Some(rest) = value.strip_prefix(mount_path)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                *value = format!("{folder}{rest}");
            }
        }
        env.insert(format!("FLYLOCAL_MOUNT_{}", sanitize(mount_path)), folder);
    }

    // Ports: every internal port gets FLYLOCAL_PORT_<internal>; the first service's port is
    // also the port env (PORT), which is what a single-service image reads.
    for (internal, local) in &ports {
        env.insert(format!("FLYLOCAL_PORT_{internal}"), local.to_string());
    }
    if let Some(local) = spec
        .services
        .first()
        .and_then(|s| ports.get(&s.internal_port))
    {
        env.insert(config.port_env.clone(), local.to_string());
    }
    let metadata = machine.metadata();
    let runtime_env = [
        ("FLY_APP_NAME", machine.app.clone()),
        ("FLY_MACHINE_ID", machine.id.clone()),
        ("FLY_ALLOC_ID", machine.id.clone()),
        ("FLY_REGION", machine.region.clone()),
        ("PRIMARY_REGION", machine.region.clone()),
        ("FLY_PRIVATE_IP", machine.private_ip.clone()),
        ("FLY_IMAGE_REF", spec.image.clone()),
        ("FLY_MACHINE_VERSION", machine.instance_id.clone()),
        (
            "FLY_PROCESS_GROUP",
            metadata
                .get("fly_process_group")
                .cloned()
                .unwrap_or_else(|| "app".into()),
        ),
        (
            "FLY_VM_MEMORY_MB",
            spec.guest
                .and_then(|g| g.memory_mb)
                .unwrap_or(256)
                .to_string(),
        ),
    ];
    env.extend(runtime_env.into_iter().map(|(k, v)| (k.to_owned(), v)));

    LaunchPlan {
        generation: machine.runtime.generation,
        command: image.command,
        args: spec.init.cmd.unwrap_or(image.args),
        env,
        ports,
        workdir: config.data_dir.join("machines").join(&machine.id),
        log_file: config
            .data_dir
            .join("logs")
            .join(format!("{}.log", machine.id)),
        failure: platform.faults.start_failure(&spec.image),
        echo_as: config
            .echo_machine_output
            .then(|| format!("{}/{}", machine.app, machine.id)),
    }
}

/// `/data/x-y` → `DATA_X_Y`.
pub(crate) fn sanitize(path: &str) -> String {
    path.trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

pub(super) fn spawn_process(plan: &LaunchPlan) -> std::io::Result<Child> {
    // The root filesystem is ephemeral on Fly: every boot starts from an empty working dir.
    let _ = std::fs::remove_dir_all(&plan.workdir);
    std::fs::create_dir_all(&plan.workdir)?;
    if let Some(parent) = plan.log_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&plan.log_file)?;
    let mut command = match plan.failure {
        Some(StartFailure::LaunchFailed) => {
            return Err(std::io::Error::other(
                "launch failure injected by flylocal faults",
            ));
        }
        Some(StartFailure::Exit { code }) => {
            let mut command = Command::new("/bin/sh");
            command.args(["-c", &format!("exit {code}")]);
            command
        }
        None => {
            let mut command = Command::new(&plan.command);
            command.args(&plan.args);
            command
        }
    };
    command
        .env_clear()
        .envs(&plan.env)
        .current_dir(&plan.workdir)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let Some(label) = &plan.echo_as else {
        return command.stdout(log.try_clone()?).stderr(log).spawn();
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let log = tokio::fs::File::from_std(log);
    let shared_log = std::sync::Arc::new(tokio::sync::Mutex::new(log));
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward(
            stdout,
            std::sync::Arc::clone(&shared_log),
            label.clone(),
        ));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward(stderr, shared_log, label.clone()));
    }
    Ok(child)
}

/// Copies a machine's output line by line into its log file and into tracing, prefixed with
/// `app/machine`, so `roost dev` shows what the workspaces print. Ends when the pipe closes.
async fn forward(
    pipe: impl tokio::io::AsyncRead + Unpin,
    log: std::sync::Arc<tokio::sync::Mutex<tokio::fs::File>>,
    label: String,
) {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let mut lines = tokio::io::BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "flylocal::machine", machine = %label, "{line}");
        let mut file = log.lock().await;
        let _ = file.write_all(format!("{line}\n").as_bytes()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn mount_paths_become_env_names() {
        assert_eq!(sanitize("/data"), "DATA");
        assert_eq!(sanitize("/var/lib/my-app/"), "VAR_LIB_MY_APP");
    }
}

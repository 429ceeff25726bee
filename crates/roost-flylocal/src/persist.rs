//! The platform's saved state: apps (with their secrets), machines and volumes, written to a
//! JSON file after every change so a restarted flylocal finds what a client created earlier, as
//! Fly keeps it across any restart of its own.
//!
//! What does not survive is what cannot: processes. A machine that was `starting`, `started` or
//! `stopping` loads as `stopped` (the edge autostarts it on the next request, like Fly's proxy),
//! one being destroyed loads as `destroyed`; ports, pids, leases and events are not kept.
//! Volumes keep pointing at their folders under the data dir, so the files in them are there.
//!
//! The file is written to a temporary sibling and renamed over the old one, so a crash leaves
//! either the previous or the new state, never half of one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::machine::{Machine, MachineState, Runtime};
use crate::store::{App, Inner, Secret, Volume};

/// Bumped when the layout changes incompatibly; a file of another version is refused.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    next_ip: u32,
    apps: Vec<AppRecord>,
    machines: Vec<MachineRecord>,
    volumes: Vec<VolumeRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AppRecord {
    id: String,
    name: String,
    org: String,
    network: String,
    secrets: BTreeMap<String, SecretRecord>,
    secrets_version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SecretRecord {
    value: String,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct MachineRecord {
    id: String,
    name: String,
    app: String,
    region: String,
    state: String,
    instance_id: String,
    private_ip: String,
    config: Value,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct VolumeRecord {
    id: String,
    name: String,
    app: String,
    region: String,
    size_gb: u64,
    encrypted: bool,
    snapshot_retention: u64,
    auto_backup_enabled: bool,
    state: String,
    created_at: String,
    path: PathBuf,
}

/// Where the state is saved, and a lock so concurrent saves land in order (each one snapshots
/// the state after taking it, so the last file written is the newest state).
#[derive(Debug)]
pub(crate) struct Persist {
    path: PathBuf,
    writing: std::sync::Mutex<()>,
}

impl Persist {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            writing: std::sync::Mutex::new(()),
        }
    }

    /// Writes the state `snapshot` returns (called with the writer lock held).
    pub(crate) fn save(&self, snapshot: impl FnOnce() -> Vec<u8>) {
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = snapshot();
        if let Err(err) = write_atomically(&self.path, &bytes) {
            tracing::warn!(file = %self.path.display(), error = %format!("{err:#}"), "could not save flylocal's state");
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let temp = path.with_file_name(name);
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_data())
        .with_context(|| format!("writing {}", temp.display()))?;
    drop(file);
    std::fs::rename(&temp, path)
        .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
}

/// The state as saved.
pub(crate) fn encode(inner: &Inner) -> Vec<u8> {
    let file = StateFile {
        version: VERSION,
        next_ip: inner.next_ip,
        apps: inner
            .apps
            .values()
            .map(|a| AppRecord {
                id: a.id.clone(),
                name: a.name.clone(),
                org: a.org.clone(),
                network: a.network.clone(),
                secrets: a
                    .secrets
                    .iter()
                    .map(|(k, s)| {
                        (
                            k.clone(),
                            SecretRecord {
                                value: s.value.clone(),
                                created_at: s.created_at.clone(),
                                updated_at: s.updated_at.clone(),
                            },
                        )
                    })
                    .collect(),
                secrets_version: a.secrets_version,
            })
            .collect(),
        machines: inner
            .machines
            .values()
            .map(|m| MachineRecord {
                id: m.id.clone(),
                name: m.name.clone(),
                app: m.app.clone(),
                region: m.region.clone(),
                state: m.state.as_str().to_owned(),
                instance_id: m.instance_id.clone(),
                private_ip: m.private_ip.clone(),
                config: m.config.clone(),
                created_at: m.created_at.clone(),
                updated_at: m.updated_at.clone(),
            })
            .collect(),
        volumes: inner
            .volumes
            .values()
            .map(|v| VolumeRecord {
                id: v.id.clone(),
                name: v.name.clone(),
                app: v.app.clone(),
                region: v.region.clone(),
                size_gb: v.size_gb,
                encrypted: v.encrypted,
                snapshot_retention: v.snapshot_retention,
                auto_backup_enabled: v.auto_backup_enabled,
                state: v.state.to_owned(),
                created_at: v.created_at.clone(),
                path: v.path.clone(),
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// The state saved at `path`, or `None` when there is no file yet.
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<Inner>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let file: StateFile = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a flylocal state file; delete it to start from an empty platform",
            path.display()
        )
    })?;
    anyhow::ensure!(
        file.version == VERSION,
        "{} has state file version {}, this flylocal reads {VERSION}; delete it to start afresh",
        path.display(),
        file.version
    );
    let mut inner = Inner {
        next_ip: file.next_ip,
        ..Inner::default()
    };
    for a in file.apps {
        let secrets = a
            .secrets
            .into_iter()
            .map(|(k, s)| {
                (
                    k,
                    Secret {
                        value: s.value,
                        created_at: s.created_at,
                        updated_at: s.updated_at,
                    },
                )
            })
            .collect();
        inner.apps.insert(
            a.name.clone(),
            App {
                id: a.id,
                name: a.name,
                org: a.org,
                network: a.network,
                secrets,
                secrets_version: a.secrets_version,
            },
        );
    }
    for m in file.machines {
        let state = MachineState::parse(&m.state)
            .with_context(|| format!("machine {} has an unknown state {:?}", m.id, m.state))?;
        // No process survives a restart of the platform.
        let state = match state {
            MachineState::Starting | MachineState::Started | MachineState::Stopping => {
                MachineState::Stopped
            }
            MachineState::Destroying => MachineState::Destroyed,
            other => other,
        };
        inner.machines.insert(
            m.id.clone(),
            Machine {
                id: m.id,
                name: m.name,
                app: m.app,
                region: m.region,
                state,
                instance_id: m.instance_id,
                private_ip: m.private_ip,
                config: m.config,
                created_at: m.created_at,
                updated_at: m.updated_at,
                events: Vec::new(),
                lease: None,
                runtime: Runtime::default(),
            },
        );
    }
    for v in file.volumes {
        let state = match v.state.as_str() {
            "pending_destroy" => "pending_destroy",
            "destroyed" => "destroyed",
            _ => "created",
        };
        inner.volumes.insert(
            v.id.clone(),
            Volume {
                id: v.id,
                name: v.name,
                app: v.app,
                region: v.region,
                size_gb: v.size_gb,
                encrypted: v.encrypted,
                snapshot_retention: v.snapshot_retention,
                auto_backup_enabled: v.auto_backup_enabled,
                state,
                created_at: v.created_at,
                path: v.path,
            },
        );
    }
    Ok(Some(inner))
}

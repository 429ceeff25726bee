//! The platform's state: apps, their machines, volumes and secrets, behind one lock, plus a
//! change signal that `wait` and the edge's autostart await instead of polling.
//!
//! Critical sections are short and never await; slow work (spawning, signalling, waiting for an
//! exit) happens outside the lock and writes its outcome back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::machine::Machine;
use crate::persist::Persist;

/// An app record.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub id: String,
    pub name: String,
    pub org: String,
    pub network: String,
    pub secrets: BTreeMap<String, Secret>,
    pub secrets_version: u64,
}

/// One app secret; the value never leaves flylocal except to the app's processes and to
/// `show_secrets=true` listings.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub value: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Secret {
    pub(crate) fn to_json(&self, name: &str, show_value: bool) -> Value {
        let digest = hex::encode(&Sha256::digest(self.value.as_bytes())[..8]);
        let mut secret = json!({
            "name": name,
            "digest": digest,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        });
        if show_value {
            secret["value"] = json!(self.value);
        }
        secret
    }
}

/// A volume record; its data is the folder at `path`.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    pub id: String,
    pub name: String,
    pub app: String,
    pub region: String,
    pub size_gb: u64,
    pub encrypted: bool,
    pub snapshot_retention: u64,
    pub auto_backup_enabled: bool,
    pub state: &'static str,
    pub created_at: String,
    pub path: PathBuf,
}

impl Volume {
    /// The JSON the API returns (field names from fly-go's `Volume`).
    pub(crate) fn to_json(&self, attached_machine_id: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "size_gb": self.size_gb,
            "region": self.region,
            "zone": format!("{}1", self.region),
            "encrypted": self.encrypted,
            "attached_machine_id": attached_machine_id,
            "attached_alloc_id": attached_machine_id,
            "created_at": self.created_at,
            "host_dedication_id": "",
            "host_status": "ok",
            "snapshot_retention": self.snapshot_retention,
            "auto_backup_enabled": self.auto_backup_enabled,
        })
    }
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub apps: BTreeMap<String, App>,
    /// Keyed by machine id (ids are global on Fly too).
    pub machines: BTreeMap<String, Machine>,
    pub volumes: BTreeMap<String, Volume>,
    pub(crate) next_ip: u32,
}

impl Inner {
    /// Machines of `app` in creation order of their ids.
    pub(crate) fn machines_of<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a Machine> {
        self.machines.values().filter(move |m| m.app == app)
    }

    /// The live machine whose config mounts `volume`, if any.
    pub(crate) fn attached_machine(&self, volume: &str) -> Option<&Machine> {
        self.machines.values().find(|m| {
            !m.state.is_gone() && m.spec().mounts.iter().any(|mount| mount.volume == volume)
        })
    }

    pub(crate) fn next_private_ip(&mut self) -> String {
        self.next_ip += 1;
        format!(
            "fdaa:0:1:a7b:{:x}:{:x}::2",
            self.next_ip >> 16,
            self.next_ip & 0xffff
        )
    }
}

/// The locked state and its change signal.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
    /// Where every change is saved, when the platform keeps its state across restarts.
    persist: Option<Persist>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            changed: watch::Sender::new(0),
            persist: None,
        }
    }

    /// A store that starts from the state saved at `path` (if any) and saves every change there.
    pub(crate) fn persistent(path: PathBuf) -> anyhow::Result<Self> {
        let inner = crate::persist::load(&path)?.unwrap_or_default();
        let store = Self {
            inner: Mutex::new(inner),
            changed: watch::Sender::new(0),
            persist: Some(Persist::new(path)),
        };
        store.save();
        Ok(store)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` under the lock and wakes everyone waiting for a change.
    pub(crate) fn update<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        self.save();
        out
    }

    /// Writes the current state to the state file, if there is one.
    fn save(&self) {
        if let Some(persist) = &self.persist {
            persist.save(|| crate::persist::encode(&self.lock()));
        }
    }

    /// A receiver that wakes on every change after this call.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Random lowercase hex, the shape of Fly machine ids (14 chars).
pub(crate) fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Random id in Crockford base32 (ULID-like), the shape of `instance_id` and lease nonces.
pub(crate) fn random_base32(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

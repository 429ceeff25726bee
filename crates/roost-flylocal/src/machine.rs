//! A machine as the Machines API shows it: its state, events, lease and config, and the few
//! config fields flylocal acts on (services, env, mounts, restart, stop_config) read from the
//! stored JSON.
//!
//! The config is kept as the JSON the client sent, not as a typed struct: an update replaces it
//! whole (fly.md §2.3) and a `GET` returns exactly what was stored, unknown fields included, so a
//! client field-name bug shows up as a round-trip difference instead of being silently fixed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

/// Machine states from fly.md §2.3 that flylocal goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineState {
    /// Exists, never booted (`skip_launch`).
    Created,
    /// Process being spawned.
    Starting,
    /// Process running.
    Started,
    /// Stop signal sent, waiting for the process to exit.
    Stopping,
    /// No process.
    Stopped,
    /// No process; flylocal treats suspend as stop (no memory snapshot).
    Suspended,
    /// Launch failed (image could not be run).
    Failed,
    /// Being destroyed.
    Destroying,
    /// Gone; still listed with `include_deleted=true`.
    Destroyed,
}

impl MachineState {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Starting => "starting",
            Self::Started => "started",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Suspended => "suspended",
            Self::Failed => "failed",
            Self::Destroying => "destroying",
            Self::Destroyed => "destroyed",
        }
    }

    /// The state named by its API spelling.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Starting,
            Self::Started,
            Self::Stopping,
            Self::Stopped,
            Self::Suspended,
            Self::Failed,
            Self::Destroying,
            Self::Destroyed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }

    /// States from which `start` (or an edge autostart) boots the machine.
    pub(crate) fn can_start(self) -> bool {
        matches!(
            self,
            Self::Created | Self::Stopped | Self::Suspended | Self::Failed
        )
    }

    /// States with no process, from which the machine only moves when told to.
    pub(crate) fn is_at_rest(self) -> bool {
        matches!(
            self,
            Self::Created | Self::Stopped | Self::Suspended | Self::Failed
        )
    }

    pub(crate) fn is_gone(self) -> bool {
        matches!(self, Self::Destroying | Self::Destroyed)
    }
}

/// One entry of a machine's `events` (newest first in responses, as Fly lists them).
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub kind: &'static str,
    pub status: &'static str,
    pub source: &'static str,
    pub timestamp_ms: u64,
    pub exit_code: Option<i32>,
    pub restart_count: Option<u32>,
}

/// A held lease (fly.md §2.5).
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub nonce: String,
    pub expires_at: u64,
    pub owner: String,
    pub description: String,
    pub version: String,
}

/// What the supervisor knows about a machine's process.
#[derive(Debug, Clone, Default)]
pub(crate) struct Runtime {
    pub pid: Option<u32>,
    /// internal_port → local port, fixed for the life of one boot.
    pub ports: BTreeMap<u16, u16>,
    /// Restarts since the last explicit start (for `max_retries`).
    pub restarts: u32,
    /// Bumped on every boot, so a stale exit watcher can tell it is stale.
    pub generation: u64,
    /// The state an exit should settle in because a user asked for it (stop/suspend/destroy).
    pub requested: Option<MachineState>,
}

/// A machine record.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub id: String,
    pub name: String,
    pub app: String,
    pub region: String,
    pub state: MachineState,
    pub instance_id: String,
    pub private_ip: String,
    pub config: Value,
    pub created_at: String,
    pub updated_at: String,
    pub events: Vec<Event>,
    pub lease: Option<Lease>,
    pub runtime: Runtime,
}

impl Machine {
    pub(crate) fn push_event(&mut self, event: Event) {
        self.updated_at = crate::time::rfc3339_now();
        self.events.push(event);
    }

    /// The active lease, if one is held and not expired.
    pub(crate) fn active_lease(&self) -> Option<&Lease> {
        self.lease
            .as_ref()
            .filter(|lease| lease.expires_at > crate::time::unix_secs())
    }

    pub(crate) fn metadata(&self) -> BTreeMap<String, String> {
        self.config
            .get("metadata")
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default()
    }

    /// The typed view of the config fields flylocal acts on.
    pub(crate) fn spec(&self) -> ConfigView {
        ConfigView::parse(&self.config)
    }

    /// The JSON the API returns (field names from fly-go's `Machine`).
    pub(crate) fn to_json(&self) -> Value {
        let events: Vec<Value> = self
            .events
            .iter()
            .rev()
            .map(|e| {
                let mut event = json!({
                    "type": e.kind,
                    "status": e.status,
                    "source": e.source,
                    "timestamp": e.timestamp_ms,
                });
                if e.exit_code.is_some() || e.restart_count.is_some() {
                    let mut request = json!({});
                    if let Some(code) = e.exit_code {
                        request["exit_event"] = json!({
                            "exit_code": code,
                            "requested_stop": e.source == "user",
                            "restarting": e.restart_count.is_some(),
                        });
                    }
                    if let Some(count) = e.restart_count {
                        request["restart_count"] = json!(count);
                    }
                    event["request"] = request;
                }
                event
            })
            .collect();
        let image = self
            .config
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default();
        json!({
            "id": self.id,
            "name": self.name,
            "state": self.state.as_str(),
            "region": self.region,
            "instance_id": self.instance_id,
            "version": self.instance_id,
            "private_ip": self.private_ip,
            "config": self.config,
            "image_ref": image_ref(image),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "events": events,
            "host_status": "ok",
            "cordoned": false,
        })
    }
}

/// `image_ref` split the way Fly reports it (registry / repository / tag / digest).
fn image_ref(image: &str) -> Value {
    let (rest, digest) = image.split_once('@').unwrap_or((image, ""));
    let (registry, path) = match rest.split_once('/') {
        Some((host, path)) if host.contains('.') || host.contains(':') => (host, path),
        _ => ("docker.io", rest),
    };
    let (repository, tag) = match path.rsplit_once(':') {
        Some((repo, tag)) => (repo, tag),
        None => (path, if digest.is_empty() { "latest" } else { "" }),
    };
    json!({"registry": registry, "repository": repository, "tag": tag, "digest": digest})
}

/// The config fields flylocal acts on, read leniently: a field it cannot read is treated as
/// absent, since the client's validation is not flylocal's job (Fly's is stricter, see docs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConfigView {
    pub image: String,
    pub env: BTreeMap<String, String>,
    pub services: Vec<ServiceView>,
    pub mounts: Vec<MountView>,
    pub restart: Option<RestartView>,
    pub stop_config: Option<StopConfigView>,
    pub init: InitView,
    pub auto_destroy: bool,
    pub guest: Option<GuestView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ServiceView {
    pub internal_port: u16,
    pub autostart: Option<bool>,
    pub ports: Vec<PortView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PortView {
    pub port: Option<u16>,
    pub handlers: Vec<String>,
    pub http_options: Option<HttpOptionsView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HttpOptionsView {
    pub idle_timeout: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MountView {
    pub volume: String,
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RestartView {
    pub policy: Option<String>,
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StopConfigView {
    pub signal: Option<String>,
    pub timeout: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InitView {
    pub cmd: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GuestView {
    pub memory_mb: Option<u32>,
}

/// Fly's default idle timeout for proxied connections (fly.md §4.3).
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `stop_config.timeout` default (fly.md §3: kill_timeout defaults to 5 s).
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl ConfigView {
    pub(crate) fn parse(config: &Value) -> Self {
        Self::deserialize(config).unwrap_or_default()
    }

    /// The service the edge routes to: the first with an `http` handler, else the first.
    pub(crate) fn http_service(&self) -> Option<&ServiceView> {
        self.services
            .iter()
            .find(|s| {
                s.ports
                    .iter()
                    .any(|p| p.handlers.iter().any(|h| h == "http"))
            })
            .or_else(|| self.services.first())
    }

    /// `restart.policy` with Fly's default `on-failure`, and `max_retries` defaulting to 10.
    pub(crate) fn restart_policy(&self) -> (String, u32) {
        let restart = self.restart.clone().unwrap_or_default();
        (
            restart.policy.unwrap_or_else(|| "on-failure".to_owned()),
            restart.max_retries.unwrap_or(10),
        )
    }

    /// `stop_config.signal` (default SIGINT, the API default per fly.md §2.3) and timeout.
    pub(crate) fn stop_config(&self) -> (String, Duration) {
        let stop = self.stop_config.clone().unwrap_or_default();
        let timeout = stop
            .timeout
            .as_ref()
            .and_then(parse_duration)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        (stop.signal.unwrap_or_else(|| "SIGINT".to_owned()), timeout)
    }
}

impl ServiceView {
    /// `http_options.idle_timeout` of this service's first port that sets one, in seconds.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.ports
            .iter()
            .find_map(|p| p.http_options.as_ref()?.idle_timeout)
            .map_or(DEFAULT_IDLE_TIMEOUT, |secs| {
                Duration::from_secs(u64::from(secs))
            })
    }
}

/// Fly durations arrive as strings (`"10s"`, `"800ms"`) or as nanosecond integers (fly.md §2.3).
pub(crate) fn parse_duration(value: &Value) -> Option<Duration> {
    match value {
        Value::String(text) => humantime::parse_duration(text).ok(),
        Value::Number(n) => n.as_u64().map(Duration::from_nanos),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fly_field_names_and_defaults() {
        let view = ConfigView::parse(&json!({
            "image": "img",
            "services": [
                {"internal_port": 9090, "ports": [{"port": 9090}]},
                {"internal_port": 8080, "autostart": true,
                 "ports": [{"port": 443, "handlers": ["tls", "http"], "http_options": {"idle_timeout": 3}}]}
            ],
            "stop_config": {"signal": "SIGTERM", "timeout": "2s"},
        }));
        let service = view.http_service().expect("service");
        assert_eq!(service.internal_port, 8080);
        assert_eq!(service.idle_timeout(), Duration::from_secs(3));
        assert_eq!(
            view.stop_config(),
            ("SIGTERM".into(), Duration::from_secs(2))
        );
        assert_eq!(view.restart_policy(), ("on-failure".into(), 10));
    }

    #[test]
    fn image_ref_splits_registry_repository_and_tag() {
        let r = image_ref("registry.fly.io/roost-workspace:v3");
        assert_eq!(r["registry"], "registry.fly.io");
        assert_eq!(r["repository"], "roost-workspace");
        assert_eq!(r["tag"], "v3");
    }
}

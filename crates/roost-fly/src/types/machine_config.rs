//! A Machine's `config` (fly.md §2.3 "Config fields"; fly-go `MachineConfig` and its parts).
//!
//! Every type here is sent back to Fly on a full-config update, so each keeps the fields it does
//! not model in `extra` (flattened) and writes them back unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::FlyDuration;

/// Unknown JSON fields, kept for the round trip.
pub type Extra = Map<String, Value>;

/// `config`: what a Machine runs and how Fly treats it. Only `image` is required.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineConfig {
    /// The image; pin it by digest (`registry.fly.io/app@sha256:…`).
    #[serde(default)]
    pub image: String,
    /// Environment variables (names may not start with `FLY_`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestConfig>,
    /// Overrides of the image's entrypoint and command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<InitConfig>,
    /// What Fly's proxy routes to the Machine (public ports, autostart/autostop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<MachineService>,
    /// Named top-level health checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, MachineCheck>,
    /// Volumes (at most one per Machine; fixed after creation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// What happens when the main process exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartConfig>,
    /// Destroy the Machine when its process exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_destroy: Option<bool>,
    /// String tags, usable as a list filter (`metadata.<key>=<value>`). Namespace your keys:
    /// Fly uses some itself (`fly_process_group`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Signal and grace period for stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_config: Option<StopConfig>,
    /// A preset such as `shared-cpu-1x`; exclusive with `guest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `hourly`, `daily`, … for scheduled Machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Fields this crate does not model (`files`, `processes`, `dns`, `containers`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `config.guest`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GuestConfig {
    /// `shared` or `performance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_kind: Option<String>,
    /// Number of CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory in MB, a multiple of 256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    /// Extra kernel arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_args: Vec<String>,
    /// Fields this crate does not model (`gpus`, `gpu_kind`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `config.init`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InitConfig {
    /// Replaces entrypoint and command together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
    /// Replaces the image's entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Replaces the image's command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// Allocate a TTY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Swap in MB (suspend needs none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_size_mb: Option<u32>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `config.services`: an internal port and the public ports that reach it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineService {
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The port the process listens on inside the Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_port: Option<u16>,
    /// Public ports. Replay needs ports matching the router's (80 and 443; fly.md §1.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<MachinePort>,
    /// Load limits for routing and autostop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// Let the proxy start a stopped Machine on a request. Set it to `Some(true)` explicitly
    /// (fly.md §2.3: the documented default is ambiguous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostart: Option<bool>,
    /// Let the proxy stop or suspend an idle Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostop: Option<Autostop>,
    /// Machines kept running in the primary region when autostop is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_machines_running: Option<u32>,
    /// Service-level health checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<MachineCheck>,
    /// Fields this crate does not model (`force_instance_key`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `services[].ports`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachinePort {
    /// The public port (80, 443, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Start of a port range, instead of `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_port: Option<u16>,
    /// End of a port range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
    /// `["http"]` on 80, `["tls", "http"]` on 443: replay needs the `http` handler.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<String>,
    /// Redirect HTTP to HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_https: Option<bool>,
    /// HTTP handler options (idle timeout, h2 backend, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_options: Option<HttpOptions>,
    /// TLS handler options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_options: Option<TlsOptions>,
    /// Fields this crate does not model (`proxy_proto_options`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ports[].http_options`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpOptions {
    /// Let the proxy compress responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<bool>,
    /// Speak HTTP/2 to the Machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h2_backend: Option<bool>,
    /// Seconds an idle connection is kept (Fly's default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u32>,
    /// Seconds to wait for request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_read_timeout: Option<u32>,
    /// Fields this crate does not model (`response`, `replay_cache`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `ports[].tls_options`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TlsOptions {
    /// ALPN protocols offered, e.g. `["h2", "http/1.1"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// TLS versions allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `services[].concurrency`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Concurrency {
    /// `connections` or `requests`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Above this load the proxy prefers other Machines (Fly's default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_limit: Option<u32>,
    /// Above this load the proxy sends no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_limit: Option<u32>,
}

/// `services[].autostop`: `"off"`, `"stop"` or `"suspend"`. Fly still accepts and sometimes
/// answers the legacy booleans (`false` = off, `true` = stop; fly.md §2.3), which parse here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autostop {
    /// Never stop idle Machines.
    Off,
    /// Stop idle Machines (cold boot next time).
    Stop,
    /// Suspend idle Machines (fast resume next time).
    Suspend,
}

impl Autostop {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Stop => "stop",
            Self::Suspend => "suspend",
        }
    }
}

impl Serialize for Autostop {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Autostop {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(false) => Ok(Self::Off),
            Value::Bool(true) => Ok(Self::Stop),
            Value::String(s) => match s.as_str() {
                "off" => Ok(Self::Off),
                "stop" => Ok(Self::Stop),
                "suspend" => Ok(Self::Suspend),
                other => Err(serde::de::Error::custom(format!(
                    "unknown autostop {other:?}, expected off, stop or suspend"
                ))),
            },
            other => Err(serde::de::Error::custom(format!(
                "autostop must be a string or a boolean, got {other}"
            ))),
        }
    }
}

/// `config.restart`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestartConfig {
    /// When to restart (Fly's default `on-failure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<RestartPolicy>,
    /// Restarts within 5 minutes before giving up (Fly's default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

super::string_enum! {
    /// `restart.policy` (fly.md §3 "Process exit").
    pub enum RestartPolicy {
        /// Never restart: the Machine goes `stopped` when the process exits.
        No = "no",
        /// Always restart; the Machine never reaches `stopped` by itself.
        Always = "always",
        /// Exit 0 → `stopped`; otherwise restart up to `max_retries`. What a workspace that
        /// exits when idle needs.
        OnFailure = "on-failure",
        /// Restart when spot capacity returns.
        SpotPrice = "spot-price",
    }
}

/// A health check, in `config.checks` (named) or `services[].checks`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineCheck {
    /// `tcp` or `http`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Port to check (defaults to the service's internal port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<FlyDuration>,
    /// Time a check may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<FlyDuration>,
    /// Time after start before failures count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<FlyDuration>,
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<MachineHttpHeader>,
    /// Fields this crate does not model (`kind`: informational/readiness, TLS settings).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `checks[].headers[]`: one name with its values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineHttpHeader {
    /// Header name.
    #[serde(default)]
    pub name: String,
    /// Header values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// One entry of `config.mounts`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mount {
    /// The volume id (`vol_…`).
    #[serde(default)]
    pub volume: String,
    /// Where it appears in the Machine, e.g. `/data`.
    #[serde(default)]
    pub path: String,
    /// The volume's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Grow the volume when usage passes this percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_threshold_percent: Option<u32>,
    /// GB added per growth step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_size_gb: Option<u32>,
    /// Growth ceiling in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gb_limit: Option<u32>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `config.stop_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StopConfig {
    /// e.g. `SIGTERM` (the API's default is SIGINT; fly.md §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Grace period before the kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<FlyDuration>,
}

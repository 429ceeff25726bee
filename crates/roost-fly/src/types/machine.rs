//! Machines (fly.md §2.3; fly-go `Machine`, `LaunchMachineInput`, `MachineStartResponse`).

use serde::{Deserialize, Serialize};

use super::{FlyDuration, MachineConfig};

super::string_enum! {
    /// A Machine's `state` (fly.md §2.3 "Machine states"), also the target of
    /// [`crate::FlyClient::wait_for_state`] (which accepts `started`, `stopped`, `suspended`,
    /// `destroyed`, and on newer Fly `failed` and `settled`).
    pub enum MachineState {
        /// Being created.
        Creating = "creating",
        /// Created without booting (`skip_launch`).
        Created = "created",
        /// Booting.
        Starting = "starting",
        /// The VM booted (not: the app is serving).
        Started = "started",
        /// Stopping.
        Stopping = "stopping",
        /// Stopped; the next start is a cold boot.
        Stopped = "stopped",
        /// Suspending.
        Suspending = "suspending",
        /// Suspended; the next start resumes from the snapshot.
        Suspended = "suspended",
        /// Restarting.
        Restarting = "restarting",
        /// Applying an update.
        Updating = "updating",
        /// Being replaced by an update; refuses start with 412.
        Replacing = "replacing",
        /// Being destroyed.
        Destroying = "destroying",
        /// Gone.
        Destroyed = "destroyed",
        /// Failed to launch.
        LaunchFailed = "launch_failed",
        /// Failed.
        Failed = "failed",
        /// Wait target only: any state that is not transient.
        Settled = "settled",
    }
}

/// A Machine, as create, get, update and list answer it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Machine {
    /// The Machine id (14 hex characters).
    #[serde(default)]
    pub id: String,
    /// Its name (unique in the app).
    #[serde(default)]
    pub name: String,
    /// Current state.
    #[serde(default = "unknown_state")]
    pub state: MachineState,
    /// Where Fly put it; store this (it may differ from the requested region).
    #[serde(default)]
    pub region: String,
    /// The id of this version of the Machine; `wait` for `stopped` takes it.
    #[serde(default)]
    pub instance_id: String,
    /// 6PN address.
    #[serde(default)]
    pub private_ip: String,
    /// The config it runs. Send the whole of it back on update.
    #[serde(default)]
    pub config: Option<MachineConfig>,
    /// The resolved image.
    #[serde(default)]
    pub image_ref: Option<MachineImageRef>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last change (RFC 3339).
    #[serde(default)]
    pub updated_at: Option<String>,
    /// `ok`, `unknown` or `unreachable` (get only).
    #[serde(default)]
    pub host_status: Option<String>,
    /// Recent events, newest first.
    #[serde(default)]
    pub events: Vec<MachineEvent>,
    /// The lease nonce, when created with `lease_ttl`.
    #[serde(default)]
    pub nonce: Option<String>,
}

fn unknown_state() -> MachineState {
    MachineState::Other(String::new())
}

impl Default for MachineState {
    fn default() -> Self {
        unknown_state()
    }
}

impl Machine {
    /// The `metadata` tag `key`, if the Machine's config carries it.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.config.as_ref()?.metadata.get(key).map(String::as_str)
    }
}

/// `image_ref`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineImageRef {
    /// e.g. `registry.fly.io`.
    #[serde(default)]
    pub registry: String,
    /// Repository path.
    #[serde(default)]
    pub repository: String,
    /// Tag.
    #[serde(default)]
    pub tag: String,
    /// `sha256:…`.
    #[serde(default)]
    pub digest: String,
}

/// One of `events`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineEvent {
    /// e.g. `launch`, `start`, `exit`, `stop`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// e.g. `created`, `started`.
    #[serde(default)]
    pub status: String,
    /// `user` or `flyd`.
    #[serde(default)]
    pub source: String,
    /// Unix milliseconds.
    #[serde(default)]
    pub timestamp: i64,
}

/// Body of `POST /v1/apps/{app}/machines` (fly-go `LaunchMachineInput`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateMachineRequest {
    /// Unique in the app; Fly picks one when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Region code; `None` = nearest to the API caller. A mounted volume decides anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What to run. Put the tag you will look for after an ambiguous failure in
    /// `config.metadata` (roost: `roost_tenant=<id>`).
    pub config: MachineConfig,
    /// Create without booting (state `created`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_launch: bool,
    /// Do not register the Machine's services with the proxy yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_service_registration: bool,
    /// Create it leased for this many seconds; the answer carries `nonce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ttl: Option<u64>,
    /// Wait until the app's secrets reach at least this version (from a secrets update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_secrets_version: Option<u64>,
}

/// Body of `POST /v1/apps/{app}/machines/{id}`: a **full** config replacement. Omitted parts
/// of the config are removed (fly.md §2.3 "Update"), so start from the Machine's current config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdateMachineRequest {
    /// The complete new config.
    pub config: MachineConfig,
    /// Leave a stopped Machine stopped instead of booting it with the new config.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_launch: bool,
    /// Refuse (412) unless the Machine is still at this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Wait until the app's secrets reach at least this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_secrets_version: Option<u64>,
}

impl UpdateMachineRequest {
    /// An update to `config`, booting the Machine with it.
    pub fn new(config: MachineConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }
}

/// Body of `POST …/{id}/stop`. Fly rejects a stop without a JSON object body (docs issue
/// #2187), so this is always sent, as `{}` at least.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StopMachineRequest {
    /// e.g. `SIGTERM`; Fly's default is SIGINT (or the config's `stop_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Grace period before the kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<FlyDuration>,
}

/// Answer of `POST …/{id}/start`. The docs and fly-go disagree on its fields (fly.md §2.3);
/// both sets are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StartMachineResponse {
    /// The state before the start (`stopped`, `suspended`, `started`, …).
    #[serde(default)]
    pub previous_state: Option<String>,
    /// Whether Fly moved the Machine to another host to start it.
    #[serde(default)]
    pub migrated: Option<bool>,
    /// The new host, when migrated.
    #[serde(default)]
    pub new_host: Option<String>,
    /// fly-go's `status`.
    #[serde(default)]
    pub status: Option<String>,
    /// fly-go's `message`.
    #[serde(default)]
    pub message: Option<String>,
}

/// Options of `POST …/{id}/restart`, sent as query parameters (fly-go `RestartMachineInput`;
/// not in the prose docs, fly.md §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestartMachineRequest {
    /// Signal for the stop half, e.g. `SIGTERM`.
    pub signal: Option<String>,
    /// Grace period of the stop half.
    pub timeout: Option<FlyDuration>,
    /// Kill instead of waiting for a clean stop.
    pub force_stop: bool,
}

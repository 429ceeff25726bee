//! Volumes (fly.md §2.4; fly-go `CreateVolumeRequest`, `Volume`).
//!
//! Volumes carry **no metadata**: `CreateVolumeRequest` has no tag field. A volume is
//! recognised by its app and name instead; see [`crate::FlyClient::find_volumes_by_name`].

use serde::{Deserialize, Serialize};

/// Body of `POST /v1/apps/{app}/volumes`. Only `name` and `region` are needed; Fly defaults the
/// rest (`size_gb` 3, `encrypted` true, `require_unique_zone` true, snapshots kept 5 days).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateVolumeRequest {
    /// Letters, digits and underscores; not unique (several volumes may share a name).
    pub name: String,
    /// Region code, e.g. `iad`. The volume decides where a Machine mounting it runs.
    pub region: String,
    /// Size in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gb: Option<u32>,
    /// Encrypt at rest (Fly's default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Refuse a host that already holds a volume of this app with the same name (default true);
    /// can make creation fail when unique zones run out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_unique_zone: Option<bool>,
    /// Days of daily snapshots to keep (1–60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_retention: Option<u32>,
    /// Daily automatic snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_backup_enabled: Option<bool>,
    /// Restore from this snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// Fork this volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_volume_id: Option<String>,
}

/// A volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Volume {
    /// `vol_…`: what `mounts[].volume` takes.
    #[serde(default)]
    pub id: String,
    /// The name given at creation.
    #[serde(default)]
    pub name: String,
    /// e.g. `created`, `pending_destroy`, `destroyed`.
    #[serde(default)]
    pub state: String,
    /// Size in GB.
    #[serde(default)]
    pub size_gb: u32,
    /// Region code.
    #[serde(default)]
    pub region: String,
    /// Hardware zone inside the region.
    #[serde(default)]
    pub zone: Option<String>,
    /// Whether it is encrypted.
    #[serde(default)]
    pub encrypted: Option<bool>,
    /// The Machine that mounts it, if any.
    #[serde(default)]
    pub attached_machine_id: Option<String>,
    /// `ok`, `unknown` or `unreachable`.
    #[serde(default)]
    pub host_status: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Volume {
    /// Whether the volume is gone or on its way out (`pending_destroy`, `destroying`,
    /// `destroyed`), so it must not be reused.
    pub fn is_destroyed(&self) -> bool {
        self.state.contains("destroy")
    }
}

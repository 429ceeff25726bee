//! App secrets over REST (fly.md §2.6; fly-go `AppSecret`, `UpdateAppSecretsRequest`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One app secret as listed: its name and digest. Fly returns `value` only when asked to show
/// secrets, which this client never does; `Debug` hides it anyway.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppSecret {
    /// The environment variable name.
    pub name: String,
    /// A digest of the value: compare digests to see whether a value changed.
    #[serde(default)]
    pub digest: Option<String>,
    /// When it was first set.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it was last set.
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSecret")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// Body of `POST /v1/apps/{app}/secrets`: `{"values": {"NAME": "v", "OLD": null}}`; `null`
/// deletes.
#[derive(Serialize)]
pub(crate) struct UpdateSecretsRequest<'a> {
    pub values: BTreeMap<&'a str, Option<&'a str>>,
}

/// Answer of the secrets list and update: `{"secrets": […], "version": n}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SecretsResponse {
    #[serde(default)]
    pub secrets: Vec<AppSecret>,
    #[serde(default)]
    pub version: Option<u64>,
}

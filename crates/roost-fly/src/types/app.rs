//! Apps (fly.md §2.2; fly-go `CreateAppRequest`, `App`, `AppOrganizationInfo`).

use serde::{Deserialize, Serialize};

/// Body of `POST /v1/apps`.
///
/// fly.md §2.2 CONFLICT: the prose docs spell the name `app_name`; the current fly-go client
/// and OpenAPI schema spell it `name`. We follow the current client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAppRequest {
    /// Globally unique across Fly.io.
    pub name: String,
    /// The organization to create it in.
    pub org_slug: String,
    /// A custom 6PN; isolates the app from the org's other apps (and, by default, from
    /// replays; fly.md §1.7). Leave `None` for the org's default network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// An app role; `None` for a plain app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role_id: Option<String>,
}

/// Answer of `POST /v1/apps` (201): `{"id", "created_at"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreatedApp {
    /// Fly's app id (not the name).
    #[serde(default)]
    pub id: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_at: Option<i64>,
}

/// An app, from `GET /v1/apps/{name}` or the list `GET /v1/apps?org_slug=`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct App {
    /// Fly's app id.
    #[serde(default)]
    pub id: String,
    /// The app name (what every other call takes).
    #[serde(default)]
    pub name: String,
    /// e.g. `pending`, `deployed`, `suspended`.
    #[serde(default)]
    pub status: Option<String>,
    /// The owning organization; absent in list answers.
    #[serde(default)]
    pub organization: Option<AppOrganization>,
    /// The 6PN name, when the app has its own.
    #[serde(default)]
    pub network: Option<String>,
    /// Number of Machines, where Fly reports it.
    #[serde(default)]
    pub machine_count: Option<i64>,
    /// Number of volumes, where Fly reports it.
    #[serde(default)]
    pub volume_count: Option<i64>,
}

/// `App.organization`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppOrganization {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The slug the API takes (`org_slug`).
    #[serde(default)]
    pub slug: String,
}

/// Answer of `GET /v1/apps?org_slug=`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ListAppsResponse {
    #[serde(default)]
    pub apps: Vec<App>,
}

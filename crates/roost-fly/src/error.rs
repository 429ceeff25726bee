//! Errors of every Machines API call, and the one place that classifies an HTTP answer.
//!
//! Fly answers errors as `{"error": "<message>", "status": "<code>"}` (fly.md §2.7), sometimes
//! with `message` or a deprecated `details`. The HTTP status decides most kinds; the body's
//! `status` code refines a few (`insufficient_capacity`, `name_taken`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Which Machines API call an error, a metric or a log line belongs to.
///
/// The names are stable strings (`"machines.create"`, …) used as the `endpoint` label of
/// `roost_fly_api_requests_total` and in [`FlyError::endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    AppCreate,
    AppGet,
    AppList,
    AppDelete,
    MachineCreate,
    MachineGet,
    MachineList,
    MachineUpdate,
    MachineStart,
    MachineStop,
    MachineSuspend,
    MachineRestart,
    MachineWait,
    MachineDestroy,
    LeaseAcquire,
    LeaseGet,
    LeaseRelease,
    VolumeCreate,
    VolumeList,
    VolumeGet,
    VolumeDelete,
    SecretsList,
    SecretsUpdate,
}

impl Endpoint {
    /// The stable name used in metrics, logs and [`FlyError::endpoint`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppCreate => "apps.create",
            Self::AppGet => "apps.get",
            Self::AppList => "apps.list",
            Self::AppDelete => "apps.delete",
            Self::MachineCreate => "machines.create",
            Self::MachineGet => "machines.get",
            Self::MachineList => "machines.list",
            Self::MachineUpdate => "machines.update",
            Self::MachineStart => "machines.start",
            Self::MachineStop => "machines.stop",
            Self::MachineSuspend => "machines.suspend",
            Self::MachineRestart => "machines.restart",
            Self::MachineWait => "machines.wait",
            Self::MachineDestroy => "machines.destroy",
            Self::LeaseAcquire => "machines.lease_acquire",
            Self::LeaseGet => "machines.lease_get",
            Self::LeaseRelease => "machines.lease_release",
            Self::VolumeCreate => "volumes.create",
            Self::VolumeList => "volumes.list",
            Self::VolumeGet => "volumes.get",
            Self::VolumeDelete => "volumes.delete",
            Self::SecretsList => "secrets.list",
            Self::SecretsUpdate => "secrets.update",
        }
    }

    /// Whether sending the call twice leaves the same result as sending it once, so a
    /// transient failure (timeout, 5xx) may be retried blindly. Reads, and the state
    /// transitions Fly applies idempotently (start a started Machine, stop a stopped one, delete
    /// something already deleted, set a secret to the value it has).
    ///
    /// Not idempotent: creates (a second Machine, volume or app), update (a second reboot),
    /// restart (a second restart) and lease acquire (the retry would find our own lease held
    /// and answer 409 without the nonce). Those return the error and let the caller look.
    pub fn is_idempotent(self) -> bool {
        !matches!(
            self,
            Self::AppCreate
                | Self::MachineCreate
                | Self::VolumeCreate
                | Self::MachineUpdate
                | Self::MachineRestart
                | Self::LeaseAcquire
        )
    }

    /// Whether the call creates something (an ambiguous failure may leave it behind).
    pub fn is_create(self) -> bool {
        matches!(
            self,
            Self::AppCreate | Self::MachineCreate | Self::VolumeCreate
        )
    }

    /// Whether the call only reads.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Self::AppGet
                | Self::AppList
                | Self::MachineGet
                | Self::MachineList
                | Self::MachineWait
                | Self::LeaseGet
                | Self::VolumeList
                | Self::VolumeGet
                | Self::SecretsList
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, as far as the caller needs to decide what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlyErrorKind {
    /// 404: the app, Machine, volume, lease or secret does not exist (or no longer does).
    /// After a delete or destroy this means "already gone".
    NotFound,
    /// The app name belongs to someone: on app create, a 422, or a 403 whose body says the name
    /// is taken (`"status": "name_taken"`, or an error text containing "taken", "already exists"
    /// or "not unique"); from [`crate::FlyClient::find_app_by_name`], a 403 (the app exists in
    /// an org this token cannot read) or an app in another org. App names are global across
    /// Fly.io (fly.md §2.2).
    NameTaken,
    /// 409: another holder has the Machine's lease. Wait for it to expire or use its nonce.
    LeaseHeld,
    /// 412: the Machine is in a state that refuses this call (e.g. `replacing` refuses start),
    /// or a supplied version is stale. Retrying later usually works.
    Precondition,
    /// 429 that survived the retries, or whose `Retry-After` was over a minute (not slept
    /// through inside the call). `retry_after` is Fly's `Retry-After`, when it sent one.
    RateLimited {
        /// How long Fly asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Fly has no capacity for this Machine or volume in the region
    /// (`"status": "insufficient_capacity"`). Try again later or in another region.
    InsufficientCapacity,
    /// 408, 5xx, a connection that could not be opened, or a request that timed out. On a
    /// create, see [`FlyError::is_ambiguous`].
    Transient,
    /// 401, or 403 not explained as a taken name: the token is wrong, expired, or lacks the
    /// scope (creating and deleting apps needs an org token; fly.md §2.1).
    Unauthorized,
    /// 400 or 422 (other than a taken name): Fly refused the request as malformed.
    Invalid,
    /// [`crate::FlyClient::wait_for_state`] reached the caller's deadline before the Machine
    /// reached the state.
    WaitTimedOut,
    /// The client is misconfigured or the answer could not be understood (unexpected status,
    /// a body that is not the documented JSON).
    Other,
}

/// A failed Machines API call.
///
/// `message` is Fly's error text (or ours for transport failures); it never contains the token.
/// Quote `request_id` (Fly's `fly-request-id` response header) in a support ticket.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.render())]
pub struct FlyError {
    /// What kind of failure this is.
    pub kind: FlyErrorKind,
    /// The HTTP status, if Fly answered at all.
    pub status: Option<u16>,
    /// Fly's error message, or a description of the transport failure.
    pub message: String,
    /// Fly's `fly-request-id` response header.
    pub request_id: Option<String>,
    /// The call that failed, e.g. `"machines.create"` ([`Endpoint::as_str`]).
    pub endpoint: &'static str,
    /// The request never left this process (connection refused, DNS failure), so it cannot
    /// have taken effect.
    pub(crate) not_sent: bool,
    pub(crate) endpoint_kind: Option<Endpoint>,
}

impl FlyError {
    /// Whether the request may have taken effect although it failed: a timeout, 408 or 5xx on a
    /// call that changes something. For a create, the resource may exist now: look for it
    /// (`find_app_by_name`, `find_machines_by_tag`, `find_volumes_by_name`) before creating it
    /// again. Fly has no idempotency keys (fly.md §2.7).
    pub fn is_ambiguous(&self) -> bool {
        self.kind == FlyErrorKind::Transient
            && !self.not_sent
            && self.endpoint_kind.is_some_and(|e| !e.is_read())
    }

    /// Whether the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == FlyErrorKind::NotFound
    }

    pub(crate) fn new(endpoint: Endpoint, kind: FlyErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            request_id: None,
            endpoint: endpoint.as_str(),
            not_sent: false,
            endpoint_kind: Some(endpoint),
        }
    }

    /// Classifies a non-2xx answer from its status, headers and body.
    pub(crate) fn from_response(
        endpoint: Endpoint,
        status: u16,
        request_id: Option<String>,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let message = parsed
            .error
            .or(parsed.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("HTTP {status} with an empty body")
                } else {
                    // Bodies that are not Fly's JSON (a proxy's HTML page) can be long.
                    text.chars().take(300).collect()
                }
            });
        let code = parsed.status.unwrap_or_default();
        let kind = classify(endpoint, status, &code, &message, retry_after);
        Self {
            kind,
            status: Some(status),
            message,
            request_id,
            endpoint: endpoint.as_str(),
            not_sent: false,
            endpoint_kind: Some(endpoint),
        }
    }

    /// Classifies a failure to get any answer.
    pub(crate) fn from_transport(endpoint: Endpoint, err: &reqwest::Error) -> Self {
        let not_sent = err.is_connect();
        let what = if err.is_timeout() {
            "timed out waiting for the Machines API"
        } else if not_sent {
            "could not connect to the Machines API"
        } else {
            "the connection to the Machines API failed"
        };
        // reqwest's Display includes the URL (never the token); keep the cause chain short.
        let mut message = format!("{what}: {err}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        // A request we could not even build will not get better by retrying.
        let kind = if err.is_builder() {
            FlyErrorKind::Other
        } else {
            FlyErrorKind::Transient
        };
        Self {
            kind,
            status: None,
            message,
            request_id: None,
            endpoint: endpoint.as_str(),
            not_sent: not_sent || err.is_builder(),
            endpoint_kind: Some(endpoint),
        }
    }

    fn render(&self) -> String {
        let mut out = format!("Fly API {} failed", self.endpoint);
        if let Some(status) = self.status {
            out.push_str(&format!(" (HTTP {status})"));
        }
        out.push_str(": ");
        out.push_str(&self.message);
        if let Some(id) = &self.request_id {
            out.push_str(&format!(" [fly-request-id {id}]"));
        }
        out
    }
}

/// Fly's error body (fly.md §2.7); every field optional because bodies vary by endpoint.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

fn classify(
    endpoint: Endpoint,
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> FlyErrorKind {
    if code == "insufficient_capacity" {
        return FlyErrorKind::InsufficientCapacity;
    }
    if code == "name_taken" {
        return FlyErrorKind::NameTaken;
    }
    match status {
        404 => FlyErrorKind::NotFound,
        409 => FlyErrorKind::LeaseHeld,
        412 => FlyErrorKind::Precondition,
        429 => FlyErrorKind::RateLimited { retry_after },
        408 | 500..=599 => {
            if mentions_capacity(message) {
                FlyErrorKind::InsufficientCapacity
            } else {
                FlyErrorKind::Transient
            }
        }
        // App names are global: a taken name answers 422 (newer: `name_taken`), and Fly has
        // been seen answering 403 for a name held by another org (fly.md §2.2).
        422 | 403 if endpoint == Endpoint::AppCreate && says_name_taken(message) => {
            FlyErrorKind::NameTaken
        }
        401 | 403 => FlyErrorKind::Unauthorized,
        400 | 422 if mentions_capacity(message) => FlyErrorKind::InsufficientCapacity,
        400 | 422 => FlyErrorKind::Invalid,
        _ => FlyErrorKind::Other,
    }
}

/// The documented heuristic for a taken app name when the body carries no `name_taken` code.
fn says_name_taken(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("taken") || m.contains("already exists") || m.contains("not unique")
}

fn mentions_capacity(message: &str) -> bool {
    message.to_ascii_lowercase().contains("insufficient")
        && message.to_ascii_lowercase().contains("capacity")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(endpoint: Endpoint, status: u16, body: &str) -> FlyErrorKind {
        FlyError::from_response(endpoint, status, None, None, body.as_bytes()).kind
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let e = Endpoint::MachineStart;
        assert_eq!(
            kind(e, 404, r#"{"error":"not found"}"#),
            FlyErrorKind::NotFound
        );
        assert_eq!(kind(e, 409, "{}"), FlyErrorKind::LeaseHeld);
        assert_eq!(kind(e, 412, "{}"), FlyErrorKind::Precondition);
        assert_eq!(kind(e, 408, ""), FlyErrorKind::Transient);
        assert_eq!(kind(e, 503, "<html>"), FlyErrorKind::Transient);
        assert_eq!(kind(e, 401, "{}"), FlyErrorKind::Unauthorized);
        assert_eq!(kind(e, 403, "{}"), FlyErrorKind::Unauthorized);
        assert_eq!(kind(e, 400, "{}"), FlyErrorKind::Invalid);
        assert_eq!(kind(e, 422, "{}"), FlyErrorKind::Invalid);
        assert_eq!(kind(e, 418, "{}"), FlyErrorKind::Other);
        assert_eq!(
            kind(e, 429, "{}"),
            FlyErrorKind::RateLimited { retry_after: None }
        );
    }

    #[test]
    fn body_codes_refine_the_status() {
        let body = r#"{"error":"no capacity in iad","status":"insufficient_capacity"}"#;
        assert_eq!(
            kind(Endpoint::MachineCreate, 412, body),
            FlyErrorKind::InsufficientCapacity
        );
        let body = r#"{"error":"bad","status":"name_taken"}"#;
        assert_eq!(
            kind(Endpoint::AppCreate, 422, body),
            FlyErrorKind::NameTaken
        );
    }

    #[test]
    fn app_name_heuristic_applies_to_app_create_only() {
        let taken = r#"{"error":"Name has already been taken"}"#;
        assert_eq!(
            kind(Endpoint::AppCreate, 422, taken),
            FlyErrorKind::NameTaken
        );
        assert_eq!(
            kind(Endpoint::AppCreate, 403, taken),
            FlyErrorKind::NameTaken
        );
        let denied = r#"{"error":"unauthorized"}"#;
        assert_eq!(
            kind(Endpoint::AppCreate, 403, denied),
            FlyErrorKind::Unauthorized
        );
        assert_eq!(
            kind(Endpoint::VolumeCreate, 422, taken),
            FlyErrorKind::Invalid
        );
    }

    #[test]
    fn message_and_request_id_reach_the_display() {
        let err = FlyError::from_response(
            Endpoint::MachineGet,
            401,
            Some("01REQ".into()),
            None,
            br#"{"error": "Authenticate: token validation error"}"#,
        );
        let text = err.to_string();
        assert!(text.contains("machines.get"), "{text}");
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(text.contains("token validation error"), "{text}");
        assert!(text.contains("01REQ"), "{text}");
    }

    #[test]
    fn only_mutating_transient_failures_are_ambiguous() {
        let create = FlyError::from_response(Endpoint::MachineCreate, 502, None, None, b"");
        assert!(create.is_ambiguous());
        let read = FlyError::from_response(Endpoint::MachineGet, 502, None, None, b"");
        assert!(!read.is_ambiguous());
        let refused = FlyError::from_response(Endpoint::MachineCreate, 422, None, None, b"");
        assert!(!refused.is_ambiguous());
    }
}

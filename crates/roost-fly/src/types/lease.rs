//! Machine leases (fly.md §2.5; fly-go `MachineLease`, `MachineLeaseData`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The proof of holding a Machine's lease, sent as `fly-machine-lease-nonce` on every mutating
/// call while the lease is held. Treat it like a credential for the lease's lifetime.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseNonce(pub String);

impl LeaseNonce {
    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LeaseNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaseNonce(<redacted>)")
    }
}

/// A lease on a Machine: `data` of `{"status": "success", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Send this with mutating calls, to refresh, and to release.
    pub nonce: LeaseNonce,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: i64,
    /// Who holds it (the token's user or a description).
    #[serde(default)]
    pub owner: String,
    /// What the holder said it is for.
    #[serde(default)]
    pub description: String,
    /// The Machine version the lease was taken on.
    #[serde(default)]
    pub version: String,
}

/// Body of `POST …/lease`.
#[derive(Debug, Serialize)]
pub(crate) struct AcquireLeaseRequest<'a> {
    pub ttl: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub description: &'a str,
}

/// Answer of `POST/GET …/lease`.
#[derive(Debug, Deserialize)]
pub(crate) struct LeaseEnvelope {
    #[serde(default)]
    pub data: Option<Lease>,
}

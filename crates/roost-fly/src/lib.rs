//! Typed client for the Fly.io Machines REST API and the `fly-replay` protocol.
//!
//! Two independent halves:
//!
//! * [`FlyClient`]: the Machines API calls roost needs (apps, machines, volumes, secrets,
//!   leases, wait), with Fly's exact JSON field names ([`types`]), typed errors ([`FlyError`]),
//!   retries that never repeat an ambiguous create ([`RetryPolicy`]), and client-side pacing that
//!   matches Fly's published rate limits ([`RateLimits`]).
//! * [`replay`]: the `fly-replay` response builder (header and JSON forms) and parsers for the
//!   `fly-replay-src` / `fly-replay-failed` request headers. No I/O; cheap enough for the
//!   router's hot path.
//!
//! Facts come from `shared/reference/fly.md` §1–§2 and `fly-machines-fields.json` (fly-go's
//! struct tags); section numbers in comments refer to that file.

mod auth;
mod client;
mod config;
mod error;
mod rate_limit;
pub mod replay;
mod retry;
pub mod types;

pub use auth::InvalidToken;
pub use client::{ClientBuildError, FlyClient, ListMachines};
pub use config::FlyClientConfig;
pub use error::{Endpoint, FlyError, FlyErrorKind};
pub use rate_limit::{Quota, RateLimits};
pub use retry::RetryPolicy;
pub use types::FlyDuration;

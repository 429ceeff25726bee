//! The `fly-replay` protocol (fly.md §1): the response that asks Fly's proxy to replay the
//! original request elsewhere ([`Replay`]), and the request headers the proxy adds on the way
//! ([`ReplaySrc`], [`ReplayFailed`]).
//!
//! The router builds a replay for every MCP request, so the builder borrows everything and
//! writes straight into the output without intermediate allocations beyond the output itself.

mod build;
mod parse;

pub use build::{Fallback, Replay, SetHeader, Transform};
pub use parse::{FailReason, ReplayFailed, ReplaySrc};

/// The response header of the header form.
pub const REPLAY_HEADER: &str = "fly-replay";
/// The `Content-Type` of the JSON form (fly.md §1.3).
pub const REPLAY_JSON_CONTENT_TYPE: &str = "application/vnd.fly.replay+json";
/// The request header a replay target receives (fly.md §1.4).
pub const REPLAY_SRC_HEADER: &str = "fly-replay-src";
/// The request header the original Machine receives when a `fallback` fires (fly.md §1.4).
pub const REPLAY_FAILED_HEADER: &str = "fly-replay-failed";

/// A replay that cannot be expressed, or a header that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A value would break the `key=value;…` syntax or is empty. Fly documents no escaping
    /// (fly.md §1.2), so such values are refused rather than mangled.
    #[error(
        "replay field `{field}` has an unusable value: use a non-empty token of visible ASCII \
         without `;`, `,`, `=`, quotes or spaces"
    )]
    BadValue {
        /// The field name (`app`, `state`, …).
        field: &'static str,
    },
    /// `transform` exists only in the JSON form.
    #[error(
        "a replay with `transform` must be sent in the JSON form (application/vnd.fly.replay+json)"
    )]
    TransformNeedsJson,
    /// A transform header name or value is not valid HTTP, or the path does not start with `/`.
    #[error("replay transform `{field}` is not valid HTTP")]
    BadTransform {
        /// `path`, `delete_headers` or `set_headers`.
        field: &'static str,
    },
    /// A `fly-replay-src` / `fly-replay-failed` header is not `key=value;…`.
    #[error("malformed {header} header: expected key=value pairs separated by `;`")]
    Malformed {
        /// Which header.
        header: &'static str,
    },
}

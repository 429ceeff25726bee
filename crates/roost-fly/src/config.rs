//! What a [`crate::FlyClient`] is built from.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::rate_limit::RateLimits;
use crate::retry::RetryPolicy;

/// Everything a [`crate::FlyClient`] needs. Build it with [`FlyClientConfig::new`] and adjust
/// the public fields.
///
/// `Debug` never shows the token.
#[derive(Clone)]
pub struct FlyClientConfig {
    /// The Machines API: `https://api.machines.dev` on the internet,
    /// `http://_api.internal:4280` inside a Fly private network, or a local platform. Paths are
    /// appended under `/v1`.
    pub base_url: Url,
    /// A Fly API token, as `fly tokens create org` printed it (`FlyV1 fm2_…`) or bare
    /// (`fm2_…`, or any other token, which is sent as `Bearer`). Creating and deleting apps needs
    /// an org-scoped token (fly.md §2.1). Secret: never logged.
    pub token: String,
    /// The organization apps are created in and listed from (`personal` or an org slug).
    pub org_slug: String,
    /// Client-side pacing; defaults to Fly's published limits.
    pub rate_limits: RateLimits,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Timeout of one HTTP attempt (connect + answer). Wait calls add the server-side wait to it.
    pub timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl FlyClientConfig {
    /// A configuration with Fly's rate limits, the default retry policy and a 30 s timeout.
    pub fn new(base_url: Url, token: impl Into<String>, org_slug: impl Into<String>) -> Self {
        Self {
            base_url,
            token: token.into(),
            org_slug: org_slug.into(),
            rate_limits: RateLimits::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            user_agent: concat!("roost-fly/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl fmt::Debug for FlyClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlyClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("token", &"<redacted>")
            .field("org_slug", &self.org_slug)
            .field("rate_limits", &self.rate_limits)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let config = FlyClientConfig::new(
            "https://api.machines.dev".parse().unwrap(),
            "fm2_supersecret",
            "personal",
        );
        let text = format!("{config:?}");
        assert!(!text.contains("supersecret"), "{text}");
        assert!(text.contains("<redacted>"));
        assert!(text.contains("personal"));
    }
}

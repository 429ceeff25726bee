//! Bearer-token checking for the hot path: extract the token, verify it once, and remember the
//! verdict so the next request with the same token costs a hash and a map lookup.
//!
//! The cache key is the SHA-256 of the token (the digest `roost_token::token_digest` hex-encodes),
//! kept as 32 raw bytes so a hit allocates nothing; the token itself is never stored or logged.
//! A good verdict lives until the token's `exp`; a bad one for a minute, so a client hammering
//! with a broken token costs one signature check per minute, not one per request.
//! Every verdict, cached or fresh, is then checked against the [`RevokedTokens`] set, so a
//! token revoked after its verdict was cached is refused from the next request on.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, header};
use moka::Expiry;
use roost_token::{AccessClaims, Verifier, VerifyError};
use sha2::{Digest as _, Sha256};

use crate::metrics::HotPathMetrics;

pub mod revoked;
pub use revoked::RevokedTokens;

/// How long a refusal is remembered.
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token")]
    Missing,
    /// The token was refused.
    #[error("invalid token: {0}")]
    Invalid(VerifyError),
    /// The token is genuine but was revoked (its grant died, or its client revoked it).
    #[error("the token was revoked")]
    Revoked,
}

/// A verdict as cached: the claims, or why the token was refused.
type Verdict = Result<Arc<AccessClaims>, VerifyError>;

/// Verifies bearer tokens with a bounded verdict cache. Cheap to clone.
#[derive(Clone)]
pub struct TokenGate {
    verifier: Verifier,
    cache: moka::sync::Cache<[u8; 32], Verdict>,
    revoked: RevokedTokens,
    metrics: HotPathMetrics,
}

impl TokenGate {
    /// A gate over `verifier`, remembering at most `capacity` verdicts and refusing the tokens
    /// in `revoked`.
    pub fn new(
        verifier: Verifier,
        capacity: u64,
        revoked: RevokedTokens,
        metrics: HotPathMetrics,
    ) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .expire_after(VerdictExpiry)
            .build();
        TokenGate {
            verifier,
            cache,
            revoked,
            metrics,
        }
    }

    /// The revoked access tokens it refuses.
    pub fn revoked(&self) -> &RevokedTokens {
        &self.revoked
    }

    /// The verifier (issuer, audience, keys).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The claims of the request's bearer token, or why there are none.
    pub fn check(&self, headers: &HeaderMap) -> Result<Arc<AccessClaims>, AuthError> {
        let token = bearer_token(headers).ok_or(AuthError::Missing)?;
        self.check_token(token)
    }

    /// The claims of `token`, from the cache or by verifying it, unless it was revoked.
    pub fn check_token(&self, token: &str) -> Result<Arc<AccessClaims>, AuthError> {
        let claims = self.verdict(token).map_err(AuthError::Invalid)?;
        if self.revoked.contains(&claims.jti) {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// The signature-and-claims verdict on `token`, cached.
    fn verdict(&self, token: &str) -> Verdict {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(verdict) = self.cache.get(&key) {
            // moka evicts lazily; re-check `exp` so a hit can never outlive its token.
            if let Ok(claims) = &verdict
                && claims.exp <= unix_now()
            {
                self.cache.invalidate(&key);
            } else {
                self.metrics.token_hit.increment(1);
                return verdict;
            }
        }
        self.metrics.token_miss.increment(1);
        let verdict = self.verifier.verify(token).map(Arc::new);
        // "Not yet valid" turns valid by itself: remembering it would refuse a good token.
        if !matches!(verdict, Err(VerifyError::NotYetValid)) {
            self.cache.insert(key, verdict.clone());
        }
        verdict
    }
}

/// Good verdicts expire with their token, refusals after [`NEGATIVE_TTL`].
struct VerdictExpiry;

impl Expiry<[u8; 32], Verdict> for VerdictExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        verdict: &Verdict,
        _now: Instant,
    ) -> Option<Duration> {
        Some(match verdict {
            Ok(claims) => Duration::from_secs(u64::try_from(claims.exp - unix_now()).unwrap_or(0)),
            Err(_) => NEGATIVE_TTL,
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive,
/// RFC 6750 §2.1), or `None`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The `WWW-Authenticate` challenge of a 401/403 (RFC 6750 §3, RFC 9728 §5.1): where the
/// protected-resource metadata is, the scope to ask for, and, when a token was presented,
/// why it failed. MCP clients start their OAuth flow from `resource_metadata`.
pub fn challenge(
    resource_metadata_url: &str,
    scope: &str,
    error: Option<(&str, &str)>,
) -> HeaderValue {
    let mut value =
        format!(r#"Bearer resource_metadata="{resource_metadata_url}", scope="{scope}""#);
    if let Some((code, description)) = error {
        value.push_str(&format!(
            r#", error="{code}", error_description="{description}""#
        ));
    }
    // Every part is ASCII we control or a URL validated at start-up.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

#[cfg(test)]
mod tests;

//! Access tokens revoked before their `exp`: the set the token gate consults on every request.
//!
//! Access tokens are self-contained JWTs, so revoking one means remembering its `jti` until it
//! would have expired anyway (at most `ROOST_ACCESS_TOKEN_TTL`). A token is revoked when the
//! grant that issued it dies (a replayed authorization code, a reused refresh token, RFC 7009
//! revocation of its refresh token) or when a client revokes the access token itself.
//!
//! The database (`oauth_access_tokens.revoked_at`) is the record every router shares; this set
//! is each router's copy. The router that revokes a token adds it here at once; the others
//! learn of it within `ROOST_REVOCATION_POLL` (`db::follow_changes`, started by `server::run`); a
//! starting router loads the whole set in `OAuth::start`.

use std::time::{Duration, Instant};

use moka::Expiry;

use super::unix_now;

/// The revoked `jti`s this router knows of, each kept until its token's `exp`. Cheap to clone.
///
/// Unbounded on purpose: evicting an entry under memory pressure would make a revoked token
/// valid again. Its size is bounded by the tokens revoked within one access-token lifetime.
#[derive(Clone)]
pub struct RevokedTokens {
    jtis: moka::sync::Cache<String, i64>,
}

impl RevokedTokens {
    /// An empty set.
    pub fn new() -> Self {
        RevokedTokens {
            jtis: moka::sync::Cache::builder()
                .expire_after(UntilTokenExpiry)
                .build(),
        }
    }

    /// Remembers that the token `jti`, which expires at `exp` (Unix seconds), is revoked.
    /// A token that has already expired needs no entry.
    pub fn revoke(&self, jti: &str, exp: i64) {
        if exp > unix_now() {
            self.jtis.insert(jti.to_owned(), exp);
        }
    }

    /// Whether the token `jti` was revoked.
    pub fn contains(&self, jti: &str) -> bool {
        self.jtis.contains_key(jti)
    }
}

impl Default for RevokedTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RevokedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokedTokens")
            .field("entries", &self.jtis.entry_count())
            .finish()
    }
}

/// An entry lives until the token it names expires.
struct UntilTokenExpiry;

impl Expiry<String, i64> for UntilTokenExpiry {
    fn expire_after_create(&self, _jti: &String, exp: &i64, _now: Instant) -> Option<Duration> {
        Some(Duration::from_secs(
            u64::try_from(exp - unix_now()).unwrap_or(0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_token_is_remembered_and_others_are_not() {
        let revoked = RevokedTokens::new();
        revoked.revoke("a", unix_now() + 600);
        assert!(revoked.contains("a"));
        assert!(!revoked.contains("b"));
    }

    #[test]
    fn an_already_expired_token_needs_no_entry() {
        let revoked = RevokedTokens::new();
        revoked.revoke("old", unix_now() - 1);
        assert!(!revoked.contains("old"));
    }
}

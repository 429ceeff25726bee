//! The claims of a roost access token and the rules their values must follow.
//!
//! The claim set follows RFC 9068 (JWT profile for OAuth 2.0 access tokens) plus one private
//! claim, `tenant`, naming the user's Fly app so the workspace can refuse a token minted for
//! somebody else's machine. The same shape check runs before signing and after verifying, so
//! the router cannot mint a token the workspace would refuse for its shape.

use serde::{Deserialize, Serialize};

/// The claims of a roost access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer URL of the router.
    pub iss: String,
    /// Audience: the canonical public MCP URL, e.g. `https://mcp.example.com/mcp`.
    pub aud: String,
    /// Subject: the user id.
    pub sub: String,
    /// The user's Fly app name, e.g. `roost-u-3f9a2c1d`.
    pub tenant: String,
    /// Space-separated scopes (RFC 6749 §3.3), see [`crate::scopes`].
    pub scope: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not valid before, seconds since the Unix epoch.
    pub nbf: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

impl AccessClaims {
    /// The individual scopes in [`AccessClaims::scope`].
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether the token grants `scope` (exact, case-sensitive match as RFC 6749 §3.3 requires).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// What is wrong with the claim values, if anything: a required claim is empty, the
    /// validity window is empty, or `scope` is not a valid RFC 6749 §3.3 scope list.
    pub(crate) fn shape_problem(&self) -> Option<String> {
        let required = [
            ("iss", &self.iss),
            ("aud", &self.aud),
            ("sub", &self.sub),
            ("tenant", &self.tenant),
            ("client_id", &self.client_id),
            ("jti", &self.jti),
        ];
        if let Some((name, _)) = required.iter().find(|(_, value)| value.is_empty()) {
            return Some(format!("the `{name}` claim is empty"));
        }
        if self.exp <= self.nbf {
            return Some(format!(
                "`exp` ({}) is not after `nbf` ({}): the token could never be valid",
                self.exp, self.nbf
            ));
        }
        if !is_scope_list(&self.scope) {
            return Some(
                "`scope` must be scope tokens of printable ASCII without `\"` or `\\`, \
                 separated by single spaces (RFC 6749 §3.3)"
                    .to_owned(),
            );
        }
        None
    }
}

/// RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`, `scope-token = 1*NQCHAR`,
/// `NQCHAR = %x21 / %x23-5B / %x5D-7E`. An empty list is allowed (a token with no scopes).
fn is_scope_list(scope: &str) -> bool {
    scope.is_empty()
        || scope.split(' ').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        })
}

/// The claims as they may arrive on the wire: `aud` is a string or an array of strings
/// (RFC 7519 §4.1.3). Unknown claims are ignored; every claim roost uses is required.
#[derive(Deserialize)]
pub(crate) struct WireClaims {
    pub(crate) iss: String,
    pub(crate) aud: Audience,
    pub(crate) sub: String,
    pub(crate) tenant: String,
    pub(crate) scope: String,
    pub(crate) client_id: String,
    pub(crate) iat: i64,
    pub(crate) nbf: i64,
    pub(crate) exp: i64,
    pub(crate) jti: String,
}

/// The `aud` claim: one audience or several.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

impl WireClaims {
    /// The claims with `aud` narrowed to `audience`, which the caller has checked is present.
    pub(crate) fn into_claims(self, audience: &str) -> AccessClaims {
        AccessClaims {
            iss: self.iss,
            aud: match self.aud {
                Audience::One(one) => one,
                Audience::Many(_) => audience.to_owned(),
            },
            sub: self.sub,
            tenant: self.tenant,
            scope: self.scope,
            client_id: self.client_id,
            iat: self.iat,
            nbf: self.nbf,
            exp: self.exp,
            jti: self.jti,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::claims as sample;

    #[test]
    fn scopes_are_split_on_spaces_and_matched_exactly() {
        let mut claims = sample();
        assert_eq!(
            claims.scopes().collect::<Vec<_>>(),
            ["roost:workspace", "roost:run"]
        );
        assert!(claims.has_scope(crate::scopes::RUN));
        assert!(!claims.has_scope("roost:"));
        assert!(!claims.has_scope("ROOST:RUN"));
        claims.scope = crate::scopes::WORKSPACE.into();
        assert!(!claims.has_scope(crate::scopes::RUN));
        claims.scope = String::new();
        assert_eq!(claims.scopes().count(), 0);
    }

    #[test]
    fn shape_problems_name_the_claim() {
        assert_eq!(sample().shape_problem(), None);
        let mut empty_tenant = sample();
        empty_tenant.tenant.clear();
        assert!(empty_tenant.shape_problem().unwrap().contains("`tenant`"));
        let mut backwards = sample();
        backwards.exp = backwards.nbf;
        assert!(
            backwards
                .shape_problem()
                .unwrap()
                .contains("never be valid")
        );
        for bad in ["a  b", " a", "a\"b", "a\\b", "caf\u{e9}", "a\tb"] {
            let mut claims = sample();
            claims.scope = bad.into();
            assert!(claims.shape_problem().is_some(), "{bad:?} accepted");
        }
    }
}

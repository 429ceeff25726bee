//! roost access tokens: the format the router signs and every workspace verifies.
//!
//! A token is an EdDSA (Ed25519) JWT in the RFC 9068 access-token profile: header
//! `{"alg":"EdDSA","typ":"at+jwt","kid":…}` and the claims in [`AccessClaims`]. The router holds
//! a [`SigningKey`] and publishes its public half as a [`JwkSet`]; verifiers hold a [`Verifier`]
//! with one or more public keys, so a new key can be introduced before the old one is retired.
//! `docs/tokens.md` describes the format for operators.
//!
//! ```
//! use roost_token::{AccessClaims, SigningKey, Verifier, VerifyError, scopes};
//!
//! // Router: sign, and publish `key.public_jwk()` in the JWKS.
//! let key = SigningKey::generate();
//! let claims = AccessClaims {
//!     iss: "https://auth.example.com".into(),
//!     aud: "https://mcp.example.com/mcp".into(),
//!     sub: "user-1".into(),
//!     tenant: "roost-u-3f9a2c1d".into(),
//!     scope: scopes::WORKSPACE.into(),
//!     client_id: "client-1".into(),
//!     iat: 1_800_000_000,
//!     nbf: 1_800_000_000,
//!     exp: 1_800_000_600,
//!     jti: "jti-1".into(),
//! };
//! let token = key.sign(&claims)?;
//!
//! // Workspace: trust the published key, then verify each request's bearer token.
//! let mut verifier = Verifier::new("https://auth.example.com", "https://mcp.example.com/mcp");
//! verifier.add_jwk(&key.public_jwk())?;
//! let verified = verifier.verify_at(&token, 1_800_000_100)?;
//! assert!(verified.has_scope(scopes::WORKSPACE) && !verified.has_scope(scopes::RUN));
//! assert_eq!(verifier.verify_at(&token, 1_800_000_700), Err(VerifyError::Expired));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The compact-JWS framing is written here on top of `ed25519-dalek` rather than delegated to a
//! general JWT library: the verifier must decide the header policy itself (EdDSA only, `kid`
//! required, `typ` checked), accept `aud` as string or array, and take the time as an argument
//! for `verify_at`, which leaves a JWT library only the base64 and the signature call.

mod claims;
mod jwk;
mod keys;
pub mod scopes;
mod signing;
mod verify;

#[cfg(test)]
mod testing;

use sha2::{Digest as _, Sha256};

pub use claims::AccessClaims;
pub use jwk::{Jwk, JwkSet};
pub use keys::KeyError;
pub use signing::{SignError, SigningKey};
pub use verify::{Verifier, VerifyError};

/// SHA-256 digest of a token, lowercase hex; used as a cache key and in logs instead of the token.
pub fn token_digest(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_digest_is_sha256_hex() {
        // FIPS 180-2 Appendix B.1 test vector.
        assert_eq!(
            super::token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(super::token_digest("abc"), super::token_digest("abd"));
    }
}

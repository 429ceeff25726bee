//! The router's signing key and token minting.
//!
//! A token is a JWS in compact form (RFC 7515 §7.1) with the header
//! `{"alg":"EdDSA","typ":"at+jwt","kid":…}` (RFC 8037 §3.1, RFC 9068 §2.1). The header depends
//! only on the key, so it is encoded once when the key is loaded.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    Signer as _,
    pkcs8::{
        DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _,
        spki::der::pem::LineEnding,
    },
};
use rand::TryRngCore as _;

use crate::{
    claims::AccessClaims,
    jwk::{ALG_EDDSA, Jwk, thumbprint},
    keys::KeyError,
};

/// The `typ` header of a roost access token (RFC 9068 §2.1).
pub(crate) const TYP_AT_JWT: &str = "at+jwt";

/// Errors minting a token.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The claims would make a token every verifier refuses.
    #[error("refusing to sign invalid claims: {0}")]
    InvalidClaims(String),
    /// The claims could not be serialized to JSON.
    #[error("serializing claims: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// An Ed25519 private key with its key id (the RFC 7638 thumbprint of its public key).
///
/// `Debug` shows the key id only; the key bytes are zeroed when the value is dropped.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    kid: String,
    /// base64url of the JSON header, shared by every token this key signs.
    encoded_header: String,
}

impl SigningKey {
    /// A fresh random key from the operating system's CSPRNG.
    ///
    /// # Panics
    ///
    /// If the operating system cannot supply randomness, which leaves no safe way to continue.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .expect("the operating system random number generator failed");
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Self::from_dalek(key)
    }

    /// Load a key from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as written by
    /// [`SigningKey::to_pkcs8_pem`] or `openssl genpkey -algorithm ed25519`.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
            KeyError::InvalidKey(format!(
                "expected an Ed25519 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, \
                 e.g. from `openssl genpkey -algorithm ed25519`): {e}"
            ))
        })?;
        Ok(Self::from_dalek(key))
    }

    fn from_dalek(key: ed25519_dalek::SigningKey) -> Self {
        let kid = thumbprint(&key.verifying_key());
        let header = serde_json::json!({ "alg": ALG_EDDSA, "typ": TYP_AT_JWT, "kid": kid });
        let encoded_header = URL_SAFE_NO_PAD.encode(header.to_string());
        SigningKey {
            key,
            kid,
            encoded_header,
        }
    }

    /// The key as PKCS#8 PEM, so `roost dev` can persist a generated key. This is secret.
    pub fn to_pkcs8_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            // Encoding a 32-byte Ed25519 key into PKCS#8 has no failure case in practice.
            .expect("encoding an Ed25519 key as PKCS#8 PEM")
            .to_string()
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), one of the forms
    /// [`crate::Verifier::add_keys_from_str`] accepts; not secret.
    pub fn public_key_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encoding an Ed25519 public key as SPKI PEM")
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, for the router's JWKS document.
    pub fn public_jwk(&self) -> Jwk {
        Jwk::from_ed25519(&self.key.verifying_key())
    }

    /// Mint a token for `claims`: header `{alg: "EdDSA", typ: "at+jwt", kid}`.
    ///
    /// Claims a verifier would refuse for their shape (an empty `sub`/`tenant`/…, `exp` not
    /// after `nbf`, a malformed `scope`) are refused here instead.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        if let Some(problem) = claims.shape_problem() {
            return Err(SignError::InvalidClaims(problem));
        }
        let payload = serde_json::to_vec(claims)?;
        let mut token =
            String::with_capacity(self.encoded_header.len() + payload.len() * 4 / 3 + 2 + 86 + 4);
        token.push_str(&self.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOW, claims, verifier};

    /// A throwaway key from `openssl genpkey -algorithm ed25519` (test fixture, never used
    /// anywhere else), and its public half from `openssl pkey -pubout`.
    const OPENSSL_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIImpudBj197wWh74WYMG7mm+T0ATsvz/jH3fqANtwnef
-----END PRIVATE KEY-----
";
    const OPENSSL_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAxjY2M1L1HfTH/mGphef7oL0uqdVlhea7D2b3GQ84tlQ=
-----END PUBLIC KEY-----
";

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = SigningKey::generate();
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let loaded = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(loaded.kid(), key.kid());
        assert_eq!(loaded.public_jwk(), key.public_jwk());
        // A token from the reloaded key verifies against the original's published key.
        let token = loaded.sign(&claims()).unwrap();
        assert!(verifier(&[&key]).verify_at(&token, NOW).is_ok());
    }

    #[test]
    fn loads_openssl_keys() {
        let key = SigningKey::from_pkcs8_pem(OPENSSL_PRIVATE).unwrap();
        assert_eq!(key.public_key_pem(), OPENSSL_PUBLIC);
    }

    #[test]
    fn bad_pem_is_refused_with_a_hint() {
        for text in ["", "hello", OPENSSL_PUBLIC] {
            let err = SigningKey::from_pkcs8_pem(text).unwrap_err().to_string();
            assert!(err.contains("PKCS#8"), "{err}");
        }
    }

    #[test]
    fn generated_keys_differ_and_kid_is_the_thumbprint() {
        let a = SigningKey::generate();
        let b = SigningKey::generate();
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.kid(), a.public_jwk().kid.unwrap());
        assert_eq!(a.kid().len(), 43, "base64url of a SHA-256 digest");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SigningKey::from_pkcs8_pem(OPENSSL_PRIVATE).unwrap();
        let debug = format!("{key:?} {key:#?}");
        assert!(debug.contains(key.kid()), "{debug}");
        // The private seed is 89 a9 b9 d0 …: as decimal bytes, hex, or within the PEM base64.
        for leak in [
            "137, 169, 185, 208",
            "89a9b9d0",
            "89, a9",
            "ImpudBj197wWh74",
        ] {
            assert!(!debug.contains(leak), "{debug} contains {leak}");
        }
    }

    #[test]
    fn refuses_to_sign_claims_no_verifier_would_accept() {
        let key = SigningKey::generate();
        let mut no_tenant = claims();
        no_tenant.tenant.clear();
        assert!(matches!(
            key.sign(&no_tenant),
            Err(SignError::InvalidClaims(why)) if why.contains("tenant")
        ));
        let mut bad_scope = claims();
        bad_scope.scope = "roost:workspace  roost:run".into();
        assert!(matches!(
            key.sign(&bad_scope),
            Err(SignError::InvalidClaims(_))
        ));
    }
}

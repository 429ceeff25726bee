//! Test fixtures shared by the unit tests: sample claims, verifiers, and a forger that signs
//! arbitrary header and payload JSON the way an attacker holding (or not holding) a key would.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;

use crate::{AccessClaims, SigningKey, Verifier};

pub(crate) const ISSUER: &str = "https://auth.example.com";
pub(crate) const AUDIENCE: &str = "https://mcp.example.com/mcp";
/// The "current time" of the tests, seconds since the epoch.
pub(crate) const NOW: i64 = 1_800_000_000;
/// Token lifetime used by [`claims`].
pub(crate) const TTL: i64 = 600;

/// Valid claims issued at [`NOW`] for [`ISSUER`] and [`AUDIENCE`].
pub(crate) fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "user-1".into(),
        tenant: "roost-u-3f9a2c1d".into(),
        scope: "roost:workspace roost:run".into(),
        client_id: "client-1".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + TTL,
        jti: "jti-1".into(),
    }
}

/// A verifier for [`ISSUER`]/[`AUDIENCE`] trusting `keys`.
pub(crate) fn verifier(keys: &[&SigningKey]) -> Verifier {
    let mut verifier = Verifier::new(ISSUER, AUDIENCE);
    for key in keys {
        verifier.add_jwk(&key.public_jwk()).unwrap();
    }
    verifier
}

/// The raw Ed25519 key inside a [`SigningKey`], via its PEM (tests only).
pub(crate) fn dalek(key: &SigningKey) -> ed25519_dalek::SigningKey {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&key.to_pkcs8_pem()).unwrap()
}

/// `header.payload.signature` with the given JSON, Ed25519-signed by `key`.
pub(crate) fn forge(
    header: &serde_json::Value,
    payload: &serde_json::Value,
    key: &ed25519_dalek::SigningKey,
) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// The header roost's signer writes, for `kid`.
pub(crate) fn header(kid: &str) -> serde_json::Value {
    serde_json::json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid })
}

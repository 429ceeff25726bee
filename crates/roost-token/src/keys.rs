//! Reading public key material an operator pasted into configuration, and the one error type for
//! every key problem (parsing, unsupported types, conflicting key ids).
//!
//! The accepted forms are the ones an operator is likely to have at hand: the router's JWKS
//! document (`roost keys` / the `jwks_uri`), a single JWK, or PEM public keys as `openssl pkey
//! -pubout` prints them. A private key is refused outright: the workspace runs user commands, so
//! a signing key there could mint tokens for every other tenant.

use ed25519_dalek::{VerifyingKey, pkcs8::DecodePublicKey as _};

use crate::jwk::{Jwk, JwkSet, thumbprint};

/// Errors reading, converting or registering keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is a well-formed key of a type roost does not use.
    #[error(
        "key {kid}: unsupported {what}; roost access tokens are signed with Ed25519 \
         (JWK kty \"OKP\", crv \"Ed25519\", alg \"EdDSA\")"
    )]
    Unsupported {
        /// The key's id, or "(no kid)".
        kid: String,
        /// What about the key is unsupported, e.g. `key type (kty) "RSA"`.
        what: String,
    },
    /// The key material is not a valid Ed25519 key.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// Private key material was given where only a public key belongs.
    #[error(
        "this is a private key ({0}); configure verifiers with the public key only \
         (the JWKS the router serves, or `openssl pkey -pubout`)"
    )]
    PrivateKeyGiven(&'static str),
    /// The text is none of the accepted forms.
    #[error(
        "no key found: expected a JWK Set (`{{\"keys\":[…]}}`), a single JWK, or PEM \
         `-----BEGIN PUBLIC KEY-----` blocks ({0})"
    )]
    Unrecognized(String),
    /// A key id is already registered for a different key.
    #[error(
        "key id {0:?} already names a different key; every key needs its own `kid` \
         (omit `kid` to use the RFC 7638 thumbprint)"
    )]
    ConflictingKeyId(String),
}

/// An Ed25519 public key from its 32 bytes, refusing keys no honest signer produces.
pub(crate) fn checked_public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, String> {
    let key = VerifyingKey::from_bytes(bytes)
        .map_err(|_| "not a point on the Ed25519 curve".to_owned())?;
    // A small-order key "verifies" forged signatures under lax rules; refuse it up front
    // (verification uses `verify_strict` as well).
    if key.is_weak() {
        return Err("a weak (small-order) Ed25519 key".to_owned());
    }
    Ok(key)
}

/// Every public key in `text`, with the key id each is filed under.
///
/// `text` is a JWK Set, a single JWK, or one or more PEM `PUBLIC KEY` blocks; PEM keys are
/// filed under their RFC 7638 thumbprint, which is also the `kid` roost's signer uses.
pub(crate) fn parse_public_keys(text: &str) -> Result<Vec<(String, VerifyingKey)>, KeyError> {
    let text = text.trim();
    if text.starts_with('{') {
        parse_json(text)
    } else if text.contains("-----BEGIN") {
        parse_pem_blocks(text)
    } else if text.is_empty() {
        Err(KeyError::Unrecognized("the text is empty".to_owned()))
    } else {
        Err(KeyError::Unrecognized(
            "the text is neither JSON nor PEM".to_owned(),
        ))
    }
}

fn parse_json(text: &str) -> Result<Vec<(String, VerifyingKey)>, KeyError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| KeyError::Unrecognized(format!("invalid JSON: {e}")))?;
    let jwks: Vec<Jwk> = if value.get("keys").is_some() {
        if let Some(keys) = value["keys"].as_array() {
            refuse_private_jwks(keys)?;
        }
        serde_json::from_value::<JwkSet>(value)
            .map_err(|e| KeyError::Unrecognized(format!("not a JWK Set: {e}")))?
            .keys
    } else {
        refuse_private_jwks(std::slice::from_ref(&value))?;
        vec![
            serde_json::from_value::<Jwk>(value)
                .map_err(|e| KeyError::Unrecognized(format!("not a JWK: {e}")))?,
        ]
    };
    if jwks.is_empty() {
        return Err(KeyError::Unrecognized("the JWK Set has no keys".to_owned()));
    }
    jwks.iter()
        .map(|jwk| Ok((jwk.key_id(), jwk.to_ed25519()?)))
        .collect()
}

/// RFC 7517 §4 / RFC 8037 §2: a private OKP key carries `d`.
fn refuse_private_jwks(keys: &[serde_json::Value]) -> Result<(), KeyError> {
    if keys.iter().any(|key| key.get("d").is_some()) {
        return Err(KeyError::PrivateKeyGiven("a JWK with a `d` member"));
    }
    Ok(())
}

fn parse_pem_blocks(text: &str) -> Result<Vec<(String, VerifyingKey)>, KeyError> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block["-----BEGIN ".len()..]
            .find("-----")
            .ok_or_else(|| KeyError::Unrecognized("a PEM BEGIN line is not closed".to_owned()))?;
        let label = &block["-----BEGIN ".len()..][..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = block.find(&end_marker).ok_or_else(|| {
            KeyError::Unrecognized(format!("a PEM block has no `{end_marker}` line"))
        })? + end_marker.len();
        keys.push(parse_pem_block(label, &block[..end])?);
        rest = &block[end..];
    }
    if !rest.trim().is_empty() {
        return Err(KeyError::Unrecognized(
            "text follows the last PEM block".to_owned(),
        ));
    }
    Ok(keys)
}

fn parse_pem_block(label: &str, block: &str) -> Result<(String, VerifyingKey), KeyError> {
    match label {
        "PUBLIC KEY" => {}
        "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "OPENSSH PRIVATE KEY" => {
            return Err(KeyError::PrivateKeyGiven("a PEM private key"));
        }
        other => {
            return Err(KeyError::Unrecognized(format!(
                "a PEM block labelled {other:?}; only \"PUBLIC KEY\" (SPKI) blocks are accepted"
            )));
        }
    }
    let key = VerifyingKey::from_public_key_pem(block).map_err(|e| {
        KeyError::InvalidKey(format!(
            "a PEM public key is not an Ed25519 SubjectPublicKeyInfo ({e})"
        ))
    })?;
    let key = checked_public_key(key.as_bytes()).map_err(KeyError::InvalidKey)?;
    Ok((thumbprint(&key), key))
}

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{
        JwkSet, KeyError, SigningKey, Verifier,
        testing::{AUDIENCE, ISSUER, NOW, claims},
    };

    fn empty() -> Verifier {
        Verifier::new(ISSUER, AUDIENCE)
    }

    /// Adds `text` to a fresh verifier and checks that a token from each key now verifies.
    fn assert_trusts(text: &str, keys: &[&SigningKey]) {
        let mut verifier = empty();
        assert_eq!(verifier.add_keys_from_str(text).unwrap(), keys.len());
        for key in keys {
            let token = key.sign(&claims()).unwrap();
            assert!(verifier.verify_at(&token, NOW).is_ok(), "key {}", key.kid());
        }
    }

    #[test]
    fn accepts_a_jwk_set() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        let set = JwkSet::from_keys([a.public_jwk(), b.public_jwk()]);
        assert_trusts(&serde_json::to_string_pretty(&set).unwrap(), &[&a, &b]);
    }

    #[test]
    fn accepts_a_single_jwk() {
        let key = SigningKey::generate();
        assert_trusts(&serde_json::to_string(&key.public_jwk()).unwrap(), &[&key]);
    }

    #[test]
    fn accepts_a_jwk_without_kid_under_its_thumbprint() {
        let key = SigningKey::generate();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": key.public_jwk().x});
        assert_trusts(&jwk.to_string(), &[&key]);
    }

    #[test]
    fn accepts_pem_public_keys_one_or_several() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        assert_trusts(&a.public_key_pem(), &[&a]);
        let both = format!("\n{}\n{}\n", a.public_key_pem(), b.public_key_pem());
        assert_trusts(&both, &[&a, &b]);
        // As an env var often arrives: CRLF line endings, surrounding blanks.
        assert_trusts(&format!("  {}  ", both.replace('\n', "\r\n")), &[&a, &b]);
    }

    #[test]
    fn refuses_garbage_with_a_clear_error() {
        for text in [
            "",
            "   ",
            "hello",
            "[]",
            "{",
            "{}",
            r#"{"keys": []}"#,
            r#"{"keys": 5}"#,
        ] {
            let err = empty().add_keys_from_str(text).unwrap_err();
            assert!(
                matches!(err, KeyError::Unrecognized(_)),
                "{text:?} gave {err:?}"
            );
            assert!(err.to_string().contains("BEGIN PUBLIC KEY"), "{err}");
        }
        let mangled = "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----";
        assert!(matches!(
            empty().add_keys_from_str(mangled),
            Err(KeyError::InvalidKey(_))
        ));
        let unterminated = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA";
        assert!(matches!(
            empty().add_keys_from_str(unterminated),
            Err(KeyError::Unrecognized(why)) if why.contains("END PUBLIC KEY")
        ));
        let certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert!(matches!(
            empty().add_keys_from_str(certificate),
            Err(KeyError::Unrecognized(why)) if why.contains("CERTIFICATE")
        ));
    }

    #[test]
    fn refuses_private_keys() {
        let key = SigningKey::generate();
        let err = empty().add_keys_from_str(&key.to_pkcs8_pem()).unwrap_err();
        assert!(matches!(err, KeyError::PrivateKeyGiven(_)), "{err:?}");
        assert!(err.to_string().contains("public key only"), "{err}");

        let mut private_jwk = serde_json::to_value(key.public_jwk()).unwrap();
        private_jwk["d"] = json!("c2VjcmV0");
        for text in [
            private_jwk.to_string(),
            json!({ "keys": [private_jwk] }).to_string(),
        ] {
            assert!(matches!(
                empty().add_keys_from_str(&text),
                Err(KeyError::PrivateKeyGiven(_))
            ));
        }
    }

    #[test]
    fn refuses_non_ed25519_keys_and_adds_none_of_the_set() {
        let key = SigningKey::generate();
        let mixed = json!({ "keys": [
            key.public_jwk(),
            {"kty": "EC", "crv": "P-256", "kid": "ec-1", "x": "AA", "y": "AA"},
        ]});
        let mut verifier = empty();
        let err = verifier.add_keys_from_str(&mixed.to_string()).unwrap_err();
        assert!(err.to_string().contains("ec-1"), "{err}");
        assert!(verifier.key_ids().is_empty());

        // From `openssl genpkey -algorithm rsa | openssl pkey -pubout`.
        let rsa_pem = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+wy9RdQQMQ5W1fbkGlvvrxz1F
PmFei9tY9LqClkA6YQOiYsZRyMx96JE6oDCSrM5tGL89GrKG4dwWRWTeRlEj8e/9
GB8qElz+Ms9RI7fgnw6BiOpGjxIcwljwclxsIricsA0hjc5oQ65+Rq2ODBdn2ebM
Epc/df5iY85wBTQCVQIDAQAB
-----END PUBLIC KEY-----";
        assert!(matches!(
            verifier.add_keys_from_str(rsa_pem),
            Err(KeyError::InvalidKey(why)) if why.contains("Ed25519")
        ));
    }

    #[test]
    fn re_adding_keys_is_harmless_but_a_reused_kid_is_refused() {
        let key = SigningKey::generate();
        let jwks = serde_json::to_string(&JwkSet::from_keys([key.public_jwk()])).unwrap();
        let mut verifier = empty();
        verifier.add_keys_from_str(&jwks).unwrap();
        verifier.add_keys_from_str(&jwks).unwrap();
        verifier.add_keys_from_str(&key.public_key_pem()).unwrap();
        assert_eq!(verifier.key_ids(), [key.kid()]);

        let other = SigningKey::generate();
        let mut impostor = other.public_jwk();
        impostor.kid = Some(key.kid().to_owned());
        assert!(matches!(
            verifier.add_jwk(&impostor),
            Err(KeyError::ConflictingKeyId(kid)) if kid == key.kid()
        ));
        assert!(
            verifier
                .verify_at(&key.sign(&claims()).unwrap(), NOW)
                .is_ok()
        );
    }
}

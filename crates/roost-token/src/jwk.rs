//! JSON Web Keys (RFC 7517) for Ed25519 public keys (RFC 8037), and their RFC 7638 key ids.
//!
//! The router publishes its public keys as a JWK Set at its `jwks_uri`; the workspace and
//! operators feed the same documents back into a [`crate::Verifier`]. Only Ed25519 public keys
//! are accepted: anything else is refused by name, so a misconfigured key set fails at start-up
//! instead of at the first request.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::keys::KeyError;

/// The JWS algorithm name for Ed25519 signatures (RFC 8037 §3.1).
pub(crate) const ALG_EDDSA: &str = "EdDSA";
/// The fully-specified algorithm name for Ed25519 (RFC 9864), accepted on keys published by others.
const ALG_ED25519: &str = "Ed25519";

/// A JSON Web Key (RFC 7517) for an Ed25519 public key: `kty` "OKP", `crv` "Ed25519",
/// `x` the base64url public key (RFC 8037 §2), plus `kid`, `alg` "EdDSA" and `use` "sig".
///
/// `crv` and `x` default to empty so that a JWK Set holding other key types still parses and
/// [`crate::Verifier::add_jwk`] can refuse those keys by name rather than with a parse error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; "OKP" for Ed25519.
    pub kty: String,
    /// Curve; "Ed25519".
    #[serde(default)]
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    #[serde(default)]
    pub x: String,
    /// Key id, named by a token's `kid` header. When absent, the RFC 7638 thumbprint is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is used with; "EdDSA".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use; "sig".
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    /// The JWK for an Ed25519 public key, with its RFC 7638 thumbprint as `kid`.
    pub fn from_ed25519(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        Jwk {
            kid: Some(thumbprint_of_x(&x)),
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x,
            alg: Some(ALG_EDDSA.to_owned()),
            use_: Some("sig".to_owned()),
        }
    }

    /// The key id a verifier files this key under: `kid`, or the RFC 7638 thumbprint.
    pub fn key_id(&self) -> String {
        match &self.kid {
            Some(kid) => kid.clone(),
            None => thumbprint_of_x(&self.x),
        }
    }

    /// The Ed25519 public key, or why this JWK is not one roost can verify with.
    pub fn to_ed25519(&self) -> Result<VerifyingKey, KeyError> {
        let name = self.kid.as_deref().unwrap_or("(no kid)");
        let unsupported = |what: String| KeyError::Unsupported {
            kid: name.to_owned(),
            what,
        };
        if self.kid.as_deref() == Some("") {
            return Err(KeyError::InvalidKey(
                "a JWK has an empty `kid`; give it a real key id or omit `kid`".to_owned(),
            ));
        }
        if self.kty != "OKP" {
            return Err(unsupported(format!("key type (kty) {:?}", self.kty)));
        }
        if self.crv != "Ed25519" {
            return Err(unsupported(format!("OKP curve (crv) {:?}", self.crv)));
        }
        if let Some(alg) = self.alg.as_deref()
            && alg != ALG_EDDSA
            && alg != ALG_ED25519
        {
            return Err(unsupported(format!("algorithm (alg) {alg:?}")));
        }
        if let Some(use_) = self.use_.as_deref()
            && use_ != "sig"
        {
            return Err(unsupported(format!("key use (use) {use_:?}")));
        }
        let mut bytes = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(&self.x, &mut bytes) {
            Ok(32) => {}
            _ => {
                return Err(KeyError::InvalidKey(format!(
                    "key {name}: `x` must be 32 bytes of base64url without padding (RFC 8037 §2)"
                )));
            }
        }
        crate::keys::checked_public_key(&bytes)
            .map_err(|why| KeyError::InvalidKey(format!("key {name}: {why}")))
    }
}

/// A JSON Web Key Set (RFC 7517 §5): the document served at the router's `jwks_uri`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, in no particular order.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set holding `keys`.
    pub fn from_keys(keys: impl IntoIterator<Item = Jwk>) -> Self {
        JwkSet {
            keys: keys.into_iter().collect(),
        }
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256) of the canonical JSON
/// with the required members in lexicographic order (RFC 8037 Appendix A.3).
pub(crate) fn thumbprint(key: &VerifyingKey) -> String {
    thumbprint_of_x(&URL_SAFE_NO_PAD.encode(key.as_bytes()))
}

fn thumbprint_of_x(x: &str) -> String {
    // `x` is base64url, so it needs no JSON escaping.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 Appendix A.2 public key and its Appendix A.3 thumbprint.
    const RFC_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    fn rfc_key() -> VerifyingKey {
        let mut bytes = [0u8; 32];
        URL_SAFE_NO_PAD.decode_slice(RFC_X, &mut bytes).unwrap();
        VerifyingKey::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        assert_eq!(thumbprint(&rfc_key()), RFC_THUMBPRINT);
        assert_eq!(Jwk::from_ed25519(&rfc_key()).kid.unwrap(), RFC_THUMBPRINT);
    }

    #[test]
    fn jwk_serializes_with_rfc_8037_member_names() {
        let json = serde_json::to_value(Jwk::from_ed25519(&rfc_key())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": RFC_X,
                "kid": RFC_THUMBPRINT,
                "alg": "EdDSA",
                "use": "sig",
            })
        );
        let set = serde_json::to_value(JwkSet::from_keys([Jwk::from_ed25519(&rfc_key())])).unwrap();
        assert_eq!(set["keys"][0]["x"], RFC_X);
        assert_eq!(
            set.as_object().unwrap().len(),
            1,
            "a JWK Set has only `keys`"
        );
    }

    #[test]
    fn jwk_without_kid_is_filed_under_its_thumbprint() {
        let jwk: Jwk =
            serde_json::from_str(&format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC_X}"}}"#))
                .unwrap();
        assert_eq!(jwk.key_id(), RFC_THUMBPRINT);
        assert_eq!(jwk.to_ed25519().unwrap(), rfc_key());
    }

    #[test]
    fn non_ed25519_keys_are_refused_by_name() {
        let rsa: Jwk =
            serde_json::from_str(r#"{"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"}"#).unwrap();
        let err = rsa.to_ed25519().unwrap_err().to_string();
        assert!(err.contains("r1") && err.contains("\"RSA\""), "{err}");

        let x448 = Jwk {
            crv: "Ed448".into(),
            ..Jwk::from_ed25519(&rfc_key())
        };
        assert!(x448.to_ed25519().unwrap_err().to_string().contains("Ed448"));

        let hs = Jwk {
            alg: Some("HS256".into()),
            ..Jwk::from_ed25519(&rfc_key())
        };
        assert!(hs.to_ed25519().unwrap_err().to_string().contains("HS256"));

        let enc = Jwk {
            use_: Some("enc".into()),
            ..Jwk::from_ed25519(&rfc_key())
        };
        assert!(enc.to_ed25519().unwrap_err().to_string().contains("enc"));
    }

    #[test]
    fn empty_kid_is_refused() {
        let jwk = Jwk {
            kid: Some(String::new()),
            ..Jwk::from_ed25519(&rfc_key())
        };
        assert!(
            jwk.to_ed25519()
                .unwrap_err()
                .to_string()
                .contains("empty `kid`")
        );
    }

    #[test]
    fn malformed_x_is_refused() {
        for x in ["", "AAAA", &format!("{RFC_X}="), &format!("{RFC_X}AA")] {
            let jwk = Jwk {
                x: x.to_owned(),
                ..Jwk::from_ed25519(&rfc_key())
            };
            assert!(
                matches!(jwk.to_ed25519(), Err(KeyError::InvalidKey(_))),
                "x = {x:?} accepted"
            );
        }
    }
}

//! Verifying access tokens: header policy, signature, then claims.
//!
//! The header is decided here, before any key is touched: only `alg: "EdDSA"` is accepted and
//! `kid` must name a configured key. Choosing the algorithm from the key rather than from the
//! token is what defeats `alg: "none"` and HS256-signed-with-the-public-key (RFC 8725 §2.1,
//! §3.1). Signatures are checked with `verify_strict`, which also refuses non-canonical
//! signatures and small-order keys.
//!
//! This runs on every workspace request and on every router cache miss, so it decodes the
//! header and signature into stack buffers and allocates only for the payload and the claims it
//! returns.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use crate::{
    claims::{AccessClaims, WireClaims},
    jwk::{ALG_EDDSA, Jwk, JwkSet},
    keys::{KeyError, parse_public_keys},
    signing::TYP_AT_JWT,
};

/// Tokens longer than this are refused before any decoding. A roost token is about 600 bytes.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Decoded headers longer than this are refused; roost's header is about 90 bytes.
const MAX_HEADER_LEN: usize = 512;
/// Key ids longer than this are cut short in errors, which end up in logs.
const MAX_KID_IN_ERROR: usize = 64;
/// Default clock-skew allowance for `exp` and `nbf`.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Why a token was refused. `Display` gives detail for logs (never the token itself);
/// [`VerifyError::description`] gives a short text that is safe to send to the client.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a well-formed compact JWS carrying roost claims.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm other than EdDSA.
    #[error("unsupported token algorithm {0:?}; only EdDSA is accepted")]
    UnsupportedAlgorithm(String),
    /// The header has no `kid`.
    #[error("the token header has no key id (kid)")]
    MissingKeyId,
    /// The `kid` names no configured key.
    #[error("the token names an unknown key id {0:?}")]
    UnknownKey(String),
    /// The signature does not match the header, payload and named key.
    #[error("the token signature is invalid")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The configured audience is not in `aud`.
    #[error("the token was issued for a different audience")]
    WrongAudience,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by a different issuer")]
    WrongIssuer,
    /// A claim is missing, mistyped or has an impossible value.
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
}

impl VerifyError {
    /// A short, safe description for an `error_description` sent to clients.
    pub fn description(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "The access token is malformed.",
            VerifyError::UnsupportedAlgorithm(_) => {
                "The access token uses an unsupported algorithm."
            }
            VerifyError::MissingKeyId | VerifyError::UnknownKey(_) => {
                "The access token was signed by an unknown key."
            }
            VerifyError::BadSignature => "The access token signature is invalid.",
            VerifyError::Expired => "The access token has expired.",
            VerifyError::NotYetValid => "The access token is not valid yet.",
            VerifyError::WrongAudience => "The access token is not for this resource.",
            VerifyError::WrongIssuer => "The access token was issued by an untrusted issuer.",
            VerifyError::InvalidClaims(_) => "The access token claims are invalid.",
        }
    }
}

/// Verifies access tokens against a set of public keys (several at once, for rotation).
///
/// Cheap to clone: the configuration sits behind an [`Arc`]; adding or removing a key on one
/// clone copies it (clone-on-write) and leaves the others unchanged.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    issuer: String,
    audience: String,
    leeway_secs: i64,
    /// Few keys (current + next/previous), so a linear scan beats a map.
    keys: Vec<(String, VerifyingKey)>,
}

impl std::fmt::Debug for Verifier {
    /// Issuer, audience, leeway and key ids; public keys are not secret but add nothing here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Verifier")
            .field("issuer", &inner.issuer)
            .field("audience", &inner.audience)
            .field("leeway_secs", &inner.leeway_secs)
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

/// The JOSE header members roost looks at. Unknown members are ignored except `crit`
/// (RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand).
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
    crit: Option<serde::de::IgnoredAny>,
}

impl Verifier {
    /// A verifier for tokens from `issuer` for `audience`, with no keys yet and 30 s leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Verifier {
            inner: Arc::new(Inner {
                issuer: issuer.into(),
                audience: audience.into(),
                leeway_secs: DEFAULT_LEEWAY.as_secs() as i64,
                keys: Vec::new(),
            }),
        }
    }

    /// Allow `leeway` of clock skew on `exp` and `nbf` (whole seconds; the rest is ignored).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        Arc::make_mut(&mut self.inner).leeway_secs =
            i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The issuer tokens must name in `iss`.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The audience tokens must list in `aud`.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Trust `jwk`, filed under its `kid` (or its RFC 7638 thumbprint when it has none).
    ///
    /// Refuses keys that are not Ed25519, and a `kid` already registered for a different key.
    /// Adding a key that is already trusted is a no-op, so a JWKS can be re-read at will.
    pub fn add_jwk(&mut self, jwk: &Jwk) -> Result<(), KeyError> {
        let key = jwk.to_ed25519()?;
        self.add_key(jwk.key_id(), key)
    }

    /// Trust every key in `set`; if any key is refused, none is added.
    pub fn add_jwks(&mut self, set: &JwkSet) -> Result<(), KeyError> {
        let keys = set
            .keys
            .iter()
            .map(|jwk| Ok((jwk.key_id(), jwk.to_ed25519()?)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        self.add_all(keys).map(|_| ())
    }

    /// Parse key material an operator pasted into an env var: a JWKS document, a single JWK,
    /// or one or more PEM public keys (SPKI "PUBLIC KEY"); PEM keys get their RFC 7638 kid.
    ///
    /// Returns how many keys the text held. If any key is refused, none is added.
    pub fn add_keys_from_str(&mut self, text: &str) -> Result<usize, KeyError> {
        self.add_all(parse_public_keys(text)?)
    }

    /// Stop trusting the key filed under `kid`. Returns whether there was one.
    pub fn remove_key(&mut self, kid: &str) -> bool {
        let Some(index) = self.inner.keys.iter().position(|(k, _)| k == kid) else {
            return false;
        };
        Arc::make_mut(&mut self.inner).keys.remove(index);
        true
    }

    /// The ids of the trusted keys, in the order they were added.
    pub fn key_ids(&self) -> Vec<String> {
        self.inner.keys.iter().map(|(kid, _)| kid.clone()).collect()
    }

    fn add_all(&mut self, keys: Vec<(String, VerifyingKey)>) -> Result<usize, KeyError> {
        let count = keys.len();
        let mut next = self.clone();
        for (kid, key) in keys {
            next.add_key(kid, key)?;
        }
        *self = next;
        Ok(count)
    }

    fn add_key(&mut self, kid: String, key: VerifyingKey) -> Result<(), KeyError> {
        match self.find_key(&kid) {
            Some(existing) if *existing == key => Ok(()),
            Some(_) => Err(KeyError::ConflictingKeyId(kid)),
            None => {
                Arc::make_mut(&mut self.inner).keys.push((kid, key));
                Ok(())
            }
        }
    }

    fn find_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.inner
            .keys
            .iter()
            .find_map(|(k, key)| (k == kid).then_some(key))
    }

    /// Verify `token` against the current system time.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.verify_at(token, now)
    }

    /// Verify `token` as of `now_unix` (seconds since the Unix epoch): header policy,
    /// signature, `iss`, `aud`, `exp`/`nbf` with leeway, and the shape of every claim.
    pub fn verify_at(&self, token: &str, now_unix: i64) -> Result<AccessClaims, VerifyError> {
        let malformed = |why: &str| VerifyError::Malformed(why.to_owned());
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed("the token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(
                "expected three dot-separated parts (compact JWS)",
            ));
        };

        let mut header_buf = [0u8; MAX_HEADER_LEN];
        let header_len = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut header_buf)
            .map_err(|_| malformed("the header is not base64url (or is too long)"))?;
        let header: Header<'_> = serde_json::from_slice(&header_buf[..header_len])
            .map_err(|_| malformed("the header is not a JSON object with string members"))?;
        let key = self.check_header(&header)?;

        let mut signature = [0u8; 64];
        match URL_SAFE_NO_PAD.decode_slice(signature_b64, &mut signature) {
            Ok(64) => {}
            _ => return Err(VerifyError::BadSignature),
        }
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| VerifyError::BadSignature)?;

        // Only now, with the signature checked, is the payload worth parsing.
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| malformed("the payload is not base64url"))?;
        let wire: WireClaims = serde_json::from_slice(&payload)
            .map_err(|e| VerifyError::InvalidClaims(e.to_string()))?;
        self.check_claims(wire, now_unix)
    }

    fn check_header(&self, header: &Header<'_>) -> Result<&VerifyingKey, VerifyError> {
        match header.alg.as_deref() {
            Some(ALG_EDDSA) => {}
            Some(other) => {
                return Err(VerifyError::UnsupportedAlgorithm(truncate(other)));
            }
            None => return Err(VerifyError::Malformed("the header has no `alg`".to_owned())),
        }
        if header.crit.is_some() {
            return Err(VerifyError::Malformed(
                "the header marks extensions critical (crit), which roost does not support"
                    .to_owned(),
            ));
        }
        // RFC 9068 §4: the resource server MUST check `typ` so that other JWTs signed by the
        // same key (ID tokens, say) cannot be replayed as access tokens. The media-type form
        // is case-insensitive (RFC 7515 §4.1.9).
        let typ = header.typ.as_deref().unwrap_or_default();
        let typ = strip_prefix_ignore_case(typ, "application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case(TYP_AT_JWT) {
            return Err(VerifyError::Malformed(
                "the header `typ` must be \"at+jwt\" (RFC 9068)".to_owned(),
            ));
        }
        let kid = header.kid.as_deref().ok_or(VerifyError::MissingKeyId)?;
        self.find_key(kid)
            .ok_or_else(|| VerifyError::UnknownKey(truncate(kid)))
    }

    fn check_claims(&self, wire: WireClaims, now: i64) -> Result<AccessClaims, VerifyError> {
        let inner = &*self.inner;
        if wire.iss != inner.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !wire.aud.contains(&inner.audience) {
            return Err(VerifyError::WrongAudience);
        }
        // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
        if now >= wire.exp.saturating_add(inner.leeway_secs) {
            return Err(VerifyError::Expired);
        }
        // RFC 7519 §4.1.5: the token must not be accepted before `nbf`.
        if now < wire.nbf.saturating_sub(inner.leeway_secs) {
            return Err(VerifyError::NotYetValid);
        }
        let claims = wire.into_claims(&inner.audience);
        if let Some(problem) = claims.shape_problem() {
            return Err(VerifyError::InvalidClaims(problem));
        }
        Ok(claims)
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// An attacker-chosen header value, cut short for error messages and logs.
fn truncate(value: &str) -> String {
    match value.char_indices().nth(MAX_KID_IN_ERROR) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests;

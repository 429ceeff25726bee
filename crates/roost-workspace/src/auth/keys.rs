//! The token verifier and where its keys come from: inline text and/or the issuer's JWKS URL.
//!
//! Rotation: the router signs with a new key id (`kid`) before the old key is retired, so a token
//! naming a `kid` this server has never seen means "fetch the JWKS again". That re-fetch is
//! rate-limited ([`REFETCH_INTERVAL`]) so a stream of forged tokens with random `kid`s cannot turn
//! this server into a traffic amplifier against the issuer.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use roost_token::{AccessClaims, Verifier, VerifyError};
use tokio::{sync::Mutex, time::Instant};
use url::Url;

/// Minimum time between two JWKS fetches triggered by unknown key ids.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Verified tokens remembered (by digest) so a client's burst of requests with the same token
/// costs one signature check. Bounded: the cache is cleared when it grows past this.
const VERIFIED_CACHE_LIMIT: usize = 1024;

/// Errors loading verification keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The inline key text could not be parsed.
    #[error("ROOST_TOKEN_KEYS holds no usable key: {0}")]
    Inline(String),
    /// The JWKS URL could not be fetched.
    #[error("fetching the JWKS from {url} failed: {reason}")]
    Fetch {
        /// The URL that was fetched.
        url: Url,
        /// What went wrong.
        reason: String,
    },
}

/// A verifier whose key set can grow while the server runs.
#[derive(Clone)]
pub struct TokenKeys {
    verifier: Arc<RwLock<Verifier>>,
    jwks_url: Option<Url>,
    http: reqwest::Client,
    last_fetch: Arc<Mutex<Option<Instant>>>,
    verified: Arc<std::sync::Mutex<HashMap<String, AccessClaims>>>,
}

impl TokenKeys {
    /// Load the inline keys and, if a JWKS URL is configured, fetch it once.
    pub async fn load(
        issuer: &str,
        audience: &str,
        inline: Option<&str>,
        jwks_url: Option<Url>,
    ) -> Result<Self, KeyError> {
        let mut verifier = Verifier::new(issuer, audience);
        if let Some(text) = inline {
            verifier
                .add_keys_from_str(text)
                .map_err(|e| KeyError::Inline(e.to_string()))?;
        }
        let keys = Self {
            verifier: Arc::new(RwLock::new(verifier)),
            jwks_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| KeyError::Inline(format!("HTTP client: {e}")))?,
            last_fetch: Arc::new(Mutex::new(None)),
            verified: Arc::default(),
        };
        if keys.jwks_url.is_some() {
            keys.refetch(true).await?;
        }
        Ok(keys)
    }

    /// Verify a bearer token: signature, `iss`, `aud`, `exp`/`nbf` (see `roost_token`).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let digest = roost_token::token_digest(token);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        {
            let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(&digest) {
                Some(claims) if claims.exp > now => return Ok(claims.clone()),
                // Expired since: verify again so the caller gets the precise error.
                Some(_) => {
                    cache.remove(&digest);
                }
                None => {}
            }
        }
        let claims = self.verify_uncached(token).await?;
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(digest, claims.clone());
        Ok(claims)
    }

    async fn verify_uncached(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        // Bind first: the read guard must be released before any await.
        let first = self.read().verify(token);
        match first {
            Err(VerifyError::UnknownKey(kid)) if self.jwks_url.is_some() => {
                match self.refetch(false).await {
                    Ok(true) => self.read().verify(token),
                    Ok(false) => Err(VerifyError::UnknownKey(kid)),
                    Err(error) => {
                        tracing::warn!(%error, "JWKS re-fetch for an unknown key id failed");
                        Err(VerifyError::UnknownKey(kid))
                    }
                }
            }
            other => other,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Verifier> {
        self.verifier.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetch the JWKS unless one was fetched within [`REFETCH_INTERVAL`] (or `force`).
    /// Returns whether a fetch happened.
    async fn refetch(&self, force: bool) -> Result<bool, KeyError> {
        let Some(url) = &self.jwks_url else {
            return Ok(false);
        };
        let mut last = self.last_fetch.lock().await;
        if !force {
            if last.is_some_and(|at| at.elapsed() < REFETCH_INTERVAL) {
                return Ok(false);
            }
            // Only fetches triggered by unknown key ids count against the limit, so a key
            // rotated in right after start-up is still picked up.
            *last = Some(Instant::now());
        }
        let fail = |reason: String| KeyError::Fetch {
            url: url.clone(),
            reason,
        };
        let text = self
            .http
            .get(url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| fail(e.to_string()))?
            .text()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let added = self
            .verifier
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add_keys_from_str(&text)
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(%url, added, "loaded token keys from the JWKS");
        Ok(true)
    }
}

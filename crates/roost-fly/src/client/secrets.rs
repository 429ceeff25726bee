//! App secrets: set, list, unset (fly.md §2.6).
//!
//! Values go to Fly in the request body and nowhere else: they are never logged or kept.
//! Machines see new values only after an update (or, per some docs, a start); pass the returned
//! version as `min_secrets_version` on the next create or update to be sure.

use std::collections::BTreeMap;

use http::Method;

use super::{Call, FlyClient};
use crate::error::{Endpoint, FlyError};
use crate::types::{AppSecret, SecretsResponse, UpdateSecretsRequest};

impl FlyClient {
    /// `POST /v1/apps/{app}/secrets` with `{"values": {"NAME": "value", …}}`: sets every pair
    /// and returns the new secrets version.
    pub async fn set_secrets(&self, app: &str, values: &[(&str, &str)]) -> Result<u64, FlyError> {
        let values: BTreeMap<&str, Option<&str>> = values
            .iter()
            .map(|(name, value)| (*name, Some(*value)))
            .collect();
        self.update_secrets(app, UpdateSecretsRequest { values })
            .await
    }

    /// The same call with `null` values: removes `names` and returns the new secrets version.
    pub async fn unset_secrets(&self, app: &str, names: &[&str]) -> Result<u64, FlyError> {
        let values = names.iter().map(|name| (*name, None)).collect();
        self.update_secrets(app, UpdateSecretsRequest { values })
            .await
    }

    /// `GET /v1/apps/{app}/secrets`: names and digests (never values).
    pub async fn list_secrets(&self, app: &str) -> Result<Vec<AppSecret>, FlyError> {
        let url = self.url(&["apps", app, "secrets"]);
        let list: SecretsResponse = self
            .json(Call::new(Endpoint::SecretsList, Method::GET, url).app(app))
            .await?;
        Ok(list.secrets)
    }

    async fn update_secrets(
        &self,
        app: &str,
        body: UpdateSecretsRequest<'_>,
    ) -> Result<u64, FlyError> {
        let url = self.url(&["apps", app, "secrets"]);
        let call = Call::new(Endpoint::SecretsUpdate, Method::POST, url)
            .app(app)
            .body(&body)?;
        let answer: SecretsResponse = self.json(call).await?;
        Ok(answer.version.unwrap_or_default())
    }
}

//! Apps: create, get, list, delete, and the look-up after an ambiguous create (fly.md §2.2).

use http::Method;

use super::{Call, FlyClient};
use crate::error::{Endpoint, FlyError, FlyErrorKind};
use crate::types::{App, CreateAppRequest, CreatedApp, ListAppsResponse};

impl FlyClient {
    /// `POST /v1/apps`: creates app `name` in the configured org, on `network` (a custom 6PN)
    /// or the org's default network.
    ///
    /// Never retried after a timeout or 5xx ([`FlyError::is_ambiguous`]): call
    /// [`FlyClient::find_app_by_name`] before creating again. [`FlyErrorKind::NameTaken`] means
    /// the name is in use, possibly by this org (look it up too).
    pub async fn create_app(
        &self,
        name: &str,
        network: Option<&str>,
    ) -> Result<CreatedApp, FlyError> {
        let body = CreateAppRequest {
            name: name.to_owned(),
            org_slug: self.inner.org_slug.clone(),
            network: network.map(str::to_owned),
            app_role_id: None,
        };
        let call = Call::new(Endpoint::AppCreate, Method::POST, self.url(&["apps"]))
            .app(name)
            .body(&body)?;
        self.json(call).await
    }

    /// `GET /v1/apps/{name}`.
    pub async fn get_app(&self, name: &str) -> Result<App, FlyError> {
        let call = Call::new(Endpoint::AppGet, Method::GET, self.url(&["apps", name])).app(name);
        self.json(call).await
    }

    /// `GET /v1/apps?org_slug=<configured org>`: every app of the org.
    pub async fn list_apps(&self) -> Result<Vec<App>, FlyError> {
        let mut url = self.url(&["apps"]);
        url.query_pairs_mut()
            .append_pair("org_slug", &self.inner.org_slug);
        let list: ListAppsResponse = self
            .json(Call::new(Endpoint::AppList, Method::GET, url))
            .await?;
        Ok(list.apps)
    }

    /// `DELETE /v1/apps/{name}` (202), with `?force=true` to stop running Machines first.
    /// Deleting an app deletes its Machines and volumes. [`FlyErrorKind::NotFound`] means it
    /// is already gone. Paced at Fly's 100 app deletions per minute.
    pub async fn delete_app(&self, name: &str, force: bool) -> Result<(), FlyError> {
        let mut url = self.url(&["apps", name]);
        if force {
            url.query_pairs_mut().append_pair("force", "true");
        }
        self.send(Call::new(Endpoint::AppDelete, Method::DELETE, url).app(name))
            .await
    }

    /// Whether app `name` exists and is ours: the look-up after an ambiguous
    /// [`FlyClient::create_app`] or a [`FlyErrorKind::NameTaken`].
    ///
    /// * `Ok(Some(app))`: it exists in the configured org; reuse it.
    /// * `Ok(None)`: 404, the name is free; creating it again is safe.
    /// * `Err` with [`FlyErrorKind::NameTaken`]: it exists in another org (Fly answers 403 for
    ///   an app this token cannot see, fly.md §2.2), so pick another name.
    pub async fn find_app_by_name(&self, name: &str) -> Result<Option<App>, FlyError> {
        match self.get_app(name).await {
            Ok(app) => {
                let org = app.organization.as_ref().map(|o| o.slug.as_str());
                if org.is_some_and(|slug| slug != self.inner.org_slug) {
                    let mut err = FlyError::new(
                        Endpoint::AppGet,
                        FlyErrorKind::NameTaken,
                        format!(
                            "app {name:?} belongs to organization {:?}, not {:?}; choose another name",
                            org.unwrap_or_default(),
                            self.inner.org_slug
                        ),
                    );
                    err.status = Some(200);
                    return Err(err);
                }
                Ok(Some(app))
            }
            Err(err) if err.kind == FlyErrorKind::NotFound => Ok(None),
            Err(mut err) if err.status == Some(403) => {
                err.kind = FlyErrorKind::NameTaken;
                err.message = format!(
                    "app {name:?} exists in an organization this token cannot read; choose another name ({})",
                    err.message
                );
                Err(err)
            }
            Err(err) => Err(err),
        }
    }
}

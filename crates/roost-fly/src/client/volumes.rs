//! Volumes: create, list, get, delete, and the look-up after an ambiguous create (fly.md §2.4).

use http::Method;

use super::{Call, FlyClient};
use crate::error::{Endpoint, FlyError};
use crate::types::{CreateVolumeRequest, Volume};

impl FlyClient {
    /// `POST /v1/apps/{app}/volumes`.
    ///
    /// Never retried after a timeout or 5xx ([`FlyError::is_ambiguous`]). Volumes cannot carry
    /// metadata tags, so recognise ours by app and name: call
    /// [`FlyClient::find_volumes_by_name`] before creating again.
    pub async fn create_volume(
        &self,
        app: &str,
        request: &CreateVolumeRequest,
    ) -> Result<Volume, FlyError> {
        let url = self.url(&["apps", app, "volumes"]);
        let call = Call::new(Endpoint::VolumeCreate, Method::POST, url)
            .app(app)
            .body(request)?;
        self.json(call).await
    }

    /// `GET /v1/apps/{app}/volumes`.
    pub async fn list_volumes(&self, app: &str) -> Result<Vec<Volume>, FlyError> {
        let url = self.url(&["apps", app, "volumes"]);
        self.json(Call::new(Endpoint::VolumeList, Method::GET, url).app(app))
            .await
    }

    /// `GET /v1/apps/{app}/volumes/{id}`.
    pub async fn get_volume(&self, app: &str, id: &str) -> Result<Volume, FlyError> {
        let url = self.url(&["apps", app, "volumes", id]);
        self.json(Call::new(Endpoint::VolumeGet, Method::GET, url).app(app))
            .await
    }

    /// `DELETE /v1/apps/{app}/volumes/{id}`; Fly answers with the volume, now on its way out.
    /// [`crate::FlyErrorKind::NotFound`] means it is already gone. A volume mounted by a
    /// Machine cannot be deleted: destroy the Machine first.
    pub async fn delete_volume(&self, app: &str, id: &str) -> Result<(), FlyError> {
        let url = self.url(&["apps", app, "volumes", id]);
        self.send(Call::new(Endpoint::VolumeDelete, Method::DELETE, url).app(app))
            .await
    }

    /// The live volumes of `app` named `name`: the look-up after an ambiguous
    /// [`FlyClient::create_volume`].
    ///
    /// Fly's volume create takes no metadata (fly-go `CreateVolumeRequest` has no tag field),
    /// so the app and the name are the tag. In roost every tenant has its own app, so a volume
    /// with the tenant's volume name in the tenant's app is the tenant's. Volumes being
    /// destroyed are left out. Lists are eventually consistent: ask again after a second
    /// before concluding it does not exist.
    pub async fn find_volumes_by_name(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Vec<Volume>, FlyError> {
        let volumes = self.list_volumes(app).await?;
        Ok(volumes
            .into_iter()
            .filter(|v| v.name == name && !v.is_destroyed())
            .collect())
    }
}

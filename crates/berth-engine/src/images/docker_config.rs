//! Docker's fields of an image's runtime config that the OCI config type has no field for
//! (`Healthcheck`, `OnBuild`), read back from the config blob.

use berth_image::Image;
use bollard_stubs::models::HealthConfig;
use serde::de::DeserializeOwned;

use super::Images;

impl Images {
    /// The image's health check, if its config has one.
    pub fn healthcheck(&self, image: &Image) -> Option<HealthConfig> {
        self.docker_field(image, "Healthcheck")
    }

    /// The image's `ONBUILD` triggers, in order (none when its config has no `OnBuild`).
    pub fn on_build(&self, image: &Image) -> Vec<String> {
        self.docker_field(image, "OnBuild").unwrap_or_default()
    }

    fn docker_field<T: DeserializeOwned>(&self, image: &Image, name: &str) -> Option<T> {
        let bytes = self.store.content().read_blob(&image.id).ok()?;
        let config: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        serde_json::from_value(config.get("config")?.get(name)?.clone()).ok()
    }
}

//! The engine's save, load, history, prune and disk-usage calls: the image half does the work,
//! these add what only the engine knows (which images containers use).

use std::collections::HashSet;
use std::io::{Read, Write};

use bollard_stubs::models::{ImageHistoryResponseItem, ImagePruneResponse};

use crate::api::{ContainerListOptions, Filters};
use crate::engine::Engine;
use crate::error::Result;

use super::{DiskUsage, SavePlan};

impl Engine {
    /// `GET /images/get`, first half: resolves the names (404 for an unknown one).
    pub fn plan_save(&self, names: &[String]) -> Result<SavePlan> {
        self.images.plan_save(names)
    }

    /// `GET /images/get`, second half: streams the archive. Blocking.
    pub fn save_images(&self, plan: &SavePlan, out: &mut dyn Write) -> Result<()> {
        self.images.save(plan, out)
    }

    /// `POST /images/load`: Docker's JSON messages go to `emit`. Blocking.
    pub fn load_images(
        &self,
        src: &mut dyn Read,
        quiet: bool,
        emit: &dyn Fn(serde_json::Value),
    ) -> Result<()> {
        self.images.load(src, quiet, emit)
    }

    /// `GET /images/{name}/history`.
    pub fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        self.images.history(name)
    }

    /// `POST /images/prune`: images containers were created from are kept.
    pub fn prune_images(&self, filters: &Filters) -> Result<ImagePruneResponse> {
        let in_use: HashSet<String> = self.image_users().into_iter().map(|(i, _, _)| i).collect();
        self.images.prune(filters, &in_use)
    }

    /// `GET /system/df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let users = self.image_users();
        let (layers_size, images) = self
            .images
            .usage(&|id| users.iter().filter(|(i, _, _)| i == id).count() as i64)?;
        let mut containers = self.list_containers(ContainerListOptions {
            all: true,
            ..Default::default()
        })?;
        for c in &mut containers {
            let rw = self
                .images
                .container_size(c.id.as_deref().unwrap_or_default());
            let image = images
                .iter()
                .find(|i| Some(&i.id) == c.image_id.as_ref())
                .map_or(0, |i| i.size);
            c.size_rw = Some(rw);
            c.size_root_fs = Some(rw + image);
        }
        Ok(DiskUsage {
            layers_size,
            images,
            containers,
            volumes: Vec::new(),
            build_cache: Vec::new(),
        })
    }
}

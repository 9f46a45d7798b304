//! The engine's volume operations: `/volumes` create, list, inspect, remove, prune.

use bollard_stubs::models::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};

use crate::api::Filters;
use crate::containers::mounts::{MountKind, MountPlan};
use crate::engine::Engine;
use crate::error::{Error, Result};

use super::{NewVolume, VolumeRecord};

impl Engine {
    /// `POST /volumes/create`.
    pub fn create_volume(&self, req: VolumeCreateRequest) -> Result<Volume> {
        let rec = self.volumes.create(NewVolume {
            name: req.name,
            driver: req.driver,
            options: req.driver_opts.unwrap_or_default(),
            labels: req.labels.unwrap_or_default(),
        })?;
        Ok(self.volumes.model(&rec))
    }

    /// `GET /volumes` with Docker's filters: name, label, dangling, driver.
    pub fn list_volumes(&self, filters: &Filters) -> Result<VolumeListResponse> {
        for key in filters.keys() {
            if !matches!(key.as_str(), "name" | "label" | "dangling" | "driver") {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let used = self.volumes_in_use();
        let dangling = match filters.get("dangling").and_then(|v| v.first()) {
            None => None,
            Some(v) => Some(filter_bool("dangling", v)?),
        };
        let volumes = self
            .volumes
            .list()
            .into_iter()
            .filter(|v| {
                let names = filters.get("name");
                names.is_none_or(|n| n.iter().any(|n| v.name.contains(n.as_str())))
                    && filters.get("driver").is_none_or(|d| d.contains(&v.driver))
                    && labels_match(v, filters.get("label"))
                    && dangling.is_none_or(|d| d != used.contains(&v.name))
            })
            .map(|v| self.volumes.model(&v))
            .collect();
        Ok(VolumeListResponse {
            volumes: Some(volumes),
            warnings: Some(Vec::new()),
        })
    }

    /// `GET /volumes/{name}`.
    pub fn inspect_volume(&self, name: &str) -> Result<Volume> {
        Ok(self.volumes.model(&self.volumes.get(name)?))
    }

    /// `DELETE /volumes/{name}`: 409 while a container uses it; `force` only forgives a
    /// missing volume, as in Docker.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        if let Err(e) = self.volumes.get(name) {
            return if force { Ok(()) } else { Err(e) };
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volumes.remove(name)
    }

    /// `POST /volumes/prune`: unused anonymous volumes (all unused ones with `all=true`),
    /// narrowed by `label` filters.
    pub fn prune_volumes(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        for key in filters.keys() {
            if !matches!(key.as_str(), "label" | "label!" | "all") {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let all = match filters.get("all").and_then(|v| v.first()) {
            Some(v) => filter_bool("all", v)?,
            None => false,
        };
        let used = self.volumes_in_use();
        let mut deleted = Vec::new();
        let mut reclaimed = 0i64;
        for v in self.volumes.list() {
            let excluded = filters
                .get("label!")
                .is_some_and(|l| labels_match(&v, Some(l)));
            if used.contains(&v.name)
                || (!all && !v.anonymous())
                || !labels_match(&v, filters.get("label"))
                || excluded
            {
                continue;
            }
            let size = dir_size(&self.volumes.data_dir(&v.name));
            if self.remove_volume(&v.name, false).is_ok() {
                reclaimed += size as i64;
                deleted.push(v.name);
            }
        }
        Ok(VolumePruneResponse {
            volumes_deleted: Some(deleted),
            space_reclaimed: Some(reclaimed),
        })
    }

    /// Ids of the containers whose mounts name the volume.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        let reg = self.registry.lock().expect("registry lock");
        reg.by_id
            .values()
            .filter(|e| e.record.mounts.iter().any(|m| m.name == name))
            .map(|e| e.record.id.clone())
            .collect()
    }

    fn volumes_in_use(&self) -> Vec<String> {
        let reg = self.registry.lock().expect("registry lock");
        reg.by_id
            .values()
            .flat_map(|e| e.record.mounts.iter().map(|m| m.name.clone()))
            .filter(|n| !n.is_empty())
            .collect()
    }
}

/// `label=key` or `label=key=value` filters: all must match.
fn labels_match(v: &VolumeRecord, wanted: Option<&Vec<String>>) -> bool {
    wanted.is_none_or(|ws| {
        ws.iter().all(|w| match w.split_once('=') {
            Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
            None => v.labels.contains_key(w.as_str()),
        })
    })
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A boolean filter value as Docker spells them.
fn filter_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::InvalidArgument(format!(
            "invalid filter '{key}={v}': the value must be true or false"
        ))),
    }
}

impl Engine {
    /// As Docker's local driver: a volume's own filesystem (`-o type=…`) is unmounted when the
    /// last container using it stops (a tmpfs volume's data goes with it).
    pub(crate) fn release_volumes(&self, mounts: &[MountPlan]) {
        for m in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            let in_use = {
                let reg = self.registry.lock().expect("registry lock");
                reg.by_id.values().any(|e| {
                    (e.running() || e.busy) && e.record.mounts.iter().any(|x| x.name == m.name)
                })
            };
            if !in_use {
                self.volumes.release(&m.name);
            }
        }
    }

    /// `rm -v` (and `--rm`): the container's anonymous volumes go with it unless another
    /// container uses them too.
    pub(crate) fn remove_anonymous_volumes(&self, mounts: &[MountPlan]) {
        for m in mounts.iter().filter(|m| m.anonymous) {
            if self.volume_users(&m.name).is_empty()
                && let Err(e) = self.volumes.remove(&m.name)
            {
                tracing::warn!("removing anonymous volume {}: {e}", m.name);
            }
        }
    }
}

//! `POST /commit`: a container's writable layer (its overlay upper directory) becomes a new
//! image on top of the container's. As in Docker, the image's config is the container's
//! (cmd, env, ... as it runs) with the `--change` instructions merged in, and the container
//! is frozen while its files are read unless `pause=false`.

use std::path::{Path, PathBuf};

use berth_image::{CommitOptions, ConfigChanges};
use berth_runtime::state::StateRoot;
use bollard_stubs::models::ContainerConfig;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::api::CommitRequest;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::parse_changes;

use super::changes::RUNTIME_MOUNT_POINTS;
use super::{spawn_tar, tar_out};

impl Engine {
    /// Commits the container's changes as an image; returns its id (`sha256:...`).
    pub async fn commit_container(&self, req: CommitRequest) -> Result<String> {
        let reference = commit_reference(&req)?;
        let changes = parse_changes(&req.changes)?;
        let (id, image_id, config, skip, freeze) = {
            let reg = self.registry.lock().expect("registry lock");
            let entry = reg.get(&req.container)?;
            let rec = &entry.record;
            let mut skip: Vec<PathBuf> = rec
                .mounts
                .iter()
                .map(|m| PathBuf::from(&m.destination))
                .collect();
            skip.extend(runtime_mount_points());
            let freeze = req.pause && entry.running() && !rec.state.paused;
            (
                rec.id.clone(),
                rec.image_id.clone(),
                rec.config.clone(),
                skip,
                freeze,
            )
        };
        let options = CommitOptions {
            reference,
            config: merge(container_changes(&config), changes),
            created_by: created_by(&config),
            comment: req.comment.clone().filter(|c| !c.is_empty()),
            author: req.author.clone().filter(|a| !a.is_empty()),
            platform: None,
        };
        let image = self
            .commit_layer_of(&id, &image_id, skip, freeze, options)
            .await?;
        self.container_event(&id, "commit", &[]);
        Ok(image.id.to_string())
    }

    /// The container's writable layer recorded on top of its image `image_id` with
    /// `options`; `skip` are paths left out, `freeze` pauses it meanwhile.
    pub(crate) async fn commit_layer_of(
        &self,
        id: &str,
        image_id: &str,
        skip: Vec<PathBuf>,
        freeze: bool,
        options: CommitOptions,
    ) -> Result<berth_image::Image> {
        let parent = self.images.resolve(image_id)?;
        let upper = self.images.snapshots().container_upper(id)?;
        let root = StateRoot::new(&self.layout.runtime_root);
        let engine = self
            .me
            .upgrade()
            .ok_or_else(|| Error::internal("commit", "the engine is shutting down"))?;
        let owned = id.to_string();
        tokio::task::spawn_blocking(move || {
            if freeze {
                berth_runtime::container::pause(&root, &owned)
                    .map_err(|e| Error::internal(format!("pause container {owned}"), e))?;
            }
            let res = write_layer(&upper, skip)
                .and_then(|tar| engine.images.commit(Some(&parent), tar, &options));
            if freeze && let Err(e) = berth_runtime::container::resume(&root, &owned) {
                tracing::warn!(id = owned, "resume after commit: {e}");
            }
            res
        })
        .await
        .map_err(|e| Error::internal("commit", e))?
    }
}

/// `repo` and `tag` as one reference (none without a repo, as Docker's dangling commits).
fn commit_reference(req: &CommitRequest) -> Result<Option<berth_image::Reference>> {
    let Some(repo) = req.repo.as_deref().filter(|r| !r.is_empty()) else {
        if req.tag.as_deref().is_some_and(|t| !t.is_empty()) {
            return Err(Error::InvalidArgument(
                "invalid reference format: a tag was given without a repository".into(),
            ));
        }
        return Ok(None);
    };
    let full = match req.tag.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    };
    let r = berth_image::Reference::parse(&full)
        .map_err(|e| Error::InvalidArgument(format!("invalid reference format: {e}")))?;
    if r.digest.is_some() {
        return Err(Error::InvalidArgument(format!(
            "refusing to create a tag with a digest reference: {full}"
        )));
    }
    Ok(Some(r))
}

/// The upper directory as an uncompressed layer tar, written on a thread.
fn write_layer(upper: &Path, skip: Vec<PathBuf>) -> Result<super::TarStream> {
    let dir = match open(
        upper,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => dir,
        // A container never started has no writable layer yet: it changed nothing.
        Err(nix::errno::Errno::ENOENT) => return spawn_tar(|_| Ok(())),
        Err(e) => return Err(Error::internal(upper.display(), e)),
    };
    spawn_tar(move |b| {
        tar_out::append_children(b, dir, Path::new(""), tar_out::Style::Layer { skip: &skip })
    })
}

/// The runtime config the container runs with, as an image config.
fn container_changes(c: &ContainerConfig) -> ConfigChanges {
    ConfigChanges {
        cmd: c.cmd.clone(),
        entrypoint: c.entrypoint.clone(),
        env: c.env.clone().unwrap_or_default(),
        workdir: c.working_dir.clone().filter(|w| !w.is_empty()),
        user: c.user.clone().filter(|u| !u.is_empty()),
        labels: c.labels.clone().unwrap_or_default(),
        exposed_ports: c.exposed_ports.clone().unwrap_or_default(),
        volumes: c.volumes.clone().unwrap_or_default(),
        stop_signal: c.stop_signal.clone().filter(|s| !s.is_empty()),
        healthcheck: c
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok()),
        on_build: c.on_build.clone().unwrap_or_default(),
    }
}

/// Docker's merge of `--change` into the container's config: commands, workdir and user
/// replace; env replaces by key; labels, ports, volumes and ONBUILD triggers are added.
fn merge(mut base: ConfigChanges, over: ConfigChanges) -> ConfigChanges {
    base.cmd = over.cmd.or(base.cmd);
    base.entrypoint = over.entrypoint.or(base.entrypoint);
    base.workdir = over.workdir.or(base.workdir);
    base.user = over.user.or(base.user);
    base.healthcheck = over.healthcheck.or(base.healthcheck);
    for kv in over.env {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        base.env
            .retain(|e| e.split('=').next().unwrap_or_default() != key);
        base.env.push(kv);
    }
    base.labels.extend(over.labels);
    base.on_build.extend(over.on_build);
    for p in over.exposed_ports {
        if !base.exposed_ports.contains(&p) {
            base.exposed_ports.push(p);
        }
    }
    for v in over.volumes {
        if !base.volumes.contains(&v) {
            base.volumes.push(v);
        }
    }
    base
}

/// The runtime mount points a container's writable layer may hold that are no change of its.
pub(crate) fn runtime_mount_points() -> Vec<PathBuf> {
    RUNTIME_MOUNT_POINTS.iter().map(PathBuf::from).collect()
}

/// Docker's history line for a commit: the container's entrypoint and command.
fn created_by(c: &ContainerConfig) -> String {
    c.entrypoint
        .iter()
        .chain(c.cmd.iter())
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_merge_as_docker_does() {
        let base = ConfigChanges {
            cmd: Some(vec!["sh".into()]),
            env: vec!["PATH=/bin".into(), "A=1".into()],
            exposed_ports: vec!["80/tcp".into()],
            ..Default::default()
        };
        let over = parse_changes(&[
            "ENV A=2".into(),
            "EXPOSE 80/tcp 443".into(),
            "WORKDIR /srv".into(),
        ])
        .unwrap();
        let m = merge(base, over);
        assert_eq!(m.cmd.unwrap(), ["sh"]);
        assert_eq!(m.env, ["PATH=/bin", "A=2"]);
        assert_eq!(m.exposed_ports, ["80/tcp", "443"]);
        assert_eq!(m.workdir.as_deref(), Some("/srv"));
    }

    #[test]
    fn a_tag_needs_a_repository() {
        let req = CommitRequest {
            tag: Some("v1".into()),
            ..Default::default()
        };
        assert!(commit_reference(&req).is_err());
        let req = CommitRequest {
            repo: Some("Bad Name".into()),
            ..Default::default()
        };
        assert!(commit_reference(&req).is_err());
    }
}

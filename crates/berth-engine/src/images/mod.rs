//! Images as Docker shows them, over the image crate's store: import, list, inspect, tag,
//! remove. The store is an OCI image layout; each layer is unpacked once into a snapshot that
//! every container on the image shares as an overlay lower dir.

mod archive;
mod auth;
mod changes;
mod docker_config;
mod endpoints;
pub(crate) mod healthcheck;
mod history;
mod prune;
mod pull;
mod push;
mod usage;
mod view;

use std::io::Read;
use std::path::Path;

use berth_image::{Image, ImageStore, ImportOptions, Platform, Reference, Snapshots};
use bollard_stubs::models::{ImageDeleteResponseItem, ImageInspect, ImageSummary};

use crate::api::{ImageListOptions, ImportRequest};
use crate::error::{Error, Result};

pub use archive::SavePlan;
pub use auth::login;
pub(crate) use changes::onbuild_trigger;
pub use changes::parse_changes;
pub(crate) use pull::parse_platform;
pub use usage::DiskUsage;

/// The image half of the engine.
pub struct Images {
    store: ImageStore,
    snapshots: Snapshots,
    /// Held shared while content comes in (import, pull, load: blobs and snapshots exist
    /// before the tag that makes them used) and exclusively by garbage collection, which is
    /// skipped while content comes in, so a prune or rmi never deletes what an unfinished
    /// import is about to tag.
    intake: std::sync::RwLock<()>,
}

impl Images {
    /// `content/` under the data root is the OCI layout; `overlay/` holds the snapshots and
    /// the containers' writable layers.
    pub fn open(data_root: &Path) -> Result<Images> {
        Ok(Images {
            store: ImageStore::open(data_root)?,
            snapshots: Snapshots::open(data_root.join("overlay"))?,
            intake: std::sync::RwLock::new(()),
        })
    }

    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// The image `name` refers to, or Docker's 404 message.
    pub fn resolve(&self, name: &str) -> Result<Image> {
        match self.store.resolve(name) {
            Ok(img) => Ok(img),
            Err(berth_image::Error::ImageNotFound(_)) => Err(no_such_image(name)),
            Err(e) => Err(e.into()),
        }
    }

    /// On any error the rest of `src` is read and dropped, so that a client still uploading
    /// receives the error instead of a broken pipe.
    pub fn import(&self, src: &mut dyn Read, req: ImportRequest) -> Result<String> {
        let res = self.import_from(src, req);
        if res.is_err() {
            let _ = std::io::copy(src, &mut std::io::sink());
        }
        res
    }

    fn import_from(&self, src: &mut dyn Read, req: ImportRequest) -> Result<String> {
        let _intake = self.intake_guard();
        let reference = match (&req.repo, &req.tag) {
            (Some(repo), _) if repo.is_empty() => None,
            (Some(repo), Some(tag)) if !tag.is_empty() => {
                Some(parse_ref(&format!("{repo}:{tag}"))?)
            }
            (Some(repo), _) => Some(parse_ref(repo)?),
            (None, _) => None,
        };
        let platform = req
            .platform
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| parse_platform(p).map(Platform::from))
            .transpose()?;
        let options = ImportOptions {
            reference,
            changes: parse_changes(&req.changes)?,
            platform,
            message: req.message.filter(|m| !m.is_empty()),
        };
        let image = berth_image::import_rootfs(&self.store, &self.snapshots, src, options)
            .map_err(|e| match e {
                berth_image::Error::Layer(_) | berth_image::Error::LayerEntry { .. } => {
                    Error::InvalidArgument(format!("importing the root filesystem: {e}"))
                }
                e => e.into(),
            })?;
        Ok(image.id.to_string())
    }

    /// Records the layer tar `layer` on top of `parent` as a new image (commit, build steps).
    pub fn commit(
        &self,
        parent: Option<&Image>,
        layer: impl Read,
        options: &berth_image::CommitOptions,
    ) -> Result<Image> {
        let _intake = self.intake_guard();
        Ok(berth_image::commit_layer(
            &self.store,
            &self.snapshots,
            parent,
            layer,
            options,
        )?)
    }

    /// Records a config-only step on top of `parent` (builds' `ENV`, `CMD`, ...).
    pub fn amend(
        &self,
        parent: Option<&Image>,
        options: &berth_image::CommitOptions,
    ) -> Result<Image> {
        let _intake = self.intake_guard();
        Ok(berth_image::amend_config(&self.store, parent, options)?)
    }

    pub fn list(
        &self,
        opts: &ImageListOptions,
        in_use: &dyn Fn(&str) -> i64,
    ) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        let images = self.store.list()?;
        // Docker hides the untagged images that others are built on (build steps) unless
        // `all` is asked for.
        let parents: std::collections::HashSet<String> = if opts.all {
            Default::default()
        } else {
            images
                .iter()
                .flat_map(|i| (1..history_len(i)).map(move |n| history_key(i, n)))
                .collect()
        };
        for img in images {
            if img.references.is_empty() && parents.contains(&history_key(&img, history_len(&img)))
            {
                continue;
            }
            let summary = view::summary(&img, in_use(&img.id.to_string()));
            if view::matches(&img, &summary, &opts.filters)? {
                out.push(summary);
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    pub fn inspect(&self, name: &str) -> Result<ImageInspect> {
        let image = self.resolve(name)?;
        let mut inspect = view::inspect(&image);
        if let Some(config) = inspect.config.as_mut() {
            config.healthcheck = self.healthcheck(&image);
            let triggers = self.on_build(&image);
            config.on_build = (!triggers.is_empty()).then_some(triggers);
        }
        Ok(inspect)
    }

    pub fn tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let image = self.resolve(name)?;
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_string(),
        };
        let reference = parse_ref(&target)?;
        if reference.digest.is_some() {
            return Err(Error::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        self.store.tag(&reference, &image.manifest)?;
        Ok(())
    }

    /// Docker's rules: a name that is one of several untags only (a tag's repo digests go
    /// with the repository's last tag); an id (or an image's last name) deletes the image
    /// unless a container uses it (then 409, or with `force` just untag when the container is
    /// stopped).
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        users: &dyn Fn(&str) -> Option<(String, bool)>,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let image = self.resolve(name)?;
        let id = image.id.to_string();
        let by_name = Reference::parse(name)
            .ok()
            .filter(|r| image.references.contains(r));
        let mut out = Vec::new();
        if let Some(r) = &by_name {
            let remaining = names_left_after_untag(&image.references, r);
            if !remaining.is_empty() {
                for gone in image.references.iter().filter(|x| !remaining.contains(x)) {
                    self.store.untag(gone)?;
                    out.push(untagged(gone));
                }
                return Ok(out);
            }
        }
        if by_name.is_none() && !single_reference(&image.references) && !force {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                image.id.short()
            )));
        }
        let used = users(&id);
        if let Some((container, running)) = &used {
            let short = &container[..12.min(container.len())];
            if *running || !force {
                let how = if *running {
                    "cannot be forced"
                } else {
                    "must be forced"
                };
                let state = if *running { "running" } else { "stopped" };
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} ({how}) - image is being used by {state} container {short}",
                    image.id.short()
                )));
            }
        }
        for r in &image.references {
            self.store.untag(r)?;
            out.push(untagged(r));
        }
        if used.is_some() {
            // Forced on a stopped container's image: the names go, the image stays (dangling)
            // for the container to start from.
            return Ok(out);
        }
        self.store.remove(&image)?;
        out.push(ImageDeleteResponseItem {
            deleted: Some(id),
            untagged: None,
        });
        self.remove_unused_parents(&image, users, &mut out)?;
        self.collect_garbage()?;
        Ok(out)
    }

    /// After `image` is deleted, its parents (the build steps it was made of) go too while
    /// they have no name, no other child and no container, as Docker's do.
    fn remove_unused_parents(
        &self,
        image: &Image,
        users: &dyn Fn(&str) -> Option<(String, bool)>,
        out: &mut Vec<ImageDeleteResponseItem>,
    ) -> Result<()> {
        let mut child = image.clone();
        loop {
            let images = self.store.list()?;
            let len = history_len(&child);
            let parent = (1..len).rev().find_map(|n| {
                let key = history_key(&child, n);
                images
                    .iter()
                    .find(|i| history_len(i) == n && history_key(i, n) == key)
            });
            let Some(parent) = parent.cloned() else {
                return Ok(());
            };
            let n = history_len(&parent);
            let own = history_key(&parent, n);
            let other_children = images.iter().any(|i| {
                i.manifest != parent.manifest && history_len(i) > n && history_key(i, n) == own
            });
            let id = parent.id.to_string();
            if !parent.references.is_empty() || other_children || users(&id).is_some() {
                return Ok(());
            }
            self.store.remove(&parent)?;
            out.push(ImageDeleteResponseItem {
                deleted: Some(id),
                untagged: None,
            });
            child = parent;
        }
    }

    /// Removes the blobs and snapshots no recorded image refers to (containers' images stay
    /// recorded, so theirs are kept). Returns the bytes freed.
    fn collect_garbage(&self) -> Result<u64> {
        // Never wait for an import (callers may be on the async runtime): what is left now
        // is collected by the next GC.
        let _no_intake = match self.intake.try_write() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                tracing::debug!("image content is coming in; garbage collection deferred");
                return Ok(0);
            }
        };
        let blobs: u64 = self.store.gc()?.iter().map(|(_, size)| size).sum();
        let mut keep = std::collections::HashSet::new();
        for img in self.store.list()? {
            keep.extend(img.chain_ids()?);
        }
        let layers: u64 = self
            .snapshots
            .list()?
            .iter()
            .filter(|c| !keep.contains(c))
            .map(|c| usage::disk_usage(&self.snapshots.fs_path(c)))
            .sum();
        self.snapshots.retain(&keep)?;
        Ok(blobs + layers)
    }
}

impl Images {
    /// Keeps garbage collection out until the content being brought in is tagged.
    fn intake_guard(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.intake.read().unwrap_or_else(|e| e.into_inner())
    }
}

fn history_len(img: &Image) -> usize {
    img.config.history().as_ref().map_or(0, Vec::len)
}

/// The first `n` history entries and the layers they made, as one comparable key: an image
/// whose whole history is a strict prefix of another's is that one's parent.
fn history_key(img: &Image, n: usize) -> String {
    let history = img.config.history().as_deref().unwrap_or_default();
    let layers = history[..n]
        .iter()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .count();
    let diff_ids =
        &img.config.rootfs().diff_ids()[..layers.min(img.config.rootfs().diff_ids().len())];
    serde_json::to_string(&(&history[..n], diff_ids)).unwrap_or_default()
}

/// The names an image keeps when `removed` is untagged: with the repository's last tag go its
/// repo digests, as in Docker.
fn names_left_after_untag(names: &[Reference], removed: &Reference) -> Vec<Reference> {
    let mut left: Vec<Reference> = names.iter().filter(|r| *r != removed).cloned().collect();
    let is_tag = removed.digest.is_none();
    let repo_tagged = left
        .iter()
        .any(|r| r.digest.is_none() && r.name() == removed.name());
    if is_tag && !repo_tagged {
        left.retain(|r| r.name() != removed.name());
    }
    left
}

/// Docker's test for deleting by id without force: the names are all in one repository, with
/// at most one tag.
fn single_reference(names: &[Reference]) -> bool {
    let tags = names.iter().filter(|r| r.digest.is_none()).count();
    tags <= 1 && names.iter().all(|r| r.name() == names[0].name())
}

fn untagged(r: &Reference) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem {
        untagged: Some(r.familiar()),
        deleted: None,
    }
}

pub fn no_such_image(name: &str) -> Error {
    let shown = match Reference::parse(name) {
        Ok(r) if r.digest.is_none() && !name.contains(':') && !looks_like_id(name) => r.familiar(),
        _ => name.to_string(),
    };
    Error::NotFound(format!("No such image: {shown}"))
}

fn looks_like_id(s: &str) -> bool {
    s.len() >= 4 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_ref(s: &str) -> Result<Reference> {
    Reference::parse(s)
        .map_err(|e| Error::InvalidArgument(format!("invalid reference format: {e}")))
}

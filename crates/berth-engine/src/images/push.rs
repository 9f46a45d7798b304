//! `docker push` (`POST /images/{name}/push?tag=`): berth-registry does the work; this picks
//! the tags to push, offers the image's other repositories on the same registry as mount
//! sources, turns progress into Docker's JSON messages and records the repo digest.

use berth_image::{Image, Reference};
use berth_registry::{PushOptions, PushProgress, PushProgressKind};
use serde_json::{Value, json};

use crate::api::PushRequest;
use crate::error::{Error, Result};

use super::auth::credentials_for;
use super::{Images, parse_ref};

impl Images {
    /// Pushes one tag, or every tag of the repository when none is given, sending Docker's
    /// progress messages to `emit`. An image missing locally is an error before any message.
    pub fn push(
        &self,
        req: &PushRequest,
        insecure: &[String],
        emit: &(dyn Fn(Value) + Sync),
    ) -> Result<()> {
        let mut repository = parse_ref(&req.name)?;
        if let Some(tag) = req.tag.as_deref().filter(|t| !t.is_empty()) {
            repository = parse_ref(&format!("{}:{tag}", repository.name()))?;
        } else if !has_explicit_tag(&req.name) {
            repository.tag = None;
        }
        let targets = self.push_targets(&repository)?;
        emit(json!({"status": format!("The push refers to repository [{}]", repository.name())}));
        let options = PushOptions {
            insecure_registries: insecure.to_vec(),
            credentials: credentials_for(&repository.registry, req.auth.as_deref()),
            mount_from: Vec::new(),
        };
        for (target, image) in targets {
            let options = PushOptions {
                mount_from: mount_sources(&image, &target),
                ..options.clone()
            };
            let pushed =
                berth_registry::push(&self.store, &image.manifest, &target, &options, &|p| {
                    emit(progress_message(&p))
                })
                .map_err(|e| Error::Internal(e.to_string()))?;
            self.store
                .record_repo_digest(&target, &pushed.digest, &image.manifest)?;
            let tag = target.tag.clone().unwrap_or_default();
            emit(
                json!({"status": format!("{tag}: digest: {} size: {}", pushed.digest, pushed.size)}),
            );
            emit(
                json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": pushed.digest.to_string(), "Size": pushed.size}}),
            );
        }
        Ok(())
    }

    /// The tagged names to push with their images: the one asked for, or all of the
    /// repository's. None is Docker's "does not exist locally" error.
    fn push_targets(&self, repository: &Reference) -> Result<Vec<(Reference, Image)>> {
        let missing = || {
            Error::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                repository.familiar_name()
            ))
        };
        if repository.tag.is_some() || repository.digest.is_some() {
            let image = self
                .store
                .resolve(&repository.to_string())
                .map_err(|_| missing())?;
            return Ok(vec![(repository.clone(), image)]);
        }
        let mut out = Vec::new();
        for image in self.store.list()? {
            for r in &image.references {
                if r.name() == repository.name() && r.tag.is_some() && r.digest.is_none() {
                    out.push((r.clone(), image.clone()));
                }
            }
        }
        if out.is_empty() {
            return Err(missing());
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Whether the name ends in `:tag` (a `:` after the last `/`, so not a registry port).
fn has_explicit_tag(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.contains(':') || name.contains('@')
}

/// Repositories of the target's registry that the image was pulled from or pushed to (its
/// repo digests): they hold its blobs, so the registry can mount instead of receiving them.
fn mount_sources(image: &Image, target: &Reference) -> Vec<String> {
    let mut out: Vec<String> = image
        .references
        .iter()
        .filter(|r| {
            r.digest.is_some() && r.registry == target.registry && r.repository != target.repository
        })
        .map(|r| r.repository.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Docker's per-layer push lines (`id` is the layer's short digest).
fn progress_message(p: &PushProgress) -> Value {
    let id = p.layer.short().to_string();
    let (status, detail) = match &p.kind {
        PushProgressKind::Preparing => ("Preparing".to_string(), json!({})),
        PushProgressKind::Waiting => ("Waiting".to_string(), json!({})),
        PushProgressKind::Pushing { current, total } => (
            "Pushing".to_string(),
            json!({"current": current, "total": total}),
        ),
        PushProgressKind::AlreadyExists => ("Layer already exists".to_string(), json!({})),
        PushProgressKind::Mounted { from } => (format!("Mounted from {from}"), json!({})),
        PushProgressKind::Pushed => ("Pushed".to_string(), json!({})),
    };
    json!({"status": status, "progressDetail": detail, "id": id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_tags() {
        assert!(has_explicit_tag("127.0.0.1:5000/a:1"));
        assert!(!has_explicit_tag("127.0.0.1:5000/a"));
        assert!(!has_explicit_tag("busybox"));
        assert!(has_explicit_tag("busybox:latest"));
    }

    #[test]
    fn push_lines() {
        let layer = berth_image::Digest::of(b"x");
        let v = progress_message(&PushProgress {
            layer: layer.clone(),
            kind: PushProgressKind::Mounted {
                from: "tools/a".into(),
            },
        });
        assert_eq!(v["status"], "Mounted from tools/a");
        assert_eq!(v["id"], layer.short());
        let v = progress_message(&PushProgress {
            layer,
            kind: PushProgressKind::Pushing {
                current: 3,
                total: 9,
            },
        });
        assert_eq!(v["progressDetail"]["total"], 9);
    }
}

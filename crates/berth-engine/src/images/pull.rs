//! `docker pull` (`POST /images/create?fromImage=`): the registry crate does the work; this
//! turns its progress into Docker's JSON message stream.

use berth_image::Reference;
use berth_registry::{Platform, Progress, ProgressKind, PullOptions};
use serde_json::{Value, json};

use crate::api::PullRequest;
use crate::error::{Error, Result};

use super::auth::credentials_for;
use super::{Images, parse_ref};

impl Images {
    /// Pulls and tags the image, sending Docker's progress messages to `emit` (one JSON object
    /// each). Errors before anything was sent are returned; the caller reports later ones in
    /// the stream.
    pub fn pull(
        &self,
        req: &PullRequest,
        insecure: &[String],
        emit: &(dyn Fn(Value) + Sync),
    ) -> Result<String> {
        let _intake = self.intake_guard();
        let reference = parse_ref(&req.image)?;
        let mut options = PullOptions {
            insecure_registries: insecure.to_vec(),
            credentials: credentials_for(&reference.registry, req.auth.as_deref()),
            ..Default::default()
        };
        if let Some(p) = req.platform.as_deref().filter(|p| !p.is_empty()) {
            options.platform = Some(parse_platform(p)?);
        }
        let shown = reference
            .tag
            .clone()
            .or_else(|| reference.digest.as_ref().map(|d| d.to_string()));
        let header = json!({"status": format!("Pulling from {}", reference.familiar_name()), "id": shown.unwrap_or_default()});
        // Sent with the first layer's progress: an image that cannot be had (not found,
        // denied) fails before any message, so the API can answer with a plain error status.
        let started = std::sync::Once::new();
        let had = self
            .store
            .resolve(&reference.to_string())
            .ok()
            .map(|i| i.id);
        let pulled =
            berth_registry::pull_image(&self.store, &self.snapshots, &reference, &options, &|p| {
                started.call_once(|| emit(header.clone()));
                emit(progress_message(&p))
            })
            .map_err(|e| pull_error(&reference, e))?;
        self.store
            .record_repo_digest(&reference, &pulled.repo_digest, &pulled.image.manifest)?;
        started.call_once(|| emit(header.clone()));
        emit(json!({"status": format!("Digest: {}", pulled.repo_digest)}));
        let status = if had.as_ref() == Some(&pulled.image.id) {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        emit(json!({"status": format!("Status: {status} {}", reference.familiar())}));
        Ok(pulled.image.id.to_string())
    }
}

/// Docker's per-layer lines (`id` is the layer's short digest).
fn progress_message(p: &Progress) -> Value {
    let id = p.layer.short().to_string();
    let (status, detail) = match &p.kind {
        ProgressKind::Waiting => ("Waiting", json!({})),
        ProgressKind::Downloading { current, total } => {
            ("Downloading", json!({"current": current, "total": total}))
        }
        ProgressKind::Verifying => ("Verifying Checksum", json!({})),
        ProgressKind::Extracting => ("Extracting", json!({})),
        ProgressKind::Done => ("Pull complete", json!({})),
        ProgressKind::AlreadyExists => ("Already exists", json!({})),
    };
    json!({"status": status, "progressDetail": detail, "id": id})
}

/// Docker's wording where clients look for it: a missing image is "not found".
fn pull_error(reference: &Reference, e: berth_registry::Error) -> Error {
    match &e {
        berth_registry::Error::Registry { status: 404, .. } => Error::NotFound(format!(
            "manifest for {} not found: {e}",
            reference.familiar()
        )),
        berth_registry::Error::Registry {
            status: 401 | 403, ..
        }
        | berth_registry::Error::Auth { .. } => Error::NotFound(format!(
            "pull access denied for {}: {e}",
            reference.familiar_name()
        )),
        berth_registry::Error::NoMatchingPlatform { .. } => Error::NotFound(e.to_string()),
        _ => Error::Internal(format!("pulling {}: {e}", reference.familiar())),
    }
}

/// `os/arch[/variant]`, normalised (`x86_64` is `amd64`).
pub(crate) fn parse_platform(s: &str) -> Result<Platform> {
    Platform::parse(s).map_err(|e| Error::InvalidArgument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(
            parse_platform("linux/arm/v6").unwrap().variant.as_deref(),
            Some("v6")
        );
        assert!(parse_platform("linux/").is_err());
    }
}

//! Images in Docker's JSON shapes, and `docker images --filter`.

use berth_image::Image;
use bollard_stubs::models::{ImageConfig, ImageInspect, ImageInspectRootFs, ImageSummary};

use crate::api::Filters;
use crate::error::{Error, Result};
use crate::logs::parse_time;

pub fn summary(img: &Image, containers: i64) -> ImageSummary {
    ImageSummary {
        id: img.id.to_string(),
        parent_id: String::new(),
        repo_tags: img
            .references
            .iter()
            .filter_map(|r| Some(format!("{}:{}", r.familiar_name(), r.tag.as_ref()?)))
            .collect(),
        repo_digests: img
            .references
            .iter()
            .filter_map(|r| Some(format!("{}@{}", r.familiar_name(), r.digest.as_ref()?)))
            .collect(),
        created: created_unix(img),
        size: img.size as i64,
        shared_size: -1,
        labels: img
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default(),
        containers,
        manifests: None,
        descriptor: None,
    }
}

fn created_unix(img: &Image) -> i64 {
    img.created
        .as_deref()
        .and_then(parse_time)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn inspect(img: &Image) -> ImageInspect {
    let c = img.config.config().clone().unwrap_or_default();
    let config = ImageConfig {
        user: c.user().clone(),
        exposed_ports: c.exposed_ports().clone(),
        env: c.env().clone(),
        cmd: c.cmd().clone(),
        volumes: c.volumes().clone(),
        working_dir: c.working_dir().clone(),
        entrypoint: c.entrypoint().clone(),
        labels: c.labels().clone(),
        stop_signal: c.stop_signal().clone(),
        ..Default::default()
    };
    let summary = summary(img, -1);
    ImageInspect {
        id: Some(img.id.to_string()),
        repo_tags: Some(summary.repo_tags),
        repo_digests: Some(summary.repo_digests),
        comment: img
            .config
            .history()
            .as_ref()
            .and_then(|h| h.last())
            .and_then(|h| h.comment().clone()),
        created: img.created.clone(),
        author: img.config.author().clone(),
        config: Some(config),
        architecture: Some(img.config.architecture().to_string()),
        variant: img.config.variant().clone(),
        os: Some(img.config.os().to_string()),
        size: Some(img.size as i64),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(img.config.rootfs().diff_ids().clone()),
        }),
        ..Default::default()
    }
}

/// `dangling`, `label`, `reference`, `before`/`since` are not all here: the ones Docker users
/// reach for first are; others are refused by name.
pub fn matches(img: &Image, s: &ImageSummary, filters: &Filters) -> Result<bool> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "dangling" => values.iter().any(|v| {
                (v == "true" || v == "1") == (s.repo_tags.is_empty() && s.repo_digests.is_empty())
            }),
            "label" => values.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => s.labels.get(k).is_some_and(|have| have == want),
                None => s.labels.contains_key(v),
            }),
            "reference" => values.iter().any(|pat| {
                img.references
                    .iter()
                    .any(|r| glob(pat, &r.familiar()) || glob(pat, &r.familiar_name()))
            }),
            other => {
                return Err(Error::InvalidArgument(format!("invalid filter '{other}'")));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Shell-style `*` and `?` matching, enough for `reference=busy*`.
pub fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

//! `docker image prune`: unused images (dangling ones only unless `dangling=false`), narrowed
//! by `until` and `label`/`label!`, then the blobs and snapshots nothing uses any more.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_image::Image;
use bollard_stubs::models::{ImageDeleteResponseItem, ImagePruneResponse};

use crate::api::Filters;
use crate::error::{Error, Result};
use crate::logs::{parse_go_duration, parse_time};

use super::{Images, untagged};

/// What the filters ask for.
struct Selection {
    all: bool,
    until: Option<SystemTime>,
    labels: Vec<String>,
    not_labels: Vec<String>,
}

fn selection(filters: &Filters) -> Result<Selection> {
    let mut s = Selection {
        all: false,
        until: None,
        labels: Vec::new(),
        not_labels: Vec::new(),
    };
    for (key, values) in filters {
        match key.as_str() {
            "dangling" => {
                for v in values {
                    s.all = match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => false,
                        "false" | "0" => true,
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                                "invalid filter 'dangling={v}'"
                            )));
                        }
                    };
                }
            }
            "until" => {
                let [v] = values.as_slice() else {
                    return Err(Error::InvalidArgument(
                        "filter 'until' takes exactly one value".into(),
                    ));
                };
                s.until = Some(parse_until(v, SystemTime::now()).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "invalid filter 'until={v}': expected a Unix timestamp, an RFC 3339 date or a duration like 24h"
                    ))
                })?);
            }
            "label" => s.labels.extend(values.iter().cloned()),
            "label!" => s.not_labels.extend(values.iter().cloned()),
            other => return Err(Error::InvalidArgument(format!("invalid filter '{other}'"))),
        }
    }
    Ok(s)
}

/// Docker's timestamps for `until`: Unix seconds (fractions allowed), RFC 3339, or a Go
/// duration (`90m`, `1h30m`) meaning that long before `now`.
fn parse_until(v: &str, now: SystemTime) -> Option<SystemTime> {
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(secs));
    }
    if let Some(secs) = parse_go_duration(v) {
        return now.checked_sub(Duration::from_secs_f64(secs));
    }
    parse_time(v)
}

fn label_matches(img: &Image, want: &str) -> bool {
    let labels = img
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default();
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(want),
    }
}

impl Selection {
    fn selects(&self, img: &Image) -> bool {
        if !self.all && !img.references.is_empty() {
            return false;
        }
        if let Some(until) = self.until {
            let created = img.created.as_deref().and_then(parse_time);
            if created.is_none_or(|c| c >= until) {
                return false;
            }
        }
        self.labels.iter().all(|l| label_matches(img, l))
            && !self.not_labels.iter().any(|l| label_matches(img, l))
    }
}

impl Images {
    /// Removes the unused images `filters` select; `in_use` holds the ids of images that
    /// containers were created from, which are never pruned.
    pub fn prune(&self, filters: &Filters, in_use: &HashSet<String>) -> Result<ImagePruneResponse> {
        let sel = selection(filters)?;
        let mut deleted = Vec::new();
        for img in self.store.list()? {
            if in_use.contains(&img.id.to_string()) || !sel.selects(&img) {
                continue;
            }
            for r in &img.references {
                self.store.untag(r)?;
                deleted.push(untagged(r));
            }
            self.store.remove(&img)?;
            deleted.push(ImageDeleteResponseItem {
                deleted: Some(img.id.to_string()),
                untagged: None,
            });
        }
        let reclaimed = self.collect_garbage()?;
        Ok(ImagePruneResponse {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: Some(reclaimed as i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |s| parse_until(s, now).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs());
        assert_eq!(at("1600000000"), Some(1_600_000_000));
        assert_eq!(at("1600000000.5"), Some(1_600_000_000));
        assert_eq!(at("24h"), Some(1_700_000_000 - 86_400));
        assert_eq!(at("1h30m"), Some(1_700_000_000 - 5_400));
        assert_eq!(at("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(at("yesterday"), None);
        assert_eq!(at("10x"), None);
    }

    #[test]
    fn filter_errors_name_the_filter() {
        let f = |k: &str, v: &str| Filters::from([(k.to_string(), vec![v.to_string()])]);
        let err = |k, v| selection(&f(k, v)).err().unwrap().to_string();
        assert!(err("reference", "x").contains("'reference'"));
        assert!(err("dangling", "maybe").contains("dangling=maybe"));
        assert!(err("until", "soon").contains("until=soon"));
        assert!(selection(&f("dangling", "false")).unwrap().all);
    }
}

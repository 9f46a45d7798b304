//! `docker history`: the config's history, newest first, each entry that made a layer sized by
//! that layer's snapshot. As Docker, only the newest entry carries the image's id and tags; the
//! older ones are `<missing>` (they are not images of their own here).

use berth_image::Image;
use bollard_stubs::models::ImageHistoryResponseItem;

use crate::error::Result;
use crate::logs::parse_time;

use super::Images;
use super::usage::disk_usage;

fn unix(t: Option<&str>) -> i64 {
    t.and_then(parse_time)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

impl Images {
    pub fn history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let img = self.resolve(name)?;
        let chain = img.chain_ids()?;
        let mut layer_sizes = chain
            .iter()
            .map(|c| disk_usage(&self.snapshots.fs_path(c)) as i64);
        let mut out: Vec<ImageHistoryResponseItem> = match img.config.history() {
            Some(h) if !h.is_empty() => h
                .iter()
                .map(|e| ImageHistoryResponseItem {
                    id: "<missing>".into(),
                    created: unix(e.created().as_deref()),
                    created_by: e.created_by().clone().unwrap_or_default(),
                    tags: Vec::new(),
                    size: if e.empty_layer().unwrap_or(false) {
                        0
                    } else {
                        layer_sizes.next().unwrap_or(0)
                    },
                    comment: e.comment().clone().unwrap_or_default(),
                })
                .collect(),
            // No history recorded: one entry per layer.
            _ => layer_sizes
                .map(|size| ImageHistoryResponseItem {
                    id: "<missing>".into(),
                    created: unix(img.created.as_deref()),
                    size,
                    ..Default::default()
                })
                .collect(),
        };
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = img.id.to_string();
            top.tags = tags(&img);
        }
        Ok(out)
    }
}

fn tags(img: &Image) -> Vec<String> {
    img.references
        .iter()
        .filter(|r| r.tag.is_some())
        .map(|r| r.familiar())
        .collect()
}

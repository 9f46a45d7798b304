//! Disk usage as `docker system df` and prune report it: bytes of unpacked layers (each
//! snapshot counted once however many images share it) and of containers' writable layers.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_image::{Digest, Image};
use bollard_stubs::models::{ContainerSummary, ImageSummary};
use serde::Serialize;

use crate::error::Result;

use super::Images;

/// `GET /system/df`, in the shape API 1.50 clients read.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    pub layers_size: i64,
    pub images: Vec<ImageSummary>,
    pub containers: Vec<ContainerSummary>,
    /// Named volumes do not exist yet: always empty.
    pub volumes: Vec<serde_json::Value>,
    /// Builds do not exist yet: always empty.
    pub build_cache: Vec<serde_json::Value>,
}

/// Bytes of regular files under `path`, each inode once, symlinks not followed; 0 if absent.
pub fn disk_usage(path: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(dir) = std::fs::read_dir(p) else {
            return 0;
        };
        let mut total = 0;
        for e in dir.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                total += walk(&e.path(), seen);
            } else if md.is_file() && seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
        total
    }
    walk(path, &mut HashSet::new())
}

impl Images {
    /// Bytes of each committed snapshot.
    pub(crate) fn snapshot_sizes(&self) -> Result<HashMap<Digest, u64>> {
        Ok(self
            .snapshots
            .list()?
            .into_iter()
            .map(|c| {
                let n = disk_usage(&self.snapshots.fs_path(&c));
                (c, n)
            })
            .collect())
    }

    /// Every image with its unpacked size and the part of it shared with other images, plus
    /// the size of all layers together.
    pub fn usage(&self, containers_of: &dyn Fn(&str) -> i64) -> Result<(i64, Vec<ImageSummary>)> {
        let sizes = self.snapshot_sizes()?;
        let images: Vec<(Image, Vec<Digest>)> = self
            .store
            .list()?
            .into_iter()
            .map(|i| {
                let c = i.chain_ids()?;
                Ok((i, c))
            })
            .collect::<Result<_>>()?;
        let mut users: HashMap<&Digest, usize> = HashMap::new();
        for (_, chain) in &images {
            for c in chain.iter().collect::<HashSet<_>>() {
                *users.entry(c).or_default() += 1;
            }
        }
        let size_of = |c: &Digest| sizes.get(c).copied().unwrap_or(0) as i64;
        let mut out = Vec::new();
        for (img, chain) in &images {
            let id = img.id.to_string();
            let mut s = super::view::summary(img, containers_of(&id));
            s.size = chain.iter().map(size_of).sum();
            s.shared_size = chain.iter().filter(|c| users[c] > 1).map(size_of).sum();
            out.push(s);
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok((sizes.values().sum::<u64>() as i64, out))
    }

    /// Bytes in a container's writable layer.
    pub fn container_size(&self, id: &str) -> i64 {
        self.snapshots
            .container_upper(id)
            .map_or(0, |p| disk_usage(&p) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_once() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir(p.join("d")).unwrap();
        std::fs::write(p.join("d/a"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(p.join("d/a"), p.join("b")).unwrap();
        std::fs::write(p.join("c"), b"xyz").unwrap();
        std::os::unix::fs::symlink("/usr", p.join("link")).unwrap();
        assert_eq!(disk_usage(p), 1003);
        assert_eq!(disk_usage(&p.join("absent")), 0);
    }
}

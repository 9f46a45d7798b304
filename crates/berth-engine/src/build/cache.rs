//! The build cache: a step's key (its parent image, its instruction after substitution, the
//! build args and shell it runs with, and for COPY/ADD the content of what it reads) → the
//! image the step made. One small file per key under `<data-root>/build-cache`, written
//! atomically, so the cache survives daemon restarts. A hit whose image is gone is a miss.

use std::path::{Path, PathBuf};

use berth_image::Image;
use sha2::{Digest as _, Sha256};

use super::context::Context;
use super::digests::{FileDigests, read_digest};
use crate::error::{Error, Result};
use crate::images::Images;

/// The cache's directory.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn open(data_root: &Path) -> Result<Cache> {
        let dir = data_root.join("build-cache");
        std::fs::create_dir_all(&dir).map_err(|e| Error::internal(dir.display(), e))?;
        Ok(Cache { dir })
    }

    /// The image recorded for `key`, if it still exists.
    pub fn get(&self, images: &Images, key: &str) -> Option<Image> {
        let id = std::fs::read_to_string(self.dir.join(key)).ok()?;
        images.resolve(id.trim()).ok()
    }

    pub fn put(&self, key: &str, image: &Image) -> Result<()> {
        crate::containers::record::write_durably(
            &self.dir.join(key),
            image.id.to_string().as_bytes(),
        )
    }

    /// Forgets every entry; returns how many there were.
    pub fn clear(&self) -> Result<usize> {
        let mut n = 0;
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| Error::internal(self.dir.display(), e))?;
        for e in entries.flatten() {
            if std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A step's key from its parts (each one line of the hashed text).
pub fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\n\x00");
    }
    hex::encode(h.finalize())
}

/// What COPY/ADD reads from the context: each path's name, type, mode and content digest (or
/// link target), directories walked with `.dockerignore` applied. A lasting context's file
/// digests come from `digests` while the files are unchanged.
pub fn content_hash(tree: &Context, sources: &[PathBuf], digests: &FileDigests) -> Result<String> {
    let mut h = Sha256::new();
    // One read buffer for every file: a fresh 256 KiB per file (an mmap, page faults and an
    // munmap each) cost more than the hashing for a tree of small files.
    let mut buf = vec![0u8; 256 * 1024];
    let mut hash = |rel: &Path| hash_path(tree, rel, &mut h, &mut buf, digests);
    for src in sources {
        hash(src)?;
        if std::fs::symlink_metadata(tree.root().join(src)).is_ok_and(|m| m.is_dir()) {
            let mut inner = Vec::new();
            tree.walk(src, &mut |p| {
                if !tree.is_excluded(p) {
                    inner.push(p.to_path_buf());
                }
            })?;
            for p in inner {
                hash(&p)?;
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_path(
    tree: &Context,
    rel: &Path,
    h: &mut Sha256,
    buf: &mut [u8],
    digests: &FileDigests,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let abs = tree.root().join(rel);
    let md = std::fs::symlink_metadata(&abs).map_err(|e| Error::internal(abs.display(), e))?;
    h.update(format!("{}\0{:o}\0", rel.display(), md.mode()).as_bytes());
    if md.file_type().is_symlink() {
        let target = std::fs::read_link(&abs).map_err(|e| Error::internal(abs.display(), e))?;
        h.update(target.as_os_str().as_encoded_bytes());
    } else if md.is_file() {
        let digest = match tree.lasting() {
            true => digests.digest(&abs, &md, buf)?,
            false => read_digest(&abs, buf)?,
        };
        h.update(digest);
    }
    h.update(b"\0");
    Ok(())
}

//! `GET /containers/{id}/changes`: the writable layer read against the image's layers. A
//! 0:0 character device is an overlay whiteout (deleted), an entry the image also has is
//! modified, any other is added. Walked by fd, never following the container's symlinks.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bollard_stubs::models::{ChangeType, FilesystemChange};
use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstatat};

use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    pub fn container_changes(&self, name: &str) -> Result<Vec<FilesystemChange>> {
        let (id, image_id) = {
            let reg = self.registry.lock().expect("registry lock");
            let rec = &reg.get(name)?.record;
            (rec.id.clone(), rec.image_id.clone())
        };
        let image = self.images.resolve(&image_id)?;
        let spec = self
            .images
            .snapshots()
            .prepare_container(&id, &image.chain_ids()?)?;
        let lowers: Vec<std::fs::File> = spec
            .lowerdirs
            .iter()
            .filter_map(|d| std::fs::File::open(d).ok())
            .collect();
        let upper = std::fs::File::open(&spec.upperdir)
            .map_err(|e| Error::internal(spec.upperdir.display(), e))?;
        let mut out = Vec::new();
        walk(upper.into(), Path::new("/"), &lowers, &mut out)
            .map_err(|e| Error::internal("reading the container's changes", e))?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

fn walk(
    dir: OwnedFd,
    at: &Path,
    lowers: &[std::fs::File],
    out: &mut Vec<FilesystemChange>,
) -> nix::Result<()> {
    let keep = dir.try_clone().map_err(|_| nix::errno::Errno::EBADF)?;
    let mut names = Vec::new();
    for e in Dir::from_fd(dir)?.iter() {
        let n = e?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            names.push(n);
        }
    }
    for n in names {
        let name = OsStr::from_bytes(&n);
        let path = at.join(name);
        let st = fstatat(keep.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let fmt = st.st_mode & libc::S_IFMT;
        let kind = if fmt == libc::S_IFCHR && st.st_rdev == 0 {
            ChangeType::_2
        } else if in_image(lowers, &path) {
            ChangeType::_0
        } else {
            ChangeType::_1
        };
        out.push(FilesystemChange {
            path: path.to_string_lossy().into_owned(),
            kind,
        });
        if fmt == libc::S_IFDIR {
            let sub = openat(
                keep.as_fd(),
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            walk(sub, &path, lowers, out)?;
        }
    }
    Ok(())
}

/// Whether some image layer has `path` (resolved inside that layer, no symlink followed out).
fn in_image(lowers: &[std::fs::File], path: &Path) -> bool {
    let rel: PathBuf = path.components().skip(1).collect();
    // Topmost layer first: the first that has the path decides (a whiteout there hides it).
    lowers
        .iter()
        .find_map(|l| lower_entry(l.as_fd(), &rel))
        .is_some_and(|whiteout| !whiteout)
}

/// `Some(is_whiteout)` when the layer has `rel`.
fn lower_entry(layer: BorrowedFd, rel: &Path) -> Option<bool> {
    let how = nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(nix::fcntl::ResolveFlag::RESOLVE_IN_ROOT);
    let fd = nix::fcntl::openat2(layer, rel, how).ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    Some(st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0)
}

//! `GET /containers/{id}/changes`: the writable layer read against the image's layers. A
//! 0:0 character device is an overlay whiteout (deleted), an entry the image also has is
//! modified, any other is added. Walked by fd, never following the container's symlinks.
//! The mount points the runtime made (`/proc`, `/dev`, `/etc/hosts`, volumes, ...) are not
//! changes, as in Docker (where they live in a separate init layer), nor are directories
//! that hold nothing else.

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
        let (id, image_id, mut skip) = {
            let reg = self.registry.lock().expect("registry lock");
            let rec = &reg.get(name)?.record;
            let skip: Vec<PathBuf> = rec
                .mounts
                .iter()
                .map(|m| PathBuf::from(&m.destination))
                .collect();
            (rec.id.clone(), rec.image_id.clone(), skip)
        };
        skip.extend(RUNTIME_MOUNT_POINTS.iter().map(PathBuf::from));
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
        let ctx = Walk {
            lowers: &lowers,
            skip: &skip,
        };
        ctx.dir(upper.into(), Path::new("/"), &mut out)
            .map_err(|e| Error::internal("reading the container's changes", e))?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

/// Mount points of every container (see `spec.rs`), made in the writable layer when the
/// image lacks them.
pub(crate) const RUNTIME_MOUNT_POINTS: &[&str] = &[
    "/proc",
    "/dev",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/sbin/docker-init",
];

struct Walk<'a> {
    lowers: &'a [std::fs::File],
    skip: &'a [PathBuf],
}

impl Walk<'_> {
    /// Appends the changes under the directory `dir` (at `at` in the container).
    fn dir(&self, dir: OwnedFd, at: &Path, out: &mut Vec<FilesystemChange>) -> nix::Result<()> {
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
            if self.skip.contains(&path) {
                continue;
            }
            let st = fstatat(keep.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
            let fmt = st.st_mode & libc::S_IFMT;
            let kind = if fmt == libc::S_IFCHR && st.st_rdev == 0 {
                ChangeType::_2
            } else if in_image(self.lowers, &path) {
                ChangeType::_0
            } else {
                ChangeType::_1
            };
            let change = FilesystemChange {
                path: path.to_string_lossy().into_owned(),
                kind,
            };
            if fmt != libc::S_IFDIR {
                out.push(change);
                continue;
            }
            let sub = openat(
                keep.as_fd(),
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let mut inner = Vec::new();
            self.dir(sub, &path, &mut inner)?;
            // A directory there only to hold mount points is not a change of the user's.
            let holds_mount_point = self.skip.iter().any(|s| s.starts_with(&path));
            if !inner.is_empty() || !holds_mount_point {
                out.push(change);
                out.append(&mut inner);
            }
        }
        Ok(())
    }
}

/// Whether some image layer has `path` (resolved inside that layer, no symlink followed out).
fn in_image(lowers: &[std::fs::File], path: &Path) -> bool {
    image_stat(lowers, path).is_some()
}

/// The image's entry at `path` (absolute in the image), from the topmost layer that has it;
/// `None` when no layer has it or the topmost one deleted it (a whiteout).
pub(crate) fn image_stat(
    lowers: &[std::fs::File],
    path: &Path,
) -> Option<nix::sys::stat::FileStat> {
    let rel: PathBuf = path.components().skip(1).collect();
    lowers
        .iter()
        .find_map(|l| lower_entry(l.as_fd(), &rel))
        .filter(|st| !(st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0))
}

/// The layer's entry at `rel` (a whiteout included), if it has one.
fn lower_entry(layer: BorrowedFd, rel: &Path) -> Option<nix::sys::stat::FileStat> {
    let how = nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(nix::fcntl::ResolveFlag::RESOLVE_IN_ROOT);
    let fd = nix::fcntl::openat2(layer, rel, how).ok()?;
    nix::sys::stat::fstat(&fd).ok()
}

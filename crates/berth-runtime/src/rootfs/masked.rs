//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after entering the rootfs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, fstat, major, minor};

use super::bind::{bind_mount, remount_bind};
use super::mounts::mount_fs;
use super::resolve::{fd_path, open_in_root};
use crate::error::SysContext;
use crate::{Error, Result};

/// Opens `path` as O_PATH in `root`; None when it doesn't exist (nothing to mask or protect).
fn open_existing(root: BorrowedFd, path: &Path) -> Result<Option<OwnedFd>> {
    match open_in_root(root, path, OFlag::O_PATH, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Error::Sys {
            errno: Errno::ENOENT,
            ..
        }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The container's /dev/null, checked to be the null device: a hostile image could have made it
/// a symlink to (or bind of) a file we'd then expose writable over a masked path (CVE-2025-31133).
fn open_dev_null(root: BorrowedFd) -> Result<OwnedFd> {
    let fd = open_in_root(
        root,
        Path::new("/dev/null"),
        OFlag::O_PATH | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    let st = fstat(&fd).sys(|| "fstat /dev/null".to_string())?;
    let is_char = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    if is_char && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 {
        Ok(fd)
    } else {
        Err(Error::Init(
            "/dev/null is not the null device (1:3); refusing to mask paths with it".into(),
        ))
    }
}

/// Hides each path: an empty read-only tmpfs over a directory, /dev/null over anything else.
pub fn mask_paths(root: BorrowedFd, paths: &[String]) -> Result<()> {
    let mut dev_null = None;
    for path in paths.iter().map(Path::new) {
        let Some(fd) = open_existing(root, path)? else {
            continue;
        };
        let st = fstat(&fd).sys(|| format!("fstat masked path {}", path.display()))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let flags =
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount_fs(Path::new("tmpfs"), &fd, path, "tmpfs", flags, "")?;
        } else {
            let null = match dev_null.take() {
                Some(null) => null,
                None => open_dev_null(root)?,
            };
            bind_mount(&fd_path(null.as_fd()), fd.as_fd(), path, false)?;
            dev_null = Some(null);
        }
    }
    Ok(())
}

/// Makes each path read-only by binding it onto itself and remounting the bind read-only.
pub fn readonly_paths(root: BorrowedFd, paths: &[String]) -> Result<()> {
    for path in paths.iter().map(Path::new) {
        let Some(fd) = open_existing(root, path)? else {
            continue;
        };
        bind_mount(&fd_path(fd.as_fd()), fd.as_fd(), path, true)?;
        let top = open_in_root(root, path, OFlag::O_PATH, Mode::empty())?;
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        remount_bind(&fd_path(top.as_fd()), path, flags)?;
    }
    Ok(())
}

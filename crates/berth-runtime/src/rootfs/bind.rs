//! Bind mounts and their remounts: a bind ignores flags like MS_RDONLY on creation, so they take a
//! second mount(2) call, which must also keep the flags a user namespace locked on the source.

use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::resolve::fd_path;
use crate::Result;
use crate::error::SysContext;

/// Binds `source` onto the inode `target` was opened on; `name` is the in-container path, for
/// errors.
pub fn bind_mount(source: &Path, target: BorrowedFd, name: &Path, recursive: bool) -> Result<()> {
    let flags = if recursive {
        MsFlags::MS_BIND | MsFlags::MS_REC
    } else {
        MsFlags::MS_BIND
    };
    mount::<Path, Path, str, str>(Some(source), &fd_path(target), None, flags, None)
        .sys(|| format!("bind mount {} onto {}", source.display(), name.display()))
}

/// Remounts the bind mount on top of `target` (`name` names it in errors) with `flags` (MS_RDONLY, MS_NOSUID, ...). In a user
/// namespace the kernel refuses (EPERM) to clear flags locked by the host, so on EPERM retry with
/// the flags the mount already has added, as runc does.
pub fn remount_bind(target: &Path, name: &Path, flags: MsFlags) -> Result<()> {
    let remount = |flags: MsFlags| {
        mount::<str, Path, str, str>(
            None,
            target,
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
            None,
        )
    };
    let context = || format!("remount {} with {flags:?}", name.display());
    match remount(flags) {
        Err(Errno::EPERM) => remount(flags | current_flags(target)?).sys(context),
        other => other.sys(context),
    }
}

/// statvfs(3)'s relatime bit: the same on every Linux libc, but only glibc's bindings name it.
const ST_RELATIME: FsFlags = FsFlags::from_bits_retain(4096);

/// The per-mount flags `target`'s mount has now, as mount(2) flags.
pub fn current_flags(target: &Path) -> Result<MsFlags> {
    let stat = statvfs(target).sys(|| format!("statvfs {}", target.display()))?;
    let pairs = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st, _)| stat.flags().contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

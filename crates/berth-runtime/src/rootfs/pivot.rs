//! Making the rootfs the process's "/".

use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, chroot, pivot_root};

use super::propagation::set_propagation;
use crate::Result;
use crate::error::SysContext;

/// pivot_root(".", ".") stacks the old root under the new one at the same place, so it can be
/// detached without an "oldroot" directory in the image. With `no_pivot` (initramfs roots, where
/// pivot_root is EINVAL) the rootfs is moved over "/" and chrooted into instead, which leaves the
/// old root reachable to a process that escapes the chroot: only for that case.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    chdir(rootfs).sys(|| format!("chdir {}", rootfs.display()))?;
    if no_pivot {
        mount::<str, str, str, str>(Some("."), "/", None, MsFlags::MS_MOVE, None)
            .sys(|| format!("move mount {} to /", rootfs.display()))?;
        chroot(".").sys(|| format!("chroot {}", rootfs.display()))?;
    } else {
        pivot_root(".", ".").sys(|| format!("pivot_root into {}", rootfs.display()))?;
        // The old root is stacked on "."; keep its unmount from propagating to the host.
        set_propagation(
            Path::new("."),
            Path::new("old root"),
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
        )?;
        umount2(".", MntFlags::MNT_DETACH).sys(|| "detach the old root".to_string())?;
    }
    chdir("/").sys(|| "chdir / in the new root".to_string())
}

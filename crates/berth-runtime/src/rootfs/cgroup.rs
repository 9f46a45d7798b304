//! Mounts of type "cgroup".
//!
//! Choice made here: on a cgroup v2 host the destination gets a `cgroup2` mount (inside a cgroup
//! namespace that shows the container's own subtree); if the kernel refuses that (EPERM in a user
//! namespace without a cgroup namespace) the host's /sys/fs/cgroup is bound instead. On a v1 host
//! the destination gets a tmpfs holding one directory per host hierarchy: with a cgroup namespace
//! each is a fresh `cgroup` mount of that hierarchy's controllers, without one a bind of the host's
//! hierarchy directory, read-only. Co-mounted controller symlinks (cpu -> cpu,cpuacct) are not
//! created.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use super::bind::{bind_mount, remount_bind};
use super::mounts::{Target, mount_fs, reopen};
use super::options::MountOptions;
use super::propagation::unescape;
use super::resolve::{fd_path, mkdir_all_in_root};
use crate::error::{IoContext, SysContext};
use crate::{Error, Result};

const HOST_CGROUP: &str = "/sys/fs/cgroup";

pub fn mount_cgroup(
    target: &Target,
    fd: &OwnedFd,
    dest: &Path,
    options: &MountOptions,
) -> Result<()> {
    let host = statfs(HOST_CGROUP).sys(|| format!("statfs {HOST_CGROUP}"))?;
    if host.filesystem_type() == CGROUP2_SUPER_MAGIC {
        mount_v2(target, fd, dest, options)
    } else {
        mount_v1(target, fd, dest, options)
    }
}

fn mount_v2(target: &Target, fd: &OwnedFd, dest: &Path, options: &MountOptions) -> Result<()> {
    let cgroup2 = Path::new("cgroup2");
    match mount_fs(cgroup2, fd, dest, "cgroup2", options.flags, &options.data) {
        Err(Error::Sys {
            errno: Errno::EPERM | Errno::EBUSY,
            ..
        }) if !target.cgroup_ns => {
            bind_mount(Path::new(HOST_CGROUP), fd.as_fd(), dest, true)?;
            remount_read_only_if(target, dest, options.flags)
        }
        other => other,
    }
}

fn mount_v1(target: &Target, fd: &OwnedFd, dest: &Path, options: &MountOptions) -> Result<()> {
    let tmpfs_flags = options.flags & !MsFlags::MS_RDONLY;
    mount_fs(
        Path::new("tmpfs"),
        fd,
        dest,
        "tmpfs",
        tmpfs_flags,
        "mode=755",
    )?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .io(|| "read /proc/self/mountinfo".to_string())?;
    for (host_dir, controllers) in v1_hierarchies(&mountinfo) {
        let Some(name) = Path::new(&host_dir).file_name() else {
            continue;
        };
        let sub_dest = dest.join(name);
        let sub = mkdir_all_in_root(target.root, &sub_dest, Mode::from_bits_truncate(0o755))?;
        if target.cgroup_ns {
            let source = Path::new("cgroup");
            mount_fs(
                source,
                &sub,
                &sub_dest,
                "cgroup",
                options.flags,
                &controllers,
            )?;
        } else {
            bind_mount(Path::new(&host_dir), sub.as_fd(), &sub_dest, false)?;
            let top = reopen(target, &sub_dest)?;
            remount_bind(
                &fd_path(top.as_fd()),
                &sub_dest,
                options.flags | MsFlags::MS_RDONLY,
            )?;
        }
    }
    remount_read_only_if(target, dest, options.flags)
}

/// The "ro" of a cgroup mount applies to what was mounted on `dest`, once it is complete.
fn remount_read_only_if(target: &Target, dest: &Path, flags: MsFlags) -> Result<()> {
    if !flags.contains(MsFlags::MS_RDONLY) {
        return Ok(());
    }
    let top = reopen(target, dest)?;
    remount_bind(&fd_path(top.as_fd()), dest, flags)
}

/// The host's v1 hierarchies: (mount point, controller options such as "cpu,cpuacct").
fn v1_hierarchies(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut right = right.split(' ');
            if right.next()? != "cgroup" {
                return None;
            }
            let super_options = right.nth(1)?;
            let controllers: Vec<&str> = super_options
                .split(',')
                .filter(|o| *o != "rw" && *o != "ro")
                .collect();
            Some((unescape(left.split(' ').nth(4)?), controllers.join(",")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_hierarchies() {
        let info = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
32 30 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        assert_eq!(
            v1_hierarchies(info),
            vec![(
                "/sys/fs/cgroup/cpu,cpuacct".to_string(),
                "cpu,cpuacct".to_string()
            )]
        );
    }
}

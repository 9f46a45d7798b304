//! `spec.mounts`, in order, onto the container's rootfs. Destinations are created and opened with
//! in-root resolution and mounted through their fd's magic link, so a symlink planted in the image
//! can't redirect a mount onto the host.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, fstat};
use oci_spec::runtime::Mount;

use super::bind::{bind_mount, remount_bind};
use super::cgroup::mount_cgroup;
use super::options::{MountOptions, parse};
use super::propagation::set_propagation;
use super::resolve::{ensure_file_in_root, fd_path, mkdir_all_in_root, open_in_root};
use crate::error::{IoContext, SysContext};
use crate::{Error, Result};

/// Paths under /proc a bind may cover (lxcfs-style views of container-local numbers); every other
/// destination under /proc could hide or fake kernel interfaces the masking relies on.
const PROC_BIND_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Where mounts go: the rootfs as an fd (all lookups) and as a host path (to name resolved
/// destinations in errors and checks).
pub struct Target<'a> {
    pub root: BorrowedFd<'a>,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup_ns: bool,
}

/// One spec mount, checked: what it is and the options it means.
struct Planned<'m> {
    mount: &'m Mount,
    dest: &'m Path,
    options: MountOptions,
    kind: Kind,
}

enum Kind {
    Bind(PathBuf),
    Cgroup,
    Fs(String),
}

/// Checks a mount without touching anything, so the parent can reject a bad config before fork.
pub fn validate(mount: &Mount, bundle: &Path) -> Result<()> {
    let planned = plan(mount, bundle)?;
    if let Kind::Bind(source) = &planned.kind {
        std::fs::metadata(source).io(|| {
            format!(
                "mount {}: bind source {}",
                planned.dest.display(),
                source.display()
            )
        })?;
    }
    Ok(())
}

fn plan<'m>(mount: &'m Mount, bundle: &Path) -> Result<Planned<'m>> {
    let dest = mount.destination().as_path();
    let invalid = |why: String| Error::InvalidSpec(format!("mount {}: {why}", dest.display()));
    if !dest.is_absolute() {
        return Err(invalid("destination must be an absolute path".into()));
    }
    let options = parse(
        mount.options().as_deref().unwrap_or_default(),
        &dest.display().to_string(),
    )?;
    let typ = mount.typ().as_deref();
    let kind = if options.bind || typ == Some("bind") {
        if !options.data.is_empty() {
            return Err(invalid(format!(
                "unknown option(s) \"{}\" for a bind mount",
                options.data
            )));
        }
        let source = mount
            .source()
            .as_deref()
            .ok_or_else(|| invalid("bind mount without a source".into()))?;
        Kind::Bind(bundle.join(source))
    } else {
        match typ {
            None | Some("") => return Err(invalid("no type and not a bind mount".into())),
            Some("cgroup") => Kind::Cgroup,
            Some(fs) => Kind::Fs(fs.to_string()),
        }
    };
    Ok(Planned {
        mount,
        dest,
        options,
        kind,
    })
}

/// Performs one spec mount.
pub fn mount_one(target: &Target, mount: &Mount) -> Result<()> {
    let planned = plan(mount, target.bundle)?;
    let dest = planned.dest;
    match &planned.kind {
        Kind::Bind(source) => {
            let source_is_dir = std::fs::metadata(source)
                .io(|| format!("mount {}: bind source {}", dest.display(), source.display()))?
                .is_dir();
            let fd = destination(target, dest, source_is_dir)?;
            check_proc_destination(target, &fd, dest, true)?;
            bind_mount(source, fd.as_fd(), dest, planned.options.recursive)?;
            let flags = planned.options.flags & !MsFlags::MS_REMOUNT;
            if !flags.is_empty() {
                let top = reopen(target, dest)?;
                remount_bind(&fd_path(top.as_fd()), dest, flags)?;
            }
        }
        Kind::Cgroup => {
            let fd = destination(target, dest, true)?;
            mount_cgroup(target, &fd, dest, &planned.options)?;
        }
        Kind::Fs(fs) => {
            let fd = destination(target, dest, true)?;
            check_proc_destination(target, &fd, dest, fs == "proc")?;
            let source = planned.mount.source().clone().unwrap_or_else(|| fs.into());
            let options = &planned.options;
            mount_fs(&source, &fd, dest, fs, options.flags, &options.data)?;
        }
    }
    for flags in &planned.options.propagation {
        let top = reopen(target, dest)?;
        set_propagation(&fd_path(top.as_fd()), dest, *flags)?;
    }
    Ok(())
}

/// Mounts a filesystem of type `fs` onto `fd` (`dest` names it); shared with the cgroup mounts.
pub fn mount_fs(
    source: &Path,
    fd: &OwnedFd,
    dest: &Path,
    fs: &str,
    flags: MsFlags,
    data: &str,
) -> Result<()> {
    let data = Some(data).filter(|d| !d.is_empty());
    mount(Some(source), &fd_path(fd.as_fd()), Some(fs), flags, data)
        .sys(|| format!("mount {fs} on {}", dest.display()))
}

/// Creates (if needed) and opens the mount point: a directory, or an empty file for a file bind;
/// then checks the opened inode is of that kind.
fn destination(target: &Target, dest: &Path, dir: bool) -> Result<OwnedFd> {
    let fd = if dir {
        mkdir_all_in_root(target.root, dest, Mode::from_bits_truncate(0o755))?
    } else {
        ensure_file_in_root(target.root, dest)?
    };
    let st = fstat(&fd).sys(|| format!("fstat mount point {}", dest.display()))?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir != dir {
        return Err(Error::InvalidSpec(format!(
            "mount {}: the mount point is {}a directory but the source is {}",
            dest.display(),
            if is_dir { "" } else { "not " },
            if dir { "a directory" } else { "not" },
        )));
    }
    Ok(fd)
}

/// An O_PATH fd of whatever is mounted on top of `dest` now.
pub fn reopen(target: &Target, dest: &Path) -> Result<OwnedFd> {
    open_in_root(target.root, dest, OFlag::O_PATH, Mode::empty())
}

/// Refuses mounts that land under /proc, judged on where the destination really resolved (a
/// symlink may point there), except procfs on /proc itself and binds over the allowed files.
fn check_proc_destination(target: &Target, fd: &OwnedFd, dest: &Path, is_proc: bool) -> Result<()> {
    let resolved = std::fs::read_link(fd_path(fd.as_fd()))
        .io(|| format!("mount {}: resolve the mount point", dest.display()))?;
    let inside = Path::new("/").join(resolved.strip_prefix(target.rootfs).unwrap_or(&resolved));
    if !inside.starts_with("/proc") {
        return Ok(());
    }
    let allowed = if inside == Path::new("/proc") {
        is_proc
    } else {
        !is_proc && PROC_BIND_ALLOWED.iter().any(|p| inside == Path::new(p))
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::InvalidSpec(format!(
            "mount {}: destination resolves to {} under /proc, where only procfs on /proc and \
             binds over {} are allowed",
            dest.display(),
            inside.display(),
            PROC_BIND_ALLOWED.join(", ")
        )))
    }
}

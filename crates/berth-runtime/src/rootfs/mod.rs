//! The container's filesystem view: mounts, devices, pivot_root, masked and read-only paths.
//!
//! Runs in the container's init (a fork of the runtime, in its new mount namespace): [`prepare`]
//! before the createRuntime hooks, [`enter`] after them, [`finalize`] once inside. The parent
//! calls [`validate`] before forking, so config errors leave nothing behind.

mod bind;
mod cgroup;
mod devices;
mod masked;
mod mounts;
mod options;
mod pivot;
mod propagation;
mod resolve;
mod sysctl;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use oci_spec::runtime::{Linux, LinuxNamespaceType, Mount, Spec};

pub use resolve::{ensure_file_in_root, mkdir_all_in_root, open_in_root};

use crate::Result;
use crate::error::SysContext;

/// Where the rootfs is and how the container is set up around it.
#[derive(Debug, Clone, Copy)]
pub struct RootfsOptions<'a> {
    /// Absolute, canonical host path of the bundle's rootfs.
    pub rootfs: &'a Path,
    /// Absolute bundle directory; relative bind sources resolve against it.
    pub bundle: &'a Path,
    /// Move + chroot instead of pivot_root (initramfs roots).
    pub no_pivot: bool,
    /// Devices must be bind-mounted from the host: mknod is refused in a user namespace.
    pub in_user_namespace: bool,
}

/// Checks mounts, devices, sysctl keys and rootfsPropagation without changing anything.
pub fn validate(spec: &Spec, opts: &RootfsOptions) -> Result<()> {
    for mount in spec_mounts(spec) {
        mounts::validate(mount, opts.bundle)?;
    }
    if let Some(linux) = spec.linux() {
        devices::device_list(linux.devices().as_deref().unwrap_or_default())?;
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            sysctl::sysctl_path(key)?;
        }
        root_propagation(linux).transpose()?;
    }
    Ok(())
}

/// In the new mount namespace, before hooks: sets propagation, bind-mounts the rootfs onto itself,
/// performs spec.mounts in order, creates the devices and /dev symlinks.
pub fn prepare(spec: &Spec, opts: &RootfsOptions) -> Result<()> {
    let linux = spec.linux().as_ref();
    let propagation = linux.and_then(root_propagation).transpose()?;
    let slave = MsFlags::MS_SLAVE | MsFlags::MS_REC;
    let root = Path::new("/");
    let propagation = propagation.unwrap_or(slave);
    propagation::set_propagation(root, root, propagation)?;
    // After a recursive slave or private, no mount in the namespace is shared any more.
    let none_shared = propagation.contains(MsFlags::MS_REC)
        && propagation.intersects(MsFlags::MS_SLAVE | MsFlags::MS_PRIVATE);
    if !none_shared {
        propagation::make_parent_mount_private(opts.rootfs)?;
    }
    let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount::<Path, Path, str, str>(Some(opts.rootfs), opts.rootfs, None, rbind, None)
        .sys(|| format!("bind mount rootfs {} onto itself", opts.rootfs.display()))?;

    let root_fd = open_dir(opts.rootfs)?;
    let target = mounts::Target {
        root: root_fd.as_fd(),
        rootfs: opts.rootfs,
        bundle: opts.bundle,
        cgroup_ns: linux
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup)),
    };
    for mount in spec_mounts(spec) {
        mounts::mount_one(&target, mount)?;
    }

    let spec_devices = linux
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    for device in devices::device_list(spec_devices)? {
        devices::create_device(root_fd.as_fd(), &device, opts.in_user_namespace)?;
    }
    let mounted = |dest: &str, typ: &str| {
        spec_mounts(spec)
            .any(|m| m.destination() == Path::new(dest) && m.typ().as_deref() == Some(typ))
    };
    if mounted("/dev", "tmpfs") {
        let kcore = Path::new("/proc/kcore").exists();
        devices::create_symlinks(root_fd.as_fd(), mounted("/dev/pts", "devpts"), kcore)?;
    }
    Ok(())
}

/// After entering, before `finalize` (which may make the root read-only): binds the pty slave
/// (a path in the container's own devpts) onto /dev/console.
pub fn bind_console(slave: &Path) -> Result<()> {
    let root_fd = open_dir(Path::new("/"))?;
    devices::bind_console(root_fd.as_fd(), slave)
}

/// Makes the rootfs "/": pivot_root, or with `no_pivot` a move mount + chroot.
pub fn enter(opts: &RootfsOptions) -> Result<()> {
    pivot::enter(opts.rootfs, opts.no_pivot)
}

/// After entering: sysctls, masked paths, read-only paths, the read-only root, then the final
/// propagation of "/" per rootfsPropagation.
pub fn finalize(spec: &Spec) -> Result<()> {
    let root = Path::new("/");
    let root_fd = open_dir(root)?;
    if let Some(linux) = spec.linux() {
        let mut sysctls: Vec<_> = linux.sysctl().iter().flatten().collect();
        sysctls.sort();
        for (key, value) in sysctls {
            sysctl::write_sysctl(key, value)?;
        }
        masked::mask_paths(
            root_fd.as_fd(),
            linux.masked_paths().as_deref().unwrap_or_default(),
        )?;
        masked::readonly_paths(
            root_fd.as_fd(),
            linux.readonly_paths().as_deref().unwrap_or_default(),
        )?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let flags = MsFlags::MS_RDONLY | bind::current_flags(root)?;
        bind::remount_bind(root, root, flags)?;
    }
    if let Some(flags) = spec
        .linux()
        .as_ref()
        .and_then(root_propagation)
        .transpose()?
    {
        propagation::set_propagation(root, root, flags)?;
    }
    Ok(())
}

fn spec_mounts(spec: &Spec) -> impl Iterator<Item = &Mount> {
    spec.mounts().iter().flatten()
}

fn root_propagation(linux: &Linux) -> Option<Result<MsFlags>> {
    linux
        .rootfs_propagation()
        .as_deref()
        .map(propagation::parse_root_propagation)
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    open(path, flags, Mode::empty()).sys(|| format!("open {}", path.display()))
}

#[cfg(test)]
mod tests;

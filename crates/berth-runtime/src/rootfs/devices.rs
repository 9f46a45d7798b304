//! Device nodes and the standard /dev symlinks. Without a user namespace nodes are mknod'ed;
//! inside one mknod is refused, so the host's node is bind-mounted onto an empty file instead.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat, fstatat, makedev, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::bind::bind_mount;
use super::resolve::{ensure_file_in_root, mkdir_all_in_root};
use crate::error::SysContext;
use crate::{Error, Result};

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The nodes every container gets: (name, major, minor), all char devices, mode 0666.
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The default devices, then `linux.devices`; a spec entry replaces a default with its path.
pub fn device_list(spec_devices: &[LinuxDevice]) -> Result<Vec<Device>> {
    let mut list: Vec<Device> = DEFAULT_DEVICES
        .iter()
        .map(|&(path, major, minor)| Device {
            path: path.into(),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for dev in spec_devices {
        let device = from_spec(dev)?;
        list.retain(|d| d.path != device.path);
        list.push(device);
    }
    Ok(list)
}

fn from_spec(dev: &LinuxDevice) -> Result<Device> {
    let path = dev.path();
    let invalid =
        |why: &str| Error::InvalidSpec(format!("linux.devices {}: {why}", path.display()));
    if !path.is_absolute() {
        return Err(invalid("path must be absolute"));
    }
    let kind = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err(invalid("type \"a\" is not a device node type")),
    };
    let number = |n: i64, what: &str| {
        u64::try_from(n).map_err(|_| invalid(&format!("negative {what} number {n}")))
    };
    Ok(Device {
        path: path.clone(),
        kind,
        major: number(dev.major(), "major")?,
        minor: number(dev.minor(), "minor")?,
        mode: dev.file_mode().unwrap_or(0o666) & 0o7777,
        uid: dev.uid().unwrap_or(0),
        gid: dev.gid().unwrap_or(0),
    })
}

/// Creates `device` inside `root`.
pub fn create_device(root: BorrowedFd, device: &Device, in_user_namespace: bool) -> Result<()> {
    if in_user_namespace {
        let fd = ensure_file_in_root(root, &device.path)?;
        let st = fstat(&fd).sys(|| format!("fstat {}", device.path.display()))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Error::Init(format!(
                "device {}: a directory is in the way",
                device.path.display()
            )));
        }
        return bind_mount(&device.path, fd.as_fd(), &device.path, false);
    }
    let (parent, name) = parent_and_name(&device.path)?;
    let dir = mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))?;
    let rdev = makedev(device.major, device.minor);
    let path = device.path.display();
    match mknodat(&dir, name, device.kind, Mode::empty(), rdev) {
        Err(Errno::EEXIST) => return check_existing(dir.as_fd(), name, device),
        other => other.sys(|| format!("mknod {path}"))?,
    }
    // Set the mode explicitly: mknod's is filtered through the umask. Following is safe: the
    // name is the node just made and nothing runs in the container yet.
    let mode = Mode::from_bits_truncate(device.mode);
    fchmodat(&dir, name, mode, FchmodatFlags::FollowSymlink).sys(|| format!("chmod {path}"))?;
    let (uid, gid) = (Uid::from_raw(device.uid), Gid::from_raw(device.gid));
    fchownat(
        &dir,
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .sys(|| format!("chown {path}"))
}

/// A node already in the image is kept if it is the same device, refused otherwise.
fn check_existing(dir: BorrowedFd, name: &Path, device: &Device) -> Result<()> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .sys(|| format!("stat {}", device.path.display()))?;
    let same_kind = st.st_mode & libc::S_IFMT == device.kind.bits();
    let same_number =
        device.kind == SFlag::S_IFIFO || st.st_rdev == makedev(device.major, device.minor);
    if same_kind && same_number {
        Ok(())
    } else {
        Err(Error::Init(format!(
            "device {}: something else already exists at that path in the rootfs",
            device.path.display()
        )))
    }
}

/// The symlinks of a runtime-owned /dev; `devpts` adds ptmx, `kcore` adds core.
pub fn create_symlinks(root: BorrowedFd, devpts: bool, kcore: bool) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if devpts {
        links.push(("pts/ptmx", "ptmx"));
    }
    if kcore {
        links.push(("/proc/kcore", "core"));
    }
    let dev = mkdir_all_in_root(root, Path::new("/dev"), Mode::from_bits_truncate(0o755))?;
    for (target, name) in links {
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => {
                return Err(Error::Sys {
                    context: format!("symlink /dev/{name} -> {target}"),
                    errno,
                });
            }
        }
    }
    Ok(())
}

/// Binds the pty slave `console` onto /dev/console.
pub fn bind_console(root: BorrowedFd, console: &Path) -> Result<()> {
    let dest = Path::new("/dev/console");
    let fd = ensure_file_in_root(root, dest)?;
    bind_mount(console, fd.as_fd(), dest, false)
}

fn parent_and_name(path: &Path) -> Result<(&Path, &Path)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, Path::new(name))),
        _ => Err(Error::InvalidSpec(format!(
            "device path {} has no file name",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_device_replaces_default() {
        let dev: LinuxDevice = serde_json::from_str(
            r#"{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384}"#,
        )
        .unwrap();
        let extra: LinuxDevice =
            serde_json::from_str(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229}"#)
                .unwrap();
        let list = device_list(&[dev, extra]).unwrap();
        assert_eq!(list.len(), DEFAULT_DEVICES.len() + 1);
        let null = list
            .iter()
            .find(|d| d.path == Path::new("/dev/null"))
            .unwrap();
        assert_eq!(null.mode, 0o600);
    }

    #[test]
    fn bad_devices_rejected() {
        let rel: LinuxDevice =
            serde_json::from_str(r#"{"path":"dev/x","type":"c","major":1,"minor":3}"#).unwrap();
        assert!(
            device_list(&[rel])
                .unwrap_err()
                .to_string()
                .contains("dev/x")
        );
        let all: LinuxDevice = serde_json::from_str(r#"{"path":"/dev/x","type":"a"}"#).unwrap();
        assert!(device_list(&[all]).is_err());
    }
}

//! Docker's copy-up: an empty volume mounted over a directory of the image starts as a copy
//! of that directory (contents, owners, modes, symlinks). The image path is resolved inside
//! the container root, so a symlink in the image cannot make us copy a host directory.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use berth_runtime::rootfs::open_in_root;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

/// Copies `rootfs/dest` (resolved inside `rootfs`) into `data` when `data` is empty and the
/// image has a directory there.
pub(crate) fn copy_up(rootfs: &Path, dest: &str, data: &Path) -> Result<()> {
    let fail = |e: std::io::Error| Error::internal(format!("copy {dest} into its volume"), e);
    if std::fs::read_dir(data).map_err(fail)?.next().is_some() {
        return Ok(());
    }
    let root = std::fs::File::open(rootfs).map_err(fail)?;
    let Ok(src) = open_in_root(
        root.as_fd(),
        Path::new(dest),
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        Mode::empty(),
    ) else {
        return Ok(()); // nothing in the image there: the volume starts empty
    };
    let src = std::path::PathBuf::from(format!("/proc/self/fd/{}", src.as_raw_fd()));
    let top = std::fs::metadata(&src).map_err(fail)?;
    copy_dir(&src, data).map_err(fail)?;
    set_owner_mode(data, &top).map_err(fail)
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_dir(&from, &to)?;
            set_owner_mode(&to, &meta)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
            std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()))?;
        } else if ft.is_file() {
            copy_file(&from, &to)?;
            set_owner_mode(&to, &meta)?;
        } else {
            nix::sys::stat::mknod(
                &to,
                nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT),
                Mode::from_bits_truncate(meta.mode() & 0o7777),
                meta.rdev(),
            )?;
            set_owner_mode(&to, &meta)?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    Ok(())
}

/// Owner first, then mode: a chown clears setuid bits.
fn set_owner_mode(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

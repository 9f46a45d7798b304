//! `PUT /containers/{id}/archive`: a tar extracted into a directory of the container. The
//! archive is spooled to a temporary file and checked first (Docker's
//! `noOverwriteDirNonDir`; no overlay whiteout names), then unpacked by berth-image's layer
//! unpacker, which never writes through a symlink or outside the target directory.

use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Component, Path};

use nix::fcntl::OFlag;

use crate::error::{Error, Result};

use super::root::RootAccess;

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Extracts `body` (a tar, possibly gzip-compressed) into `path` inside the container.
pub fn extract(
    access: &RootAccess,
    path: &str,
    body: &mut dyn Read,
    no_overwrite_dir_non_dir: bool,
) -> Result<()> {
    if access.read_only {
        return Err(bad("container rootfs is marked read-only"));
    }
    let probe = access.open(Path::new(path), OFlag::O_PATH)?;
    let st = nix::sys::stat::fstat(&probe).map_err(|e| Error::internal(path, e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(bad("extraction point is not a directory"));
    }
    let dest = access.open(Path::new(path), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let mut spool = tempfile::tempfile().map_err(|e| Error::internal("spool the archive", e))?;
    let mut magic = [0u8; 2];
    let mut head = 0;
    while head < 2 {
        match body.read(&mut magic[head..]) {
            Ok(0) => break,
            Ok(n) => head += n,
            Err(e) => return Err(Error::internal("read the archive", e)),
        }
    }
    let mut rest = (&magic[..head]).chain(body);
    let copied = if magic == [0x1f, 0x8b] {
        std::io::copy(&mut flate2::read::GzDecoder::new(rest), &mut spool)
    } else {
        std::io::copy(&mut rest, &mut spool)
    };
    copied.map_err(|e| bad(format!("reading the archive: {e}")))?;
    spool.rewind().map_err(|e| Error::internal("spool", e))?;
    check(&mut spool, dest.as_fd(), no_overwrite_dir_non_dir)?;
    spool.rewind().map_err(|e| Error::internal("spool", e))?;
    let target = format!("/proc/self/fd/{}", dest.as_raw_fd());
    berth_image::unpack_layer(spool, Path::new(&target))
        .map(|_| ())
        .map_err(|e| bad(format!("extracting the archive: {e}")))
}

/// Refuses whiteout names and, when asked, replacing a directory by a non-directory or the
/// reverse.
fn check(spool: &mut std::fs::File, dest: BorrowedFd, no_overwrite: bool) -> Result<()> {
    let mut archive = tar::Archive::new(spool);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("reading the archive: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("reading the archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("reading the archive: {e}")))?
            .into_owned();
        let base = path.file_name().map(|b| b.to_string_lossy().into_owned());
        if base.as_deref().is_some_and(|b| b.starts_with(".wh.")) {
            return Err(bad(format!(
                "{}: names starting with .wh. are reserved for layer whiteouts",
                path.display()
            )));
        }
        if !no_overwrite {
            continue;
        }
        let rel: std::path::PathBuf = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        if rel.as_os_str().is_empty() {
            continue;
        }
        let Some(existing_dir) = existing_is_dir(dest, &rel) else {
            continue;
        };
        let new_dir = entry.header().entry_type().is_dir();
        if existing_dir && !new_dir {
            return Err(bad(format!(
                "cannot overwrite directory {:?} with non-directory {:?}",
                rel.display().to_string(),
                path.display().to_string()
            )));
        }
        if !existing_dir && new_dir {
            return Err(bad(format!(
                "cannot overwrite non-directory {:?} with directory {:?}",
                rel.display().to_string(),
                path.display().to_string()
            )));
        }
    }
    Ok(())
}

/// Whether `rel` exists below `dest` as a directory (`None`: it does not exist). Symlinks on
/// the way are not followed.
fn existing_is_dir(dest: BorrowedFd, rel: &Path) -> Option<bool> {
    let how = nix::fcntl::OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(
            nix::fcntl::ResolveFlag::RESOLVE_BENEATH | nix::fcntl::ResolveFlag::RESOLVE_NO_SYMLINKS,
        );
    let fd = nix::fcntl::openat2(dest, rel, how).ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    Some(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

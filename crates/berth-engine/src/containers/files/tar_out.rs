//! Writing a container's files as a tar stream, walking by file descriptor: every directory
//! is opened with `O_NOFOLLOW` relative to its parent's fd, so a container that swaps a
//! directory for a symlink mid-copy cannot redirect the walk to the host. The same walk turns a
//! container's overlay upper directory into an image layer (`commit`), with overlay whiteouts
//! written back as OCI `.wh.` entries.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{Mode, fstatat};

fn nix_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// What the tar is of.
#[derive(Debug, Clone, Copy)]
pub enum Style<'a> {
    /// Files as they are (`docker cp`, `export`).
    Plain,
    /// An image layer from an overlay upper directory: a 0:0 character device (a deletion)
    /// becomes a `.wh.NAME` entry, an opaque directory gets a `.wh..wh..opq` entry, and the
    /// paths in `skip` (absolute in the container: the runtime's mount points) are left out.
    Layer { skip: &'a [PathBuf] },
}

/// The OCI marker of a directory whose lower contents are hidden.
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Appends `name` (an entry of `dir`) under `archive_name`, recursing into directories.
pub fn append<W: Write>(
    b: &mut tar::Builder<W>,
    dir: BorrowedFd,
    name: &OsStr,
    archive_name: &Path,
    style: Style,
) -> io::Result<()> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(nix_io)?;
    let is_layer = matches!(style, Style::Layer { .. });
    if let Style::Layer { skip } = style
        && skip.contains(&Path::new("/").join(archive_name))
    {
        return Ok(());
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, archive_name, io::empty())?;
            let fd = openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(nix_io)?;
            if is_layer && is_opaque(fd.as_fd()) {
                let mut marker = tar::Header::new_gnu();
                marker.set_entry_type(tar::EntryType::Regular);
                marker.set_mode(0o644);
                marker.set_uid(0);
                marker.set_gid(0);
                marker.set_mtime(0);
                marker.set_size(0);
                b.append_data(&mut marker, archive_name.join(OPAQUE_MARKER), io::empty())?;
            }
            append_children(b, fd, archive_name, style)
        }
        libc::S_IFREG => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            let fd = openat(
                dir,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(nix_io)?;
            let file = std::fs::File::from(fd);
            // Exactly the size in the header, even if the file grows meanwhile.
            b.append_data(
                &mut h,
                archive_name,
                io::Read::take(file, st.st_size as u64),
            )
        }
        libc::S_IFLNK => {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = readlinkat(dir, name).map_err(nix_io)?;
            b.append_link(&mut h, archive_name, &target)
        }
        libc::S_IFCHR if is_layer && st.st_rdev == 0 => {
            h.set_entry_type(tar::EntryType::Regular);
            let mut wh = std::ffi::OsString::from(".wh.");
            wh.push(name);
            b.append_data(&mut h, archive_name.with_file_name(wh), io::empty())
        }
        fmt @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
            h.set_entry_type(match fmt {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32)?;
            h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32)?;
            b.append_data(&mut h, archive_name, io::empty())
        }
        _ => Ok(()), // sockets are not archived (as in Docker)
    }
}

/// Appends every entry of the directory `dir` under `prefix` (nothing for the dir itself).
pub fn append_children<W: Write>(
    b: &mut tar::Builder<W>,
    dir: OwnedFd,
    prefix: &Path,
    style: Style,
) -> io::Result<()> {
    let keep = dir.try_clone()?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    for e in Dir::from_fd(dir).map_err(nix_io)?.iter() {
        let e = e.map_err(nix_io)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    for n in names {
        let name = OsStr::from_bytes(&n);
        append(b, keep.as_fd(), name, &prefix.join(name), style)?;
    }
    Ok(())
}

/// Whether overlayfs marked the directory opaque (`trusted.` or, with `userxattr`, `user.`).
fn is_opaque(dir: BorrowedFd) -> bool {
    [c"trusted.overlay.opaque", c"user.overlay.opaque"]
        .iter()
        .any(|attr| {
            let mut v = [0u8; 4];
            // SAFETY: `v` is a valid buffer of the given length for the call's duration.
            let n = unsafe {
                libc::fgetxattr(
                    std::os::fd::AsRawFd::as_raw_fd(&dir),
                    attr.as_ptr(),
                    v.as_mut_ptr().cast(),
                    v.len(),
                )
            };
            n >= 1 && v[0] == b'y'
        })
}

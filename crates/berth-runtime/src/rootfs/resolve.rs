//! Path resolution that cannot leave the container's root: every lookup below a root fd goes
//! through openat2(RESOLVE_IN_ROOT), so "..", absolute symlinks and "/proc/self/..." magic links
//! in a hostile image resolve inside the root (or fail) instead of reaching the host.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};

use crate::error::SysContext;
use crate::{Error, Result};

/// openat2 gives up with EAGAIN when a rename raced with the lookup; retrying is the documented
/// answer, bounded so a hostile loop can't stall us.
const EAGAIN_RETRIES: usize = 32;

/// Opens `path` (absolute or not, always taken relative to `root`) without leaving `root`.
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: OFlag, mode: Mode) -> Result<OwnedFd> {
    let relative = clean(path);
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(mode)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut result = openat2(root, &relative, how);
    for _ in 0..EAGAIN_RETRIES {
        if !matches!(result, Err(Errno::EAGAIN)) {
            break;
        }
        result = openat2(root, &relative, how);
    }
    match result {
        Err(Errno::ENOSYS) => Err(Error::Sys {
            context: format!(
                "open {} inside the container root: openat2 is required (Linux 5.6 or newer)",
                path.display()
            ),
            errno: Errno::ENOSYS,
        }),
        other => other.sys(|| format!("open {} inside the container root", path.display())),
    }
}

/// Opens a directory as O_PATH inside `root`; the handle mounts and lookups start from.
pub fn open_dir_in_root(root: BorrowedFd, path: &Path) -> Result<OwnedFd> {
    open_in_root(
        root,
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
}

/// `mkdir -p path` inside `root`, returning an O_PATH fd of the directory. Each missing component
/// is created with mkdirat on the fd of its (in-root resolved) parent, never through a host path.
pub fn mkdir_all_in_root(root: BorrowedFd, path: &Path, mode: Mode) -> Result<OwnedFd> {
    let mut dir = open_dir_in_root(root, Path::new("."))?;
    let mut prefix = PathBuf::new();
    for name in clean(path).components() {
        prefix.push(name);
        dir = match open_dir_in_root(root, &prefix) {
            Ok(fd) => fd,
            Err(Error::Sys {
                errno: Errno::ENOENT,
                ..
            }) => {
                match mkdirat(dir.as_fd(), name.as_os_str(), mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(errno) => {
                        return Err(Error::Sys {
                            context: format!(
                                "mkdir {} inside the container root",
                                prefix.display()
                            ),
                            errno,
                        });
                    }
                }
                open_dir_in_root(root, &prefix)?
            }
            Err(err) => return Err(err),
        };
    }
    Ok(dir)
}

/// Opens `path` inside `root` as O_PATH, first creating it as an empty file (and its parents as
/// directories) if it doesn't exist: the target a file bind mount needs.
pub fn ensure_file_in_root(root: BorrowedFd, path: &Path) -> Result<OwnedFd> {
    let o_path = OFlag::O_PATH;
    match open_in_root(root, path, o_path, Mode::empty()) {
        Err(Error::Sys {
            errno: Errno::ENOENT,
            ..
        }) => {
            if let Some(parent) = path.parent() {
                mkdir_all_in_root(root, parent, Mode::from_bits_truncate(0o755))?;
            }
            // O_EXCL: never follow a trailing symlink that appeared meanwhile.
            let create = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW;
            match open_in_root(root, path, create, Mode::from_bits_truncate(0o644)) {
                Ok(_)
                | Err(Error::Sys {
                    errno: Errno::EEXIST,
                    ..
                }) => {}
                Err(err) => return Err(err),
            }
            open_in_root(root, path, o_path, Mode::empty())
        }
        other => other,
    }
}

/// The magic-link path of `fd`: mounting onto it targets exactly the inode we opened and
/// checked, even if the name was swapped for a symlink since.
pub fn fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `path` as a list of plain names: root and "." dropped, ".." applied lexically (a ".." at the
/// root stays at the root, as RESOLVE_IN_ROOT would do).
fn clean(path: &Path) -> PathBuf {
    let mut names: Vec<&OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::ParentDir => {
                names.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if names.is_empty() {
        PathBuf::from(".")
    } else {
        names.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn root_dir() -> (tempfile::TempDir, OwnedFd) {
        let tmp = tempfile::tempdir().unwrap();
        let fd = nix::fcntl::open(
            tmp.path(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        (tmp, fd)
    }

    #[test]
    fn clean_is_lexical_and_rooted() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(clean(Path::new("/../../etc")), PathBuf::from("etc"));
        assert_eq!(clean(Path::new("/")), PathBuf::from("."));
    }

    #[test]
    fn mkdir_all_follows_symlinks_inside_root_only() {
        let (tmp, root) = root_dir();
        let outside = tempfile::tempdir().unwrap();
        // An absolute symlink that would escape if followed on the host.
        symlink(outside.path(), tmp.path().join("escape")).unwrap();
        fs::create_dir_all(tmp.path().join(outside.path().strip_prefix("/").unwrap())).unwrap();
        mkdir_all_in_root(
            root.as_fd(),
            Path::new("/escape/made"),
            Mode::from_bits_truncate(0o755),
        )
        .unwrap();
        assert!(!outside.path().join("made").exists());
        assert!(
            tmp.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("made")
                .is_dir()
        );
    }

    #[test]
    fn dotdot_symlink_stays_in_root() {
        let (tmp, root) = root_dir();
        fs::create_dir(tmp.path().join("etc")).unwrap();
        fs::write(tmp.path().join("etc/marker"), "in").unwrap();
        symlink("/../../../etc", tmp.path().join("up")).unwrap();
        let fd = open_in_root(
            root.as_fd(),
            Path::new("up/marker"),
            OFlag::O_RDONLY,
            Mode::empty(),
        )
        .unwrap();
        assert_eq!(fs::read_to_string(fd_path(fd.as_fd())).unwrap(), "in");
    }

    #[test]
    fn magic_links_refused() {
        let (tmp, root) = root_dir();
        symlink("/proc/self/root", tmp.path().join("magic")).unwrap();
        // In-root "/proc/self/root" doesn't exist, and magic links are refused anyway.
        assert!(
            open_in_root(
                root.as_fd(),
                Path::new("magic/etc"),
                OFlag::O_PATH,
                Mode::empty()
            )
            .is_err()
        );
    }

    #[test]
    fn ensure_file_creates_parents() {
        let (tmp, root) = root_dir();
        let fd = ensure_file_in_root(root.as_fd(), Path::new("/a/b/file")).unwrap();
        let st = nix::sys::stat::fstat(fd).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFREG);
        assert!(tmp.path().join("a/b/file").is_file());
    }
}

//! `--user name[:group]` resolved against the container's own /etc/passwd and /etc/group,
//! read inside its root (a hostile image's symlinks cannot lead out of it).

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: Option<String>,
}

/// Resolves Docker's user spec (`""`, `uid`, `name`, `uid:gid`, `name:group`) in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_root(rootfs, "etc/passwd")?;
    let groups = read_in_root(rootfs, "etc/group")?;
    let entry = |pred: &dyn Fn(&[&str]) -> bool| {
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && pred(f))
    };
    let mut out = User::default();
    if user.is_empty() {
        out.home = entry(&|f| f[2] == "0").and_then(|f| f.get(5).map(|s| s.to_string()));
    } else if let Ok(uid) = user.parse::<u32>() {
        out.uid = uid;
        if let Some(f) = entry(&|f| f[2] == user) {
            out.gid = f[3].parse().unwrap_or(0);
            out.home = f.get(5).map(|s| s.to_string());
        }
    } else {
        let f = entry(&|f| f[0] == user).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unable to find user {user}: no matching entries in passwd file"
            ))
        })?;
        out.uid = f[2].parse().unwrap_or(0);
        out.gid = f[3].parse().unwrap_or(0);
        out.home = f.get(5).map(|s| s.to_string());
    }
    let group_entries: Vec<Vec<&str>> = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        out.gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    } else {
        let name = entry(&|f| f[2] == out.uid.to_string()).map(|f| f[0].to_string());
        if let Some(name) = name {
            for f in &group_entries {
                let members = f.get(3).copied().unwrap_or("");
                if members.split(',').any(|m| m == name)
                    && let Ok(gid) = f[2].parse::<u32>()
                    && gid != out.gid
                {
                    out.additional_gids.push(gid);
                }
            }
        }
    }
    Ok(out)
}

/// `--group-add` entries: numbers as they are, names looked up in the container's
/// /etc/group.
pub fn resolve_groups(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>> {
    let text = if groups.iter().all(|g| g.parse::<u32>().is_ok()) {
        String::new()
    } else {
        read_in_root(rootfs, "etc/group")?
    };
    groups
        .iter()
        .map(|g| match g.parse::<u32>() {
            Ok(gid) => Ok(gid),
            Err(_) => text
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Unable to find group {g}: no matching entries in group file"
                    ))
                }),
        })
        .collect()
}

/// A file's text read with `openat2(RESOLVE_IN_ROOT)`; empty when it does not exist.
fn read_in_root(rootfs: &Path, rel: &str) -> Result<String> {
    let fail = |e: std::io::Error| Error::internal(format!("read /{rel} in the container"), e);
    let root = std::fs::File::open(rootfs).map_err(fail)?;
    let path = CString::new(rel).expect("no NUL");
    // SAFETY: open_how is plain data; all-zero is its default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid dirfd, NUL-terminated path and open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(String::new()),
            _ => Err(fail(e)),
        };
    }
    // SAFETY: openat2 returned a new descriptor we own.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    let mut text = String::new();
    file.by_ref()
        .take(4 << 20)
        .read_to_string(&mut text)
        .map_err(fail)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www,bob\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn names_numbers_and_groups() {
        let d = rootfs();
        let u = resolve(d.path(), "www").unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (33, 33, vec![50])
        );
        assert_eq!(u.home.as_deref(), Some("/var/www"));
        let u = resolve(d.path(), "1000:staff").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));
        assert_eq!(resolve(d.path(), "").unwrap().uid, 0);
        let e = resolve(d.path(), "nobody").unwrap_err();
        assert!(e.to_string().contains("unable to find user nobody"), "{e}");
        assert!(resolve(d.path(), "www:nogroup").is_err());
    }

    #[test]
    fn symlinks_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", d.path().join("etc/passwd"))
            .unwrap();
        // The link resolves to the root's own /etc/passwd (itself, a loop), never the host's.
        let e = resolve(d.path(), "root").unwrap_err();
        assert!(!e.to_string().contains("unable to find user"), "{e}");
        std::fs::remove_file(d.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/../../nowhere/passwd", d.path().join("etc/passwd")).unwrap();
        let e = resolve(d.path(), "root").unwrap_err();
        assert!(e.to_string().contains("unable to find user root"), "{e}");
    }
}

//! Resolution of an OCI `linux.cgroupsPath` to a path inside a hierarchy.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// A validated cgroupsPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CgroupPath {
    /// From the hierarchy root; stored without the leading '/'.
    Absolute(PathBuf),
    /// From the calling process's own cgroup in each hierarchy.
    Relative(PathBuf),
}

fn invalid(path: &Path, reason: &str) -> Error {
    Error::Invalid {
        what: format!("cgroupsPath {}", path.display()),
        reason: reason.to_string(),
    }
}

impl CgroupPath {
    /// Parses `path`. The systemd form "slice:prefix:name" becomes "/slice/prefix-name.scope"
    /// (an empty slice means system.slice); there is no systemd driver, the scope is just a
    /// directory created through cgroupfs. ".." components are rejected so a spec cannot reach
    /// outside the hierarchy.
    pub(crate) fn parse(path: &Path) -> Result<Self> {
        let s = path.to_str().ok_or_else(|| invalid(path, "not UTF-8"))?;
        if s.is_empty() {
            return Err(invalid(path, "empty"));
        }
        let parts: Vec<&str> = s.split(':').collect();
        let path = match parts.as_slice() {
            [slice, prefix, name] if !s.starts_with('/') => {
                if [slice, prefix, name].iter().any(|p| p.contains('/')) || name.is_empty() {
                    return Err(invalid(
                        path,
                        "systemd form is slice:prefix:name without '/'",
                    ));
                }
                let slice = if slice.is_empty() {
                    "system.slice"
                } else {
                    slice
                };
                let scope = if prefix.is_empty() {
                    format!("{name}.scope")
                } else {
                    format!("{prefix}-{name}.scope")
                };
                PathBuf::from(format!("/{slice}/{scope}"))
            }
            _ => path.to_path_buf(),
        };
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(invalid(&path, "contains '..'"));
                }
            }
        }
        Ok(if path.is_absolute() {
            Self::Absolute(rel)
        } else {
            Self::Relative(rel)
        })
    }

    /// The directory for this cgroup in a hierarchy mounted at `mount_point`, whose mount shows
    /// hierarchy path `mount_root`, where this process sits in `own` (its /proc/self/cgroup path).
    pub(crate) fn dir_in(&self, mount_point: &Path, mount_root: &Path, own: &Path) -> PathBuf {
        match self {
            Self::Absolute(p) => mount_point.join(p),
            Self::Relative(p) => {
                let own = own.strip_prefix(mount_root).unwrap_or(own);
                mount_point
                    .join(own.strip_prefix("/").unwrap_or(own))
                    .join(p)
            }
        }
    }

    /// The path below a hierarchy root, ignoring the absolute/relative distinction: used by
    /// the explicit-root constructors, where there is no "own cgroup" to be relative to.
    pub(crate) fn below_root(&self) -> &Path {
        match self {
            Self::Absolute(p) | Self::Relative(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<CgroupPath> {
        CgroupPath::parse(Path::new(s))
    }

    #[test]
    fn absolute_and_relative() {
        assert_eq!(parse("/a/b").unwrap(), CgroupPath::Absolute("a/b".into()));
        assert_eq!(parse("a/./b").unwrap(), CgroupPath::Relative("a/b".into()));
        let m = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            parse("/a")
                .unwrap()
                .dir_in(m, Path::new("/"), Path::new("/own")),
            Path::new("/sys/fs/cgroup/memory/a")
        );
        assert_eq!(
            parse("a")
                .unwrap()
                .dir_in(m, Path::new("/"), Path::new("/own/x")),
            Path::new("/sys/fs/cgroup/memory/own/x/a")
        );
        assert_eq!(
            parse("a")
                .unwrap()
                .dir_in(m, Path::new("/own"), Path::new("/own/x")),
            Path::new("/sys/fs/cgroup/memory/x/a")
        );
    }

    #[test]
    fn systemd_form() {
        assert_eq!(
            parse("user.slice:berth:abc").unwrap(),
            CgroupPath::Absolute("user.slice/berth-abc.scope".into())
        );
        assert_eq!(
            parse(":berth:abc").unwrap(),
            CgroupPath::Absolute("system.slice/berth-abc.scope".into())
        );
        assert!(parse("a/b:c:d").is_err());
    }

    #[test]
    fn rejects_dotdot_and_empty() {
        for p in ["/a/../b", "../x", ""] {
            assert!(
                matches!(parse(p), Err(Error::Invalid { .. })),
                "{p} accepted"
            );
        }
    }
}

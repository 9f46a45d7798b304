//! Host layout discovery: which cgroup version is mounted, where each v1 hierarchy lives and
//! which cgroup this process is in. Parsers take text so tests need no particular host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};

use crate::fs::io_err;
use crate::{CgroupSetup, Error, Result};

/// Where the cgroup filesystems are mounted on every mainstream distribution.
pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Classifies the layout under `root` by filesystem magic.
pub(crate) fn detect_at(root: &Path) -> Result<CgroupSetup> {
    let magic = |p: &Path| {
        statfs(p)
            .map(|s| s.filesystem_type())
            .map_err(|e| io_err(p, e.into()))
    };
    let kind = magic(root)?;
    if kind == CGROUP2_SUPER_MAGIC {
        return Ok(CgroupSetup::Unified);
    }
    if kind != TMPFS_MAGIC {
        return Err(Error::Other(format!(
            "{} is neither cgroup2 nor tmpfs",
            root.display()
        )));
    }
    let unified = root.join("unified");
    Ok(match magic(&unified) {
        Ok(k) if k == CGROUP2_SUPER_MAGIC => CgroupSetup::Hybrid,
        _ => CgroupSetup::Legacy,
    })
}

/// A v1 hierarchy mount: its controllers (e.g. `cpu` and `cpuacct` when co-mounted, or
/// `name=systemd`), where it is mounted and which cgroup of the hierarchy the mount shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Mount {
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    pub root: PathBuf,
}

/// v1 controller names (plus named hierarchies) as they appear in mount super options.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
];

/// Extracts the v1 cgroup mounts from /proc/self/mountinfo text. Mount points with escaped
/// characters (\040) are not unescaped: cgroup mount points never contain spaces.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<V1Mount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if post.first() != Some(&"cgroup") || pre.len() < 5 {
                return None;
            }
            let controllers: Vec<String> = post
                .get(2)?
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect();
            (!controllers.is_empty()).then(|| V1Mount {
                controllers,
                root: PathBuf::from(pre[3]),
                mount_point: PathBuf::from(pre[4]),
            })
        })
        .collect()
}

/// Maps each controller (and `name=...` hierarchy; "" for v2) to this process's cgroup path
/// from /proc/self/cgroup text.
pub(crate) fn parse_proc_cgroup(text: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            out.insert(String::new(), PathBuf::from(path));
        }
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.insert(c.to_string(), PathBuf::from(path));
        }
    }
    out
}

/// Reads a /proc/self file.
pub(crate) fn read_proc(name: &str) -> Result<String> {
    let path = Path::new("/proc/self").join(name);
    std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_finds_comounted_and_named_hierarchies() {
        let text = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw shared:9 - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw shared:15 - cgroup cgroup rw,cpu,cpuacct
";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].controllers, ["name=systemd"]);
        assert_eq!(m[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m[1].mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m[1].root, Path::new("/docker/abc"));
    }

    #[test]
    fn proc_cgroup_maps_each_controller() {
        let m = parse_proc_cgroup("4:memory:/a/b\n2:cpu,cpuacct:/c\n1:name=systemd:/\n0::/u\n");
        assert_eq!(m["memory"], Path::new("/a/b"));
        assert_eq!(m["cpuacct"], Path::new("/c"));
        assert_eq!(m["name=systemd"], Path::new("/"));
        assert_eq!(m[""], Path::new("/u"));
    }

    #[test]
    fn detects_this_host() {
        let root = Path::new(CGROUP_ROOT);
        let want = if root.join("cgroup.controllers").exists() {
            CgroupSetup::Unified
        } else if root.join("unified/cgroup.procs").exists() {
            CgroupSetup::Hybrid
        } else {
            CgroupSetup::Legacy
        };
        assert_eq!(crate::detect().unwrap(), want);
    }
}

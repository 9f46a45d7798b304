//! Control groups for containers: one [`CgroupManager`] trait over cgroup v1, v2 and the hybrid
//! layout, chosen once by [`detect`] so callers never ask which version they run on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

mod detect;
mod error;
mod fs;
mod path;
mod resources;
mod v1;
mod v2;

pub use error::{Error, Result};
pub use v1::{Hierarchy, UNIFIED, V1Manager};
pub use v2::V2Manager;

use detect::{CGROUP_ROOT, parse_mountinfo, parse_proc_cgroup, read_proc};
use path::CgroupPath;

/// How the host mounts its cgroup hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CgroupSetup {
    /// Only v1 controller hierarchies under /sys/fs/cgroup/<controller>.
    Legacy,
    /// v1 controllers plus an (often empty) v2 hierarchy at /sys/fs/cgroup/unified.
    Hybrid,
    /// One v2 hierarchy at /sys/fs/cgroup.
    Unified,
}

/// Desired freezer state for pause/resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Frozen,
    Thawed,
}

/// A point-in-time reading of a cgroup, taken in one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Bytes of memory in use (memory.usage_in_bytes / memory.current).
    pub memory_usage: u64,
    /// Memory limit in bytes, `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// How many times the kernel OOM killer killed a process of this cgroup.
    pub oom_kill_count: u64,
    /// Processes currently in the cgroup (pids.current).
    pub pids_current: u64,
    /// pids.max, `None` when unlimited.
    pub pids_limit: Option<u64>,
    /// CPU time used, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Whether the cgroup is frozen.
    pub frozen: bool,
    /// CPU time in user mode and in kernel mode, in nanoseconds.
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    /// CPU time per CPU, in nanoseconds (v1's cpuacct.usage_percpu; empty on v2).
    pub cpu_percpu_ns: Vec<u64>,
    /// CFS bandwidth: periods elapsed, periods throttled, time throttled (ns).
    pub cpu_periods: u64,
    pub cpu_throttled_periods: u64,
    pub cpu_throttled_ns: u64,
    /// The peak of memory use (v1's memory.max_usage_in_bytes; `None` on v2).
    pub memory_max_usage: Option<u64>,
    /// memory.stat, with the kernel's keys.
    pub memory_stat: BTreeMap<String, u64>,
    /// Block I/O bytes and operations per device and direction.
    pub io_bytes: Vec<IoEntry>,
    pub io_ops: Vec<IoEntry>,
}

/// One block I/O counter: a device, a direction (v1's `Read`/`Write`/..., v2's
/// `read`/`write`, as Docker reports each) and a value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IoEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// The six verbs a runtime needs from a cgroup, whatever version backs it.
pub trait CgroupManager: std::fmt::Debug + Send + Sync {
    /// Creates the cgroup (every hierarchy) if missing and moves `pid` into it.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// Writes the OCI resources (memory, cpu, cpuset, pids, blkio, hugetlb, devices).
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Removes the cgroup directories; fails while processes remain.
    fn remove(&self) -> Result<()>;
    /// Freezes or thaws every process, returning once the kernel reports the state reached.
    fn freeze(&self, state: FreezerState) -> Result<()>;
    /// Reads usage counters, including the OOM-kill count.
    fn stats(&self) -> Result<Stats>;
    /// Every pid in the cgroup and its descendants.
    fn get_all_pids(&self) -> Result<Vec<i32>>;
    /// Whether the cgroup directory exists (in any hierarchy).
    fn exists(&self) -> bool;
    /// Whether the freezer holds the cgroup frozen: one file read, for status checks that
    /// run far more often than full stats.
    fn frozen(&self) -> Result<bool>;
    /// How many processes the kernel's OOM killer took: one file read, for the exit path,
    /// which needs nothing else of the stats.
    fn oom_kill_count(&self) -> Result<u64>;
}

/// Detects the host's cgroup layout under `/sys/fs/cgroup`.
pub fn detect() -> Result<CgroupSetup> {
    Ok(host_layout()?.setup)
}

/// The host's cgroup mounts, read once per process: they are set up at boot and do not move
/// under a running engine, and every container start and removal asked for them (two statfs
/// and a read of /proc/self/mountinfo each time). Forked monitors inherit the zygote's copy.
struct HostLayout {
    setup: CgroupSetup,
    v1: Vec<detect::V1Mount>,
}

static HOST_LAYOUT: std::sync::OnceLock<HostLayout> = std::sync::OnceLock::new();

fn host_layout() -> Result<&'static HostLayout> {
    if let Some(l) = HOST_LAYOUT.get() {
        return Ok(l);
    }
    let setup = detect::detect_at(Path::new(CGROUP_ROOT))?;
    let v1 = match setup {
        CgroupSetup::Unified => Vec::new(),
        _ => parse_mountinfo(&read_proc("mountinfo")?),
    };
    Ok(HOST_LAYOUT.get_or_init(|| HostLayout { setup, v1 }))
}

/// Returns the manager for `cgroups_path` (an OCI `linux.cgroupsPath`: absolute from the hierarchy
/// root, or relative to the caller's own cgroup) on this host's layout.
pub fn create_manager(cgroups_path: &Path) -> Result<Box<dyn CgroupManager>> {
    Ok(placement(cgroups_path)?.manager())
}

/// Where a cgroup's directories are, found once (when the container is created) and kept with
/// it: later commands then neither read /proc/self/cgroup and mountinfo again nor resolve a
/// relative `cgroupsPath` against another caller's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Placement {
    /// One v2 hierarchy: its mount and the cgroup's directory.
    Unified { root: PathBuf, dir: PathBuf },
    /// v1 hierarchies (and, on a hybrid host, the v2 one as [`UNIFIED`]) by controller.
    V1 {
        hierarchies: BTreeMap<String, Hierarchy>,
    },
}

impl Placement {
    /// The manager of the cgroup placed here.
    pub fn manager(&self) -> Box<dyn CgroupManager> {
        match self {
            Placement::Unified { root, dir } => Box::new(V2Manager::new(root.clone(), dir.clone())),
            Placement::V1 { hierarchies } => Box::new(V1Manager::new(hierarchies.clone())),
        }
    }
}

/// Where `cgroups_path` (as for [`create_manager`]) lies on this host's layout.
pub fn placement(cgroups_path: &Path) -> Result<Placement> {
    let path = CgroupPath::parse(cgroups_path)?;
    let own = parse_proc_cgroup(&read_proc("cgroup")?);
    let own_in = |key: &str| own.get(key).map_or(Path::new("/"), |p| p.as_path());
    let layout = host_layout()?;
    let setup = layout.setup;
    if setup == CgroupSetup::Unified {
        let root = Path::new(CGROUP_ROOT);
        let dir = path.dir_in(root, Path::new("/"), own_in(""));
        return Ok(Placement::Unified {
            root: root.to_path_buf(),
            dir,
        });
    }
    let mut hierarchies = BTreeMap::new();
    for m in &layout.v1 {
        for c in &m.controllers {
            let dir = path.dir_in(&m.mount_point, &m.root, own_in(c));
            let mount = m.mount_point.clone();
            hierarchies.insert(c.clone(), Hierarchy { mount, dir });
        }
    }
    // Hybrid: join the v2 hierarchy too, like runc without systemd, but only when it is
    // writable: a read-only unified mount (common inside containers) is a host choice, not an
    // error, whereas failing to join a writable one is reported by add_task.
    let unified = Path::new(CGROUP_ROOT).join("unified");
    if setup == CgroupSetup::Hybrid
        && nix::unistd::access(&unified, nix::unistd::AccessFlags::W_OK).is_ok()
    {
        let dir = path.dir_in(&unified, Path::new("/"), own_in(""));
        hierarchies.insert(
            UNIFIED.to_string(),
            Hierarchy {
                mount: unified,
                dir,
            },
        );
    }
    Ok(Placement::V1 { hierarchies })
}

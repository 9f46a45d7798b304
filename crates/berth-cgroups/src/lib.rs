//! Control groups for containers: one [`CgroupManager`] trait over cgroup v1, v2 and the hybrid
//! layout, chosen once by [`detect`] so callers never ask which version they run on.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

mod error;
pub use error::{Error, Result};

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
}

/// Detects the host's cgroup layout under `/sys/fs/cgroup`.
pub fn detect() -> Result<CgroupSetup> {
    todo!("cgroups helper")
}

/// Returns the manager for `cgroups_path` (an OCI `linux.cgroupsPath`: absolute from the hierarchy
/// root, or relative to the caller's own cgroup) on this host's layout.
pub fn create_manager(cgroups_path: &Path) -> Result<Box<dyn CgroupManager>> {
    let _ = cgroups_path;
    todo!("cgroups helper")
}

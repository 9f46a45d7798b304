//! cgroup v1 (and hybrid) manager: one directory per controller hierarchy.

mod blkio;
mod cpu;
mod cpuset;
mod devices;
mod freezer;
mod memory;
mod network;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxResources;

use crate::fs;
use crate::path::CgroupPath;
use crate::{CgroupManager, Error, FreezerState, IoEntry, Result, Stats, resources};

/// Key under which a hybrid host's v2 hierarchy is listed: the cgroup is created and joined
/// there too (so tools reading /proc/PID/cgroup's "0::" line see it), but no v2 controller is
/// used because hybrid hosts bind every controller to v1.
pub const UNIFIED: &str = "unified";

/// memory.limit_in_bytes reads back a page-rounded i64::MAX when unlimited.
const UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// Where one hierarchy is mounted and the cgroup's directory in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub dir: PathBuf,
}

/// Manager for a cgroup spread over v1 hierarchies, keyed by controller ("cpu", "cpuacct",
/// "name=systemd", [`UNIFIED`]); co-mounted controllers share one [`Hierarchy`].
#[derive(Debug, Clone)]
pub struct V1Manager {
    hierarchies: BTreeMap<String, Hierarchy>,
    /// Set once this manager made the directories: `apply` then `add_task` make them once.
    created: OnceLock<()>,
}

impl V1Manager {
    pub(crate) fn new(hierarchies: BTreeMap<String, Hierarchy>) -> Self {
        Self {
            hierarchies,
            created: OnceLock::new(),
        }
    }

    /// A manager over explicit mount points (controller → mount dir), e.g. a fake tree in tests.
    /// `cgroups_path` is taken from each mount root whether or not it starts with '/': with
    /// explicit mounts there is no "own cgroup" to be relative to.
    pub fn with_mounts(mounts: BTreeMap<String, PathBuf>, cgroups_path: &Path) -> Result<Self> {
        let path = CgroupPath::parse(cgroups_path)?;
        let hierarchies = mounts
            .into_iter()
            .map(|(c, mount)| {
                let dir = mount.join(path.below_root());
                (c, Hierarchy { mount, dir })
            })
            .collect();
        Ok(Self::new(hierarchies))
    }

    /// The cgroup directory of `controller`, or which controller is missing.
    pub fn dir(&self, controller: &str) -> Result<&Path> {
        self.hierarchies
            .get(controller)
            .map(|h| h.dir.as_path())
            .ok_or_else(|| Error::ControllerMissing(controller.to_string()))
    }

    /// Each distinct directory once (co-mounted controllers share one).
    fn dirs(&self) -> BTreeSet<&Path> {
        self.hierarchies.values().map(|h| h.dir.as_path()).collect()
    }

    /// Creates the directory in every hierarchy (once per manager); cpuset levels get their
    /// cpus/mems filled in.
    fn create(&self) -> Result<()> {
        if self.created.get().is_some() {
            return Ok(());
        }
        for (controller, h) in &self.hierarchies {
            if controller == "cpuset" {
                cpuset::create(&h.mount, &h.dir)?;
            } else {
                fs::mkdir_all(&h.dir)?;
            }
        }
        let _ = self.created.set(());
        Ok(())
    }

    /// `file` in `controller`'s directory; `None` when the controller is not mounted.
    fn path(&self, controller: &str, file: &str) -> Option<PathBuf> {
        self.hierarchies.get(controller).map(|h| h.dir.join(file))
    }

    /// Contents of `file` in `controller`'s directory; `None` when either is absent.
    fn read_opt(&self, controller: &str, file: &str) -> Result<Option<String>> {
        self.path(controller, file)
            .map_or(Ok(None), |p| fs::read_opt(&p))
    }

    fn read_u64(&self, controller: &str, file: &str) -> Result<Option<u64>> {
        self.path(controller, file)
            .map_or(Ok(None), |p| fs::read_u64(&p))
    }

    fn keyed(&self, controller: &str, file: &str) -> Result<BTreeMap<String, u64>> {
        Ok(self
            .read_opt(controller, file)?
            .map(|t| fs::keyed_values(&t))
            .unwrap_or_default())
    }

    /// The counters beyond the basic ones: cpu split and throttling, memory.stat, block I/O.
    fn usage_detail(&self) -> Result<Stats> {
        /// cpuacct.stat counts in USER_HZ ticks, 100 per second on Linux.
        const TICK_NS: u64 = 10_000_000;
        let cpu = self.keyed("cpuacct", "cpuacct.stat")?;
        let throttling = self.keyed("cpu", "cpu.stat")?;
        let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        Ok(Stats {
            cpu_user_ns: get(&cpu, "user") * TICK_NS,
            cpu_system_ns: get(&cpu, "system") * TICK_NS,
            cpu_percpu_ns: self
                .read_opt("cpuacct", "cpuacct.usage_percpu")?
                .map(|t| {
                    t.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default(),
            cpu_periods: get(&throttling, "nr_periods"),
            cpu_throttled_periods: get(&throttling, "nr_throttled"),
            cpu_throttled_ns: get(&throttling, "throttled_time"),
            memory_max_usage: self.read_u64("memory", "memory.max_usage_in_bytes")?,
            memory_stat: self.keyed("memory", "memory.stat")?,
            io_bytes: self.blkio("blkio.throttle.io_service_bytes")?,
            io_ops: self.blkio("blkio.throttle.io_serviced")?,
            ..Stats::default()
        })
    }

    /// A blkio file's `MAJ:MIN Op value` lines (its `Total` line left out).
    fn blkio(&self, file: &str) -> Result<Vec<IoEntry>> {
        let text = self.read_opt("blkio", file)?.unwrap_or_default();
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (major, minor) = fs::device(f.next()?)?;
                let op = f.next()?.to_string();
                let value = f.next()?.parse().ok()?;
                Some(IoEntry {
                    major,
                    minor,
                    op,
                    value,
                })
            })
            .collect())
    }
}

impl CgroupManager for V1Manager {
    fn add_task(&self, pid: i32) -> Result<()> {
        self.create()?;
        for dir in self.dirs() {
            fs::write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) {
            let mut keys: Vec<_> = map.keys().map(String::as_str).collect();
            keys.sort_unstable();
            return Err(Error::Invalid {
                what: format!("unified ({})", keys.join(", ")),
                reason: "cgroup v2 keys cannot be applied on a cgroup v1 host".into(),
            });
        }
        self.create()?;
        let bfq = self
            .dir("blkio")
            .is_ok_and(|d| !d.join("blkio.weight").exists() && d.join("blkio.bfq.weight").exists());
        let groups = [
            ("memory", memory::writes(r)?),
            ("cpuset", resources::cpuset(r)),
            ("cpu", cpu::writes(r)),
            ("pids", resources::pids(r)),
            ("blkio", blkio::writes(r, bfq)),
            ("hugetlb", resources::hugetlb(r, "limit_in_bytes", "-1")),
            ("devices", devices::writes(r)?),
            ("net_cls", network::net_cls(r)),
            ("net_prio", network::net_prio(r)),
            ("rdma", resources::rdma(r)),
        ];
        for (controller, writes) in groups {
            if !writes.is_empty() {
                fs::apply(self.dir(controller)?, &writes)?;
            }
        }
        Ok(())
    }

    fn remove(&self) -> Result<()> {
        // Try every hierarchy so one busy directory does not leak the others.
        let mut first_err = None;
        for dir in self.dirs() {
            if let Err(e) = fs::remove_tree(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn freeze(&self, state: FreezerState) -> Result<()> {
        freezer::set(self.dir("freezer")?, state)
    }

    fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            memory_usage: self
                .read_u64("memory", "memory.usage_in_bytes")?
                .unwrap_or(0),
            memory_limit: self
                .read_u64("memory", "memory.limit_in_bytes")?
                .filter(|&l| l < UNLIMITED_THRESHOLD),
            oom_kill_count: self.oom_kill_count()?,
            pids_current: self.read_u64("pids", "pids.current")?.unwrap_or(0),
            pids_limit: self.read_u64("pids", "pids.max")?,
            cpu_usage_ns: self.read_u64("cpuacct", "cpuacct.usage")?.unwrap_or(0),
            frozen: self.frozen()?,
            ..self.usage_detail()?
        })
    }

    fn get_all_pids(&self) -> Result<Vec<i32>> {
        // Any hierarchy holds every process; prefer ones always present on container hosts.
        let dir = ["pids", "memory", "freezer"]
            .iter()
            .find_map(|c| self.dir(c).ok())
            .or_else(|| self.dirs().into_iter().next());
        match dir {
            Some(dir) => fs::all_pids(dir),
            None => Ok(vec![]),
        }
    }

    fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }

    fn frozen(&self) -> Result<bool> {
        Ok(self.read_opt("freezer", "freezer.state")?.as_deref() == Some("FROZEN"))
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let control = self.read_opt("memory", "memory.oom_control")?;
        Ok(control
            .and_then(|t| fs::keyed_value(&t, "oom_kill"))
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;

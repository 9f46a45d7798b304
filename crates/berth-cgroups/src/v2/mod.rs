//! cgroup v2 manager: a single directory in the unified hierarchy.

mod cpu;
mod devices_ebpf;
mod io;
mod memory;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_spec::runtime::LinuxResources;

use crate::fs;
use crate::path::CgroupPath;
use crate::resources::{self, DeviceRule};
use crate::{CgroupManager, Error, FreezerState, IoEntry, Result, Stats};

/// Controllers enabled down the path so the leaf can use them (when the host offers them).
const WANTED: &[&str] = &["cpuset", "cpu", "io", "memory", "hugetlb", "pids"];

/// Manager for one cgroup in a v2 hierarchy mounted at `root`.
#[derive(Debug, Clone)]
pub struct V2Manager {
    root: PathBuf,
    dir: PathBuf,
    /// Set once this manager made the directory: `apply` then `add_task` make it once.
    created: OnceLock<()>,
}

impl V2Manager {
    pub(crate) fn new(root: PathBuf, dir: PathBuf) -> Self {
        Self {
            root,
            dir,
            created: OnceLock::new(),
        }
    }

    /// A manager for `cgroups_path` below an explicit hierarchy `root` (e.g. a fake tree in
    /// tests). The path is taken from `root` whether or not it starts with '/'. Device rules
    /// need a real cgroup2 directory (they attach an eBPF program to it).
    pub fn with_root(root: PathBuf, cgroups_path: &Path) -> Result<Self> {
        let dir = root.join(CgroupPath::parse(cgroups_path)?.below_root());
        Ok(Self::new(root, dir))
    }

    /// The cgroup's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Controllers available in `dir`: its cgroup.controllers, or the nearest ancestor's.
    /// cgroupfs always has the file; a fake tree for tests only needs it at the root.
    fn controllers(&self, dir: &Path) -> Result<BTreeSet<String>> {
        let mut d = dir;
        loop {
            if let Some(text) = fs::read_opt(&d.join("cgroup.controllers"))? {
                return Ok(text.split_whitespace().map(str::to_string).collect());
            }
            match d.parent() {
                Some(p) if d != self.root => d = p,
                _ => return Ok(BTreeSet::new()),
            }
        }
    }

    /// Creates the directory level by level (once per manager), enabling the [`WANTED`]
    /// controllers each level offers in its cgroup.subtree_control first so they reach the leaf.
    fn create(&self) -> Result<()> {
        if self.created.get().is_some() {
            return Ok(());
        }
        let rel = self.dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let mut level = self.root.clone();
        for component in rel.components() {
            let available = self.controllers(&level)?;
            let control = level.join("cgroup.subtree_control");
            let enabled = fs::read_opt(&control)?.unwrap_or_default();
            let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
            let enable: Vec<String> = WANTED
                .iter()
                .filter(|c| available.contains(**c) && !enabled.contains(**c))
                .map(|c| format!("+{c}"))
                .collect();
            if !enable.is_empty() {
                fs::write(&control, &enable.join(" "))?;
            }
            level.push(component);
            fs::mkdir_all(&level)?;
        }
        let _ = self.created.set(());
        Ok(())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// io.stat (`MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..`) as Docker reports it on v2:
    /// (bytes, operations), each `read` and `write` per device.
    fn io_stat(&self) -> Result<(Vec<IoEntry>, Vec<IoEntry>)> {
        let text = fs::read_opt(&self.file("io.stat"))?.unwrap_or_default();
        let (mut bytes, mut ops) = (Vec::new(), Vec::new());
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let Some((major, minor)) = f.next().and_then(fs::device) else {
                continue;
            };
            for kv in f {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(value) = v.parse() else { continue };
                let (list, op) = match k {
                    "rbytes" => (&mut bytes, "read"),
                    "wbytes" => (&mut bytes, "write"),
                    "rios" => (&mut ops, "read"),
                    "wios" => (&mut ops, "write"),
                    _ => continue,
                };
                list.push(IoEntry {
                    major,
                    minor,
                    op: op.into(),
                    value,
                });
            }
        }
        Ok((bytes, ops))
    }
}

impl CgroupManager for V2Manager {
    fn add_task(&self, pid: i32) -> Result<()> {
        self.create()?;
        fs::write(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let unified = resources::unified(r)?;
        let network = r.network().as_ref();
        if network.is_some_and(|n| n.class_id().is_some() || n.priorities().is_some()) {
            return Err(Error::ControllerMissing("net_cls".into()));
        }
        self.create()?;
        let available = self.controllers(&self.dir)?;
        let groups = [
            ("memory", memory::writes(r)?),
            ("cpuset", resources::cpuset(r)),
            ("cpu", cpu::writes(r)?),
            ("pids", resources::pids(r)),
            ("io", io::writes(r)?),
            ("hugetlb", resources::hugetlb(r, "max", "max")),
            ("rdma", resources::rdma(r)),
        ];
        for (controller, writes) in groups {
            if writes.is_empty() {
                continue;
            }
            if !available.contains(controller) {
                return Err(Error::ControllerMissing(controller.into()));
            }
            fs::apply(&self.dir, &writes)?;
        }
        if let Some(rules) = r.devices() {
            let rules: Vec<DeviceRule> = rules
                .iter()
                .map(DeviceRule::from_oci)
                .collect::<Result<_>>()?;
            devices_ebpf::apply(&self.dir, &rules)?;
        }
        // Last, so explicit unified keys override the mapped values.
        fs::apply(&self.dir, &unified)
    }

    fn remove(&self) -> Result<()> {
        fs::remove_tree(&self.dir)
    }

    fn freeze(&self, state: FreezerState) -> Result<()> {
        let (value, frozen) = match state {
            FreezerState::Frozen => ("1", 1),
            FreezerState::Thawed => ("0", 0),
        };
        fs::write(&self.file("cgroup.freeze"), value)?;
        let events = self.file("cgroup.events");
        let what = format!("{} to show frozen {frozen}", events.display());
        let reached = fs::poll_until(&what, || {
            Ok(fs::keyed_value(&fs::read(&events)?, "frozen") == Some(frozen))
        });
        if reached.is_err() && state == FreezerState::Frozen {
            // Never leave a container half frozen.
            let _ = fs::write(&self.file("cgroup.freeze"), "0");
        }
        reached
    }

    fn stats(&self) -> Result<Stats> {
        let read_u64 = |name: &str| fs::read_u64(&self.file(name));
        let keyed = |name: &str, key: &str| -> Result<Option<u64>> {
            Ok(fs::read_opt(&self.file(name))?.and_then(|t| fs::keyed_value(&t, key)))
        };
        let cpu = fs::read_opt(&self.file("cpu.stat"))?
            .map(|t| fs::keyed_values(&t))
            .unwrap_or_default();
        let usec = |k: &str| cpu.get(k).copied().unwrap_or(0);
        let (io_bytes, io_ops) = self.io_stat()?;
        Ok(Stats {
            cpu_user_ns: usec("user_usec") * 1000,
            cpu_system_ns: usec("system_usec") * 1000,
            cpu_periods: usec("nr_periods"),
            cpu_throttled_periods: usec("nr_throttled"),
            cpu_throttled_ns: usec("throttled_usec") * 1000,
            memory_stat: fs::read_opt(&self.file("memory.stat"))?
                .map(|t| fs::keyed_values(&t))
                .unwrap_or_default(),
            io_bytes,
            io_ops,
            memory_usage: read_u64("memory.current")?.unwrap_or(0),
            memory_limit: read_u64("memory.max")?,
            oom_kill_count: self.oom_kill_count()?,
            pids_current: read_u64("pids.current")?.unwrap_or(0),
            pids_limit: read_u64("pids.max")?,
            cpu_usage_ns: keyed("cpu.stat", "usage_usec")?.unwrap_or(0) * 1000,
            frozen: self.frozen()?,
            cpu_percpu_ns: Vec::new(),
            memory_max_usage: None,
        })
    }

    fn get_all_pids(&self) -> Result<Vec<i32>> {
        fs::all_pids(&self.dir)
    }

    fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    fn frozen(&self) -> Result<bool> {
        let events = fs::read_opt(&self.dir.join("cgroup.events"))?;
        Ok(events.is_some_and(|text| fs::keyed_value(&text, "frozen") == Some(1)))
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let events = fs::read_opt(&self.file("memory.events"))?;
        Ok(events
            .and_then(|t| fs::keyed_value(&t, "oom_kill"))
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;

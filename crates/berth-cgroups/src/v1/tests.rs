//! The v1 manager against a fake tree of hierarchies, and for real on this host's v1/hybrid
//! layout (root only; skipped when /sys/fs/cgroup/memory is absent).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use oci_spec::runtime::LinuxResources;
use serde_json::json;
use tempfile::TempDir;

use super::*;
use crate::fs::Write;

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

/// Hierarchies as on a typical host: cpu and cpuacct co-mounted, no hugetlb.
const HIERARCHIES: &[(&str, &str)] = &[
    ("cpu", "cpu,cpuacct"),
    ("cpuacct", "cpu,cpuacct"),
    ("cpuset", "cpuset"),
    ("memory", "memory"),
    ("pids", "pids"),
    ("freezer", "freezer"),
    ("devices", "devices"),
    ("blkio", "blkio"),
    ("name=systemd", "systemd"),
    (UNIFIED, "unified"),
];

fn fake() -> (TempDir, V1Manager) {
    let t = tempfile::tempdir().unwrap();
    let mut mounts = BTreeMap::new();
    for (controller, dir) in HIERARCHIES {
        let mount = t.path().join(dir);
        std::fs::create_dir_all(&mount).unwrap();
        mounts.insert(controller.to_string(), mount);
    }
    std::fs::write(t.path().join("cpuset/cpuset.cpus"), "0-3\n").unwrap();
    std::fs::write(t.path().join("cpuset/cpuset.mems"), "0\n").unwrap();
    let m = V1Manager::with_mounts(mounts, Path::new("/pod/ctr")).unwrap();
    (t, m)
}

#[test]
fn add_task_joins_every_hierarchy_and_seeds_cpuset() {
    let (t, m) = fake();
    // A pre-existing parent with its own cpus keeps them and passes them down.
    std::fs::create_dir(t.path().join("cpuset/pod")).unwrap();
    std::fs::write(t.path().join("cpuset/pod/cpuset.cpus"), "1").unwrap();
    assert!(!m.exists());
    m.add_task(777).unwrap();
    assert!(m.exists());
    for (_, dir) in HIERARCHIES {
        assert_eq!(
            read(t.path().join(dir).join("pod/ctr/cgroup.procs")),
            "777",
            "{dir}"
        );
    }
    assert_eq!(read(t.path().join("cpuset/pod/cpuset.cpus")), "1");
    assert_eq!(read(t.path().join("cpuset/pod/cpuset.mems")), "0");
    assert_eq!(read(t.path().join("cpuset/pod/ctr/cpuset.cpus")), "1");
    assert_eq!(read(t.path().join("cpuset/pod/ctr/cpuset.mems")), "0");
}

#[test]
fn apply_maps_every_resource() {
    let (t, m) = fake();
    m.apply(&res(json!({
        "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432,
                   "swappiness": 10, "disableOOMKiller": true, "kernel": 1},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0",
                "realtimeRuntime": 950, "realtimePeriod": 1000, "burst": 10, "idle": 0},
        "pids": {"limit": 64},
        "blockIO": {"weight": 300, "leafWeight": 200,
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4}]},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    })))
    .unwrap();
    let p = |dir: &str, file: &str| t.path().join(dir).join("pod/ctr").join(file);
    for (dir, file, want) in [
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.memsw.limit_in_bytes", "134217728"),
        ("memory", "memory.soft_limit_in_bytes", "33554432"),
        ("memory", "memory.swappiness", "10"),
        ("memory", "memory.oom_control", "1"),
        ("cpu,cpuacct", "cpu.shares", "512"),
        ("cpu,cpuacct", "cpu.cfs_quota_us", "50000"),
        ("cpu,cpuacct", "cpu.cfs_period_us", "100000"),
        ("cpu,cpuacct", "cpu.rt_runtime_us", "950"),
        ("cpu,cpuacct", "cpu.rt_period_us", "1000"),
        ("cpu,cpuacct", "cpu.cfs_burst_us", "10"),
        ("cpu,cpuacct", "cpu.idle", "0"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "64"),
        ("blkio", "blkio.weight", "300"),
        ("blkio", "blkio.leaf_weight", "200"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio", "blkio.throttle.write_bps_device", "8:0 2"),
        ("blkio", "blkio.throttle.read_iops_device", "8:0 3"),
        ("blkio", "blkio.throttle.write_iops_device", "8:0 4"),
        ("devices", "devices.deny", "a *:* rwm"),
        ("devices", "devices.allow", "c 1:3 rwm"),
    ] {
        assert_eq!(read(p(dir, file)), want, "{file}");
    }
}

#[test]
fn resource_writes_in_order() {
    let w = |f: &str, v: &str| Write::file(f, v);
    let pair = |a: (&str, &str), b: (&str, &str)| {
        Write::EitherOrder([(a.0.into(), a.1.into()), (b.0.into(), b.1.into())])
    };
    assert_eq!(
        memory::writes(&res(json!({"memory": {"limit": 100, "swap": -1}}))).unwrap(),
        [pair(
            ("memory.limit_in_bytes", "100"),
            ("memory.memsw.limit_in_bytes", "-1")
        )]
    );
    assert_eq!(
        memory::writes(&res(json!({"memory": {"limit": -1}}))).unwrap(),
        [pair(
            ("memory.limit_in_bytes", "-1"),
            ("memory.memsw.limit_in_bytes", "-1")
        )]
    );
    assert!(memory::writes(&res(json!({"memory": {"limit": 100, "swap": 50}}))).is_err());
    assert!(memory::writes(&res(json!({"memory": {"swappiness": 101}}))).is_err());
    assert_eq!(
        cpu::writes(&res(json!({"cpu": {"quota": 0}}))),
        [w("cpu.cfs_quota_us", "-1")]
    );
    assert_eq!(
        devices::writes(&res(json!({"devices": [
            {"allow": true, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "access": "w"},
            {"allow": true, "type": "b", "minor": 0, "access": "mr"},
            {"allow": true, "type": "u", "major": 4, "minor": -1}
        ]})))
        .unwrap(),
        [
            w("devices.deny", "a"),
            w("devices.allow", "a *:* rwm"),
            w("devices.deny", "c 1:* w"),
            w("devices.allow", "b *:0 rm"),
            w("devices.allow", "c 4:* rwm"),
        ]
    );
    assert!(devices::writes(&res(json!({"devices": [{"allow": true, "access": "x"}]}))).is_err());
    assert_eq!(
        blkio::writes(
            &res(json!({"blockIO": {"weight": 100,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 50, "leafWeight": 60}]}})),
            true
        ),
        [
            w("blkio.bfq.weight", "100"),
            w("blkio.bfq.weight_device", "8:0 50"),
            w("blkio.leaf_weight_device", "8:0 60"),
        ]
    );
    assert_eq!(
        network::net_prio(&res(
            json!({"network": {"priorities": [{"name": "eth0", "priority": 5}]}})
        )),
        [w("net_prio.ifpriomap", "eth0 5")]
    );
}

#[test]
fn unlimited_values() {
    let (t, m) = fake();
    m.apply(&res(
        json!({"memory": {"limit": -1}, "pids": {"limit": -1}, "cpu": {"quota": -1}}),
    ))
    .unwrap();
    let p = |dir: &str, file: &str| t.path().join(dir).join("pod/ctr").join(file);
    assert_eq!(read(p("memory", "memory.limit_in_bytes")), "-1");
    assert_eq!(read(p("pids", "pids.max")), "max");
    assert_eq!(read(p("cpu,cpuacct", "cpu.cfs_quota_us")), "-1");
}

#[test]
fn blkio_uses_bfq_files_when_only_they_exist() {
    let (t, m) = fake();
    let leaf = t.path().join("blkio/pod/ctr");
    std::fs::create_dir_all(&leaf).unwrap();
    std::fs::write(leaf.join("blkio.bfq.weight"), "100").unwrap();
    m.apply(&res(json!({"blockIO": {"weight": 400}}))).unwrap();
    assert_eq!(read(leaf.join("blkio.bfq.weight")), "400");
    assert!(!leaf.join("blkio.weight").exists());
}

#[test]
fn missing_controllers_and_unified_keys_are_errors() {
    let (_t, m) = fake();
    let err = m
        .apply(&res(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ControllerMissing(c) if c == "hugetlb"),
        "{err}"
    );
    let err = m
        .apply(&res(json!({"network": {"classID": 5}})))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ControllerMissing(c) if c == "net_cls"),
        "{err}"
    );
    let err = m
        .apply(&res(json!({"unified": {"memory.high": "1"}})))
        .unwrap_err();
    assert!(err.to_string().contains("memory.high"), "{err}");
    // An empty hugepage list asks for nothing.
    m.apply(&res(json!({"hugepageLimits": []}))).unwrap();
}

#[test]
fn freeze_stats_and_pids_on_fake_tree() {
    let (t, m) = fake();
    m.add_task(5).unwrap();
    assert_eq!(m.stats().unwrap(), Stats::default());
    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(
        read(t.path().join("freezer/pod/ctr/freezer.state")),
        "FROZEN"
    );
    let p = |dir: &str, file: &str| t.path().join(dir).join("pod/ctr").join(file);
    for (dir, file, text) in [
        ("memory", "memory.usage_in_bytes", "4096\n"),
        ("memory", "memory.limit_in_bytes", "9223372036854771712\n"),
        (
            "memory",
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        ),
        ("pids", "pids.current", "1\n"),
        ("pids", "pids.max", "max\n"),
        ("cpu,cpuacct", "cpuacct.usage", "123456\n"),
        ("cpu,cpuacct", "cpuacct.stat", "user 3\nsystem 2\n"),
        ("cpu,cpuacct", "cpuacct.usage_percpu", "100000 23456 \n"),
        ("memory", "memory.max_usage_in_bytes", "8192\n"),
        ("memory", "memory.stat", "cache 12\ntotal_inactive_file 7\n"),
        (
            "blkio",
            "blkio.throttle.io_service_bytes",
            "8:0 Read 4096\nTotal 4096\n",
        ),
    ] {
        std::fs::write(p(dir, file), text).unwrap();
    }
    assert_eq!(
        m.stats().unwrap(),
        Stats {
            memory_usage: 4096,
            memory_limit: None,
            oom_kill_count: 3,
            pids_current: 1,
            pids_limit: None,
            cpu_usage_ns: 123_456,
            frozen: true,
            cpu_user_ns: 30_000_000,
            cpu_system_ns: 20_000_000,
            cpu_percpu_ns: vec![100_000, 23_456],
            memory_max_usage: Some(8192),
            memory_stat: [
                ("cache".to_string(), 12),
                ("total_inactive_file".to_string(), 7)
            ]
            .into_iter()
            .collect(),
            io_bytes: vec![IoEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096,
            }],
            ..Stats::default()
        }
    );
    m.freeze(FreezerState::Thawed).unwrap();
    assert!(!m.stats().unwrap().frozen);
    std::fs::create_dir(p("pids", "sub")).unwrap();
    std::fs::write(p("pids", "sub/cgroup.procs"), "6\n").unwrap();
    assert_eq!(m.get_all_pids().unwrap(), [5, 6]);
}

// ---- real cgroups on this host ----

fn host_ready() -> bool {
    if !Path::new("/sys/fs/cgroup/memory").exists() {
        eprintln!("skipping: /sys/fs/cgroup/memory is absent (not a v1/hybrid host)");
        return false;
    }
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "real cgroup tests run as root"
    );
    true
}

fn unique_path() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "/berth-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Kills the test's children and removes its cgroup even when an assertion fails.
struct Guard {
    manager: Box<dyn CgroupManager>,
    children: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.manager.freeze(FreezerState::Thawed);
        let _ = self.manager.remove();
    }
}

const MIB: i64 = 1024 * 1024;

#[test]
fn real_v1_lifecycle() {
    if !host_ready() {
        return;
    }
    let path = unique_path();
    let mut g = Guard {
        manager: crate::create_manager(Path::new(&path)).unwrap(),
        children: vec![],
    };
    let m = &g.manager;
    m.apply(&res(json!({
        "memory": {"limit": 64 * MIB, "swap": 128 * MIB},
        "pids": {"limit": 32},
        "cpu": {"shares": 512, "cpus": "0", "mems": "0"},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
    })))
    .unwrap();
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    g.children.push(child);
    let m = &g.manager;
    m.add_task(pid).unwrap();

    let host = |h: &str, file: &str| {
        Path::new("/sys/fs/cgroup")
            .join(h)
            .join(&path[1..])
            .join(file)
    };
    assert_eq!(
        read(host("memory", "memory.limit_in_bytes")),
        (64 * MIB).to_string()
    );
    assert_eq!(
        read(host("memory", "memory.memsw.limit_in_bytes")),
        (128 * MIB).to_string()
    );
    assert_eq!(read(host("pids", "pids.max")), "32");
    assert_eq!(read(host("cpu", "cpu.shares")), "512");
    assert_eq!(read(host("cpuset", "cpuset.cpus")), "0");
    assert_eq!(read(host("cpuset", "cpuset.mems")), "0");
    assert_eq!(read(host("devices", "devices.list")), "c 1:3 rwm");
    // Every hierarchy this host has (on the hybrid test host: all of these).
    let hierarchies: Vec<_> = [
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
        "unified",
    ]
    .into_iter()
    .filter(|h| {
        Path::new("/sys/fs/cgroup")
            .join(h)
            .join("cgroup.procs")
            .exists()
    })
    .collect();
    for &h in &hierarchies {
        let procs = read(host(h, "cgroup.procs"));
        assert_eq!(procs, pid.to_string(), "pid in {h}");
    }

    // Raising both limits needs memsw first, lowering needs the limit first: the retry on
    // EINVAL finds the order either way.
    for (limit, swap) in [(256 * MIB, 512 * MIB), (32 * MIB, 48 * MIB)] {
        m.apply(&res(json!({"memory": {"limit": limit, "swap": swap}})))
            .unwrap();
        assert_eq!(
            read(host("memory", "memory.limit_in_bytes")),
            limit.to_string()
        );
        assert_eq!(
            read(host("memory", "memory.memsw.limit_in_bytes")),
            swap.to_string()
        );
    }

    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(read(host("freezer", "freezer.state")), "FROZEN");
    assert!(m.stats().unwrap().frozen);
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(read(host("freezer", "freezer.state")), "THAWED");

    let s = m.stats().unwrap();
    assert_eq!(s.pids_current, 1);
    assert_eq!(s.pids_limit, Some(32));
    assert_eq!(s.memory_limit, Some(32 * MIB as u64));
    assert_eq!(m.get_all_pids().unwrap(), [pid]);

    let mut child = g.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let m = &g.manager;
    m.remove().unwrap();
    assert!(!m.exists());
    for &h in &hierarchies {
        assert!(!host(h, "").exists(), "{h} dir removed");
    }
}

#[test]
fn real_v1_missing_hugetlb_is_an_error() {
    if !host_ready() || Path::new("/sys/fs/cgroup/hugetlb").exists() {
        return;
    }
    let g = Guard {
        manager: crate::create_manager(Path::new(&unique_path())).unwrap(),
        children: vec![],
    };
    let err = g
        .manager
        .apply(&res(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ControllerMissing(c) if c == "hugetlb"),
        "{err}"
    );
}

#[test]
fn real_v1_oom_kill_is_counted() {
    if !host_ready() {
        return;
    }
    let g = Guard {
        manager: crate::create_manager(Path::new(&unique_path())).unwrap(),
        children: vec![],
    };
    g.manager
        .apply(&res(json!({"memory": {"limit": 8 * MIB, "swap": 8 * MIB}})))
        .unwrap();
    // The child waits on stdin until it is in the cgroup, then allocates 64 MiB.
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| !p.starts_with('/') || Path::new(p).exists())
        .unwrap();
    let mut child = Command::new("/bin/sh")
        .args([
            "-c",
            &format!("read x; exec {python} -c 'b = bytearray(64 << 20)'"),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    g.manager.add_task(child.id() as i32).unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "allocation should have been OOM-killed");
    let s = g.manager.stats().unwrap();
    assert!(s.oom_kill_count >= 1, "{s:?}");
    assert_eq!(g.manager.oom_kill_count().unwrap(), s.oom_kill_count);
    assert_eq!(s.memory_limit, Some(8 * MIB as u64));
}

#[test]
fn real_relative_path_is_below_own_cgroup() {
    if !host_ready() {
        return;
    }
    let own = crate::detect::parse_proc_cgroup(&crate::detect::read_proc("cgroup").unwrap());
    let name = format!("berth-rel-{}", std::process::id());
    let g = Guard {
        manager: crate::create_manager(Path::new(&name)).unwrap(),
        children: vec![],
    };
    g.manager
        .apply(&res(json!({"memory": {"limit": 16 * MIB}})))
        .unwrap();
    let own_memory = own["memory"].strip_prefix("/").unwrap();
    let dir = Path::new("/sys/fs/cgroup/memory")
        .join(own_memory)
        .join(&name);
    assert_eq!(
        read(dir.join("memory.limit_in_bytes")),
        (16 * MIB).to_string()
    );
}

#[test]
fn real_remove_reports_busy_cgroup() {
    if !host_ready() {
        return;
    }
    let mounts = BTreeMap::from([("pids".to_string(), "/sys/fs/cgroup/pids".into())]);
    let m = V1Manager::with_mounts(mounts, Path::new(&unique_path())).unwrap();
    let dir = m.dir("pids").unwrap().to_path_buf();
    let mut g = Guard {
        manager: Box::new(m),
        children: vec![Command::new("sleep").arg("30").spawn().unwrap()],
    };
    g.manager.add_task(g.children[0].id() as i32).unwrap();
    let err = g.manager.remove().unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, source } if *path == dir
            && source.raw_os_error() == Some(libc::EBUSY)),
        "{err}"
    );
    let mut child = g.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    g.manager.remove().unwrap();
    assert!(!dir.exists());
}

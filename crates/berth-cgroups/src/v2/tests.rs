//! The v2 manager against a fake cgroup2 tree (this host has no v2 controllers), plus the
//! eBPF device filter compiled, loaded and enforced for real in the host's unified hierarchy.

use std::path::Path;

use oci_spec::runtime::LinuxResources;
use serde_json::json;
use tempfile::TempDir;

use super::devices_ebpf::{Insn, compile};
use super::*;
use crate::resources::{ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE};

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn fake(controllers: &str) -> TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("cgroup.controllers"), controllers).unwrap();
    std::fs::write(t.path().join("cgroup.subtree_control"), "").unwrap();
    t
}

const ALL: &str = "cpuset cpu io memory hugetlb pids";

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

fn manager(t: &TempDir) -> V2Manager {
    V2Manager::with_root(t.path().to_path_buf(), Path::new("/pod/ctr")).unwrap()
}

#[test]
fn add_task_enables_controllers_down_the_path() {
    let t = fake(ALL);
    std::fs::write(t.path().join("cgroup.subtree_control"), "cpu memory").unwrap();
    let m = manager(&t);
    assert!(!m.exists());
    m.add_task(4242).unwrap();
    assert!(m.exists());
    assert_eq!(
        read(t.path().join("cgroup.subtree_control")),
        "+cpuset +io +hugetlb +pids"
    );
    assert_eq!(
        read(t.path().join("pod/cgroup.subtree_control")),
        "+cpuset +cpu +io +memory +hugetlb +pids"
    );
    assert!(!t.path().join("pod/ctr/cgroup.subtree_control").exists());
    assert_eq!(read(t.path().join("pod/ctr/cgroup.procs")), "4242");
}

#[test]
fn apply_maps_every_resource() {
    let t = fake(ALL);
    let m = manager(&t);
    m.apply(&res(json!({
        "memory": {"limit": 104857600, "swap": 157286400, "reservation": 52428800},
        "cpu": {"shares": 1024, "quota": 50000, "period": 200000, "cpus": "0-1", "mems": "0",
                "burst": 1000, "idle": 1},
        "pids": {"limit": 10},
        "blockIO": {"weight": 500,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 7}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"memory.high": "99999999", "pids.max": "11"}
    })))
    .unwrap();
    let d = t.path().join("pod/ctr");
    for (file, want) in [
        ("memory.max", "104857600"),
        ("memory.swap.max", "52428800"),
        ("memory.low", "52428800"),
        ("cpu.weight", "39"),
        ("cpu.max", "50000 200000"),
        ("cpu.max.burst", "1000"),
        ("cpu.idle", "1"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        // The unified map is written last and wins over pids.limit.
        ("pids.max", "11"),
        ("memory.high", "99999999"),
        // The per-device weight is written after the default one; a fake file keeps the last.
        ("io.weight", "8:0 1"),
        // Likewise the last io.max line (devices in order) remains.
        ("io.max", "8:16 wiops=7"),
        ("hugetlb.2MB.max", "4194304"),
    ] {
        assert_eq!(read(d.join(file)), want, "{file}");
    }
}

#[test]
fn io_writes_one_line_per_device_and_converted_weights() {
    let r = res(json!({"blockIO": {
        "weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2000}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 4},
                                    {"major": 8, "minor": 16, "rate": 7}]
    }}));
    let w = |f: &str, v: &str| crate::fs::Write::file(f, v);
    assert_eq!(
        io::writes(&r).unwrap(),
        vec![
            w("io.weight", "4950"),
            w("io.weight", "8:0 10000"),
            w("io.max", "8:0 rbps=1000 wbps=2000 riops=3 wiops=4"),
            w("io.max", "8:16 wiops=7"),
        ]
    );
}

#[test]
fn weight_conversions_match_runc() {
    assert_eq!(cpu::shares_to_weight(2), 1);
    assert_eq!(cpu::shares_to_weight(1024), 39);
    assert_eq!(cpu::shares_to_weight(262_144), 10_000);
    assert_eq!(cpu::shares_to_weight(1), 1);
    assert_eq!(io::blkio_to_io_weight(10).unwrap(), 1);
    assert_eq!(io::blkio_to_io_weight(500).unwrap(), 4950);
    assert_eq!(io::blkio_to_io_weight(1000).unwrap(), 10_000);
    assert!(io::blkio_to_io_weight(5).is_err());
}

#[test]
fn unlimited_values_become_max() {
    let t = fake(ALL);
    let m = manager(&t);
    m.apply(&res(json!({
        "memory": {"limit": -1, "reservation": -1},
        "cpu": {"quota": -1},
        "pids": {"limit": 0},
        "hugepageLimits": [{"pageSize": "1GB", "limit": -1}]
    })))
    .unwrap();
    let d = t.path().join("pod/ctr");
    for (file, want) in [
        ("memory.max", "max"),
        // Unlimited memory with swap unset means unlimited swap, as on v1.
        ("memory.swap.max", "max"),
        ("memory.low", "max"),
        ("cpu.max", "max 100000"),
        ("pids.max", "max"),
        ("hugetlb.1GB.max", "max"),
    ] {
        assert_eq!(read(d.join(file)), want, "{file}");
    }
}

#[test]
fn swap_arithmetic_edge_cases() {
    let swap = |limit: i64, swap: i64| {
        let t = fake(ALL);
        let r = manager(&t).apply(&res(json!({"memory": {"limit": limit, "swap": swap}})));
        r.map(|()| std::fs::read_to_string(t.path().join("pod/ctr/memory.swap.max")).ok())
    };
    assert_eq!(swap(100, 300).unwrap().as_deref(), Some("200"));
    assert_eq!(swap(100, 100).unwrap().as_deref(), Some("0"));
    assert_eq!(swap(100, -1).unwrap().as_deref(), Some("max"));
    assert_eq!(swap(100, 0).unwrap(), None);
    assert!(matches!(swap(100, 50), Err(Error::Invalid { .. })));
    assert!(matches!(swap(-1, 50), Err(Error::Invalid { .. })));
    assert!(matches!(swap(0, 50), Err(Error::Invalid { .. })));
}

#[test]
fn missing_controller_is_named() {
    let t = fake("cpu memory");
    let m = manager(&t);
    let err = m.apply(&res(json!({"pids": {"limit": 5}}))).unwrap_err();
    assert!(
        matches!(&err, Error::ControllerMissing(c) if c == "pids"),
        "{err}"
    );
    let err = m
        .apply(&res(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}),
        ))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ControllerMissing(c) if c == "hugetlb"),
        "{err}"
    );
    // Only what is available was enabled on the way down.
    assert_eq!(
        read(t.path().join("cgroup.subtree_control")),
        "+cpu +memory"
    );
    // An empty resource block asks for nothing and needs no controller.
    m.apply(&res(json!({"pids": null, "memory": {}}))).unwrap();
}

#[test]
fn invalid_requests_are_rejected() {
    let t = fake(ALL);
    let m = manager(&t);
    for r in [
        json!({"cpu": {"realtimeRuntime": 1000}}),
        json!({"unified": {"../escape": "1"}}),
        json!({"unified": {"a/b": "1"}}),
    ] {
        assert!(
            matches!(m.apply(&res(r.clone())), Err(Error::Invalid { .. })),
            "{r}"
        );
    }
    assert!(!t.path().join("escape").exists());
}

#[test]
fn freeze_waits_for_cgroup_events() {
    let t = fake(ALL);
    let m = manager(&t);
    m.add_task(1).unwrap();
    let d = t.path().join("pod/ctr");
    std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(read(d.join("cgroup.freeze")), "1");
    assert!(m.stats().unwrap().frozen);
    std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(read(d.join("cgroup.freeze")), "0");
}

#[test]
fn stats_read_v2_files_and_tolerate_missing_ones() {
    let t = fake(ALL);
    let m = manager(&t);
    m.add_task(1).unwrap();
    assert_eq!(m.stats().unwrap(), Stats::default());
    let d = t.path().join("pod/ctr");
    for (file, text) in [
        ("memory.current", "1234\n"),
        ("memory.max", "max\n"),
        ("memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n"),
        ("pids.current", "3\n"),
        ("pids.max", "10\n"),
        ("cpu.stat", "usage_usec 1500\nuser_usec 1000\n"),
        ("cgroup.events", "populated 1\nfrozen 0\n"),
        (
            "io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        ),
    ] {
        std::fs::write(d.join(file), text).unwrap();
    }
    let s = m.stats().unwrap();
    assert_eq!(
        s,
        Stats {
            memory_usage: 1234,
            memory_limit: None,
            oom_kill_count: 2,
            pids_current: 3,
            pids_limit: Some(10),
            cpu_usage_ns: 1_500_000,
            frozen: false,
            cpu_user_ns: 1_000_000,
            io_bytes: vec![
                IoEntry {
                    major: 8,
                    minor: 0,
                    op: "read".into(),
                    value: 10,
                },
                IoEntry {
                    major: 8,
                    minor: 0,
                    op: "write".into(),
                    value: 20,
                },
            ],
            io_ops: vec![
                IoEntry {
                    major: 8,
                    minor: 0,
                    op: "read".into(),
                    value: 1,
                },
                IoEntry {
                    major: 8,
                    minor: 0,
                    op: "write".into(),
                    value: 2,
                },
            ],
            ..Stats::default()
        }
    );
}

#[test]
fn get_all_pids_is_recursive() {
    let t = fake(ALL);
    let m = manager(&t);
    assert!(m.get_all_pids().unwrap().is_empty());
    m.add_task(10).unwrap();
    let sub = t.path().join("pod/ctr/sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("cgroup.procs"), "11\n12\n").unwrap();
    let mut pids = m.get_all_pids().unwrap();
    pids.sort();
    assert_eq!(pids, [10, 11, 12]);
}

fn rule(
    allow: bool,
    kind: char,
    major: Option<u32>,
    minor: Option<u32>,
    access: u32,
) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major,
        minor,
        access,
    }
}

const fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

const PROLOGUE: [Insn; 6] = [
    i(0x61, 2, 1, 0, 0),
    i(0x54, 2, 0, 0, 0xffff),
    i(0x61, 3, 1, 0, 0),
    i(0x74, 3, 0, 0, 16),
    i(0x61, 4, 1, 4, 0),
    i(0x61, 5, 1, 8, 0),
];
const DENY: [Insn; 2] = [i(0xb7, 0, 0, 0, 0), i(0x95, 0, 0, 0, 0)];
const ALLOW: [Insn; 2] = [i(0xb7, 0, 0, 0, 1), i(0x95, 0, 0, 0, 0)];

#[test]
fn emitter_last_rule_first_and_stops_after_catch_all() {
    // deny all, then allow c 1:3 rwm: the allow block comes first, the catch-all deny ends
    // the program (no unreachable default after it).
    let prog = compile(&[
        rule(false, 'a', None, None, ACC_ALL),
        rule(true, 'c', Some(1), Some(3), ACC_ALL),
    ]);
    let mut want = PROLOGUE.to_vec();
    want.extend([
        i(0x55, 2, 0, 4, 2),
        i(0x55, 4, 0, 3, 1),
        i(0x55, 5, 0, 2, 3),
    ]);
    want.extend(ALLOW);
    want.extend(DENY);
    assert_eq!(prog, want);
}

#[test]
fn emitter_access_checks_and_default_deny() {
    // allow c *:* m (mknod any char device), deny b 8:* w.
    let prog = compile(&[
        rule(true, 'c', None, None, ACC_MKNOD),
        rule(false, 'b', Some(8), None, ACC_WRITE),
    ]);
    let mut want = PROLOGUE.to_vec();
    // deny b 8:* w: type, overlap with w, major.
    want.extend([
        i(0x55, 2, 0, 6, 1),
        i(0xbc, 1, 3, 0, 0),
        i(0x54, 1, 0, 0, 4),
        i(0x15, 1, 0, 3, 0),
        i(0x55, 4, 0, 2, 8),
    ]);
    want.extend(DENY);
    // allow c *:* m: type, requested ⊆ m.
    want.extend([
        i(0x55, 2, 0, 5, 2),
        i(0xbc, 1, 3, 0, 0),
        i(0x54, 1, 0, 0, 1),
        i(0x5d, 1, 3, 2, 0),
    ]);
    want.extend(ALLOW);
    want.extend(DENY);
    assert_eq!(prog, want);
    let mut empty = PROLOGUE.to_vec();
    empty.extend(DENY);
    assert_eq!(compile(&[]), empty);
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

#[test]
fn emitted_programs_pass_the_verifier() {
    if !is_root() {
        eprintln!("skipping: BPF_PROG_LOAD needs root");
        return;
    }
    for rules in [
        vec![],
        vec![rule(true, 'a', None, None, ACC_ALL)],
        vec![
            rule(false, 'a', None, None, ACC_ALL),
            rule(true, 'c', None, None, ACC_MKNOD),
            rule(true, 'c', Some(1), Some(3), ACC_ALL),
            rule(false, 'c', Some(1), Some(5), ACC_WRITE),
            rule(true, 'b', Some(8), None, ACC_READ),
        ],
    ] {
        devices_ebpf::load(&compile(&rules)).unwrap();
    }
}

/// Runs `sh -c script` inside the cgroup whose cgroup.procs is `procs`; true if it succeeded.
fn run_in(procs: &Path, script: &str) -> bool {
    use std::os::unix::process::CommandExt;
    let procs = std::ffi::CString::new(procs.as_os_str().as_encoded_bytes()).unwrap();
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", script]);
    // SAFETY: only async-signal-safe calls (open, write, close) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    cmd.output().unwrap().status.success()
}

/// Removes a real cgroup directory even when an assertion fails.
struct RmdirGuard(PathBuf);

impl Drop for RmdirGuard {
    fn drop(&mut self) {
        let _ = crate::fs::remove_tree(&self.0);
    }
}

#[test]
fn device_filter_is_enforced_and_replaced_in_the_unified_hierarchy() {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !is_root() || !unified.join("cgroup.procs").exists() {
        eprintln!(
            "skipping: needs root and a cgroup2 hierarchy at {}",
            unified.display()
        );
        return;
    }
    let m = V2Manager::with_root(
        unified.to_path_buf(),
        Path::new(&format!("/berth-ebpf-{}", std::process::id())),
    )
    .unwrap();
    std::fs::create_dir(m.dir()).unwrap();
    let _guard = RmdirGuard(m.dir().to_path_buf());
    let procs = m.dir().join("cgroup.procs");
    let devices = |v| res(json!({ "devices": v }));
    // Not via apply(): that would enable controllers in the host's unified root.
    let rules = |v| -> Vec<DeviceRule> {
        devices(v)
            .devices()
            .iter()
            .flatten()
            .map(|d| DeviceRule::from_oci(d).unwrap())
            .collect()
    };
    devices_ebpf::apply(
        m.dir(),
        &rules(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "w"}
        ])),
    )
    .unwrap();
    assert!(run_in(&procs, "echo x > /dev/null"), "/dev/null allowed");
    assert!(
        run_in(&procs, "head -c1 /dev/zero >/dev/null"),
        "read /dev/zero allowed"
    );
    assert!(
        !run_in(&procs, "echo x > /dev/zero"),
        "write /dev/zero denied by last rule"
    );
    assert!(
        !run_in(&procs, "head -c1 /dev/urandom"),
        "/dev/urandom not listed"
    );
    // Re-applying replaces the program instead of stacking a second one.
    devices_ebpf::apply(m.dir(), &rules(json!([{"allow": true, "access": "rwm"}]))).unwrap();
    assert!(
        run_in(&procs, "head -c1 /dev/urandom >/dev/null"),
        "allow-all replaced rules"
    );
    // Freezing works in the v2 core even without controllers.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(&procs, child.id().to_string()).unwrap();
    m.freeze(FreezerState::Frozen).unwrap();
    assert!(m.stats().unwrap().frozen);
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(m.get_all_pids().unwrap(), [child.id() as i32]);
    child.kill().unwrap();
    child.wait().unwrap();
    m.remove().unwrap();
    assert!(!m.exists());
}

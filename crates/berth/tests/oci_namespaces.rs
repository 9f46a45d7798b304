//! Namespaces: pid, uts, mount, network, ipc, cgroup, joining by path, user, time.
mod common;
use common::*;
use serde_json::json;

#[test]
fn pid_namespace_init_is_pid1() {
    for rt in runtimes() {
        let mut b = rt.bundle();
        b.sh("echo $$");
        let o = rt.run(&b, &rt.id("pidns"));
        assert_ok(rt.kind, "run", &o);
        assert_eq!(stdout(&o).trim(), "1", "{}: {}", rt.kind, show(&o));
    }
}

#[test]
fn hostname_from_config() {
    for rt in runtimes() {
        let mut b = rt.bundle();
        b.set("/hostname", json!("berth-host-xyz"));
        b.args(&["hostname"]);
        let o = rt.run(&b, &rt.id("uts"));
        assert_ok(rt.kind, "run", &o);
        assert_eq!(
            stdout(&o).trim(),
            "berth-host-xyz",
            "{}: {}",
            rt.kind,
            show(&o)
        );
    }
}

#[test]
fn mount_namespace_root_is_rootfs() {
    let host_mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["cat", "/proc/self/mountinfo"]);
        let o = rt.run(&b, &rt.id("mnt"));
        assert_ok(k, "run", &o);
        let mi = stdout(&o);
        assert_ne!(mi, host_mi, "{k}: container mountinfo equals host's");
        // The line whose mount point is "/" must have its root at the bundle's
        // rootfs (bind of the rootfs dir, so the root field ends with /rootfs),
        // and the host's /proc etc. must not appear at their host paths.
        let root_line = mi
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some("/"))
            .unwrap_or_else(|| panic!("{k}: no / mount in {mi}"));
        let root_field = root_line.split_whitespace().nth(3).unwrap();
        assert!(
            root_field.ends_with("/rootfs"),
            "{k}: / is not the rootfs: {root_line}\n{mi}"
        );
        assert!(
            !mi.lines().any(|l| l
                .split_whitespace()
                .nth(4)
                .is_some_and(|m| m.contains(b.path_str()))),
            "{k}: bundle path visible as a mount point inside: {mi}"
        );
    }
}

#[test]
fn network_namespace_only_lo() {
    for rt in runtimes() {
        let mut b = rt.bundle();
        b.args(&["ls", "/sys/class/net"]);
        let o = rt.run(&b, &rt.id("net"));
        assert_ok(rt.kind, "run", &o);
        let ifs: Vec<_> = stdout(&o).split_whitespace().map(String::from).collect();
        assert_eq!(ifs, vec!["lo".to_string()], "{}: {}", rt.kind, show(&o));
    }
}

#[test]
fn namespaces_distinct_from_host() {
    for rt in runtimes() {
        let k = rt.kind;
        let kinds = ["ipc", "uts", "cgroup", "net", "mnt", "pid"];
        let mut b = rt.bundle();
        let script: String = kinds
            .iter()
            .map(|n| format!("readlink /proc/self/ns/{n};"))
            .collect();
        b.sh(&script);
        let o = rt.run(&b, &rt.id("nsx"));
        assert_ok(k, "run", &o);
        let inside: Vec<_> = stdout(&o).lines().map(String::from).collect();
        assert_eq!(inside.len(), kinds.len(), "{k}: {}", show(&o));
        for (n, l) in kinds.iter().zip(&inside) {
            assert!(l.starts_with(&format!("{n}:[")), "{k}: bad readlink {l}");
            assert_ne!(*l, host_ns(n), "{k}: {n} namespace shared with host");
        }
    }
}

#[test]
fn cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    // Inside its own cgroup namespace a container sees its cgroup as "/", and a cgroupfs mount
    // shows that cgroup's files, not the runtime's cgroup with the container below it. The init
    // makes the namespace at different times with and without a cgroupfs mount: check both.
    for rt in runtimes() {
        let k = rt.kind;
        for with_cgroupfs in [true, false] {
            let mut b = rt.bundle();
            if !with_cgroupfs {
                b.edit(|c| {
                    c["mounts"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|m| m["type"] != "cgroup")
                });
            }
            b.sh(
                "cat /proc/self/cgroup; test -d /sys/fs/cgroup/pids || exit 0; \
                 ls /sys/fs/cgroup/pids; find /sys/fs/cgroup/pids -mindepth 1 -type d",
            );
            let o = rt.run(&b, &rt.id("cgns"));
            assert_ok(k, "run", &o);
            let out = stdout(&o);
            let lines: Vec<&str> = out.lines().collect();
            let cgroup_lines: Vec<&&str> = lines
                .iter()
                .take_while(|l| l.split(':').count() >= 3 && l.contains(":/"))
                .collect();
            assert!(!cgroup_lines.is_empty(), "{k}: {}", show(&o));
            for line in &cgroup_lines {
                assert!(
                    line.ends_with(":/"),
                    "{k} (cgroupfs {with_cgroupfs}): {line}\n{out}"
                );
            }
            if with_cgroupfs {
                let files = &lines[cgroup_lines.len()..];
                assert!(files.contains(&"pids.max"), "{k}: {out}");
                assert!(
                    !files.iter().any(|f| f.starts_with('/')),
                    "{k}: the container's pids cgroup shows child cgroups: {out}"
                );
            }
        }
    }
}

#[test]
fn host_namespace_when_not_requested() {
    // Without a uts entry the container shares the host's uts namespace.
    for rt in runtimes() {
        let mut b = rt.bundle();
        b.remove_namespace("uts");
        b.edit(|c| {
            c.as_object_mut().unwrap().remove("hostname");
        });
        b.args(&["readlink", "/proc/self/ns/uts"]);
        let o = rt.run(&b, &rt.id("hostuts"));
        assert_ok(rt.kind, "run", &o);
        assert_eq!(
            stdout(&o).trim(),
            host_ns("uts"),
            "{}: {}",
            rt.kind,
            show(&o)
        );
    }
}

#[test]
fn join_network_namespace_by_path() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut a = rt.bundle();
        a.args(&["sleep", "100"]);
        let ida = rt.id("nsA");
        let pid = rt.create_start(&a, &ida);
        let a_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();

        let mut b = rt.bundle();
        b.add_namespace(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
        b.args(&["readlink", "/proc/self/ns/net"]);
        let o = rt.run(&b, &rt.id("nsB"));
        assert_ok(k, "run joining netns", &o);
        assert_eq!(
            stdout(&o).trim(),
            a_net.to_string_lossy(),
            "{k}: {}",
            show(&o)
        );
        assert_ne!(stdout(&o).trim(), host_ns("net"), "{k}: joined host netns");
    }
}

#[test]
fn user_namespace_mapping() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.add_namespace(json!({"type": "user"}));
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map);
        // Keep the bundle minimal: cgroup v1 hierarchies cannot be mounted
        // from inside a user namespace, so drop the /sys/fs/cgroup mount.
        b.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/sys/fs/cgroup")
        });
        b.sh("id -u; id -g; sleep 100");
        let id = rt.id("userns");
        let pid = rt.create_start(&b, &id);
        let log = b.dir.join(format!("create-{id}.log"));
        assert!(
            wait_until(std::time::Duration::from_secs(5), || {
                std::fs::read_to_string(&log)
                    .map(|t| t.lines().count() >= 2)
                    .unwrap_or(false)
            }),
            "{k}: no id output: {:?}",
            std::fs::read_to_string(&log)
        );
        let out = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            out.lines().take(2).collect::<Vec<_>>(),
            vec!["0", "0"],
            "{k}: id inside: {out}"
        );
        let uid = proc_status_field(pid, "Uid").unwrap_or_default();
        assert_eq!(
            uid.split_whitespace().next(),
            Some("100000"),
            "{k}: host view of Uid: {uid}"
        );
        let gid = proc_status_field(pid, "Gid").unwrap_or_default();
        assert_eq!(
            gid.split_whitespace().next(),
            Some("100000"),
            "{k}: host view of Gid: {gid}"
        );
        assert_ne!(
            std::fs::read_link(format!("/proc/{pid}/ns/user"))
                .unwrap()
                .to_string_lossy(),
            host_ns("user"),
            "{k}: user ns shared"
        );
        // exec joins the user namespace too: root inside, the mapped uid outside.
        let o = rt.exec(&id, &["sh", "-c", "id -u; cat /proc/self/uid_map"]);
        assert_ok(k, "exec in a user namespace", &o);
        let out = stdout(&o);
        assert_eq!(out.lines().next(), Some("0"), "{k}: exec id: {}", show(&o));
        assert!(out.contains("100000"), "{k}: exec uid_map: {}", show(&o));
    }
}

/// A container joining another's user (and pid) namespace by path and making its own network,
/// mount and uts namespaces: they belong to the joined user namespace (the runtime joins first,
/// then creates), so its hostname is set and sysfs, which needs that, mounts inside.
#[test]
fn new_network_namespace_belongs_to_joined_user_namespace() {
    for rt in runtimes() {
        let k = rt.kind;
        let without_cgroupfs = |c: &mut serde_json::Value| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/sys/fs/cgroup")
        };
        let mut a = rt.bundle();
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        a.add_namespace(json!({"type": "user"}));
        a.set("/linux/uidMappings", map.clone());
        a.set("/linux/gidMappings", map.clone());
        a.edit(without_cgroupfs);
        a.args(&["sleep", "100"]);
        let pid_a = rt.create_start(&a, &rt.id("usernsA"));

        let mut b = rt.bundle();
        b.add_namespace(json!({"type": "user", "path": format!("/proc/{pid_a}/ns/user")}));
        b.add_namespace(json!({"type": "pid", "path": format!("/proc/{pid_a}/ns/pid")}));
        // runc wants the joined namespace's maps restated.
        b.set("/linux/uidMappings", map.clone());
        b.set("/linux/gidMappings", map);
        b.edit(without_cgroupfs);
        b.args(&["sleep", "100"]);
        let pid_b = rt.create_start(&b, &rt.id("usernsB"));
        assert_ne!(
            std::fs::read_link(format!("/proc/{pid_b}/ns/net"))
                .unwrap()
                .to_string_lossy(),
            host_ns("net"),
            "{k}: no network namespace of its own"
        );
        for kind in ["net", "uts", "mnt"] {
            assert_eq!(
                owner_inode(&format!("/proc/{pid_b}/ns/{kind}")),
                inode(&format!("/proc/{pid_a}/ns/user")),
                "{k}: the new {kind} namespace is not owned by the joined user namespace"
            );
        }
    }
}

/// The inode of the user namespace that owns namespace `path` (ioctl NS_GET_USERNS).
fn owner_inode(path: &str) -> u64 {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    let ns = std::fs::File::open(path).unwrap();
    // SAFETY: the ioctl returns a new descriptor, which we own, or -1.
    let owner = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_USERNS as _) };
    assert!(
        owner >= 0,
        "NS_GET_USERNS on {path}: {}",
        std::io::Error::last_os_error()
    );
    let owner = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(owner) });
    std::os::unix::fs::MetadataExt::ino(&owner.metadata().unwrap())
}

fn inode(path: &str) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
}

/// berth-only: runc 1.1.5 has no time namespace support (linux.timeOffsets
/// and the "time" namespace type arrived in runc 1.2).
#[test]
fn time_namespace_offsets() {
    let host_up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for rt in berth_only() {
        let k = rt.kind;
        let mut b = rt.bundle();
        let shift = 86400 * 30;
        b.add_namespace(json!({"type": "time"}));
        b.set(
            "/linux/timeOffsets",
            json!({"monotonic": {"secs": shift, "nanosecs": 0}, "boottime": {"secs": shift, "nanosecs": 0}}),
        );
        b.args(&["cat", "/proc/uptime"]);
        let o = rt.run(&b, &rt.id("timens"));
        assert_ok(k, "run", &o);
        let up: f64 = stdout(&o)
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        assert!(
            up >= host_up + shift as f64 - 5.0,
            "{k}: uptime {up} not shifted (host {host_up}): {}",
            show(&o)
        );
    }
}

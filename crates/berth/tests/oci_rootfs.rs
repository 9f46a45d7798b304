//! Rootfs setup: masked and read-only paths, readonly root, bind/tmpfs
//! mounts, sysctl, devices.
mod common;
use common::*;
use serde_json::json;

#[test]
fn masked_files_read_empty() {
    // /proc/kcore does not exist on every host (it is absent on the CI host);
    // when it is missing the runtime must skip it, when present it reads
    // empty. /proc/timer_list and /proc/keys exist and are non-empty on the
    // host, so they are the real check.
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.sh("for f in /proc/kcore /proc/timer_list /proc/keys; do \
              if [ -e $f ]; then echo \"$f $(cat $f | wc -c)\"; else echo \"$f absent\"; fi; done");
        let o = rt.run(&b, &rt.id("mask"));
        assert_ok(k, "run", &o);
        for l in stdout(&o).lines() {
            let (f, v) = l.split_once(' ').unwrap();
            assert!(
                v == "0" || (v == "absent" && !std::path::Path::new(f).exists()),
                "{k}: masked {f}: {v}\n{}",
                show(&o)
            );
        }
        assert_eq!(stdout(&o).lines().count(), 3, "{k}: {}", show(&o));
    }
}

#[test]
fn masked_dirs_are_empty() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        // /etc is non-empty in the bundle rootfs (passwd, group).
        b.config["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/etc"));
        b.sh("ls -A /proc/acpi | wc -l; ls -A /etc | wc -l; ls -A /sys/firmware | wc -l; touch /etc/x 2>&1 && echo WROTE; true");
        let o = rt.run(&b, &rt.id("maskd"));
        assert_ok(k, "run", &o);
        let lines: Vec<_> = stdout(&o)
            .lines()
            .map(str::trim)
            .map(String::from)
            .collect();
        assert_eq!(
            &lines[..3],
            &["0", "0", "0"],
            "{k}: masked dirs not empty: {}",
            show(&o)
        );
        assert!(
            !stdout(&o).contains("WROTE"),
            "{k}: masked dir writable: {}",
            show(&o)
        );
        assert!(
            b.rootfs.join("etc/passwd").exists(),
            "{k}: masking touched the rootfs"
        );
    }
}

#[test]
fn readonly_paths_refuse_writes() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        // Give CAP_SYS_ADMIN so the failure can only come from the ro mount.
        for set in ["bounding", "effective", "permitted"] {
            b.config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
        b.sh("echo foo > /proc/sys/kernel/domainname");
        let o = rt.run(&b, &rt.id("rop"));
        assert_fail(k, "write to /proc/sys", &o);
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{k}: {}",
            show(&o)
        );
    }
}

#[test]
fn readonly_root() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/root/readonly", json!(true));
        b.sh("touch /x");
        let o = rt.run(&b, &rt.id("roroot"));
        assert_fail(k, "touch on ro root", &o);
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{k}: {}",
            show(&o)
        );
        assert!(!b.rootfs.join("x").exists(), "{k}: /x created in rootfs");
        // /tmp etc. from the mounts list stay writable.
        let mut b = rt.bundle();
        b.set("/root/readonly", json!(true));
        b.sh("touch /dev/shm/x && echo ok");
        let o = rt.run(&b, &rt.id("roroot2"));
        assert_ok(k, "touch /dev/shm on ro root", &o);
    }
}

#[test]
fn bind_mount_readonly() {
    for rt in runtimes() {
        let k = rt.kind;
        let h = rt.tempdir();
        std::fs::write(h.join("hello"), "from-host\n").unwrap();
        let mut b = rt.bundle();
        b.bind(&h, "/mnt/h", &["ro"]);
        b.sh("cat /mnt/h/hello; touch /mnt/h/new");
        let o = rt.run(&b, &rt.id("bindro"));
        assert_fail(k, "touch in ro bind", &o);
        assert_eq!(stdout(&o), "from-host\n", "{k}: {}", show(&o));
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{k}: {}",
            show(&o)
        );
        assert!(!h.join("new").exists(), "{k}: file created through ro bind");
    }
}

#[test]
fn bind_mount_readwrite() {
    for rt in runtimes() {
        let k = rt.kind;
        let h = rt.tempdir();
        let mut b = rt.bundle();
        b.bind(&h, "/mnt/h", &["rw"]);
        b.sh("echo inside > /mnt/h/new");
        let o = rt.run(&b, &rt.id("bindrw"));
        assert_ok(k, "write in rw bind", &o);
        assert_eq!(
            std::fs::read_to_string(h.join("new")).unwrap_or_default(),
            "inside\n",
            "{k}"
        );
    }
}

#[test]
fn tmpfs_mount_with_size() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.add_mount(
            json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "nodev", "size=1m"]}),
        );
        b.sh("df -k /mnt/t | tail -n 1; grep ' /mnt/t ' /proc/mounts; dd if=/dev/zero of=/mnt/t/f bs=1k count=2048");
        let o = rt.run(&b, &rt.id("tmpfs"));
        let out = stdout(&o);
        let total = out
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("");
        assert_eq!(total, "1024", "{k}: tmpfs size: {}", show(&o));
        assert!(out.contains("tmpfs /mnt/t tmpfs"), "{k}: {}", show(&o));
        assert_fail(k, "writing 2 MiB into a 1 MiB tmpfs", &o);
        assert!(stderr(&o).contains("No space left"), "{k}: {}", show(&o));
    }
}

#[test]
fn sysctl_in_netns() {
    for rt in runtimes() {
        let k = rt.kind;
        let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        let mut b = rt.bundle();
        b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
        b.args(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
        let o = rt.run(&b, &rt.id("sysctl"));
        assert_ok(k, "run", &o);
        assert_eq!(stdout(&o).trim(), "1", "{k}: {}", show(&o));
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            host,
            "{k}: host sysctl changed"
        );
    }
}

const FUSE: (u32, u32) = (10, 229);

fn fuse_node(b: &mut Bundle, allow: bool) {
    b.set(
        "/linux/devices",
        json!([{"path": "/dev/fuse", "type": "c", "major": FUSE.0, "minor": FUSE.1, "fileMode": 438, "uid": 0, "gid": 0},
               {"path": "/dev/test", "type": "c", "major": 1, "minor": 3, "fileMode": 432, "uid": 0, "gid": 0}]),
    );
    if allow {
        b.config["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": FUSE.0, "minor": FUSE.1, "access": "rwm"}));
    }
}

#[test]
fn linux_devices_entry() {
    if !std::path::Path::new("/dev/fuse").exists() {
        skip("host has no /dev/fuse (10:229) to open");
        return;
    }
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        fuse_node(&mut b, true);
        b.sh("stat -c '%F %t %T %a' /dev/fuse /dev/test; echo x > /dev/test && exec 3<>/dev/fuse && echo opened");
        let o = rt.run(&b, &rt.id("dev"));
        assert_ok(k, "run", &o);
        // stat %t/%T print major/minor in hex: 10 -> a, 229 -> e5.
        assert_eq!(
            stdout(&o),
            "character special file a e5 666\ncharacter special file 1 3 660\nopened\n",
            "{k}: {}",
            show(&o)
        );
    }
}

#[test]
fn device_cgroup_denies_unlisted() {
    if !std::path::Path::new("/dev/fuse").exists() {
        skip("host has no /dev/fuse (10:229) to open");
        return;
    }
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        // The node exists, but the device cgroup (deny-all base) does not allow it.
        fuse_node(&mut b, false);
        b.sh("exec 3<>/dev/fuse && echo opened");
        let o = rt.run(&b, &rt.id("devdeny"));
        assert_fail(k, "open of a device the cgroup denies", &o);
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{k}: {}",
            show(&o)
        );
    }
}

#[test]
fn default_devices_and_links() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.sh("echo x > /dev/null && head -c 5 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && \
              readlink /dev/fd && readlink /dev/stdin && readlink /dev/ptmx && \
              for d in null zero full random urandom tty; do stat -c '%n %F' /dev/$d; done");
        let o = rt.run(&b, &rt.id("ddev"));
        assert_ok(k, "run", &o);
        let out = stdout(&o);
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(
            &lines[..5],
            &["5", "4", "/proc/self/fd", "/proc/self/fd/0", "pts/ptmx"],
            "{k}: {}",
            show(&o)
        );
        for d in ["null", "zero", "full", "random", "urandom", "tty"] {
            assert!(
                out.contains(&format!("/dev/{d} character special file")),
                "{k}: /dev/{d}: {}",
                show(&o)
            );
        }
    }
}

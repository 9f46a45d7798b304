//! Security options through the real docker CLI: capabilities, the default seccomp profile
//! and custom ones, --privileged, no-new-privileges, devices, groups, namespace modes,
//! sysctls and --init.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Daemon, text};

#[test]
fn cap_drop_net_raw_stops_ping() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "127.0.0.1",
    ]);
    let out = d.docker(&[
        "run",
        "--rm",
        "--cap-drop",
        "net_raw",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "127.0.0.1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );
    // ALL and adding back, with or without CAP_.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_NET_RAW",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(
        out.split_whitespace().nth(1),
        Some("0000000000002000"),
        "{out}"
    );
    let out = d.docker(&["create", "--cap-add", "NOT_A_CAP", "busybox", "true"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown capability") && err.contains("NOT_A_CAP"),
        "{err}"
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn default_seccomp_blocks_unshare_and_unconfined_allows_it() {
    let d = Daemon::with_busybox();
    let out = d.docker(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{}",
        text(&out.stderr)
    );
    d.docker_ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    // A profile file in Docker's format.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "mkdir",
        "/x",
    ]);
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker(&[
        "create",
        "--security-opt",
        "seccomp={broken",
        "busybox",
        "true",
    ]);
    assert!(
        text(&out.stderr).contains("seccomp"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn privileged_and_no_new_privileges() {
    let d = Daemon::with_busybox();
    let out = d.docker_ok(&[
        "run", "--rm", "--privileged", "busybox", "sh", "-c",
        "grep -E 'CapEff|Seccomp:' /proc/self/status; mount -t tmpfs t /tmp && echo mounted; ls /dev | grep -c . ; grep -c ' /proc/kcore ' /proc/1/mountinfo; true",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("CapEff:") && lines[0].contains("1ff"),
        "{out}"
    );
    assert!(lines[1].contains("Seccomp:\t0"), "{out}");
    assert_eq!(lines[2], "mounted", "{out}");
    assert!(lines[3].parse::<u32>().unwrap() > 15, "host devices: {out}");
    assert_eq!(lines[4], "0", "no masked paths: {out}");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "-E",
        "Seccomp:|NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(
        out.contains("NoNewPrivs:\t0") && out.contains("Seccomp:\t2"),
        "{out}"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
}

#[test]
fn devices_groups_and_sysctls() {
    let d = Daemon::with_busybox();
    let out = d.docker_ok(&[
        "run", "--rm", "--device", "/dev/fuse:/dev/f:r", "--group-add", "staff", "--group-add", "1234",
        "--sysctl", "kernel.msgmax=12345", "busybox", "sh", "-c",
        "stat -c '%t:%T' /dev/f; true < /dev/f && echo readable; (echo x > /dev/f) 2>/dev/null || echo write-refused; id -G; cat /proc/sys/kernel/msgmax",
    ]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["a:e5", "readable", "write-refused", "0 50 1234", "12345"],
        "{out}"
    );
    // Without the device rule the node cannot be opened at all.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mknod /dev/f c 10 229; (true < /dev/f) 2>/dev/null || echo refused",
    ]);
    assert_eq!(out.trim(), "refused");
    let out = d.docker(&["create", "--device", "/nonexistent-dev", "busybox", "true"]);
    assert!(
        text(&out.stderr).contains("/nonexistent-dev"),
        "{}",
        text(&out.stderr)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--group-add",
        "nogroup-here",
        "busybox",
        "true",
    ]);
    assert!(
        text(&out.stderr).contains("Unable to find group nogroup-here"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn namespace_modes() {
    let d = Daemon::with_busybox();
    let ns = |kind: &str| {
        std::fs::read_link(format!("/proc/self/ns/{kind}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--pid",
        "host",
        "--ipc",
        "host",
        "--uts",
        "host",
        "busybox",
        "sh",
        "-c",
        "for n in pid ipc uts; do readlink /proc/self/ns/$n; done; hostname",
    ]);
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, [ns("pid"), ns("ipc"), ns("uts"), host], "{out}");
    // cgroup namespaces: the host's by default on this v1 host, a private one when asked.
    let out = d.docker_ok(&["run", "--rm", "busybox", "readlink", "/proc/self/ns/cgroup"]);
    assert_eq!(out.trim(), ns("cgroup"));
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--cgroupns",
        "private",
        "busybox",
        "readlink",
        "/proc/self/ns/cgroup",
    ]);
    assert_ne!(out.trim(), ns("cgroup"));
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "60",
    ]);
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "donor"]);
    let donor_ipc = std::fs::read_link(format!("/proc/{}/ns/ipc", pid.trim())).unwrap();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        "--pid",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc; ps -o comm | grep -c sleep",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], donor_ipc.to_string_lossy(), "{out}");
    assert_eq!(lines[1], "1", "the donor's sleep is visible: {out}");
    for (args, msg) in [
        (
            &["--uts", "host", "-h", "named"][..],
            "Conflicting options: hostname and the UTS mode",
        ),
        (&["--ipc", "sideways"], "invalid IPC mode"),
        (
            &["--cgroup-parent", "elsewhere"],
            "--cgroup-parent is not supported by berth yet",
        ),
    ] {
        let mut a = vec!["create"];
        a.extend_from_slice(args);
        a.extend(["busybox", "true"]);
        let out = d.docker(&a);
        assert!(
            text(&out.stderr).contains(msg),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // The docker CLI checks --userns itself: through the API.
    let (code, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"UsernsMode":"private"}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("user namespace remapping is not supported"),
        "{body}"
    );
    d.docker_ok(&["rm", "-f", "donor"]);
}

/// Zombies among the children of the container's PID 1, read from the host.
fn zombies(d: &Daemon, id: &str) -> usize {
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    let pid = pid.trim();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    children
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| {
                    s.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('Z'))
                })
                .unwrap_or(false)
        })
        .count()
}

#[test]
fn init_reaps_orphaned_zombies() {
    let d = Daemon::with_busybox();
    // PID 1 `sleep` never waits: the orphaned grandchild stays a zombie.
    let script = "sh -c 'sleep 0.2 &'; exec sleep 30";
    let plain = d.docker_ok(&["run", "-d", "busybox", "sh", "-c", script]);
    let with_init = d.docker_ok(&["run", "-d", "--init", "busybox", "sh", "-c", script]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(zombies(&d, plain.trim()), 1);
    assert_eq!(zombies(&d, with_init.trim()), 0);
    let out = d.docker_ok(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"]);
    assert!(out.starts_with("/sbin/docker-init\0--\0cat"), "{out:?}");
    // The init passes the exit status through.
    let out = d.docker(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn berth_cli_security_flags() {
    let d = Daemon::with_busybox();
    let out = d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "NET_RAW",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "127.0.0.1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&["run", "--rm", "--cap-add", "BOGUS", "busybox", "true"]);
    assert!(
        text(&out.stderr).contains("unknown capability: \"BOGUS\""),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(!out.status.success());
    let out = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges",
        "--init",
        "--group-add",
        "50",
        "busybox",
        "sh",
        "-c",
        "unshare -U true && id -G && cat /proc/1/comm && grep NoNewPrivs /proc/self/status",
    ]);
    let s = text(&out.stdout);
    assert_eq!(
        s,
        "0 50\ndocker-init\nNoNewPrivs:\t1\n",
        "{}",
        text(&out.stderr)
    );
}

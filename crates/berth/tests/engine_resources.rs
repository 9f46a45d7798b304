//! Resource limits through the real docker CLI, checked in the container's own cgroup (v1
//! here; the cgroup code handles v2 too) and by what the container can do.

mod daemon_support;

use std::time::{Duration, Instant};

use daemon_support::{Daemon, text};

/// A v1 controller's file for the container (`/sys/fs/cgroup/<ctl>/berth/<id>/<file>`).
fn cgroup_file(id: &str, ctl: &str, file: &str) -> String {
    let p = format!("/sys/fs/cgroup/{ctl}/berth/{id}/{file}");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn full_id(d: &Daemon, name: &str) -> String {
    d.docker_ok(&["inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

#[test]
fn memory_limit_ends_an_allocating_process_with_137_and_oom_killed() {
    let d = Daemon::with_busybox();
    let out = d.docker(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "32m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", text(&out.stderr));
    let state = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}",
        "hog",
    ]);
    assert_eq!(state.trim(), format!("true 137 {}", 32 << 20));
    // A process that stays under the limit is not marked.
    d.docker_ok(&[
        "run", "--name", "calm", "--memory", "32m", "busybox", "true",
    ]);
    let state = d.docker_ok(&["inspect", "-f", "{{.State.OOMKilled}}", "calm"]);
    assert_eq!(state.trim(), "false");
}

#[test]
fn pids_limit_refuses_forks() {
    let d = Daemon::with_busybox();
    let out = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "4",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait",
    ]);
    let err = text(&out.stderr);
    assert!(err.contains("can't fork"), "{err}");
    let ok = d.docker_ok(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "sleep 0 & sleep 0 & wait; echo done",
    ]);
    assert_eq!(ok.trim(), "done");
}

#[test]
fn cpus_hold_a_busy_loop_near_the_quota() {
    let d = Daemon::with_busybox();
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--cpus",
        "0.2",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let id = id.trim();
    assert_eq!(cgroup_file(id, "cpu", "cpu.cfs_quota_us").trim(), "20000");
    assert_eq!(cgroup_file(id, "cpu", "cpu.cfs_period_us").trim(), "100000");
    let usage = || {
        cgroup_file(id, "cpuacct", "cpuacct.usage")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(500));
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (u1, t1) = (usage(), Instant::now());
    let share = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    assert!(
        (0.12..=0.25).contains(&share),
        "CPU share {share:.3}, expected about 0.2"
    );
    d.docker_ok(&["rm", "-f", id]);
}

#[test]
fn limits_reach_the_cgroup_and_the_process() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--memory",
        "64m",
        "--memory-swap",
        "96m",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--oom-kill-disable",
        "busybox",
        "sleep",
        "60",
    ]);
    let id = full_id(&d, "lim");
    assert_eq!(
        cgroup_file(&id, "memory", "memory.limit_in_bytes").trim(),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        cgroup_file(&id, "memory", "memory.memsw.limit_in_bytes").trim(),
        (96u64 << 20).to_string()
    );
    assert_eq!(
        cgroup_file(&id, "memory", "memory.soft_limit_in_bytes").trim(),
        (32u64 << 20).to_string()
    );
    assert!(cgroup_file(&id, "memory", "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(cgroup_file(&id, "cpu", "cpu.shares").trim(), "512");
    assert_eq!(cgroup_file(&id, "cpu", "cpu.cfs_quota_us").trim(), "50000");
    assert_eq!(cgroup_file(&id, "cpuset", "cpuset.cpus").trim(), "0");
    // update of the running container.
    d.docker_ok(&[
        "update",
        "--cpus",
        "0.5",
        "--pids-limit",
        "33",
        "--memory",
        "80m",
        "--memory-swap",
        "160m",
        "lim",
    ]);
    assert_eq!(cgroup_file(&id, "cpu", "cpu.cfs_quota_us").trim(), "50000");
    assert_eq!(cgroup_file(&id, "pids", "pids.max").trim(), "33");
    assert_eq!(
        cgroup_file(&id, "memory", "memory.limit_in_bytes").trim(),
        (80u64 << 20).to_string()
    );
    let hc = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}",
        "lim",
    ]);
    assert_eq!(hc.trim(), format!("500000000 33 {}", 80 << 20));
    let out = d.docker(&["update", "--memory", "1k", "lim"]);
    assert!(
        text(&out.stderr).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ulimits_and_shm_size() {
    let d = Daemon::with_busybox();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "--shm-size",
        "8m",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["100", "200"], "{out}");
    assert!(lines[2].contains(" 8192 "), "{out}");
    // Above this host's hard limit without CAP_SYS_RESOURCE: a clear error at create.
    let out = d.docker(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=1048576:1048576",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("nofile") || err.contains("NOFILE"), "{err}");
    assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
}

#[test]
fn bad_limits_get_dockers_messages() {
    let d = Daemon::with_busybox();
    for (args, msg) in [
        (
            &["--memory", "1k"][..],
            "Minimum memory limit allowed is 6MB",
        ),
        (
            &["--memory", "64m", "--memory-swap", "32m"],
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        (
            &["--memory-reservation", "1k"],
            "Minimum memory reservation allowed is 6MB",
        ),
        (
            &["--cpus", "0.5", "--cpu-quota", "20000"],
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (&["--cpus", "64"], "Range of CPUs is from 0.01 to"),
        (
            &["--cpu-period", "100"],
            "CPU cfs period can not be less than 1ms",
        ),
        (
            &["--cpuset-cpus", "0-300"],
            "Requested CPUs are not available",
        ),
        (
            &["--blkio-weight", "5"],
            "Range of blkio weight is from 10 to 1000",
        ),
    ] {
        let mut a = vec!["create"];
        a.extend_from_slice(args);
        a.extend(["busybox", "true"]);
        let out = d.docker(&a);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(msg),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(d.docker_ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn berth_cli_limits_and_update() {
    let d = Daemon::with_busybox();
    let out = d.berth(&["run", "--rm", "--memory", "1k", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        text(&out.stderr)
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "--ulimit",
        "nofile=64:64",
        "--shm-size",
        "4m",
        "--oom-score-adj",
        "300",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; df -k /dev/shm | tail -1; cat /proc/self/oom_score_adj",
    ]);
    let s = text(&out.stdout);
    assert!(
        s.starts_with("64\n") && s.contains(" 4096 ") && s.ends_with("\n300\n"),
        "{s}{}",
        text(&out.stderr)
    );
    let id = d.berth(&[
        "run", "-d", "--cpus", "0.25", "-m", "48m", "busybox", "sleep", "60",
    ]);
    let id = text(&id.stdout).trim().to_string();
    assert_eq!(cgroup_file(&id, "cpu", "cpu.cfs_quota_us").trim(), "25000");
    assert_eq!(
        cgroup_file(&id, "memory", "memory.limit_in_bytes").trim(),
        (48u64 << 20).to_string()
    );
    let out = d.berth(&["update", "--cpus", "0.75", "--pids-limit", "9", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(cgroup_file(&id, "cpu", "cpu.cfs_quota_us").trim(), "75000");
    assert_eq!(cgroup_file(&id, "pids", "pids.max").trim(), "9");
    d.berth(&["rm", "-f", &id]);
}

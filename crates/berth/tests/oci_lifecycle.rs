//! Container lifecycle: create/start/state/kill/delete/run/list/ps/pause.
mod common;
use common::*;
use serde_json::Value;

#[test]
fn create_start_kill_delete() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("life");
        let o = rt.create(&b, &id);
        assert_ok(k, "create", &o);
        let st = rt.state(&id);
        assert_eq!(st["status"], "created", "{k}: state after create: {st}");
        assert_eq!(st["id"], id.as_str(), "{k}: state id: {st}");
        let pid = st["pid"].as_i64().unwrap_or(0) as i32;
        assert!(pid > 0, "{k}: pid after create: {st}");
        assert!(pid_alive(pid), "{k}: created pid {pid} does not exist");

        assert_ok(k, "start", &rt.start(&id));
        assert!(
            rt.wait_status(&id, "running", 5),
            "{k}: not running after start: {}",
            rt.state(&id)
        );
        assert_eq!(rt.pid(&id), pid, "{k}: pid changed by start");

        let o = rt.kill(&id, "KILL");
        assert_ok(k, "kill KILL", &o);
        assert!(
            rt.wait_status(&id, "stopped", 5),
            "{k}: not stopped after kill: {}",
            rt.state(&id)
        );

        assert_ok(k, "delete", &rt.delete(&id, false));
        let o = rt.out(&["state", &id]);
        assert_fail(k, "state after delete", &o);
        assert!(!pid_alive(pid), "{k}: pid {pid} alive after delete");
        assert!(
            b.cgroup_dirs().iter().all(|p| !p.exists()),
            "{k}: cgroup left after delete"
        );
    }
}

#[test]
fn kill_signal_spellings() {
    for rt in runtimes() {
        let k = rt.kind;
        for sig in ["KILL", "9", "SIGKILL"] {
            let mut b = rt.bundle();
            b.args(&["sleep", "100"]);
            let id = rt.id("sig");
            rt.create_start(&b, &id);
            assert_ok(k, &format!("kill {sig}"), &rt.kill(&id, sig));
            assert!(
                rt.wait_status(&id, "stopped", 5),
                "{k}: kill {sig} did not stop: {}",
                rt.state(&id)
            );
            assert_ok(k, "delete", &rt.delete(&id, false));
        }
    }
}

#[test]
fn pid_file() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("pidf");
        let pf = b.dir.join("pid");
        let o = rt.create_args(&b, &id, &["--pid-file", pf.to_str().unwrap()]);
        assert_ok(k, "create --pid-file", &o);
        let txt = std::fs::read_to_string(&pf).unwrap_or_default();
        assert_eq!(
            txt.trim().parse::<i32>().ok(),
            Some(rt.pid(&id)),
            "{k}: pid file content {txt:?}"
        );
    }
}

#[test]
fn run_exit_code_and_stdout() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.sh("exit 3");
        let o = rt.run(&b, &rt.id("exit"));
        assert_eq!(o.status.code(), Some(3), "{k}: run exit code: {}", show(&o));

        let mut b = rt.bundle();
        b.sh("echo hello-out; echo hello-err >&2");
        let o = rt.run(&b, &rt.id("out"));
        assert_ok(k, "run echo", &o);
        assert_eq!(stdout(&o), "hello-out\n", "{k}: stdout: {}", show(&o));
        assert!(
            stderr(&o).contains("hello-err"),
            "{k}: stderr: {}",
            show(&o)
        );
    }
}

#[test]
fn run_removes_container() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        let id = rt.id("rm");
        assert_ok(k, "run", &rt.run(&b, &id));
        assert_fail(k, "state after run", &rt.out(&["state", &id]));
        assert!(!rt.list_ids().contains(&id), "{k}: {id} listed after run");
    }
}

#[test]
fn list_and_ps() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("list");
        let pid = rt.create_start(&b, &id);

        let o = rt.out(&["list"]);
        assert_ok(k, "list", &o);
        let t = stdout(&o);
        assert!(
            t.lines().next().unwrap_or("").split_whitespace().next() == Some("ID"),
            "{k}: list header: {t}"
        );
        assert!(
            t.lines()
                .any(|l| l.split_whitespace().next() == Some(id.as_str())),
            "{k}: list: {t}"
        );

        let o = rt.out(&["list", "--format", "json"]);
        assert_ok(k, "list json", &o);
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{k}: list json {e}: {}", show(&o)));
        let e = v
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id.as_str()).cloned());
        let e = e.unwrap_or_else(|| panic!("{k}: {id} not in list json: {v}"));
        assert_eq!(e["status"], "running", "{k}: list entry {e}");

        let o = rt.out(&["ps", "--format", "json", &id]);
        assert_ok(k, "ps --format json", &o);
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{k}: ps json {e}: {}", show(&o)));
        let pids: Vec<i64> = v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        assert!(
            pids.contains(&(pid as i64)),
            "{k}: ps {pids:?} lacks init pid {pid}"
        );
    }
}

#[test]
fn created_container_has_not_run() {
    for rt in runtimes() {
        let k = rt.kind;
        let host_dir = rt.tempdir();
        let mut b = rt.bundle();
        b.sh("touch /mnt/x/ran; sleep 100");
        b.bind(&host_dir, "/mnt/x", &[]);
        let id = rt.id("notrun");
        assert_ok(k, "create", &rt.create(&b, &id));
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            !host_dir.join("ran").exists(),
            "{k}: user program ran before start"
        );
        assert_ok(k, "start", &rt.start(&id));
        assert!(
            wait_until(std::time::Duration::from_secs(5), || host_dir
                .join("ran")
                .exists()),
            "{k}: user program did not run after start"
        );
    }
}

/// An init killed while it waited for `start`: start says so instead of reporting success.
#[test]
fn start_after_the_init_died_fails() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        let id = rt.id("deadinit");
        assert_ok(k, "create", &rt.create(&b, &id));
        let pid = rt.pid(&id);
        // SAFETY: a plain kill of the init we created.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        assert!(
            wait_until(std::time::Duration::from_secs(5), || rt.status(&id)
                == "stopped"),
            "{k}: killed init not stopped"
        );
        assert_fail(k, "start of a dead init", &rt.start(&id));
        assert_ok(k, "delete", &rt.delete(&id, false));
    }
}

#[test]
fn start_twice_and_delete_running() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("twice");
        let pid = rt.create_start(&b, &id);
        assert_fail(k, "second start", &rt.start(&id));
        assert_fail(
            k,
            "delete of running without --force",
            &rt.delete(&id, false),
        );
        assert_eq!(
            rt.status(&id),
            "running",
            "{k}: still running after failed delete"
        );
        assert_ok(k, "delete --force", &rt.delete(&id, true));
        assert_fail(k, "state after delete --force", &rt.out(&["state", &id]));
        assert!(
            wait_until(std::time::Duration::from_secs(5), || !pid_alive(pid)),
            "{k}: pid {pid} alive"
        );
    }
}

#[test]
fn pause_resume() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("pause");
        let pid = rt.create_start(&b, &id);
        assert_ok(k, "pause", &rt.out(&["pause", &id]));
        assert_eq!(rt.status(&id), "paused", "{k}: after pause");
        let st = proc_status_field(pid, "State").unwrap_or_default();
        assert!(
            st.starts_with('D') || st.starts_with('S') || st.starts_with('T'),
            "{k}: frozen State {st}"
        );
        assert_ok(k, "resume", &rt.out(&["resume", &id]));
        assert_eq!(rt.status(&id), "running", "{k}: after resume");
        assert_ok(k, "delete --force", &rt.delete(&id, true));
    }
}

/// Containers started back to back all come up: the init creates device nodes while the runtime
/// configures the device cgroup, and must never see a half-written rule list.
#[test]
fn back_to_back_runs_all_succeed() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        for _ in 0..25 {
            let o = rt.run(&b, &rt.id("burst"));
            assert_ok(k, "run in a burst", &o);
        }
    }
}

#[test]
fn no_pivot_runs_in_the_rootfs() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.sh("ls /bin/busybox && cat /proc/self/mountinfo | wc -l");
        let o = rt.run_args(&b, &rt.id("nopivot"), &["--no-pivot"]);
        assert_ok(k, "run --no-pivot", &o);
        assert!(stdout(&o).starts_with("/bin/busybox"), "{k}: {}", show(&o));
    }
}

/// `--preserve-fds 1` passes fd 3 into the container, and nothing past it.
#[test]
fn preserve_fds_passes_exactly_those() {
    for rt in runtimes() {
        let k = rt.kind;
        let dir = rt.tempdir();
        let file = dir.join("passed.txt");
        std::fs::write(&file, "through fd 3\n").unwrap();
        let mut b = rt.bundle();
        b.sh("cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '");
        b.save();
        let id = rt.id("fds");
        rt.track(&id);
        let mut cmd = rt.cmd();
        cmd.args(["run", "--preserve-fds", "1", "--bundle", b.path_str(), &id]);
        let program = format!("{cmd:?}");
        let shell = format!("exec 3<{} 4</dev/null; exec {program}", file.display());
        let o = std::process::Command::new("sh")
            .args(["-c", &shell])
            .output()
            .unwrap();
        assert_ok(k, "run --preserve-fds 1", &o);
        let out = stdout(&o);
        assert!(out.starts_with("through fd 3\n"), "{k}: {}", show(&o));
        // ls holds its own directory fd (the next free one): 4 when fd 4 did not leak.
        let fds = out.lines().nth(1).unwrap_or("").trim();
        assert_eq!(
            fds,
            "0 1 2 3 4",
            "{k}: fd 4 leaked into the container: {}",
            show(&o)
        );
    }
}

#[test]
fn features_and_version() {
    for rt in berth_only() {
        let o = rt.out(&["features"]);
        assert_ok(rt.kind, "features", &o);
        let f: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert!(
            f["ociVersionMax"]
                .as_str()
                .is_some_and(|v| v.starts_with("1."))
        );
        let ns = f["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.iter().any(|n| n == "time") && ns.iter().any(|n| n == "user"));
        assert_eq!(f["linux"]["seccomp"]["enabled"], true);
        let o = rt.out(&["--version"]);
        assert_ok(rt.kind, "--version", &o);
        assert!(stdout(&o).contains("spec: 1."), "{}", show(&o));
    }
}

/// pivot_root refuses a new root whose parent mount is shared: under a shared root propagation
/// the runtime must make that one mount private first (with the default rslave nothing is
/// shared and berth skips the check).
#[test]
fn shared_root_propagation_still_pivots() {
    for rt in runtimes() {
        let k = rt.kind;
        for propagation in ["rshared", "shared"] {
            let mut b = rt.bundle();
            b.sh("echo pivoted");
            b.set("/linux/rootfsPropagation", propagation.into());
            let o = rt.run(&b, &rt.id("prop"));
            assert_ok(k, &format!("run with rootfsPropagation {propagation}"), &o);
            assert_eq!(stdout(&o), "pivoted\n", "{k} {propagation}: {}", show(&o));
        }
    }
}

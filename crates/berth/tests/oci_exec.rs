//! `exec` into a running container.
mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

fn running(rt: &Runtime, prefix: &str) -> (Bundle, String, i32) {
    let mut b = rt.bundle();
    b.args(&["sleep", "100"]);
    let id = rt.id(prefix);
    let pid = rt.create_start(&b, &id);
    (b, id, pid)
}

#[test]
fn exec_joins_namespaces() {
    for rt in runtimes() {
        let k = rt.kind;
        let (_b, id, pid) = running(&rt, "exns");
        let o = rt.exec(&id, &["sh", "-c", "echo $$; readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; readlink /proc/self/ns/net"]);
        assert_ok(k, "exec", &o);
        let out = stdout(&o);
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l.len(), 4, "{k}: {}", show(&o));
        let p: i32 = l[0].parse().unwrap_or(0);
        assert!(p > 1, "{k}: exec'd pid inside {p} (init is 1)");
        for (i, ns) in ["pid", "mnt", "net"].iter().enumerate() {
            let init_ns = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
            assert_eq!(
                l[i + 1],
                init_ns.to_string_lossy(),
                "{k}: exec {ns} ns differs from init's"
            );
        }
    }
}

#[test]
fn exec_exit_code() {
    for rt in runtimes() {
        let k = rt.kind;
        let (_b, id, _) = running(&rt, "excode");
        let o = rt.exec(&id, &["sh", "-c", "exit 7"]);
        assert_eq!(o.status.code(), Some(7), "{k}: {}", show(&o));
        assert_eq!(rt.status(&id), "running", "{k}: container survived exec");
    }
}

#[test]
fn exec_env_and_cwd() {
    for rt in runtimes() {
        let k = rt.kind;
        let (_b, id, _) = running(&rt, "exenv");
        let o = rt.exec_opts(
            &["--env", "FOO=bar", "--cwd", "/tmp"],
            &id,
            &["sh", "-c", "echo $FOO; pwd"],
        );
        assert_ok(k, "exec --env --cwd", &o);
        assert_eq!(stdout(&o), "bar\n/tmp\n", "{k}: {}", show(&o));
        // The config's PATH is inherited by exec'd processes.
        let o = rt.exec(&id, &["sh", "-c", "echo $PATH"]);
        assert_eq!(
            stdout(&o).trim(),
            "/usr/sbin:/usr/bin:/sbin:/bin",
            "{k}: {}",
            show(&o)
        );
    }
}

#[test]
fn exec_process_json() {
    for rt in runtimes() {
        let k = rt.kind;
        let (b, id, _) = running(&rt, "exproc");
        let mut p = b.config["process"].clone();
        p["args"] = json!(["sh", "-c", "echo $BAZ; pwd; id -u"]);
        p["env"] = json!(["PATH=/bin", "BAZ=qux"]);
        p["cwd"] = json!("/etc");
        p["user"] = json!({"uid": 65534, "gid": 65534});
        let pf = b.dir.join("process.json");
        std::fs::write(&pf, serde_json::to_vec(&p).unwrap()).unwrap();
        let o = rt.exec_opts(&["--process", pf.to_str().unwrap()], &id, &[]);
        assert_ok(k, "exec --process", &o);
        assert_eq!(stdout(&o), "qux\n/etc\n65534\n", "{k}: {}", show(&o));
    }
}

#[test]
fn exec_detached() {
    for rt in runtimes() {
        let k = rt.kind;
        let (b, id, _) = running(&rt, "exdet");
        let t0 = std::time::Instant::now();
        let log = b.dir.join("exec-d.log");
        let o = rt.out_detached(
            &[
                "exec",
                "-d",
                &id,
                "sh",
                "-c",
                "sleep 3; echo done > /tmp/detached",
            ],
            &log,
        );
        assert_ok(k, "exec -d", &o);
        assert!(
            t0.elapsed() < Duration::from_millis(2500),
            "{k}: exec -d waited {:?} for a 3 s process",
            t0.elapsed()
        );
        let ok = wait_until(Duration::from_secs(8), || {
            stdout(&rt.exec(&id, &["cat", "/tmp/detached"])).trim() == "done"
        });
        assert!(ok, "{k}: detached process did not write its file");
    }
}

#[test]
fn exec_in_stopped_container_fails() {
    for rt in runtimes() {
        let k = rt.kind;
        let (_b, id, _) = running(&rt, "exstop");
        assert_ok(k, "kill", &rt.kill(&id, "KILL"));
        assert!(rt.wait_status(&id, "stopped", 5), "{k}: not stopped");
        assert_fail(k, "exec into stopped container", &rt.exec(&id, &["true"]));
        assert_fail(
            k,
            "exec into unknown container",
            &rt.exec("bt-no-such-container", &["true"]),
        );
    }
}

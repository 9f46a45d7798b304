//! Resource limits (cgroup v1 on the test host): memory/OOM, pids, cpu, update.
mod common;
use common::*;
use serde_json::json;
use std::time::Duration;

const MIB32: i64 = 32 * 1024 * 1024;
/// Holds ~200 MB in the shell's memory (command substitution is buffered).
const HOG: &str = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}";

fn read_trim(p: &std::path::Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn memory_limit_oom_kills() {
    for rt in runtimes() {
        let k = rt.kind;
        // run: the hog must die (137 = SIGKILL), never print its length.
        let mut b = rt.bundle();
        b.set(
            "/linux/resources/memory",
            json!({"limit": MIB32, "swap": MIB32}),
        );
        b.sh(HOG);
        let o = rt.run(&b, &rt.id("oomrun"));
        assert!(
            !o.status.success(),
            "{k}: 200MB hog survived a 32MiB limit: {}",
            show(&o)
        );
        assert!(
            !stdout(&o).contains("200000000"),
            "{k}: hog completed: {}",
            show(&o)
        );
        assert_eq!(
            o.status.code(),
            Some(137),
            "{k}: expected SIGKILL exit: {}",
            show(&o)
        );

        // create/start: the cgroup shows the limits and an oom kill.
        let mut b = rt.bundle();
        b.set(
            "/linux/resources/memory",
            json!({"limit": MIB32, "swap": MIB32}),
        );
        b.sh(HOG);
        let id = rt.id("oom");
        rt.create_start(&b, &id);
        assert_eq!(
            read_trim(&b.cgroup_file("memory", "memory.limit_in_bytes")),
            MIB32.to_string(),
            "{k}"
        );
        let memsw = b.cgroup_file("memory", "memory.memsw.limit_in_bytes");
        if memsw.exists() {
            assert_eq!(read_trim(&memsw), MIB32.to_string(), "{k}: memsw limit");
        }
        assert!(
            rt.wait_status(&id, "stopped", 20),
            "{k}: hog not stopped: {}",
            rt.state(&id)
        );
        let oc = read_trim(&b.cgroup_file("memory", "memory.oom_control"));
        let kills: u64 = oc
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!(
            kills >= 1,
            "{k}: memory.oom_control shows no oom kill:\n{oc}"
        );
        if rt.is_berth() {
            // berth reports it itself, for the engine's OOMKilled.
            let o = rt.out(&["events", "--stats", &id]);
            assert_ok(k, "events --stats", &o);
            let event: serde_json::Value = serde_json::from_str(stdout(&o).trim())
                .unwrap_or_else(|e| panic!("{k}: events output is not JSON ({e}): {}", show(&o)));
            let reported = event["data"]["memory"]["oom_kill"].as_u64().unwrap_or(0);
            assert!(
                reported >= 1,
                "{k}: events --stats reports no oom kill: {event}"
            );
        }
    }
}

#[test]
fn pids_limit() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/linux/resources/pids", json!({"limit": 10}));
        b.sh("for i in $(seq 1 50); do sleep 2 & done; wait");
        let o = rt.run(&b, &rt.id("pids"));
        let e = stderr(&o);
        assert!(
            e.contains("can't fork") || e.contains("Resource temporarily unavailable"),
            "{k}: no fork failure with pids.max=10: {}",
            show(&o)
        );
    }
}

#[test]
fn cpu_shares_and_quota() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set(
            "/linux/resources/cpu",
            json!({"shares": 512, "quota": 50000, "period": 100000}),
        );
        b.args(&["sleep", "100"]);
        let id = rt.id("cpu");
        rt.create_start(&b, &id);
        assert_eq!(
            read_trim(&b.cgroup_file("cpu", "cpu.shares")),
            "512",
            "{k}: cpu.shares"
        );
        assert_eq!(
            read_trim(&b.cgroup_file("cpu", "cpu.cfs_quota_us")),
            "50000",
            "{k}: quota"
        );
        assert_eq!(
            read_trim(&b.cgroup_file("cpu", "cpu.cfs_period_us")),
            "100000",
            "{k}: period"
        );
        // The init process is in that cgroup.
        let procs = read_trim(&b.cgroup_file("cpu", "cgroup.procs"));
        assert!(
            procs.lines().any(|l| l == rt.pid(&id).to_string()),
            "{k}: init not in cpu cgroup: {procs}"
        );
    }
}

#[test]
fn update_pids_limit() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/linux/resources/pids", json!({"limit": 50}));
        b.args(&["sleep", "100"]);
        let id = rt.id("upd");
        rt.create_start(&b, &id);
        let f = b.cgroup_file("pids", "pids.max");
        assert_eq!(read_trim(&f), "50", "{k}: initial pids.max");
        let res = b.dir.join("resources.json");
        std::fs::write(&res, json!({"pids": {"limit": 20}}).to_string()).unwrap();
        let o = rt.out(&["update", "--resources", res.to_str().unwrap(), &id]);
        assert_ok(k, "update --resources", &o);
        assert!(
            wait_until(Duration::from_secs(2), || read_trim(&f) == "20"),
            "{k}: pids.max now {}",
            read_trim(&f)
        );
        assert_eq!(rt.status(&id), "running", "{k}: container survived update");
    }
}

/// Removes a cgroup directory made by the test, even when an assertion failed.
struct CgroupDirGuard(std::path::PathBuf);

impl Drop for CgroupDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A relative cgroupsPath is resolved against the creating process's cgroup, once: `delete`
/// run from another cgroup must still find and remove the container's cgroup (the runtime keeps
/// where it placed it, as runc keeps its cgroup paths).
#[test]
fn delete_from_another_cgroup_finds_a_relative_cgroups_path() {
    let pids = std::path::Path::new("/sys/fs/cgroup/pids");
    if !pids.join("cgroup.procs").exists() {
        eprintln!("SKIP: no v1 pids hierarchy on this host");
        return;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = own
        .lines()
        .find_map(|l| {
            l.split_once(":pids:")
                .map(|(_, p)| p.trim_start_matches('/'))
        })
        .expect("a pids line in /proc/self/cgroup")
        .to_string();
    for rt in runtimes() {
        let k = rt.kind;
        let relative = unique("rel");
        let container_dir = CgroupDirGuard(pids.join(&own).join(&relative));
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        b.set("/linux/cgroupsPath", json!(relative));
        let id = rt.id("relcg");
        assert_ok(k, "create", &rt.create(&b, &id));
        assert_ok(k, "start", &rt.start(&id));
        assert!(
            container_dir.0.exists(),
            "{k}: {} missing",
            container_dir.0.display()
        );

        let elsewhere = CgroupDirGuard(pids.join(&own).join(unique("elsewhere")));
        std::fs::create_dir(&elsewhere.0).unwrap();
        let delete = rt.cmd();
        let mut line = vec![delete.get_program().to_str().unwrap().to_string()];
        line.extend(delete.get_args().map(|a| a.to_str().unwrap().to_string()));
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {} delete --force {id}",
            elsewhere.0.display(),
            line.join(" ")
        );
        let o = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_ok(k, "delete --force from another cgroup", &o);
        assert!(
            !container_dir.0.exists(),
            "{k}: delete left {}",
            container_dir.0.display()
        );
    }
}

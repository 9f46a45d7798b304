//! `stats` through the daemon: the API's StatsResponse from the container's cgroup, docker's
//! and berth's `stats --no-stream` tables, the numbers moving when the container works.

mod daemon_support;

use daemon_support::{Daemon, text};
use serde_json::Value;

fn one(d: &Daemon, query: &str) -> Value {
    let (code, body) = d.http("GET", &format!("/containers/st/stats?{query}"), None);
    assert_eq!(code, 200, "{body}");
    let first = body.lines().next().unwrap_or_default();
    serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn stats_numbers_move_when_the_container_burns_cpu() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "st", "busybox", "sleep", "1000"]);
    let idle = one(&d, "stream=false&one-shot=true");
    assert_eq!(idle["name"], "/st");
    assert!(
        idle["memory_stats"]["usage"].as_u64().unwrap() > 0,
        "{idle}"
    );
    assert!(
        idle["memory_stats"]["limit"].as_u64().unwrap() > 0,
        "{idle}"
    );
    assert_eq!(idle["pids_stats"]["current"], 1, "{idle}");
    assert!(idle["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(idle["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    let idle_cpu = idle["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    // Burn CPU in a second process of the container.
    d.docker_ok(&["exec", "-d", "st", "sh", "-c", "while true; do :; done"]);
    let busy = one(&d, "stream=false");
    let cpu = busy["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    let precpu = busy["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(cpu > precpu && precpu > idle_cpu, "{busy}");
    assert_eq!(busy["pids_stats"]["current"], 2, "{busy}");
    // Two samples a second apart with a busy loop: well above 10% of one CPU.
    let delta = (cpu - precpu) as f64;
    assert!(delta > 1e8, "{delta} ns of CPU in a second: {busy}");
    for cli in ["docker", "berth"] {
        let args = [
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.CPUPerc}} {{.PIDs}} {{.MemUsage}}",
            "st",
        ];
        let out = d.cli(cli, &args);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        let fields: Vec<&str> = s.split_whitespace().collect();
        assert_eq!(fields[0], "st", "{cli}: {s}");
        let percent: f64 = fields[1].trim_end_matches('%').parse().unwrap();
        assert!(percent > 10.0, "{cli}: {s}");
        assert_eq!(fields[2], "2", "{cli}: {s}");
        assert!(s.contains(" / "), "{cli}: {s}");
    }
    // The default table, as docker prints it.
    let table = text(&d.berth(&["stats", "--no-stream"]).stdout);
    assert!(
        table.starts_with("CONTAINER ID   NAME      CPU %"),
        "{table}"
    );
    // A stream sends a document a second; a stopped container's stats are empty.
    d.docker_ok(&["rm", "-f", "st"]);
    d.docker_ok(&["create", "--name", "st", "busybox", "true"]);
    let stopped = one(&d, "stream=true");
    assert_eq!(stopped["pids_stats"], Value::Null, "{stopped}");
    let (code, _) = d.http("GET", "/containers/nope/stats?stream=false", None);
    assert_eq!(code, 404);
}

#[test]
fn stats_streams_once_a_second() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "ss", "busybox", "sleep", "1000"]);
    for mut cmd in [
        d.berth_cmd(&["stats", "--format", "{{.Name}} {{.PIDs}}", "ss"]),
        d.docker_cmd(&["stats", "--format", "{{.Name}} {{.PIDs}}", "ss"]),
    ] {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = 0;
        while seen < 2 {
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("a stats line within 10 s");
            if line.contains("ss 1") {
                seen += 1;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    d.docker_ok(&["rm", "-f", "ss"]);
}

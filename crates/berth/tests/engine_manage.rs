//! `top`, `pause`/`unpause` and `rename` through the daemon, with the real docker CLI and the
//! berth CLI.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Daemon, text};

#[test]
fn top_lists_the_containers_processes() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "-d", "--name", "tp", "busybox", "sleep", "4321"]);
    for cli in ["docker", "berth"] {
        let out = d.cli(cli, &["top", "tp"]);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        let mut lines = s.lines();
        let header = lines.next().unwrap();
        assert!(
            header.contains("PID") && header.contains("CMD"),
            "{cli}: {s}"
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 1, "{cli}: only the container's process: {s}");
        assert!(rows[0].ends_with("sleep 4321"), "{cli}: {s}");
    }
    // ps arguments pass through.
    let out = d.docker_ok(&["top", "tp", "-o", "pid,comm"]);
    assert!(out.starts_with("PID"), "{out}");
    assert!(out.contains("sleep"), "{out}");
    d.docker_ok(&["rm", "-f", "tp"]);
    let (code, body) = d.http("GET", "/containers/tp/top", None);
    assert_eq!(code, 404, "{body}");
}

/// The counter the container writes once every 50 ms (replaced whole, with `mv`: a pause can
/// land between a truncation and a write).
fn counter(d: &Daemon, name: &str) -> u64 {
    let out = d.docker(&["exec", name, "cat", "/tmp/n"]);
    text(&out.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "pz",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.05; done",
    ]);
    d.eventually(10, "the counter to start", || counter(&d, "pz") > 2);
    d.berth(&["pause", "pz"]);
    let state = d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pz"]);
    assert_eq!(state.trim(), "paused true");
    let info = d.docker_ok(&["info", "-f", "{{.ContainersPaused}} {{.ContainersRunning}}"]);
    assert_eq!(info.trim(), "1 0");
    let ps = d.docker_ok(&[
        "ps",
        "--filter",
        "status=paused",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(ps.starts_with("pz Up") && ps.contains("(Paused)"), "{ps}");
    // exec into a paused container is refused, as Docker does.
    let out = d.docker(&["exec", "pz", "true"]);
    assert!(
        text(&out.stderr).contains("is paused"),
        "{}",
        text(&out.stderr)
    );
    let frozen = std::fs::read_to_string(counter_path(&d, "pz")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let still = std::fs::read_to_string(counter_path(&d, "pz")).unwrap();
    assert_eq!(frozen, still, "the counter stopped while paused");
    let out = d.docker(&["pause", "pz"]);
    assert!(
        text(&out.stderr).contains("already paused"),
        "{}",
        text(&out.stderr)
    );
    d.docker_ok(&["unpause", "pz"]);
    let state = d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "pz"]);
    assert_eq!(state.trim(), "running false");
    let before: u64 = still.trim().parse().unwrap();
    d.eventually(10, "the counter to move again", || {
        counter(&d, "pz") > before + 2
    });
    let out = d.berth(&["unpause", "pz"]);
    assert!(
        text(&out.stderr).contains("is not paused"),
        "{}",
        text(&out.stderr)
    );
    d.docker_ok(&["rm", "-f", "pz"]);
    let out = d.docker(&["pause", "pz"]);
    assert!(!out.status.success());
}

/// The counter file seen from the host, through the container's root mount (reading it with
/// `exec` is refused while paused).
fn counter_path(d: &Daemon, name: &str) -> std::path::PathBuf {
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", name]);
    d.data_root()
        .join("overlay/containers")
        .join(id.trim())
        .join("merged/tmp/n")
}

#[test]
fn rename_then_inspect_by_the_new_name() {
    let mut d = Daemon::with_busybox();
    let id = d
        .docker_ok(&["run", "-d", "--name", "old", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    d.docker_ok(&["create", "--name", "taken", "busybox", "true"]);
    d.berth(&["rename", "old", "new"]);
    let got = d.docker_ok(&["inspect", "-f", "{{.Id}} {{.Name}}", "new"]);
    assert_eq!(got.trim(), format!("{id} /new"));
    assert!(!d.docker(&["inspect", "old"]).status.success());
    // The old name is free again; a name in use is a 409.
    d.docker_ok(&["create", "--name", "old", "busybox", "true"]);
    let (code, body) = d.http("POST", "/containers/new/rename?name=taken", None);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("already in use"), "{body}");
    let out = d.docker(&["rename", "new", "bad/name"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Invalid container name"),
        "{}",
        text(&out.stderr)
    );
    // The new name is durable.
    d.terminate();
    d.launch();
    let got = d.docker_ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(got.trim(), "new");
    d.docker_ok(&["rm", "-f", "new", "old", "taken"]);
}

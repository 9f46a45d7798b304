//! The `berth` client verbs against a real `berth daemon`: the same scenarios as the docker CLI
//! tests, plus the daemon auto-start.

mod daemon_support;

use daemon_support::{Daemon, text};

#[test]
fn autostart_under_berth_root() {
    let (d, out) = Daemon::autostarted(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1.50\n");
    assert!(d.socket.exists());
    assert!(d.exec_root().join("berth-daemon.log").exists());
    assert!(d.data_root().is_dir());
    // The started daemon serves the docker CLI too.
    assert!(
        d.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"])
            .starts_with("1.50")
    );
}

#[test]
fn run_output_and_exit_codes() {
    let d = Daemon::start();
    let out = d.berth(&[
        "import",
        daemon_support::busybox_tar().to_str().unwrap(),
        "busybox:latest",
    ]);
    assert!(
        text(&out.stdout).starts_with("sha256:"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&d.berth(&["run", "--rm", "busybox", "echo", "hello"]).stdout),
        "hello\n"
    );
    let o = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stdout), "out\n");
    assert_eq!(text(&o.stderr), "err\n");
    let o = d.berth(&["run", "--rm", "busybox", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(127), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("/nonexistent"));
    let o = d.berth(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(o.status.code(), Some(126), "{}", text(&o.stderr));
    let o = d.berth(&["run", "--rm", "127.0.0.1:9/nosuchimage"]);
    assert_eq!(o.status.code(), Some(125));
    // Missing here, so pulled: from a closed loopback port, which fails clearly.
    let err = text(&o.stderr);
    assert!(
        err.contains("Unable to find image '127.0.0.1:9/nosuchimage' locally"),
        "{err}"
    );
    assert!(
        err.contains("Error response from daemon: ") && err.contains("127.0.0.1:9"),
        "{err}"
    );
    assert_eq!(
        text(&d.berth(&["ps", "-aq"]).stdout),
        "",
        "--rm left containers behind"
    );
}

#[test]
fn run_interactive_stdin_and_tty() {
    let d = Daemon::with_busybox();
    let o = d.berth_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    assert_eq!(text(&o.stdout), "x\n", "{}", text(&o.stderr));
    assert_eq!(o.status.code(), Some(0));
    let o = d.berth(&["run", "-t", "--rm", "busybox", "sh", "-c", "tty; exit 5"]);
    assert!(
        text(&o.stdout).starts_with("/dev/pts/"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(5));
}

#[test]
fn detached_lifecycle() {
    let d = Daemon::with_busybox();
    let ok = |args: &[&str]| {
        let o = d.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    let id = ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("loop") && ps.contains("Up "),
        "{ps}"
    );
    assert_eq!(ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    d.eventually(10, "the log", || ok(&["logs", "loop"]) == "started\n");
    assert_eq!(ok(&["stop", "-t", "1", "loop"]), "loop\n");
    let ps = ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("loop Exited (137)"), "{ps}");
    assert_eq!(
        ok(&["inspect", "-f", "{{.State.Running}}", "loop"]),
        "false\n"
    );
    ok(&["start", "loop"]);
    assert_eq!(ok(&["kill", "loop"]), "loop\n");
    assert_eq!(ok(&["wait", "loop"]), "137\n");
    assert_eq!(ok(&["rm", "loop"]), "loop\n");
    assert_eq!(ok(&["ps", "-aq"]), "");
}

#[test]
fn inspect_and_images() {
    let d = Daemon::with_busybox();
    let ok = |args: &[&str]| {
        let o = d.berth(args);
        assert!(o.status.success(), "berth {args:?}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    ok(&["create", "--name", "c1", "-e", "A=1", "busybox", "true"]);
    assert_eq!(ok(&["inspect", "-f", "{{.Config.Env}}", "c1"]), "[A=1]\n");
    assert_eq!(
        ok(&["inspect", "-f", "{{json .Config.Cmd}}", "c1"]),
        "[\"true\"]\n"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&["inspect", "busybox"])).unwrap();
    assert_eq!(v[0]["RepoTags"][0], "busybox:latest");
    ok(&["tag", "busybox", "bb:v1"]);
    let imgs = ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        imgs.contains("busybox:latest") && imgs.contains("bb:v1"),
        "{imgs}"
    );
    assert!(ok(&["rmi", "bb:v1"]).contains("Untagged: bb:v1"));
    let o = d.berth(&["rm", "nothing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("No such container: nothing"),
        "{}",
        text(&o.stderr)
    );
    ok(&["rm", "c1"]);
}

/// berth starts as a C program (no std start-up), so it must give closed standard descriptors
/// /dev/null itself: otherwise the first file it opens takes the closed one and receives its
/// prints. Here `--log` would get fd 2 and the error line meant for stderr.
#[test]
fn closed_standard_descriptors_are_reopened() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("oci.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(["oci", "--root"])
        .arg(dir.path().join("state"))
        .arg("--log")
        .arg(&log)
        .args(["state", "no-such-container"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    // SAFETY: only close(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(2);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert!(!status.success(), "state of a missing container succeeded");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("no-such-container"), "{logged}");
    assert!(
        !logged.contains("berth: "),
        "stderr's line went into the log: {logged}"
    );
}

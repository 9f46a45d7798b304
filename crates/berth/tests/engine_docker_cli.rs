//! The engine driven by the real docker CLI (v28, /usr/local/bin/docker) over the daemon's
//! unix socket: images, containers, streams, exit codes, errors, a daemon restart.

mod daemon_support;

use daemon_support::{Daemon, kill_processes_mentioning, text};

#[test]
fn import_list_inspect_tag_remove() {
    let d = Daemon::start();
    let id = d.import_busybox("busybox:latest");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let images = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        images.contains(&format!("busybox:latest {}", &id[7..19])),
        "{images}"
    );
    let layers = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}} {{.Os}}",
        "busybox",
    ]);
    assert_eq!(layers.trim(), "1 linux");
    d.docker_ok(&["tag", "busybox", "localhost:5000/tools/bb:v1"]);
    let tags = d.docker_ok(&["image", "inspect", "-f", "{{json .RepoTags}}", &id]);
    assert!(
        tags.contains("localhost:5000/tools/bb:v1") && tags.contains("busybox:latest"),
        "{tags}"
    );
    // A name of several only untags; the last name deletes the image.
    let out = d.docker_ok(&["rmi", "localhost:5000/tools/bb:v1"]);
    assert!(
        out.contains("Untagged: localhost:5000/tools/bb:v1"),
        "{out}"
    );
    let out = d.docker_ok(&["rmi", "busybox"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    let out = d.docker(&["image", "inspect", "busybox"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such image: busybox"),
        "{}",
        text(&out.stderr)
    );
    // Blobs and the layer's snapshot are gone with it.
    let snaps = std::fs::read_dir(d.data_root().join("overlay/snapshots"))
        .unwrap()
        .count();
    assert_eq!(snaps, 0);
}

#[test]
fn import_applies_changes() {
    let d = Daemon::start();
    let out = d.docker_ok(&[
        "import",
        "-c",
        "CMD [\"echo\", \"from-cmd\"]",
        "-c",
        "ENV GREETING=hi",
        "-c",
        "WORKDIR /tmp",
        daemon_support::busybox_tar().to_str().unwrap(),
        "withcmd:1",
    ]);
    assert!(out.starts_with("sha256:"));
    assert_eq!(d.docker_ok(&["run", "--rm", "withcmd:1"]), "from-cmd\n");
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "withcmd:1",
            "sh",
            "-c",
            "echo $GREETING $(pwd)"
        ]),
        "hi /tmp\n"
    );
    let out = d.docker(&[
        "import",
        "-c",
        "RUN true",
        daemon_support::busybox_tar().to_str().unwrap(),
        "bad:1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("RUN is not a valid change command"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_output_and_exit_codes() {
    let d = Daemon::with_busybox();
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "hello"]),
        "hello\n"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    // --rm removed them all.
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn missing_or_unexecutable_program() {
    let d = Daemon::with_busybox();
    let out = d.docker(&["run", "--rm", "busybox", "/nope"]);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("/nope"), "{}", text(&out.stderr));
    let out = d.docker(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    // Not here, and its registry (a closed loopback port) cannot be reached either.
    let out = d.docker(&["run", "--rm", "127.0.0.1:9/no-such-image"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
}

#[test]
fn stdin_is_piped_and_closed() {
    let d = Daemon::with_busybox();
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "x\n");
    let big: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "wc", "-l"], &big);
    assert_eq!(text(&out.stdout).trim(), "200000");
}

#[test]
fn tty_output_is_raw() {
    let d = Daemon::with_busybox();
    let out = d.docker(&["run", "-t", "--rm", "busybox", "sh", "-c", "tty; echo done"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("/dev/pts/"), "{s:?}");
    assert!(
        s.contains("done\r\n"),
        "a terminal turns \\n into \\r\\n: {s:?}"
    );
}

#[test]
fn detached_ps_logs_stop_rm() {
    let d = Daemon::with_busybox();
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    d.eventually(10, "the log line", || {
        d.docker_ok(&["logs", "web"]).contains("started")
    });
    let ps = d.docker_ok(&[
        "ps",
        "--format",
        "{{.Names}} {{.Status}} {{.Label \"tier\"}}",
    ]);
    assert!(ps.starts_with("web Up "), "{ps}");
    assert!(ps.trim_end().ends_with("front"), "{ps}");
    let filtered = d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        "label=tier=front",
        "--filter",
        "status=running",
    ]);
    assert_eq!(filtered.trim(), &id[..12]);
    assert_eq!(d.docker_ok(&["ps", "-q", "--filter", "name=nomatch"]), "");
    // A running container is not removed without force.
    let out = d.docker(&["rm", "web"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("container is running"),
        "{}",
        text(&out.stderr)
    );
    d.docker_ok(&["stop", "-t", "5", "web"]);
    let state = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]);
    assert_eq!(state.trim(), "exited 0");
    let logs = d.docker_ok(&["logs", "-t", "web"]);
    assert!(
        logs.contains("Z started\n") && logs.contains("Z bye\n"),
        "{logs}"
    );
    assert_eq!(d.docker_ok(&["logs", "--tail", "1", "web"]), "bye\n");
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Exited (0) "), "{ps}");
    d.docker_ok(&["rm", "web"]);
    assert!(!d.data_root().join("containers").join(id).exists());
}

#[test]
fn stop_escalates_to_sigkill() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; sleep 1000",
    ]);
    let t = std::time::Instant::now();
    d.docker_ok(&["stop", "-t", "1", "stubborn"]);
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
    let code = d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"]);
    assert_eq!(code.trim(), "137");
    d.docker_ok(&["start", "stubborn"]);
    d.docker_ok(&["kill", "-s", "KILL", "stubborn"]);
    assert_eq!(d.docker_ok(&["wait", "stubborn"]).trim(), "137");
    d.docker_ok(&["restart", "-t", "0", "stubborn"]);
    let state = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.RestartCount}}",
        "stubborn",
    ]);
    assert_eq!(state.trim(), "true 1");
    d.docker_ok(&["rm", "-f", "stubborn"]);
}

#[test]
fn inspect_fields_and_config() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "create",
        "--name",
        "conf",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "www",
        "-h",
        "box",
        "--read-only",
        "busybox",
        "sh",
        "-c",
        "id -u; pwd; hostname; echo $A; touch /x 2>&1 || true",
    ]);
    let f = d.docker_ok(&[
        "inspect", "-f",
        "{{.Name}} {{.State.Status}} {{.Config.Hostname}} {{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.Path}} {{index .Config.Env 0}}",
        "conf",
    ]);
    assert_eq!(f.trim(), "/conf created box www true sh A=1");
    let out = d.docker_ok(&["start", "-a", "conf"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..4], ["33", "/tmp", "box", "1"], "{out}");
    assert!(lines[4].contains("Read-only file system"), "{out}");
}

#[test]
fn bad_requests_get_docker_errors() {
    let d = Daemon::with_busybox();
    let (code, body) = d.http("GET", "/v1.50/containers/nope/json", None);
    assert_eq!(code, 404);
    assert_eq!(body, r#"{"message":"No such container: nope"}"#);
    let (code, body) = d.http("POST", "/containers/create", Some("{not json"));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (code, body) = d.http("POST", "/containers/create", Some(r#"{"Image":"ghost"}"#));
    assert_eq!(code, 404);
    assert!(body.contains("No such image: ghost"), "{body}");
    d.docker_ok(&["create", "--name", "taken", "busybox", "true"]);
    let out = d.docker(&["create", "--name", "taken", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is already in use"),
        "{}",
        text(&out.stderr)
    );
    let (code, _) = d.http(
        "POST",
        "/containers/create?name=taken",
        Some(r#"{"Image":"busybox","Cmd":["true"]}"#),
    );
    assert_eq!(code, 409);
    let (code, body) = d.http(
        "POST",
        "/containers/create?name=bad%20name",
        Some(r#"{"Image":"busybox"}"#),
    );
    assert_eq!(code, 400, "{body}");
    // The daemon is still there and nothing was half-registered.
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(ps, "taken\n");
}

#[test]
fn containers_outlive_the_daemon() {
    let mut d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1000",
    ]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "shortlived",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]);
    d.eventually(10, "first log line", || {
        d.docker_ok(&["logs", "survivor"]).contains("one")
    });
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "survivor"]);
    d.kill9();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid: i32 = pid.trim().parse().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with the daemon"
    );
    d.launch();
    // The short one may still be running (or its monitor writing its exit) on a loaded machine:
    // its exit is recorded whenever it comes, and then only the survivor runs.
    d.eventually(10, "the exit recorded", || {
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "shortlived",
        ])
        .trim()
            == "exited 7"
    });
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(ps, "survivor\n");
    assert_eq!(d.docker_ok(&["logs", "survivor"]), "one\n");
    d.docker_ok(&["stop", "-t", "1", "survivor"]);
    let state = d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "survivor"]);
    assert_eq!(state.trim(), "exited");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn attach_to_a_running_container_after_restart() {
    let mut d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "echoer",
        "busybox",
        "sh",
        "-c",
        "read line; echo got $line",
    ]);
    d.kill9();
    d.launch();
    let out = d.docker_stdin(&["attach", "echoer"], b"through the new daemon\n");
    assert_eq!(
        text(&out.stdout),
        "got through the new daemon\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.docker_ok(&["wait", "echoer"]).trim(), "0");
}

#[test]
fn logs_follow_until_the_container_stops() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
    ]);
    // Follows while it runs, ends when it exits, and has every line.
    let out = d.docker_ok(&["logs", "-f", "ticker"]);
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    let since = d.docker_ok(&[
        "logs",
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2000-01-02T00:00:00Z",
        "ticker",
    ]);
    assert_eq!(since, "");
}

#[test]
fn entrypoint_env_file_and_start_attach() {
    let d = Daemon::with_busybox();
    let env_file = d.dir.path().join("env");
    std::fs::write(&env_file, "# a comment\nFROM_FILE=yes\n").unwrap();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "--entrypoint",
        "/bin/sh",
        "busybox",
        "-c",
        "echo $FROM_FILE $0",
    ]);
    assert_eq!(out, "yes /bin/sh\n");
    d.docker_ok(&[
        "create",
        "-i",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "read x; echo late $x; exit 2",
    ]);
    let out = d.docker_stdin(&["start", "-a", "-i", "later"], b"input\n");
    assert_eq!(text(&out.stdout), "late input\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn resize_reaches_a_running_tty() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "term",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; stty size; sleep 100",
    ]);
    let (code, body) = d.http("POST", "/containers/term/resize?h=33&w=111", None);
    assert_eq!(code, 200, "{body}");
    d.eventually(10, "the size in the log", || {
        d.docker_ok(&["logs", "term"]).contains("33 111")
    });
    let (code, _) = d.http("POST", "/containers/nope/resize?h=1&w=1", None);
    assert_eq!(code, 404);
    d.docker_ok(&["rm", "-f", "term"]);
}

#[test]
fn half_written_containers_are_dropped_at_start() {
    let mut d = Daemon::with_busybox();
    d.docker_ok(&["create", "--name", "whole", "busybox", "true"]);
    d.terminate();
    // What a crash between the record's write and its rename leaves.
    let partial = d.data_root().join(
        "containers/.partial-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("container.json"), b"{\"id\": \"0123").unwrap();
    d.launch();
    assert_eq!(
        d.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]),
        "whole\n"
    );
    assert!(!partial.exists());
}

#[test]
fn a_missing_working_directory_is_made() {
    let d = Daemon::with_busybox();
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "-w",
            "/made/here",
            "busybox",
            "sh",
            "-c",
            "pwd; stat -c '%a %u:%g' .",
        ]),
        "/made/here\n755 0:0\n"
    );
    // A file in the way is a clear error.
    let out = d.docker(&["run", "--rm", "-w", "/bin/busybox", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("working directory /bin/busybox"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_killed_zygote_is_started_again_by_the_next_run() {
    let d = Daemon::with_busybox();
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "one"]),
        "one\n"
    );
    let zygote = d.exec_root().join("zygote.sock");
    kill_processes_mentioning(&zygote.to_string_lossy());
    assert!(!zygote_answers(&zygote), "the zygote is gone");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "busybox", "echo", "two"]),
        "two\n"
    );
    assert!(zygote_answers(&zygote), "a new zygote serves");
}

fn zygote_answers(socket: &std::path::Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

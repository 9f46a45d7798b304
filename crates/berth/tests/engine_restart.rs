//! Restart policies through the real docker CLI: on-failure's retry limit, `always` until
//! stopped, what comes back when the daemon starts, and the policies Docker refuses.

mod daemon_support;

use daemon_support::Daemon;

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.docker_ok(&["inspect", "-f", format, name])
        .trim()
        .to_string()
}

#[test]
fn on_failure_restarts_up_to_its_limit() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    d.eventually(15, "two restarts, then exited", || {
        inspect(&d, "flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    });
    // And no third one.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        inspect(
            &d,
            "flaky",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
        ),
        "exited 2 3"
    );
    assert_eq!(d.docker_ok(&["logs", "flaky"]), "run\nrun\nrun\n");
    assert_eq!(
        inspect(
            &d,
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:2"
    );

    // A success ends on-failure at once.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    d.eventually(10, "exited", || {
        inspect(&d, "fine", "{{.State.Status}}") == "exited"
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(inspect(&d, "fine", "{{.RestartCount}}"), "0");
}

#[test]
fn always_restarts_until_stopped() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "looper",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    d.eventually(15, "restarted twice", || {
        inspect(&d, "looper", "{{.RestartCount}}")
            .parse::<i64>()
            .is_ok_and(|n| n >= 2)
    });
    d.docker_ok(&["stop", "-t", "1", "looper"]);
    d.eventually(10, "stopped for good", || {
        inspect(&d, "looper", "{{.State.Status}}") == "exited"
    });
    let count = inspect(&d, "looper", "{{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        inspect(&d, "looper", "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {count}")
    );

    // A start puts the policy back in force; a fatal `kill` rests it again.
    d.docker_ok(&["start", "looper"]);
    d.eventually(10, "restarting again", || {
        inspect(&d, "looper", "{{.RestartCount}}") != count
    });
    d.docker_ok(&["update", "--restart", "always", "looper"]);
    d.eventually(10, "running", || {
        d.docker(&["kill", "looper"]).status.success()
    });
    d.eventually(10, "killed for good", || {
        inspect(&d, "looper", "{{.State.Status}}") == "exited"
    });
    let count = inspect(&d, "looper", "{{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        inspect(&d, "looper", "{{.State.Status}} {{.RestartCount}}"),
        format!("exited {count}")
    );
    d.docker_ok(&["update", "--restart", "no", "looper"]);
    assert_eq!(
        inspect(&d, "looper", "{{.HostConfig.RestartPolicy.Name}}"),
        "no"
    );
}

#[test]
fn daemon_start_brings_back_always_and_running_unless_stopped() {
    let mut d = Daemon::with_busybox();
    for (name, policy) in [
        ("always-stopped", "always"),
        ("unless-stopped-stopped", "unless-stopped"),
        ("never", "no"),
    ] {
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "1000",
        ]);
        d.docker_ok(&["stop", "-t", "0", name]);
    }
    // A crash loop stopped while it waits out its back-off stays stopped across a restart.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "stopped-in-backoff",
        "--restart",
        "unless-stopped",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    d.eventually(20, "waiting out a back-off", || {
        inspect(&d, "stopped-in-backoff", "{{.State.Status}}") == "restarting"
            && inspect(&d, "stopped-in-backoff", "{{.RestartCount}}")
                .parse::<i64>()
                .is_ok_and(|n| n >= 3)
    });
    d.docker_ok(&["stop", "-t", "0", "stopped-in-backoff"]);
    // Exits while no daemon is there are recorded at start and follow the policy.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "dies-alone",
        "--restart",
        "unless-stopped",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 1",
    ]);
    d.kill9();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.launch();
    d.eventually(15, "always and the unattended one back", || {
        inspect(&d, "always-stopped", "{{.State.Status}}") == "running"
            && inspect(&d, "dies-alone", "{{.RestartCount}}") != "0"
    });
    assert_eq!(
        inspect(&d, "unless-stopped-stopped", "{{.State.Status}}"),
        "exited"
    );
    assert_eq!(inspect(&d, "never", "{{.State.Status}}"), "exited");
    let count = inspect(&d, "stopped-in-backoff", "{{.RestartCount}}");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(
        inspect(
            &d,
            "stopped-in-backoff",
            "{{.State.Status}} {{.RestartCount}}"
        ),
        format!("exited {count}")
    );
    d.docker_ok(&["rm", "-f", "always-stopped", "dies-alone"]);
}

#[test]
fn policies_docker_refuses() {
    let d = Daemon::with_busybox();
    let create = |policy: &str, extra: &str| {
        d.http(
            "POST",
            "/containers/create",
            Some(&format!(
                r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"RestartPolicy":{policy}{extra}}}}}"#
            )),
        )
    };
    let (code, body) = create(r#"{"Name":"always","MaximumRetryCount":3}"#, "");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("only be used with 'on-failure'"), "{body}");
    let (code, body) = create(r#"{"Name":"on-failure","MaximumRetryCount":-1}"#, "");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("cannot be negative"), "{body}");
    let (code, body) = create(r#"{"Name":"always"}"#, r#","AutoRemove":true"#);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("AutoRemove"), "{body}");
    let (code, body) = create(r#"{"Name":"sometimes"}"#, "");
    assert_eq!(code, 400, "{body}");
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "nothing was created");
}

//! Health checks through the daemon: a passing probe makes a container healthy, a failing one
//! unhealthy after its retries, a probe past its timeout is a failure with Docker's message,
//! `--no-healthcheck` overrides the image's HEALTHCHECK; `health_status` events, `ps` status
//! and `--filter health=`; with the real docker CLI, docker-py and berth. Also the volume and
//! network events, replayed with `--since`/`--until`.

mod daemon_support;

use daemon_support::{Daemon, busybox_tar, text};
use serde_json::Value;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn health(d: &Daemon, name: &str) -> Value {
    let out = d.docker_ok(&["inspect", "-f", "{{json .State.Health}}", name]);
    serde_json::from_str(out.trim()).unwrap()
}

fn status(d: &Daemon, name: &str) -> String {
    health(d, name)["Status"].as_str().unwrap_or("").to_string()
}

/// When the last probe recorded ended.
fn last_end(d: &Daemon, name: &str) -> String {
    let h = health(d, name);
    let log = h["Log"].as_array().unwrap();
    log[log.len() - 1]["End"].as_str().unwrap().to_string()
}

/// The events from `since` to a second from now through `cli`, filtered and formatted.
fn replay(d: &Daemon, cli: &str, since: &str, filters: &[&str], format: &str) -> String {
    let until = (now() + 1).to_string();
    let mut args = vec![
        "events", "--since", since, "--until", &until, "--format", format,
    ];
    for f in filters {
        args.extend_from_slice(&["--filter", f]);
    }
    let out = d.cli(cli, &args);
    assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `docker run -d` of `sleep 60` with the given flags before the image.
fn run_sleeper(d: &Daemon, name: &str, flags: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sleep", "60"]);
    d.docker_ok(&args);
}

#[test]
fn a_passing_probe_makes_the_container_healthy() {
    let d = Daemon::with_busybox();
    let since = (now() - 1).to_string();
    run_sleeper(
        &d,
        "fine",
        &["--health-cmd", "echo ok", "--health-interval", "200ms"],
    );
    run_sleeper(&d, "plain", &[]);
    d.eventually(10, "healthy", || status(&d, "fine") == "healthy");
    let h = health(&d, "fine");
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty());
    let last = &log[log.len() - 1];
    assert_eq!(last["ExitCode"], 0, "{h}");
    assert_eq!(last["Output"], "ok\n", "{h}");
    for t in ["Start", "End"] {
        assert!(last[t].as_str().unwrap().starts_with("20"), "{h}");
    }
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .Config.Healthcheck}}", "fine"])
            .trim(),
        r#"{"Test":["CMD-SHELL","echo ok"],"Interval":200000000}"#
    );
    // No check, no Health.
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .State.Health}}", "plain"])
            .trim(),
        "null"
    );
    // At most five results are kept.
    d.eventually(10, "a full log", || {
        health(&d, "fine")["Log"].as_array().unwrap().len() == 5
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(health(&d, "fine")["Log"].as_array().unwrap().len(), 5);

    for cli in ["docker", "berth"] {
        let ps = |filter: &str| {
            let out = d.cli(
                cli,
                &[
                    "ps",
                    "--filter",
                    filter,
                    "--format",
                    "{{.Names}} {{.Status}}",
                ],
            );
            assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
            text(&out.stdout)
        };
        let healthy = ps("health=healthy");
        assert!(
            healthy.starts_with("fine Up ") && healthy.trim_end().ends_with("(healthy)"),
            "{cli}: {healthy}"
        );
        assert_eq!(healthy.lines().count(), 1, "{cli}: {healthy}");
        let none = ps("health=none");
        assert!(none.starts_with("plain Up "), "{cli}: {none}");
        assert_eq!(none.lines().count(), 1, "{cli}: {none}");
        assert_eq!(ps("health=unhealthy"), "", "{cli}");
    }

    // One health_status event: the change to healthy.
    let events = replay(
        &d,
        "docker",
        &since,
        &["container=fine", "event=health_status"],
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    );
    assert_eq!(events, "container health_status: healthy fine\n");

    // The probes run as execs (with their events, as Docker's) whose records go when done.
    let exec_ids = replay(
        &d,
        "docker",
        &since,
        &["container=fine", "event=exec_die"],
        "{{.Actor.Attributes.execID}}",
    );
    let first = exec_ids.lines().next().expect("an exec_die event");
    let (code, body) = d.http("GET", &format!("/exec/{first}/json"), None);
    assert_eq!(code, 404, "{body}");

    // No probe runs in a paused container; they resume with the thaw.
    d.docker_ok(&["pause", "fine"]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let paused = last_end(&d, "fine");
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(last_end(&d, "fine"), paused);
    d.docker_ok(&["unpause", "fine"]);
    d.eventually(5, "probes again", || last_end(&d, "fine") != paused);
}

#[test]
fn a_failing_probe_makes_it_unhealthy_after_its_retries() {
    let d = Daemon::with_busybox();
    let since = (now() - 1).to_string();
    run_sleeper(
        &d,
        "sick",
        &[
            "--health-cmd",
            "echo bad >&2; exit 3",
            "--health-interval",
            "500ms",
            "--health-retries",
            "3",
        ],
    );
    let mut seen_starting_with_failures = false;
    d.eventually(10, "unhealthy", || {
        let h = health(&d, "sick");
        let failures = h["Log"].as_array().map_or(0, Vec::len);
        if h["Status"] == "starting" && failures > 0 {
            // Fewer failures than the retries keep it starting.
            assert!(h["FailingStreak"].as_i64().unwrap() < 3, "{h}");
            seen_starting_with_failures = true;
        }
        h["Status"] == "unhealthy"
    });
    assert!(
        seen_starting_with_failures,
        "it was starting between probes"
    );
    let h = health(&d, "sick");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 3, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert_eq!(log[0]["ExitCode"], 3, "{h}");
    assert_eq!(log[0]["Output"], "bad\n", "{h}");

    let out = d.berth(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    let ps = text(&out.stdout);
    assert!(ps.trim_end().ends_with("(unhealthy)"), "{ps}");
    let events = replay(&d, "berth", &since, &["event=health_status"], "{{.Action}}");
    assert_eq!(events, "health_status: unhealthy\n");

    // After a stop the monitor ends with the run; a start is `starting` again.
    d.docker_ok(&["stop", "-t", "0", "sick"]);
    let after_stop = health(&d, "sick")["Log"].as_array().unwrap().len();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        health(&d, "sick")["Log"].as_array().unwrap().len(),
        after_stop,
        "no probe runs while stopped"
    );
    d.docker_ok(&["start", "sick"]);
    let h = health(&d, "sick");
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
}

#[test]
fn a_probe_past_its_timeout_fails_with_dockers_message() {
    let d = Daemon::with_busybox();
    run_sleeper(
        &d,
        "slow",
        &[
            "--health-cmd",
            "sleep 30",
            "--health-interval",
            "200ms",
            "--health-timeout",
            "300ms",
            "--health-retries",
            "1",
        ],
    );
    d.eventually(10, "unhealthy", || status(&d, "slow") == "unhealthy");
    let h = health(&d, "slow");
    let first = &h["Log"][0];
    assert_eq!(first["ExitCode"], -1, "{h}");
    assert_eq!(
        first["Output"], "Health check exceeded timeout (300ms)",
        "{h}"
    );
    // Each probe is killed at its timeout: they do not pile up (one runs at a time).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let top = d.docker_ok(&["top", "slow", "-o", "pid,args"]);
    let probes = top.lines().filter(|l| l.contains("sleep 30")).count();
    assert!(probes <= 1, "{top}");
    assert!(health(&d, "slow")["FailingStreak"].as_i64().unwrap() >= 3);
    // The killed probes' exit records were collected, not left behind.
    let exits = std::fs::read_dir(d.exec_root().join("e"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "exit"))
        .count();
    assert!(exits <= 1, "{exits} exit records left");
}

#[test]
fn no_healthcheck_overrides_the_images_healthcheck() {
    let d = Daemon::start();
    d.docker_ok(&[
        "import",
        "-c",
        "HEALTHCHECK --interval=200ms --retries=2 CMD [\"true\"]",
        "-c",
        "CMD [\"sleep\", \"60\"]",
        busybox_tar().to_str().unwrap(),
        "checked:1",
    ]);
    assert_eq!(
        d.docker_ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Healthcheck}}",
            "checked:1"
        ])
        .trim(),
        r#"{"Test":["CMD","true"],"Interval":200000000,"Retries":2}"#
    );
    d.docker_ok(&["run", "-d", "--name", "inherits", "checked:1"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "opted-out",
        "--no-healthcheck",
        "checked:1",
    ]);
    // The request's flags override the image's field by field.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "tuned",
        "--health-retries",
        "5",
        "checked:1",
    ]);
    d.eventually(10, "healthy from the image's check", || {
        status(&d, "inherits") == "healthy"
    });
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .Config.Healthcheck}}", "tuned"])
            .trim(),
        r#"{"Test":["CMD","true"],"Interval":200000000,"Retries":5}"#
    );
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .Config.Healthcheck}}", "opted-out"])
            .trim(),
        // Docker's merge: the durations still come from the image.
        r#"{"Test":["NONE"],"Interval":200000000,"Retries":2}"#
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{json .State.Health}}", "opted-out"])
            .trim(),
        "null"
    );
    let none = d.docker_ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]);
    assert_eq!(none, "opted-out\n");
}

#[test]
fn bad_health_settings_are_refused() {
    let d = Daemon::with_busybox();
    for cli in ["docker", "berth"] {
        let out = d.cli(
            cli,
            &[
                "run",
                "--no-healthcheck",
                "--health-cmd",
                "true",
                "busybox",
                "true",
            ],
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("--no-healthcheck conflicts with --health-* options"),
            "{cli}: {}",
            text(&out.stderr)
        );
    }
    let out = d.berth(&[
        "run",
        "--health-cmd",
        "true",
        "--health-timeout",
        "-1s",
        "busybox",
        "true",
    ]);
    assert!(
        text(&out.stderr).contains("--health-timeout cannot be negative"),
        "{}",
        text(&out.stderr)
    );
    let (code, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Interval":10}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("Interval in Healthcheck cannot be less than 1ms"),
        "{body}"
    );
    let (code, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["SHELL","true"]}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid Healthcheck Test"), "{body}");
    let out = d.docker(&[
        "import",
        "-c",
        "HEALTHCHECK --every=1s CMD true",
        busybox_tar().to_str().unwrap(),
        "bad:1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("HEALTHCHECK: unknown flag --every"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "nothing was created");
}

#[test]
fn docker_py_sees_the_health() {
    let d = Daemon::with_busybox();
    let out = d.python(
        r#"
import time
c = client.containers.run("busybox", "sleep 60", detach=True, name="pyhealth",
    healthcheck={"test": ["CMD-SHELL", "exit 0"], "interval": 200_000_000})
for _ in range(100):
    c.reload()
    if c.attrs["State"]["Health"]["Status"] == "healthy":
        break
    time.sleep(0.1)
print(c.attrs["State"]["Health"]["Status"], c.health)
print([x.name for x in client.containers.list(filters={"health": "healthy"})])
"#,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "healthy healthy\n['pyhealth']\n");
}

#[test]
fn volume_and_network_events() {
    let d = Daemon::with_busybox();
    let since = (now() - 1).to_string();
    d.docker_ok(&["volume", "create", "ev-vol"]);
    d.docker_ok(&["network", "create", "ev-net"]);
    let net_id = d
        .docker_ok(&["network", "inspect", "-f", "{{.Id}}", "ev-net"])
        .trim()
        .to_string();
    let cid = d
        .docker_ok(&[
            "run",
            "-d",
            "-v",
            "ev-vol:/data",
            "--network",
            "ev-net",
            "busybox",
            "true",
        ])
        .trim()
        .to_string();
    d.eventually(10, "exited", || {
        d.docker_ok(&["inspect", "-f", "{{.State.Status}}", &cid])
            .trim()
            == "exited"
    });
    d.docker_ok(&["rm", &cid]);
    d.docker_ok(&["network", "rm", "ev-net"]);
    d.docker_ok(&["volume", "rm", "ev-vol"]);
    for cli in ["docker", "berth"] {
        let s = replay(
            &d,
            cli,
            &since,
            &["type=volume", "type=network"],
            "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}",
        );
        let expected = [
            r#"volume create ev-vol {"driver":"local"}"#.to_string(),
            format!(r#"network create {net_id} {{"name":"ev-net","type":"bridge"}}"#),
            format!(
                r#"network connect {net_id} {{"container":"{cid}","name":"ev-net","type":"bridge"}}"#
            ),
            format!(
                r#"volume mount ev-vol {{"container":"{cid}","destination":"/data","driver":"local","propagation":"","read/write":"true"}}"#
            ),
            format!(
                r#"network disconnect {net_id} {{"container":"{cid}","name":"ev-net","type":"bridge"}}"#
            ),
            format!(r#"volume unmount ev-vol {{"container":"{cid}","driver":"local"}}"#),
            format!(r#"network destroy {net_id} {{"name":"ev-net","type":"bridge"}}"#),
            r#"volume destroy ev-vol {"driver":"local"}"#.to_string(),
        ];
        assert_eq!(s.lines().collect::<Vec<_>>(), expected, "{cli}: {s}");
        let vol = replay(&d, cli, &since, &["volume=ev-vol"], "{{.Type}} {{.Action}}");
        assert_eq!(
            vol, "volume create\nvolume mount\nvolume unmount\nvolume destroy\n",
            "{cli}"
        );
        let net = replay(
            &d,
            cli,
            &since,
            &["network=ev-net"],
            "{{.Type}} {{.Action}}",
        );
        assert_eq!(
            net, "network create\nnetwork connect\nnetwork disconnect\nnetwork destroy\n",
            "{cli}"
        );
    }
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    let d = Daemon::with_busybox();
    // Fails until /ready exists; the start period is long enough to see it fail meanwhile.
    run_sleeper(
        &d,
        "warming",
        &[
            "--health-cmd",
            "test -e /ready",
            "--health-interval",
            "10s",
            "--health-start-period",
            "30s",
            "--health-start-interval",
            "200ms",
            "--health-retries",
            "1",
        ],
    );
    d.eventually(10, "failures logged", || {
        health(&d, "warming")["Log"].as_array().unwrap().len() >= 3
    });
    let h = health(&d, "warming");
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    // The start interval runs the probe while starting: success comes within it, not 10s.
    d.docker_ok(&["exec", "warming", "touch", "/ready"]);
    d.eventually(5, "healthy", || status(&d, "warming") == "healthy");
}

#[test]
fn a_new_daemon_resumes_the_probes_of_running_containers() {
    let mut d = Daemon::with_busybox();
    run_sleeper(
        &d,
        "lasting",
        &["--health-cmd", "true", "--health-interval", "200ms"],
    );
    d.eventually(10, "healthy", || status(&d, "lasting") == "healthy");
    d.terminate();
    d.launch();
    assert_eq!(status(&d, "lasting"), "healthy", "the status was kept");
    let before = last_end(&d, "lasting");
    d.eventually(5, "a probe by the new daemon", || {
        last_end(&d, "lasting") != before
    });
}

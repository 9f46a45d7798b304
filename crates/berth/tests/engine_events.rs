//! `events` through the daemon: what a `run --rm` emits, in order, replayed with `--since`;
//! filters; image events; a live stream; with the real docker CLI, docker-py and berth.

mod daemon_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use daemon_support::{Daemon, text};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn run_rm_emits_create_start_die_destroy_in_order() {
    let d = Daemon::with_busybox();
    let since = (now() - 1).to_string();
    let out = d.docker(&[
        "run", "--rm", "--name", "ev1", "--label", "tier=x", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    d.docker_ok(&["run", "-d", "--name", "other", "busybox", "true"]);
    let until = (now() + 1).to_string();
    for cli in ["docker", "berth"] {
        let args = [
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ev1",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ];
        let out = d.cli(cli, &args);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        let lines: Vec<&str> = s
            .lines()
            .filter(|l| !l.contains(" attach ") && !l.contains(" kill "))
            .collect();
        assert_eq!(
            lines,
            [
                "container create ev1 <no value>",
                "container start ev1 <no value>",
                "container die ev1 3",
                "container destroy ev1 <no value>"
            ],
            "{cli}: {s}"
        );
    }
    // Filters by label and event; the default line format.
    let out = d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "label=tier=x",
        "--filter",
        "event=die",
    ]);
    let s = text(&out.stdout);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains(" container die "), "{s}");
    assert!(
        s.contains("exitCode=3") && s.contains("name=ev1") && s.contains("tier=x"),
        "{s}"
    );
    let (code, body) = d.http(
        "GET",
        "/events?until=1&filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        None,
    );
    assert_eq!(code, 400, "{body}");
}

#[test]
fn image_and_exec_events_and_a_live_stream() {
    let d = Daemon::with_busybox();
    let since = (now() - 1).to_string();
    // A live subscriber sees what happens after it connected.
    let mut live = d
        .docker_cmd(&["events", "--format", "{{.Type}} {{.Action}}"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.docker_ok(&["tag", "busybox", "bb:two"]);
    d.docker_ok(&["rmi", "bb:two"]);
    d.docker_ok(&["run", "-d", "--name", "ev2", "busybox", "sleep", "100"]);
    d.docker_ok(&["exec", "ev2", "true"]);
    d.docker_ok(&["pause", "ev2"]);
    d.docker_ok(&["unpause", "ev2"]);
    d.docker_ok(&["rename", "ev2", "ev3"]);
    d.docker_ok(&["rm", "-f", "ev3"]);
    let mut seen = Vec::new();
    let mut lines = BufReader::new(live.stdout.take().unwrap()).lines();
    while let Some(Ok(l)) = lines.next() {
        let done = l == "container destroy";
        seen.push(l);
        if done {
            break;
        }
    }
    let _ = live.kill();
    let _ = live.wait();
    for want in [
        "image tag",
        "image untag",
        "container create",
        "container start",
        "container exec_create: true",
        "container exec_start: true",
        "container exec_die",
        "container pause",
        "container unpause",
        "container rename",
        "container kill",
        "container die",
        "container destroy",
    ] {
        assert!(
            seen.iter().any(|s| s == want),
            "{want} missing from {seen:?}"
        );
    }
    // docker-py reads the same past events, decoded (the busybox import came just before).
    let out = d.python(&format!(
        r#"
import time
evs = client.events(since={since}, until=int(time.time()) + 1, decode=True, filters={{"type": "image"}})
print(sorted(set(e["Action"] for e in evs)))
"#
    ));
    assert_eq!(
        text(&out.stdout).trim(),
        "['import', 'tag', 'untag']",
        "{}",
        text(&out.stderr)
    );
}

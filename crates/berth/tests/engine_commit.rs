//! `commit` through the real docker CLI and the berth CLI: the container's changes (files
//! added, deleted — whiteouts — and directories replaced — opaque) become a layer on top of
//! its image, `--change` and the container's own config land in the image config, `history`
//! shows the new step; bad names and missing containers are refused.

mod daemon_support;

use daemon_support::{Daemon, text};

#[test]
fn commit_keeps_additions_and_hides_deletions() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "--name",
        "first",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo old > /data/old && echo keep > /keep && echo gone > /gone",
    ]);
    let id = d.docker_ok(&[
        "commit",
        "-c",
        "ENV GREETING=hi",
        "-c",
        r#"CMD ["cat", "/keep"]"#,
        "-m",
        "first step",
        "-a",
        "Tester <t@example.com>",
        "first",
        "committed:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(d.docker_ok(&["run", "--rm", "committed:v1"]), "keep\n");
    let env = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Env}} {{.Author}} {{len .RootFS.Layers}}",
        "committed:v1",
    ]);
    assert!(env.contains("GREETING=hi"), "{env}");
    assert!(env.contains("Tester <t@example.com> 2"), "{env}");
    let history = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "committed:v1",
    ]);
    let newest = history.lines().next().unwrap();
    assert!(newest.contains("echo keep > /keep"), "{history}");
    assert!(newest.ends_with("|first step"), "{history}");

    // Deletions and a replaced directory in a second commit hide the first layer's files.
    d.docker_ok(&[
        "run",
        "--name",
        "second",
        "committed:v1",
        "sh",
        "-c",
        "rm /gone && rm -rf /data && mkdir /data && echo new > /data/new",
    ]);
    d.docker_ok(&["commit", "second", "committed:v2"]);
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        "committed:v2",
        "sh",
        "-c",
        "ls -A /data; test -e /gone && echo gone-still-there; cat /keep",
    ]);
    assert_eq!(seen, "new\nkeep\n");
    // Without --change the container's own command is the image's.
    let cmd = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}}",
        "committed:v2",
    ]);
    assert!(cmd.contains("rm /gone"), "{cmd}");
}

#[test]
fn commit_of_a_running_container_leaves_it_running() {
    let d = Daemon::with_busybox();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo up > /state; sleep 60",
    ]);
    d.eventually(10, "the file written", || {
        d.docker(&["exec", "live", "cat", "/state"])
            .status
            .success()
    });
    // The berth CLI, with the default pause.
    let out = d.berth(&["commit", "-m", "snap", "live", "live-snap"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim().starts_with("sha256:"));
    let state = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Running}} {{.State.Paused}}",
        "live",
    ]);
    assert_eq!(state.trim(), "true false");
    assert_eq!(
        d.docker_ok(&["run", "--rm", "live-snap", "cat", "/state"]),
        "up\n"
    );
    // Without pausing too; the result is dangling without a name.
    let id = d.docker_ok(&["commit", "--pause=false", "live"]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", id.trim(), "cat", "/state"]),
        "up\n"
    );
    d.docker_ok(&["rm", "-f", "live"]);
}

#[test]
fn bad_commits_are_refused() {
    let d = Daemon::with_busybox();
    let out = d.docker(&["commit", "no-such-container", "x:y"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("No such container: no-such-container"),
        "{}",
        text(&out.stderr)
    );
    d.docker_ok(&["create", "--name", "idle", "busybox", "true"]);
    let out = d.docker(&["commit", "-c", "RUN rm -rf /", "idle", "x:y"]);
    assert!(
        text(&out.stderr).contains("RUN is not a valid change command"),
        "{}",
        text(&out.stderr)
    );
    let (status, body) = d.http("POST", "/commit?container=idle&repo=Bad%20Name", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid reference format"), "{body}");
    let images = d.docker_ok(&["images", "-q"]);
    assert_eq!(images.lines().count(), 1, "only busybox: {images}");
}

#[test]
fn commit_of_a_container_never_started_adds_an_empty_layer() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["create", "--name", "fresh", "busybox", "sleep", "5"]);
    let id = d.docker_ok(&["commit", "fresh", "fresh-image:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let base = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "busybox",
    ]);
    let layers = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "fresh-image:1",
    ]);
    assert_eq!(
        layers.trim().parse::<u32>().unwrap(),
        base.trim().parse::<u32>().unwrap() + 1
    );
    let cmd = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}}",
        "fresh-image:1",
    ]);
    assert_eq!(cmd.trim(), r#"["sleep","5"]"#);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "fresh-image:1", "echo", "ok"]),
        "ok\n"
    );
}

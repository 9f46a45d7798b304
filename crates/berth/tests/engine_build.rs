//! Builds through the real docker CLI (`DOCKER_BUILDKIT=0`, the classic builder's API) and
//! docker-py: each instruction's effect on the image's config and files, a deletion in a
//! later step hidden, `.dockerignore` with exceptions, multi-stage with `--target`,
//! `FROM scratch` with a static binary, and bad input refused with what was wrong.

mod build_support;
mod daemon_support;

use build_support::{build, build_ok, context};
use daemon_support::{Daemon, Registry, text};

fn inspect(d: &Daemon, image: &str, format: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", format, image])
        .trim()
        .to_string()
}

#[test]
fn each_instruction_shapes_the_image() {
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE}
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MODE="two words"
LABEL org.example.name="demo" version=${GREETING}
WORKDIR $APP_HOME
COPY --chmod=755 app.sh ./
COPY conf/ /etc/demo/
ADD bundle.tar /opt/
RUN echo "$GREETING from $MODE" > built.txt && rm /etc/demo/drop.conf
RUN <<EOF
echo "global [$BASE] stays out of the stage" > /scoped
EOF
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER 1000:1000
STOPSIGNAL SIGINT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["./app.sh"]
"#,
        ),
        ("app.sh", "#!/bin/sh\ncat built.txt\n"),
        ("conf/a.conf", "a=1\n"),
        ("conf/drop.conf", "gone\n"),
    ]);
    // A tar in the context is unpacked by ADD.
    let bundle = ctx.path().join("bundle.tar");
    let mut t = tar::Builder::new(std::fs::File::create(&bundle).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_cksum();
    t.append_data(&mut h, "pkg/readme", &b"inside"[..]).unwrap();
    t.finish().unwrap();
    drop(t);

    let out = build_ok(
        &d,
        ctx.path(),
        &[
            "-t",
            "demo:1",
            "-t",
            "demo:latest",
            "--build-arg",
            "GREETING=hi",
            "--label",
            "extra=yes",
        ],
    );
    assert!(out.contains("Step 1/16 : FROM ${BASE}"), "{out}");
    assert!(out.contains("Successfully built"), "{out}");
    assert!(out.contains("Successfully tagged demo:1"), "{out}");
    assert!(out.contains("Successfully tagged demo:latest"), "{out}");

    assert_eq!(
        d.docker_ok(&["run", "--rm", "demo:1"]),
        "hi from two words\n"
    );
    let files = d.docker_ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "demo:1",
        "-c",
        "stat -c '%a %u' app.sh; ls /etc/demo; cat /opt/pkg/readme; echo; pwd; cat /scoped",
    ]);
    assert_eq!(
        files,
        "755 0\na.conf\ninside\n/srv/app\nglobal [] stays out of the stage\n"
    );
    assert_eq!(inspect(&d, "demo:1", "{{.Config.User}}"), "1000:1000");
    assert_eq!(inspect(&d, "demo:1", "{{.Config.WorkingDir}}"), "/srv/app");
    assert_eq!(inspect(&d, "demo:1", "{{.Config.StopSignal}}"), "SIGINT");
    assert_eq!(
        inspect(
            &d,
            "demo:1",
            "{{json .Config.Entrypoint}} {{json .Config.Cmd}}"
        ),
        r#"["/bin/sh","-c"] ["./app.sh"]"#
    );
    let env = inspect(&d, "demo:1", "{{json .Config.Env}}");
    assert!(
        env.contains("APP_HOME=/srv/app") && env.contains("MODE=two words"),
        "{env}"
    );
    let labels = inspect(&d, "demo:1", "{{json .Config.Labels}}");
    assert!(labels.contains(r#""org.example.name":"demo""#), "{labels}");
    assert!(labels.contains(r#""version":"hi""#), "{labels}");
    assert!(labels.contains(r#""extra":"yes""#), "{labels}");
    let ports = inspect(&d, "demo:1", "{{json .Config.ExposedPorts}}");
    assert!(
        ports.contains("8080/tcp") && ports.contains("53/udp"),
        "{ports}"
    );
    assert!(inspect(&d, "demo:1", "{{json .Config.Volumes}}").contains("/data"));
    let history = d.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "demo:1",
    ]);
    assert!(
        history.contains("#(nop)  ENV APP_HOME=/srv/app"),
        "{history}"
    );
    assert!(
        history.contains("|1 GREETING=hi /bin/sh -c echo"),
        "{history}"
    );
}

#[test]
fn dockerignore_exceptions_and_multi_stage_target() {
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox AS builder\nRUN mkdir /out && echo compiled > /out/bin\n\
             FROM busybox AS unused\nRUN exit 7\n\
             FROM scratch AS final\nCOPY --from=builder /out/bin /bin/app\nCOPY . /ctx/\n\
             FROM busybox AS tools\nCOPY --from=final /ctx /ctx\n",
        ),
        (".dockerignore", "*.log\n!keep.log\nsecret/\n"),
        ("a.log", "no\n"),
        ("keep.log", "yes\n"),
        ("secret/key", "k\n"),
        ("src/main.c", "int main;\n"),
    ]);
    let out = build_ok(&d, ctx.path(), &["-t", "multi", "--target", "tools"]);
    assert!(!out.contains("exit 7"), "the unused stage ran: {out}");
    let listing = d.docker_ok(&[
        "run",
        "--rm",
        "multi",
        "sh",
        "-c",
        "cd /ctx && find . -type f | sort",
    ]);
    assert_eq!(
        listing,
        "./.dockerignore\n./Dockerfile\n./keep.log\n./src/main.c\n"
    );
    let out = build_ok(&d, ctx.path(), &["-t", "final-only", "--target", "final"]);
    assert!(
        out.contains("Successfully tagged final-only:latest"),
        "{out}"
    );
    // FROM scratch: only what was copied.
    assert_eq!(inspect(&d, "final-only", "{{len .RootFS.Layers}}"), "2");
    // Quiet: the id alone, the id the image has.
    let quiet = build_ok(&d, ctx.path(), &["-q", "--target", "final"]);
    assert_eq!(
        quiet.trim(),
        inspect(&d, "final-only", "{{.Id}}"),
        "{quiet}"
    );
}

#[test]
fn from_scratch_with_a_static_binary_and_a_deletion_hidden() {
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox mkdir -p /usr/bin && /bin/busybox --install -s && echo tmp > /tmp-file\"]\nRUN rm /tmp-file\nCMD [\"/bin/busybox\", \"sh\", \"-c\", \"ls / ; test -e /tmp-file || echo hidden\"]\n",
    )]);
    std::fs::copy("/bin/busybox", ctx.path().join("busybox")).unwrap();
    build_ok(&d, ctx.path(), &["-t", "static"]);
    let out = d.docker_ok(&["run", "--rm", "static"]);
    assert!(out.ends_with("hidden\n"), "{out}");
    assert!(!out.contains("tmp-file"), "{out}");
}

#[test]
fn bad_builds_are_refused_with_what_was_wrong() {
    let d = Daemon::with_busybox();
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUN true\n  BOGUS x\n",
            "line 3: unknown instruction: BOGUS",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "forbidden path outside the build context",
        ),
        ("FROM busybox\nCOPY link /x\n", "leads out of it"),
        (
            "FROM busybox\nRUN echo failing-output; exit 3\n",
            "returned a non-zero code: 3",
        ),
        (
            "FROM 127.0.0.1:9/missing/image\n",
            "127.0.0.1:9/missing/image",
        ),
        (
            "FROM busybox AS a\nCOPY --from=a /x /y\n",
            "circular dependency",
        ),
        (
            "FROM busybox\nONBUILD ONBUILD RUN true\n",
            "ONBUILD isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM busybox\nADD http://127.0.0.1:9/x /x\n",
            "ADD http://127.0.0.1:9/x: cannot fetch it",
        ),
    ];
    for (dockerfile, expected) in cases {
        let ctx = context(&[("Dockerfile", dockerfile)]);
        std::os::unix::fs::symlink("/etc/passwd", ctx.path().join("link")).unwrap();
        let out = build(&d, ctx.path(), &["-t", "never:tagged"]);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{dockerfile}: {all}");
        assert!(
            all.contains(expected),
            "{dockerfile}: expected {expected:?} in {all}"
        );
        if dockerfile.contains("exit 3") {
            assert!(all.contains("failing-output"), "{all}");
        }
    }
    let images = d.docker(&["image", "inspect", "never:tagged"]);
    assert!(!images.status.success(), "a failed build tagged its image");
}

#[test]
fn docker_py_builds() {
    let d = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nARG WHO\nRUN echo built-by-$WHO > /who\nCMD [\"cat\", \"/who\"]\n",
    )]);
    let script = format!(
        r#"
import docker
c = docker.from_env()
img, logs = c.images.build(path={path:?}, tag="pybuilt:1", buildargs={{"WHO": "py"}})
print("".join(l.get("stream", "") for l in logs))
print(c.containers.run("pybuilt:1", remove=True).decode())
try:
    c.images.build(path={path:?}, dockerfile="Nope")
except docker.errors.APIError as e:
    print("refused:", e)
"#,
        path = ctx.path().to_str().unwrap()
    );
    let out = d.python(&script);
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(shown.contains("Successfully tagged pybuilt:1"), "{shown}");
    assert!(shown.contains("built-by-py\n"), "{shown}");
    assert!(
        shown.contains("refused:") && shown.contains("Cannot locate specified Dockerfile"),
        "{shown}"
    );
}

#[test]
fn cache_hits_until_the_changed_step_and_survives_a_restart() {
    let mut d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV A=1\nRUN echo ran-first; touch /first\nCOPY input.txt /input.txt\nRUN echo ran-second; cat /input.txt > /second\nCMD [\"cat\", \"/second\"]\n",
        ),
        ("input.txt", "v1\n"),
    ]);
    let cold = build_ok(&d, ctx.path(), &["-t", "cached"]);
    assert!(
        cold.contains("\nran-first\n") && cold.contains("\nran-second\n"),
        "{cold}"
    );
    let id = inspect(&d, "cached", "{{.Id}}");
    // Only the tagged image is listed; the steps show with -a.
    let listed = d.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert_eq!(
        listed.lines().filter(|l| *l == "<none>").count(),
        0,
        "{listed}"
    );
    let all = d.docker_ok(&["images", "-a", "-q"]);
    assert!(all.lines().count() > 3, "{all}");

    // Unchanged, after a daemon restart: every step from the cache, no RUN output.
    d.terminate();
    d.launch();
    let warm = build_ok(&d, ctx.path(), &["-t", "cached"]);
    assert_eq!(warm.matches("Using cache").count(), 5, "{warm}");
    assert!(
        !warm.contains("\nran-first\n") && !warm.contains("Running in"),
        "{warm}"
    );
    assert_eq!(inspect(&d, "cached", "{{.Id}}"), id);

    // The copied file changes: the steps before it hit, COPY and what follows run again.
    std::fs::write(ctx.path().join("input.txt"), "v2\n").unwrap();
    let changed = build_ok(&d, ctx.path(), &["-t", "cached"]);
    assert_eq!(changed.matches("Using cache").count(), 2, "{changed}");
    assert!(
        !changed.contains("\nran-first\n") && changed.contains("\nran-second\n"),
        "{changed}"
    );
    assert_eq!(d.docker_ok(&["run", "--rm", "cached"]), "v2\n");

    // --no-cache runs everything; after builder prune nothing hits either.
    let fresh = build_ok(&d, ctx.path(), &["--no-cache", "-t", "cached"]);
    assert!(
        !fresh.contains("Using cache") && fresh.contains("\nran-first\n"),
        "{fresh}"
    );
    d.docker_ok(&["builder", "prune", "-f"]);
    let pruned = build_ok(&d, ctx.path(), &["-t", "cached"]);
    assert!(!pruned.contains("Using cache"), "{pruned}");

    // rmi takes along the steps it was built of that nothing else uses, as Docker's does
    // (steps shared with the earlier builds' images stay); busybox stays.
    let before = d.docker_ok(&["images", "-a", "-q"]).lines().count();
    let removed = d.docker_ok(&["rmi", "cached"]);
    let deleted = removed.matches("Deleted:").count();
    assert!(deleted >= 2, "{removed}");
    let after = d.docker_ok(&["images", "-a", "-q"]).lines().count();
    assert_eq!(after, before - deleted, "{removed}");
    d.docker_ok(&["image", "inspect", "busybox"]);
}

#[test]
fn berth_cli_builds_with_its_flags() {
    let d = Daemon::with_busybox();
    let ctx = context(&[
        (
            "docker/app.Dockerfile",
            "FROM busybox AS base\nARG FLAVOR=plain\nCOPY . /ctx\nRUN echo $FLAVOR > /flavor\nFROM base AS extra\nRUN touch /extra\n",
        ),
        (".dockerignore", "cache\n!cache/keep\n*.tmp\n"),
        ("cache/drop", "x"),
        ("cache/keep", "kept"),
        ("scratch.tmp", "x"),
        ("main.txt", "main"),
    ]);
    let iid = ctx.path().join("iid");
    let file = ctx.path().join("docker/app.Dockerfile");
    let out = d.berth(&[
        "build",
        "-t",
        "clibuilt:1",
        "-f",
        file.to_str().unwrap(),
        "--build-arg",
        "FLAVOR=spicy",
        "--target",
        "base",
        "--label",
        "via=berth",
        "--iidfile",
        iid.to_str().unwrap(),
        ctx.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let shown = text(&out.stdout);
    assert!(shown.contains("Step 1/4 : FROM busybox AS base"), "{shown}");
    assert!(shown.contains("Successfully tagged clibuilt:1"), "{shown}");
    // Each step's result line carries its time.
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with(" ---> ") && l.ends_with("s)")),
        "{shown}"
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(inspect(&d, "clibuilt:1", "{{.Id}}"), id);
    assert_eq!(
        inspect(&d, "clibuilt:1", "{{index .Config.Labels \"via\"}}"),
        "berth"
    );
    let files = d.docker_ok(&[
        "run",
        "--rm",
        "clibuilt:1",
        "sh",
        "-c",
        "cat /flavor; cd /ctx && find . -type f | sort; test -e /extra && echo extra-ran; true",
    ]);
    assert_eq!(
        files,
        "spicy\n./.dockerignore\n./cache/keep\n./docker/app.Dockerfile\n./main.txt\n"
    );
    // -q prints the id only; a Dockerfile on stdin builds without a context.
    let out = d.berth_stdin(&["build", "-q", "-"], b"FROM busybox\nLABEL from=stdin\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let quiet = text(&out.stdout);
    assert!(
        quiet.trim().starts_with("sha256:") && quiet.lines().count() == 1,
        "{quiet}"
    );
    let out = d.berth_stdin(&["build", "-"], b"FROM busybox\nNOPE x\n");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown instruction: NOPE"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_built_image_pushes_and_pulls_back() {
    let reg = Registry::start();
    let d = Daemon::with_busybox();
    let image = format!("{}/built/app:1", reg.addr());
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY msg /msg\nRUN rm /bin/ls\nCMD [\"cat\", \"/msg\"]\n",
        ),
        ("msg", "from the registry\n"),
    ]);
    build_ok(&d, ctx.path(), &["-t", &image]);
    let out = d.docker_ok(&["push", &image]);
    assert!(out.contains(": Pushed"), "{out}");
    d.docker_ok(&["rmi", &image]);
    let other = Daemon::start();
    other.docker_ok(&["pull", &image]);
    assert_eq!(
        other.docker_ok(&["run", "--rm", &image]),
        "from the registry\n"
    );
    let gone = other.docker(&["run", "--rm", &image, "ls"]);
    assert!(!gone.status.success(), "the deleted /bin/ls is back");
}

/// Serves `body` once over HTTP on 127.0.0.1; returns the port.
fn serve_once(body: &'static [u8]) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let mut conn = conn;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(body).unwrap();
    });
    port
}

#[test]
fn add_fetches_a_url() {
    let d = Daemon::with_busybox();
    let port = serve_once(b"fetched over http\n");
    let dockerfile =
        format!("FROM busybox\nADD http://127.0.0.1:{port}/files/notes.txt?v=1 /srv/\n");
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    build_ok(&d, ctx.path(), &["-t", "added"]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "added",
        "sh",
        "-c",
        "stat -c %a /srv/notes.txt; cat /srv/notes.txt",
    ]);
    assert_eq!(out, "600\nfetched over http\n");
}

#[test]
fn workdir_and_user_apply_to_run_and_a_missing_workdir_is_made() {
    let d = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nWORKDIR /made/here\nRUN pwd > /where\nUSER 4242\nRUN id -u\nCMD cat /where\n",
    )]);
    let out = build_ok(&d, ctx.path(), &["-t", "wd"]);
    assert!(out.contains("\n4242\n"), "{out}");
    assert_eq!(d.docker_ok(&["run", "--rm", "wd"]), "/made/here\n");
    assert_eq!(
        inspect(&d, "wd", "{{json .Config.Cmd}}"),
        r#"["/bin/sh","-c","cat /where"]"#
    );
}

#[test]
fn healthcheck_is_written_inherited_and_reset() {
    let d = Daemon::with_busybox();
    let base = context(&[(
        "Dockerfile",
        "FROM busybox\nHEALTHCHECK --interval=5s --retries=2 CMD test -d /\n",
    )]);
    build_ok(&d, base.path(), &["-t", "hc-base"]);
    assert_eq!(
        inspect(
            &d,
            "hc-base",
            "{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}"
        ),
        r#"["CMD-SHELL","test -d /"] 5s 2"#
    );
    // A build on it keeps its check; HEALTHCHECK NONE turns it off.
    let child = context(&[("Dockerfile", "FROM hc-base\nENV X=1\n")]);
    build_ok(&d, child.path(), &["-t", "hc-child"]);
    assert_eq!(
        inspect(&d, "hc-child", "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD-SHELL","test -d /"]"#
    );
    let none = context(&[("Dockerfile", "FROM hc-base\nHEALTHCHECK NONE\n")]);
    build_ok(&d, none.path(), &["-t", "hc-none"]);
    assert_eq!(
        inspect(&d, "hc-none", "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    // The container built from the base runs the check.
    d.docker_ok(&["run", "-d", "--name", "hc", "hc-base", "sleep", "1000"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.Config.Healthcheck.Retries}}", "hc"])
            .trim(),
        "2"
    );
    d.docker_ok(&["rm", "-f", "hc"]);
}

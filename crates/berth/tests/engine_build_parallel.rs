//! Independent stages build at the same time, through the real docker CLI
//! (`DOCKER_BUILDKIT=0`): each of two stages' RUN waits for a file only the test creates, and
//! the test creates it (with `docker exec`) only once both RUN containers are running — a
//! builder that ran the stages one after the other never gets there. The output keeps
//! Docker's stage order. A failing stage fails the build with its error and cancels the
//! others (a waiting RUN is killed), leaving no container, snapshot or tag behind.

mod build_support;
mod daemon_support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use build_support::{build_cmd, context};
use daemon_support::Daemon;

fn spawn_build(d: &Daemon, dir: &Path, tag: &str) -> Child {
    build_cmd(d, dir, &["-t", tag])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The build's exit status, stdout and stderr; killed and failed if it outlives `limit`
/// (a build that hangs is the failure these tests look for).
fn finish(mut child: Child, limit: Duration) -> (bool, String, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the build did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), out, err)
}

fn running(d: &Daemon) -> Vec<String> {
    d.docker_ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect()
}

fn dockerfile(text: &str) -> tempfile::TempDir {
    context(&[("Dockerfile", text)])
}

const WAIT_FOR_GO: &str = "while [ ! -e /go ]; do sleep 0.1; done";

#[test]
fn independent_stages_run_at_the_same_time() {
    let d = Daemon::with_busybox();
    let ctx = dockerfile(&format!(
        "FROM busybox AS a\n\
         RUN echo a-start; {WAIT_FOR_GO}; echo a-done > /a\n\
         FROM busybox AS b\n\
         RUN echo b-start; {WAIT_FOR_GO}; echo b-done > /b\n\
         FROM busybox\n\
         COPY --from=a /a /a\n\
         COPY --from=b /b /b\n\
         CMD [\"cat\", \"/a\", \"/b\"]\n"
    ));
    let child = spawn_build(&d, ctx.path(), "par-ok:1");
    // Both RUN containers exist at once, or the build never finishes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let both = loop {
        let ids = running(&d);
        if ids.len() == 2 {
            break ids;
        }
        assert!(ids.len() < 2, "{ids:?}");
        if Instant::now() > deadline {
            let (_, out, err) = finish(child, Duration::ZERO);
            panic!("the two stages' RUN containers never ran together: {out}{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for id in &both {
        d.docker_ok(&["exec", id, "touch", "/go"]);
    }
    let (ok, out, err) = finish(child, Duration::from_secs(120));
    assert!(ok, "{out}{err}\n{}", d.log());
    assert_eq!(
        d.docker_ok(&["run", "--rm", "par-ok:1"]),
        "a-done\nb-done\n"
    );
    // Stage order and step numbers as a one-at-a-time build prints them.
    let at = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing from {out}"))
    };
    let marks = [
        at("Step 1/8 : FROM busybox AS a"),
        at("a-start"),
        at("Step 3/8 : FROM busybox AS b"),
        at("b-start"),
        at("Step 5/8 : FROM busybox\n"),
        at("Step 8/8 : CMD"),
        at("Successfully tagged par-ok:1"),
    ];
    assert!(marks.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn a_failing_stage_fails_the_build_and_cancels_the_others() {
    let d = Daemon::with_busybox();
    let ctx = dockerfile(&format!(
        "FROM busybox AS slow\n\
         RUN echo slow-waits; while [ ! -e /never ]; do sleep 0.1; done\n\
         RUN echo slow-second-step\n\
         FROM busybox AS bad\n\
         RUN echo bad-output; {WAIT_FOR_GO}; exit 5\n\
         FROM busybox\n\
         COPY --from=slow /bin/busybox /s\n\
         COPY --from=bad /bin/busybox /b\n"
    ));
    // The bad stage fails only once both RUN containers run; the slow one waits for a file
    // nobody creates: only the cancellation (killing it) ends the build.
    let child = spawn_build(&d, ctx.path(), "par-bad:1");
    let deadline = Instant::now() + Duration::from_secs(120);
    let both = loop {
        let ids = running(&d);
        if ids.len() == 2 {
            break ids;
        }
        if Instant::now() > deadline {
            let (_, out, err) = finish(child, Duration::ZERO);
            panic!("the two stages' RUN containers never ran together: {out}{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Once the bad stage's container has it, the other may already be killed.
    for id in &both {
        let _ = d.docker(&["exec", id, "touch", "/go"]);
    }
    let (ok, out, err) = finish(child, Duration::from_secs(120));
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!(
            "The command '/bin/sh -c echo bad-output; {WAIT_FOR_GO}; exit 5' returned a non-zero code: 5"
        )),
        "{err}"
    );
    assert!(
        out.contains("slow-waits") && out.contains("bad-output"),
        "{out}"
    );
    assert!(!out.contains("slow-second-step"), "{out}");
    assert!(!out.contains("Step 6/8"), "{out}");
    assert!(
        !d.docker(&["image", "inspect", "par-bad:1"])
            .status
            .success(),
        "nothing is tagged"
    );
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "a build container is left");
    // Removed layers are deleted on a thread of their own after their rename.
    let layers = d.data_root().join("overlay/containers");
    d.eventually(30, "the build containers' layers deleted", || {
        std::fs::read_dir(&layers).map_or(true, |mut r| r.next().is_none())
    });
}

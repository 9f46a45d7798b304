//! `ONBUILD` through the real docker CLI (`DOCKER_BUILDKIT=0`): a parent's triggers are
//! stored in its config's `OnBuild`, run right after a child build's `FROM` in the child's
//! context (announced as Docker's classic builder does), cached like other steps, and cleared
//! from the child's image; a bad or failing trigger fails the child's build by name.

mod build_support;
mod daemon_support;

use build_support::{build, build_ok, context};
use daemon_support::{Daemon, text};

fn on_build(d: &Daemon, image: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", "{{json .Config.OnBuild}}", image])
        .trim()
        .to_string()
}

#[test]
fn triggers_run_in_the_child_build_and_are_not_inherited() {
    let d = Daemon::with_busybox();
    let parent = context(&[
        (
            "Dockerfile",
            "FROM busybox\nONBUILD COPY marker /m\nONBUILD RUN cp /m /triggered\nCMD [\"cat\", \"/triggered\"]\n",
        ),
        ("marker", "from the parent's context\n"),
    ]);
    let out = build_ok(&d, parent.path(), &["-t", "onb-parent:1"]);
    assert!(!out.contains("build trigger"), "{out}");
    assert_eq!(
        on_build(&d, "onb-parent:1"),
        r#"["COPY marker /m","RUN cp /m /triggered"]"#
    );
    let history = d.docker_ok(&["history", "--no-trunc", "onb-parent:1"]);
    assert!(
        history.contains("/bin/sh -c #(nop)  ONBUILD COPY marker /m"),
        "{history}"
    );
    // The parent itself ran nothing: no /triggered.
    let out = d.docker(&["run", "--rm", "onb-parent:1", "ls", "/triggered"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));

    let child = context(&[
        ("Dockerfile", "FROM onb-parent:1\nRUN cat /triggered\n"),
        ("marker", "from the child's context\n"),
    ]);
    let out = build_ok(&d, child.path(), &["-t", "onb-child:1"]);
    assert!(out.contains("Step 1/2 : FROM onb-parent:1"), "{out}");
    let at = out
        .find("# Executing 2 build triggers\n")
        .unwrap_or_else(|| panic!("no trigger banner: {out}"));
    assert!(
        at < out.find("Step 2/2").unwrap(),
        "the triggers run right after FROM: {out}"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", "onb-child:1"]),
        "from the child's context\n"
    );
    assert_eq!(on_build(&d, "onb-child:1"), "null");

    // Unchanged, the triggers are cache hits; a changed marker misses from its COPY.
    let again = build_ok(&d, child.path(), &["-t", "onb-child:2"]);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    std::fs::write(child.path().join("marker"), "changed\n").unwrap();
    let changed = build_ok(&d, child.path(), &["-t", "onb-child:3"]);
    assert!(!changed.contains("Using cache"), "{changed}");
    assert_eq!(d.docker_ok(&["run", "--rm", "onb-child:3"]), "changed\n");

    // A grandchild of the child runs no trigger.
    let grandchild = context(&[("Dockerfile", "FROM onb-child:1\nRUN true\n")]);
    let out = build_ok(&d, grandchild.path(), &[]);
    assert!(!out.contains("build trigger"), "{out}");
}

#[test]
fn commit_change_adds_a_trigger() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["run", "--name", "onb-commit", "busybox", "true"]);
    d.docker_ok(&[
        "commit",
        "--change",
        "ONBUILD RUN echo one",
        "--change",
        "ONBUILD ENV X=1",
        "onb-commit",
        "onb-committed:1",
    ]);
    assert_eq!(
        on_build(&d, "onb-committed:1"),
        r#"["RUN echo one","ENV X=1"]"#
    );
    let out = d.docker(&[
        "commit",
        "--change",
        "ONBUILD FROM busybox",
        "onb-commit",
        "onb-committed:2",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("FROM isn't allowed as an ONBUILD trigger"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_or_failing_triggers_fail_the_child_build() {
    let d = Daemon::with_busybox();
    let bogus = context(&[("Dockerfile", "FROM busybox\nONBUILD BOGUS x\n")]);
    build_ok(&d, bogus.path(), &["-t", "onb-bogus:1"]);
    let failing = context(&[("Dockerfile", "FROM busybox\nONBUILD RUN exit 7\n")]);
    build_ok(&d, failing.path(), &["-t", "onb-failing:1"]);

    let child = context(&[("Dockerfile", "FROM onb-bogus:1\nRUN true\n")]);
    let out = build(&d, child.path(), &["-t", "onb-bad-child:1"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"ONBUILD trigger "BOGUS x" of onb-bogus:1"#)
            && err.contains("unknown instruction: BOGUS"),
        "{err}"
    );

    std::fs::write(
        child.path().join("Dockerfile"),
        "FROM onb-failing:1\nRUN true\n",
    )
    .unwrap();
    let out = build(&d, child.path(), &["-t", "onb-bad-child:1"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(r#"ONBUILD trigger "RUN exit 7""#)
            && err.contains("returned a non-zero code: 7"),
        "{err}"
    );
    assert!(
        !d.docker(&["image", "inspect", "onb-bad-child:1"])
            .status
            .success(),
        "nothing is tagged"
    );
}

#[test]
fn a_trigger_may_copy_from_an_earlier_stage_of_the_child_build() {
    // The plan cannot see that the `triggered` stage reads `maker` (the trigger is in the base
    // image), so the two are built side by side; the trigger waits for `maker` when it runs.
    let d = Daemon::with_busybox();
    let parent = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD COPY --from=maker /made /from-maker\n",
    )]);
    build_ok(&d, parent.path(), &["-t", "onb-from:1"]);
    let child = context(&[(
        "Dockerfile",
        "FROM busybox AS maker\nRUN sleep 1 && echo made > /made\n\
         FROM onb-from:1 AS triggered\n\
         FROM busybox\nCOPY --from=maker /made /direct\n\
         COPY --from=triggered /from-maker /via-trigger\nCMD [\"cat\", \"/via-trigger\"]\n",
    )]);
    build_ok(&d, child.path(), &["-t", "onb-from-child:1"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "onb-from-child:1"]), "made\n");
    // A stage the build does not run (unused, or later): refused, naming it.
    for dockerfile in [
        "FROM busybox AS maker\nRUN true\nFROM onb-from:1\n",
        "FROM onb-from:1 AS t\nFROM busybox AS maker\nRUN true\n\
         FROM busybox\nCOPY --from=t /from-maker /x\n",
    ] {
        let ctx = context(&[("Dockerfile", dockerfile)]);
        let out = build(&d, ctx.path(), &[]);
        assert!(!out.status.success(), "{dockerfile}");
        assert!(
            text(&out.stderr).contains("--from=maker: that stage is not an earlier one"),
            "{}",
            text(&out.stderr)
        );
    }
}

//! Error handling: every failure is a non-zero exit and leaves no state entry
//! and no cgroup behind.
mod common;
use common::*;
use serde_json::json;

/// create must fail; run must fail too; neither leaves anything behind.
fn expect_create_and_run_fail(rt: &Runtime, b: &Bundle, what: &str) {
    let k = rt.kind;
    let id = rt.id("err");
    let o = rt.create(b, &id);
    assert_fail(k, &format!("create with {what}"), &o);
    rt.assert_nothing_left(b, &id);
    let id = rt.id("err");
    let o = rt.run(b, &id);
    assert_fail(k, &format!("run with {what}"), &o);
    rt.assert_nothing_left(b, &id);
}

#[test]
fn missing_bundle_dir() {
    for rt in runtimes() {
        let k = rt.kind;
        let b = rt.bundle();
        let missing = b.dir.join("does-not-exist");
        let id = rt.id("nobundle");
        rt.track(&id);
        let o = rt.out(&["create", "--bundle", missing.to_str().unwrap(), &id]);
        assert_fail(k, "create with missing bundle", &o);
        rt.assert_nothing_left(&b, &id);
        let o = rt.out(&["run", "--bundle", missing.to_str().unwrap(), &id]);
        assert_fail(k, "run with missing bundle", &o);
        rt.assert_nothing_left(&b, &id);
    }
}

#[test]
fn invalid_config_json() {
    for rt in runtimes() {
        let k = rt.kind;
        let b = rt.bundle();
        let id = rt.id("badjson");
        b.save();
        std::fs::write(
            b.dir.join("config.json"),
            "{\"ociVersion\": \"1.0.2\", \"process\": ",
        )
        .unwrap();
        rt.track(&id);
        let o = rt.out(&["create", "--bundle", b.path_str(), &id]);
        assert_fail(k, "create with invalid JSON", &o);
        rt.assert_nothing_left(&b, &id);
        // Missing config.json altogether.
        std::fs::remove_file(b.dir.join("config.json")).unwrap();
        let o = rt.out(&["create", "--bundle", b.path_str(), &id]);
        assert_fail(k, "create without config.json", &o);
        rt.assert_nothing_left(&b, &id);
    }
}

#[test]
fn unknown_namespace_type() {
    for rt in runtimes() {
        let mut b = rt.bundle();
        b.add_namespace(json!({"type": "foo"}));
        b.args(&["true"]);
        expect_create_and_run_fail(&rt, &b, "namespace type foo");
    }
}

/// An unknown capability name is bad input: berth refuses the config and names it. runc 1.1.5
/// only warns (`ignoring unknown or unavailable capabilities: [CAP_FOO]`) and runs with the
/// known ones; that leniency hides typos in security settings, so here berth deliberately
/// differs, and for runc the test only checks its documented warning.
#[test]
fn unknown_capability_is_refused() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        for set in ["bounding", "effective", "permitted"] {
            b.config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_FOO"));
        }
        b.args(&["true"]);
        if rt.is_berth() {
            let id = rt.id("capfoo");
            let o = rt.create(&b, &id);
            assert_fail(k, "create with CAP_FOO", &o);
            assert!(
                stderr(&o).contains("CAP_FOO"),
                "{k}: error does not name CAP_FOO: {}",
                show(&o)
            );
            rt.assert_nothing_left(&b, &id);
        } else {
            let id = rt.id("capfoo");
            let o = rt.run(&b, &id);
            assert_ok(k, "run with CAP_FOO", &o);
            assert!(
                stderr(&o).contains("CAP_FOO"),
                "{k}: no warning naming CAP_FOO: {}",
                show(&o)
            );
            rt.assert_nothing_left(&b, &id);
        }
    }
}

#[test]
fn nonexistent_rootfs() {
    for rt in runtimes() {
        let mut b = rt.bundle();
        b.set("/root/path", json!("no-such-rootfs"));
        b.args(&["true"]);
        expect_create_and_run_fail(&rt, &b, "missing rootfs");
    }
}

#[test]
fn nonexistent_program() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["/no/such/program"]);
        let id = rt.id("noprog");
        let o = rt.run(&b, &id);
        assert_fail(k, "run of a missing program", &o);
        rt.assert_nothing_left(&b, &id);
    }
}

#[test]
fn duplicate_id() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("dup");
        let pid = rt.create_start(&b, &id);
        let mut b2 = rt.bundle();
        b2.args(&["sleep", "100"]);
        let o = rt.create(&b2, &id);
        assert_fail(k, "create with duplicate id", &o);
        let o = rt.run(&b2, &id);
        assert_fail(k, "run with duplicate id", &o);
        assert_eq!(rt.status(&id), "running", "{k}: first container disturbed");
        assert_eq!(rt.pid(&id), pid, "{k}: first container's pid changed");
        assert!(
            b2.cgroup_dirs().iter().all(|p| !p.exists()),
            "{k}: second cgroup created"
        );
    }
}

#[test]
fn start_not_created() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("startrun");
        rt.create_start(&b, &id);
        assert_fail(k, "start of running container", &rt.start(&id));
        assert_ok(k, "kill", &rt.kill(&id, "KILL"));
        assert!(rt.wait_status(&id, "stopped", 5), "{k}: not stopped");
        assert_fail(k, "start of stopped container", &rt.start(&id));
        assert_eq!(rt.status(&id), "stopped", "{k}");
    }
}

#[test]
fn unknown_id_commands_fail() {
    for rt in runtimes() {
        let k = rt.kind;
        let id = rt.id("ghost");
        for args in [
            vec!["state", &id],
            vec!["kill", &id, "KILL"],
            vec!["delete", &id],
            vec!["start", &id],
            vec!["pause", &id],
            vec!["resume", &id],
            vec!["ps", &id],
        ] {
            let o = rt.out(&args);
            assert_fail(k, &format!("{args:?}"), &o);
        }
        assert!(rt.list_ids().is_empty(), "{k}: list not empty");
    }
}

#[test]
fn invalid_ids_refused() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        for bad in ["../escape", "a/b", ".."] {
            let o = rt.out(&["create", "--bundle", b.path_str(), bad]);
            assert_fail(k, &format!("create with id {bad:?}"), &o);
        }
        assert!(
            !rt.root.parent().unwrap().join("escape").exists(),
            "{k}: state escaped --root"
        );
        assert!(
            b.cgroup_dirs().iter().all(|p| !p.exists()),
            "{k}: cgroup created for invalid id"
        );
    }
}

/// Lays out what a runtime killed in the middle of `create` leaves: the state directory with
/// the frozen config and a `creator` file, and the cgroup directories, but no state file.
fn abandoned_create(rt: &Runtime, b: &Bundle, id: &str, creator: &str) -> std::path::PathBuf {
    b.save();
    let dir = rt.root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("creator"), creator).unwrap();
    std::fs::copy(b.dir.join("config.json"), dir.join("config.json")).unwrap();
    for cg in b.cgroup_dirs() {
        std::fs::create_dir_all(cg).unwrap();
    }
    dir
}

/// berth-only: a runtime that died mid-create must not leave the id stuck.
#[test]
fn abandoned_create_is_cleaned_by_delete_and_create() {
    for rt in berth_only() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        let id = rt.id("abandoned");
        rt.track(&id);
        // A creator that no longer runs: pid 2^22 is above pid_max's default range.
        let dir = abandoned_create(&rt, &b, &id, "4194304 1");
        assert!(
            rt.list_ids().is_empty(),
            "{k}: a half-made container is listed"
        );
        let o = rt.delete(&id, false);
        assert_ok(k, "delete of an abandoned create", &o);
        assert!(!dir.exists(), "{k}: state dir left");
        for cg in b.cgroup_dirs() {
            assert!(!cg.exists(), "{k}: cgroup {} left", cg.display());
        }
        // And create of the same id simply succeeds.
        abandoned_create(&rt, &b, &id, "4194304 1");
        let o = rt.run(&b, &id);
        assert_ok(k, "run over an abandoned create", &o);
        rt.assert_nothing_left(&b, &id);
    }
}

/// berth-only: a create still in progress (its creator alive) is not mistaken for debris.
#[test]
fn create_in_progress_is_not_taken_over() {
    for rt in berth_only() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        let id = rt.id("inprogress");
        let me = std::process::id();
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        let start = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .nth(19)
            .unwrap()
            .to_string();
        let dir = abandoned_create(&rt, &b, &id, &format!("{me} {start}"));
        let o = rt.create(&b, &id);
        assert_fail(k, "create while another create of the id runs", &o);
        assert!(stderr(&o).contains("already exists"), "{k}: {}", show(&o));
        assert!(
            dir.join("config.json").exists(),
            "{k}: the in-progress create was disturbed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        for cg in b.cgroup_dirs() {
            let _ = std::fs::remove_dir(cg);
        }
    }
}

/// berth-only: SIGKILL the runtime in the middle of `create` (while a createRuntime hook runs):
/// the init dies with it, and a later create of the same id cleans up and succeeds.
#[test]
fn runtime_killed_mid_create_leaves_nothing_stuck() {
    for rt in berth_only() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["true"]);
        b.set(
            "/hooks",
            json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "2"]}]}),
        );
        b.save();
        let id = rt.id("killed");
        rt.track(&id);
        let mut cmd = rt.cmd();
        cmd.args(["create", "--bundle", b.path_str(), &id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut create = cmd.spawn().unwrap();
        let procs = b.cgroup_file("pids", "cgroup.procs");
        let in_hook = wait_until(std::time::Duration::from_secs(5), || {
            std::fs::read_to_string(&procs).is_ok_and(|p| !p.trim().is_empty())
        });
        assert!(in_hook, "{k}: the init never joined its cgroup");
        create.kill().unwrap();
        create.wait().unwrap();
        let init_gone = wait_until(std::time::Duration::from_secs(5), || {
            std::fs::read_to_string(&procs).map_or(true, |p| p.trim().is_empty())
        });
        assert!(
            init_gone,
            "{k}: the init outlived the runtime that was creating it"
        );
        b.set("/hooks", json!({}));
        let o = rt.run(&b, &id);
        assert_ok(k, "run of the id a killed create left", &o);
        rt.assert_nothing_left(&b, &id);
    }
}

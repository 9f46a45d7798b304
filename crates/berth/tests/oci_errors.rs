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

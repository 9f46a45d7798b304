//! `berth monitor`: a container's output lands in its json-file log, its end in the exit
//! record, and nothing of it stays in the runtime.
mod common;
use common::*;
use serde_json::{Value, json};

struct Monitored {
    log: std::path::PathBuf,
    exit_file: std::path::PathBuf,
    output: std::process::Output,
}

fn monitor(rt: &Runtime, b: &Bundle, id: &str) -> Monitored {
    b.save();
    let dir = rt.tempdir();
    let log = dir.join("container.log");
    let exit_file = dir.join("exit.json");
    let output = std::process::Command::new(&rt.bin)
        .arg("monitor")
        .arg("--root")
        .arg(&rt.root)
        .arg("--bundle")
        .arg(&b.dir)
        .arg("--log")
        .arg(&log)
        .arg("--exit-file")
        .arg(&exit_file)
        .arg(id)
        .output()
        .unwrap();
    Monitored {
        log,
        exit_file,
        output,
    }
}

/// Runs `script` in a fresh busybox bundle under the monitor and requires the monitor to succeed.
fn monitor_ok(
    rt: &Runtime,
    prefix: &str,
    edit: impl FnOnce(&mut Bundle),
) -> (Bundle, String, Monitored) {
    let mut b = rt.bundle();
    edit(&mut b);
    let id = rt.id(prefix);
    rt.track(&id);
    let m = monitor(rt, &b, &id);
    assert!(
        m.output.status.success(),
        "monitor failed: {}",
        show(&m.output)
    );
    (b, id, m)
}

fn log_lines(log: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

#[test]
fn output_goes_to_the_log_and_the_end_to_the_exit_record() {
    for rt in berth_only() {
        let (b, id, m) = monitor_ok(&rt, "mon", |b| {
            b.sh("echo out1; echo err1 >&2; echo out2; exit 3");
        });
        let lines = log_lines(&m.log);
        let of = |stream: &str| -> Vec<String> {
            lines
                .iter()
                .filter(|l| l["stream"] == stream)
                .map(|l| l["log"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(of("stdout"), ["out1\n", "out2\n"], "{lines:?}");
        assert_eq!(of("stderr"), ["err1\n"], "{lines:?}");
        assert!(
            lines
                .iter()
                .all(|l| l["time"].as_str().is_some_and(|t| t.ends_with('Z')))
        );
        let exit: Value = serde_json::from_slice(&std::fs::read(&m.exit_file).unwrap()).unwrap();
        assert_eq!(exit["exitCode"], 3, "{exit}");
        assert_eq!(exit["oomKilled"], false, "{exit}");
        rt.assert_nothing_left(&b, &id);
    }
}

#[test]
fn oom_kill_is_recorded() {
    for rt in berth_only() {
        let (b, id, m) = monitor_ok(&rt, "monoom", |b| {
            let mib32 = 32 * 1024 * 1024;
            b.set(
                "/linux/resources/memory",
                json!({"limit": mib32, "swap": mib32}),
            );
            b.sh("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}");
        });
        let exit: Value = serde_json::from_slice(&std::fs::read(&m.exit_file).unwrap()).unwrap();
        assert_eq!(exit["exitCode"], 137, "{exit}");
        assert_eq!(exit["oomKilled"], true, "{exit}");
        rt.assert_nothing_left(&b, &id);
    }
}

#[test]
fn a_missing_program_exits_127_and_leaves_nothing() {
    for rt in berth_only() {
        let mut b = rt.bundle();
        b.args(&["no-such-program"]);
        let id = rt.id("mon127");
        rt.track(&id);
        let m = monitor(&rt, &b, &id);
        assert_eq!(m.output.status.code(), Some(127), "{}", show(&m.output));
        assert!(
            stderr(&m.output).contains("executable file not found"),
            "{}",
            show(&m.output)
        );
        assert!(
            !m.exit_file.exists(),
            "an exit record for a container that never ran"
        );
        rt.assert_nothing_left(&b, &id);
    }
}

/// A container that writes far more than a pipe holds does not stall: the monitor drains it.
#[test]
fn large_output_is_drained_into_the_log() {
    for rt in berth_only() {
        let (_b, _id, m) = monitor_ok(&rt, "monbig", |b| {
            b.sh("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done");
        });
        let lines = log_lines(&m.log);
        assert_eq!(lines.len(), 20000);
        assert_eq!(lines[19999]["log"], "line-19999\n");
    }
}

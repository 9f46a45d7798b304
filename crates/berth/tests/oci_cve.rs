//! Regression tests for known container-breakout CVEs. Each asserts the
//! attack is refused or harmless.
mod common;
use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

fn rootfs_entries(b: &Bundle) -> BTreeSet<String> {
    std::fs::read_dir(&b.rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Entries of the host's / that the bundle rootfs does not have.
fn host_only_entries(b: &Bundle) -> BTreeSet<String> {
    let host: BTreeSet<String> = std::fs::read_dir("/")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.difference(&rootfs_entries(b)).cloned().collect()
}

/// Whatever a process with a leaked-fd cwd lists when walking up must be the
/// container's root, never the host's.
fn assert_listing_is_container_root(k: Kind, b: &Bundle, o: &std::process::Output, what: &str) {
    eprintln!("{k}: {what}: exit {:?}", o.status.code());
    if !o.status.success() {
        return; // refused: fine
    }
    let listed: BTreeSet<String> = stdout(o).split_whitespace().map(String::from).collect();
    let host_only = host_only_entries(b);
    // If it ran, "../../.." from any dir of the container is the container's /.
    assert!(
        listed.contains("bin") && listed.contains("proc"),
        "{k}: {what}: succeeded but did not list the container root: {}",
        show(o)
    );
    let leaked: Vec<_> = listed.intersection(&host_only).collect();
    assert!(
        leaked.is_empty(),
        "{k}: {what}: process saw the host root (host-only entries {leaked:?}): {}",
        show(o)
    );
}

/// CVE-2024-21626: a leaked host fd used as cwd ("/proc/self/fd/N").
#[test]
fn cve_2024_21626_cwd_leaked_fd_run() {
    for rt in runtimes() {
        let k = rt.kind;
        for fd in 3..=9 {
            let mut b = rt.bundle();
            b.set("/process/cwd", json!(format!("/proc/self/fd/{fd}")));
            b.sh("ls -a ../../../../../..");
            let o = rt.run(&b, &rt.id("cwdfd"));
            assert_listing_is_container_root(
                k,
                &b,
                &o,
                &format!("run with cwd /proc/self/fd/{fd}"),
            );
        }
    }
}

#[test]
fn cve_2024_21626_cwd_leaked_fd_exec() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let id = rt.id("cwdfdx");
        rt.create_start(&b, &id);
        for fd in 3..=9 {
            let cwd = format!("/proc/self/fd/{fd}");
            let o = rt.exec_opts(
                &["--cwd", &cwd],
                &id,
                &["sh", "-c", "ls -a ../../../../../.."],
            );
            assert_listing_is_container_root(k, &b, &o, &format!("exec --cwd {cwd}"));
        }
    }
}

/// Mount destination through a symlink that points outside the rootfs
/// (the class of CVE-2021-30465 / symlink-exchange mount escapes): the
/// mount must be resolved inside the rootfs.
#[test]
fn mount_destination_symlink_stays_in_rootfs() {
    for rt in runtimes() {
        let k = rt.kind;
        for link_target in ["/../../../../../../etc", "../../../../../../../etc", "/etc"] {
            let src = rt.tempdir();
            std::fs::write(src.join("marker"), "m").unwrap();
            let mut b = rt.bundle();
            std::os::unix::fs::symlink(link_target, b.rootfs.join("tmp/link")).unwrap();
            let name = unique("berth-test-target");
            let host_target = std::path::Path::new("/etc").join(&name);
            b.bind(&src, &format!("/tmp/link/{name}"), &[]);
            b.sh(&format!("cat /etc/{name}/marker"));
            let o = rt.run(&b, &rt.id("symmnt"));
            eprintln!(
                "{k}: mount via link -> {link_target}: exit {:?}",
                o.status.code()
            );
            let escaped = host_target.exists();
            if escaped {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(&host_target)
                    .status();
                let _ = std::fs::remove_dir(&host_target);
            }
            assert!(
                !escaped,
                "{k}: link -> {link_target}: mount target created on the host at {}: {}",
                host_target.display(),
                show(&o)
            );
            if o.status.success() {
                assert_eq!(
                    stdout(&o),
                    "m",
                    "{k}: link -> {link_target}: mount not at /etc/{name} inside: {}",
                    show(&o)
                );
                assert!(
                    b.rootfs.join("etc").join(&name).is_dir(),
                    "{k}: mountpoint not created inside rootfs"
                );
            }
        }
    }
}

/// CVE-2019-5736: a container process must never be able to open the
/// runtime binary for writing via /proc/<pid>/exe, while `exec` runs.
#[test]
fn cve_2019_5736_runtime_binary_not_writable() {
    for rt in runtimes() {
        let k = rt.kind;
        let before = sha256(&rt.bin);
        let mut b = rt.bundle();
        // For ~4 s try to append to every /proc/<pid>/exe other than our own
        // shell's; record successes in /tmp/wrote.
        b.sh("end=$(( $(date +%s) + 4 )); \
              while [ $(date +%s) -lt $end ]; do \
                for p in /proc/[0-9]*; do \
                  [ $p = /proc/$$ ] && continue; \
                  echo x 2>/dev/null >> $p/exe && echo \"WROTE $p $(readlink $p/exe)\" >> /tmp/wrote; \
                done; \
              done; echo finished > /tmp/done; sleep 100");
        let id = rt.id("cve5736");
        rt.create_start(&b, &id);
        let done = b.rootfs.join("tmp/done");
        let mut execs = 0;
        while !done.exists() && execs < 200 {
            let o = rt.exec(&id, &["true"]);
            assert_ok(k, "exec true", &o);
            execs += 1;
        }
        assert!(
            wait_until(Duration::from_secs(10), || done.exists()),
            "{k}: attacker loop did not finish"
        );
        let wrote = std::fs::read_to_string(b.rootfs.join("tmp/wrote")).unwrap_or_default();
        assert!(
            !wrote.contains("WROTE"),
            "{k}: container wrote to a /proc/PID/exe:\n{wrote}"
        );
        assert_eq!(
            sha256(&rt.bin),
            before,
            "{k}: runtime binary {} modified!",
            rt.bin.display()
        );
        assert!(execs > 0, "{k}: no exec raced the attacker");
        eprintln!("{k}: {execs} execs raced the /proc/*/exe writer");
    }
}

/// process.args[0] = "/proc/self/exe": whatever that resolves to at exec
/// time, the runtime binary must not be reachable for writing and must be
/// unchanged afterwards.
#[test]
fn proc_self_exe_as_entrypoint() {
    for rt in runtimes() {
        let k = rt.kind;
        let before = sha256(&rt.bin);
        let mut b = rt.bundle();
        b.args(&["/proc/self/exe"]);
        let o = rt.run(&b, &rt.id("selfexe"));
        eprintln!("{k}: args[0]=/proc/self/exe: {}", show(&o));
        assert_eq!(sha256(&rt.bin), before, "{k}: runtime binary modified");

        // A process in the container that writes to its own and its
        // parent's exe (and to /proc/1/exe) must not reach the runtime binary.
        let mut b = rt.bundle();
        b.sh("for f in /proc/self/exe /proc/$PPID/exe /proc/1/exe; do echo x 2>/dev/null > $f && echo WROTE $f; done; echo checked");
        let o = rt.run(&b, &rt.id("selfexe2"));
        assert_ok(k, "run", &o);
        assert_eq!(stdout(&o), "checked\n", "{k}: {}", show(&o));
        assert_eq!(sha256(&rt.bin), before, "{k}: runtime binary modified");
        assert_eq!(
            sha256(&b.rootfs.join("bin/busybox")),
            sha256(std::path::Path::new(BUSYBOX)),
            "{k}: rootfs busybox modified"
        );
    }
}

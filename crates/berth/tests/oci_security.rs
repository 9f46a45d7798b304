//! Security settings: capabilities, seccomp, noNewPrivileges, user/groups,
//! umask, rlimits, oomScoreAdj.
mod common;
use common::*;
use serde_json::{Value, json};

fn set_caps(b: &mut Bundle, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), json!(caps));
    }
}

fn with_cap(extra: &str) -> Vec<&str> {
    let mut v: Vec<&str> = DEFAULT_CAPS.to_vec();
    v.push(extra);
    v
}

#[test]
fn cap_chown_controls_chown() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        set_caps(&mut b, &DEFAULT_CAPS);
        b.sh("touch /tmp/x && chown 1 /tmp/x");
        let o = rt.run(&b, &rt.id("nochown"));
        assert_fail(k, "chown without CAP_CHOWN", &o);
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{k}: {}",
            show(&o)
        );

        let mut b = rt.bundle();
        set_caps(&mut b, &with_cap("CAP_CHOWN"));
        b.sh("touch /tmp/x && chown 1 /tmp/x && stat -c %u /tmp/x");
        let o = rt.run(&b, &rt.id("chown"));
        assert_ok(k, "chown with CAP_CHOWN", &o);
        assert_eq!(stdout(&o).trim(), "1", "{k}: {}", show(&o));
    }
}

#[test]
fn no_cap_sys_admin_no_mount() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["mount", "-t", "tmpfs", "t", "/mnt"]);
        let o = rt.run(&b, &rt.id("nomount"));
        assert_fail(k, "mount without CAP_SYS_ADMIN", &o);
    }
}

#[test]
fn capability_sets_in_proc_status() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.args(&["grep", "^CapEff", "/proc/self/status"]);
        let o = rt.run(&b, &rt.id("capeff"));
        assert_ok(k, "run", &o);
        // CAP_KILL(5) | CAP_NET_BIND_SERVICE(10) | CAP_AUDIT_WRITE(29)
        let want = (1u64 << 5) | (1u64 << 10) | (1u64 << 29);
        let got = stdout(&o)
            .split_whitespace()
            .nth(1)
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        assert_eq!(got, Some(want), "{k}: CapEff {}", show(&o));
    }
}

fn seccomp_mkdir(errno: u32) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
    })
}

#[test]
fn seccomp_errno_eperm() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/linux/seccomp", seccomp_mkdir(1));
        b.args(&["mkdir", "/tmp/d"]);
        let o = rt.run(&b, &rt.id("secc1"));
        assert_fail(k, "mkdir under seccomp", &o);
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{k}: {}",
            show(&o)
        );
        // Other syscalls still work.
        let mut b = rt.bundle();
        b.set("/linux/seccomp", seccomp_mkdir(1));
        b.sh("touch /tmp/f && echo ok");
        let o = rt.run(&b, &rt.id("secc1b"));
        assert_ok(k, "touch under seccomp", &o);
    }
}

#[test]
fn seccomp_errno_enosys() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/linux/seccomp", seccomp_mkdir(38));
        b.args(&["mkdir", "/tmp/d"]);
        let o = rt.run(&b, &rt.id("secc38"));
        assert_fail(k, "mkdir under seccomp", &o);
        assert!(
            stderr(&o).contains("Function not implemented"),
            "{k}: {}",
            show(&o)
        );
    }
}

#[test]
fn no_new_privileges() {
    for rt in runtimes() {
        let k = rt.kind;
        for (nnp, want) in [(true, "1"), (false, "0")] {
            let mut b = rt.bundle();
            b.set("/process/noNewPrivileges", json!(nnp));
            b.args(&["grep", "^NoNewPrivs", "/proc/self/status"]);
            let o = rt.run(&b, &rt.id("nnp"));
            assert_ok(k, "run", &o);
            assert_eq!(
                stdout(&o).split_whitespace().nth(1),
                Some(want),
                "{k}: nnp={nnp}: {}",
                show(&o)
            );
        }
    }
}

#[test]
fn user_and_additional_gids() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set(
            "/process/user",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]}),
        );
        b.args(&["id"]);
        let o = rt.run(&b, &rt.id("user"));
        assert_ok(k, "run id", &o);
        let t = stdout(&o);
        assert!(t.starts_with("uid=1000 gid=1000"), "{k}: {}", show(&o));
        let groups = t.split("groups=").nth(1).unwrap_or("");
        assert!(
            groups.split(',').any(|g| g.trim() == "2000"),
            "{k}: groups lack 2000: {}",
            show(&o)
        );
    }
}

#[test]
fn umask() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/process/user/umask", json!(0o077));
        b.sh("umask; touch /tmp/f; stat -c %a /tmp/f");
        let o = rt.run(&b, &rt.id("umask"));
        assert_ok(k, "run", &o);
        assert_eq!(stdout(&o), "0077\n600\n", "{k}: {}", show(&o));
    }
}

#[test]
fn rlimit_nofile() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]),
        );
        b.sh("ulimit -n; ulimit -Hn");
        let o = rt.run(&b, &rt.id("rlim"));
        assert_ok(k, "run", &o);
        assert_eq!(stdout(&o), "100\n200\n", "{k}: {}", show(&o));
    }
}

fn host_hard_nofile() -> u64 {
    let l = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = l.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap_or(u64::MAX)
}

fn have_cap(bit: u32) -> bool {
    let eff = proc_status_field(std::process::id() as i32, "CapEff").unwrap();
    u64::from_str_radix(&eff, 16).unwrap() & (1 << bit) != 0
}
const CAP_SYS_RESOURCE: u32 = 24;

#[test]
fn rlimit_above_host_hard_fails_cleanly() {
    if have_cap(CAP_SYS_RESOURCE) {
        skip("host has CAP_SYS_RESOURCE: raising RLIMIT_NOFILE above the hard limit would succeed");
        return;
    }
    let hard = host_hard_nofile();
    if hard >= 1 << 20 {
        skip("host hard RLIMIT_NOFILE is already at nr_open");
        return;
    }
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": hard + 10000, "hard": hard + 10000}]),
        );
        b.args(&["true"]);
        let id = rt.id("rlimhi");
        let o = rt.create(&b, &id);
        assert_fail(k, "create with rlimit above host hard", &o);
        eprintln!("{k}: rlimit failure: {}", show(&o));
        if rt.is_berth() {
            assert!(
                stderr(&o).contains("RLIMIT_NOFILE"),
                "{k}: error should name RLIMIT_NOFILE: {}",
                show(&o)
            );
        }
        rt.assert_nothing_left(&b, &id);
        assert!(
            rt.list_ids().is_empty(),
            "{k}: list not empty: {:?}",
            rt.list_ids()
        );
    }
}

#[test]
fn oom_score_adj() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/process/oomScoreAdj", json!(500));
        b.args(&["cat", "/proc/self/oom_score_adj"]);
        let o = rt.run(&b, &rt.id("oomadj"));
        assert_ok(k, "run", &o);
        assert_eq!(stdout(&o).trim(), "500", "{k}: {}", show(&o));
    }
}

#[test]
fn oom_score_adj_negative() {
    if !have_cap(CAP_SYS_RESOURCE) {
        skip("host lacks CAP_SYS_RESOURCE: a negative oomScoreAdj cannot be set");
        return;
    }
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/process/oomScoreAdj", json!(-500));
        b.args(&["cat", "/proc/self/oom_score_adj"]);
        let o = rt.run(&b, &rt.id("oomneg"));
        assert_ok(k, "run", &o);
        assert_eq!(stdout(&o).trim(), "-500", "{k}: {}", show(&o));
    }
}

/// A whole allow-list profile in the shape of Docker's default: deny by default with EPERM,
/// several architectures, a per-rule errnoRet (clone3 → ENOSYS so libc falls back to clone), an
/// argument condition (clone only without CLONE_NEWUSER, via SCMP_CMP_MASKED_EQ). Ordinary
/// programs run; what is not listed fails with EPERM.
#[cfg(target_arch = "x86_64")]
#[test]
fn seccomp_allow_list_profile() {
    const ALLOWED: &[&str] = &[
        "read",
        "write",
        "open",
        "openat",
        "close",
        "stat",
        "fstat",
        "lstat",
        "newfstatat",
        "statx",
        "poll",
        "ppoll",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "pread64",
        "pwrite64",
        "readv",
        "writev",
        "access",
        "faccessat",
        "faccessat2",
        "pipe",
        "pipe2",
        "select",
        "pselect6",
        "sched_yield",
        "mremap",
        "madvise",
        "dup",
        "dup2",
        "dup3",
        "nanosleep",
        "clock_nanosleep",
        "getpid",
        "exit",
        "exit_group",
        "wait4",
        "waitid",
        "kill",
        "uname",
        "fcntl",
        "fsync",
        "getdents64",
        "getcwd",
        "chdir",
        "fchdir",
        "readlink",
        "readlinkat",
        "umask",
        "gettimeofday",
        "getrlimit",
        "prlimit64",
        "getrusage",
        "sysinfo",
        "times",
        "getuid",
        "getgid",
        "geteuid",
        "getegid",
        "setpgid",
        "getppid",
        "getpgrp",
        "setsid",
        "getgroups",
        "getpgid",
        "getsid",
        "sigaltstack",
        "arch_prctl",
        "prctl",
        "set_tid_address",
        "set_robust_list",
        "futex",
        "clock_gettime",
        "tgkill",
        "rt_sigsuspend",
        "execve",
        "execveat",
        "getrandom",
        "rseq",
        "fstatfs",
        "statfs",
        "sched_getaffinity",
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "vfork",
    ];
    let syscalls = json!([
        {"names": ALLOWED, "action": "SCMP_ACT_ALLOW"},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0x1000_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]);
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    });
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/linux/seccomp", profile.clone());
        b.sh("echo forked $(echo ok); grep Seccomp: /proc/self/status; ls / > /dev/null && echo listed");
        let o = rt.run(&b, &rt.id("seccall"));
        assert_ok(k, "busybox under an allow-list profile", &o);
        let out = stdout(&o);
        assert!(out.contains("forked ok"), "{k}: {}", show(&o));
        assert!(out.contains("Seccomp:\t2"), "{k}: {}", show(&o));
        assert!(out.contains("listed"), "{k}: {}", show(&o));

        let mut b = rt.bundle();
        b.set("/linux/seccomp", profile.clone());
        b.sh("mkdir /tmp/x 2>&1; unshare -U true 2>&1; echo done");
        let o = rt.run(&b, &rt.id("seccdeny"));
        assert_ok(k, "denied syscalls are errors, not kills", &o);
        let out = stdout(&o);
        assert_eq!(
            out.matches("Operation not permitted").count(),
            2,
            "{k}: mkdir and unshare should both fail with EPERM: {}",
            show(&o)
        );
        assert!(out.ends_with("done\n"), "{k}: {}", show(&o));
    }
}

/// SCMP_ACT_NOTIFY: the notify fd reaches the listener at `listenerPath` with the container's
/// state (runc's container-process-state JSON); once the listener closes it, the notified
/// syscall fails with ENOSYS instead of hanging.
#[test]
fn seccomp_notify_fd_goes_to_the_listener() {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    for rt in runtimes() {
        let k = rt.kind;
        let dir = rt.tempdir();
        let sock = dir.join("notify.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let mut b = rt.bundle();
        b.set(
            "/linux/seccomp",
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": sock,
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
            }),
        );
        b.sh("mkdir /tmp/d 2>&1; echo rc=$?");
        b.save();
        let id = rt.id("notify");
        rt.track(&id);
        let mut run = rt.cmd();
        run.args(["run", "--bundle", b.path_str(), &id])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = run.spawn().unwrap();
        let (stream, _) = listener
            .accept()
            .expect("the runtime connects to listenerPath");
        let mut buf = vec![0u8; 64 * 1024];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                // SAFETY: the kernel installed these descriptors for us.
                fds.extend(
                    received
                        .into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        let len = msg.bytes;
        let state: serde_json::Value = serde_json::from_slice(&buf[..len])
            .unwrap_or_else(|e| panic!("{k}: listener message is not JSON: {e}"));
        assert_eq!(
            fds.len(),
            1,
            "{k}: expected one notify fd, got {}",
            fds.len()
        );
        assert_eq!(state["fds"], json!(["seccompFd"]), "{k}: {state}");
        assert_eq!(state["state"]["id"], json!(id), "{k}: {state}");
        drop(fds);
        drop(stream);
        let o = child.wait_with_output().unwrap();
        assert_ok(k, "run with a notify rule", &o);
        let out = stdout(&o);
        assert!(
            out.contains("Function not implemented"),
            "{k}: {}",
            show(&o)
        );
        assert!(out.contains("rc=1"), "{k}: {}", show(&o));
    }
}

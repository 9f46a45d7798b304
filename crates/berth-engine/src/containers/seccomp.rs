//! Seccomp for containers: Docker's profile format (what `--security-opt seccomp=FILE` sends:
//! the file's JSON), our default profile in that format (an allow-list following Docker's:
//! everything a normal program needs, plus the privileged calls only for the capability that
//! makes them safe), and the conversion to the runtime spec's `linux.seccomp` for a given
//! set of capabilities.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A profile as Docker writes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub args: Vec<Value>,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// A rule's condition on the container's capabilities and the host's architecture.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
}

/// Parses the JSON `--security-opt seccomp=` carries.
pub fn parse(json: &str) -> Result<Profile> {
    serde_json::from_str(json)
        .map_err(|e| Error::InvalidArgument(format!("decoding seccomp profile failed: {e}")))
}

/// The profile as `linux.seccomp` for a container holding `caps` (`CAP_…` names).
pub fn to_oci(p: &Profile, caps: &[String]) -> Value {
    let arch = host_arch();
    let mut arches: Vec<String> = p.architectures.clone();
    for m in &p.arch_map {
        if oci_arch_matches(&m.architecture, arch) {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().cloned());
        }
    }
    let has = |c: &String| caps.iter().any(|x| x == c);
    let applies = |r: &Rule| {
        r.includes.caps.iter().all(has)
            && (r.includes.arches.is_empty() || r.includes.arches.iter().any(|a| a == arch))
            && !r.excludes.caps.iter().any(has)
            && !r.excludes.arches.iter().any(|a| a == arch)
    };
    let syscalls: Vec<Value> = p
        .syscalls
        .iter()
        .filter(|r| applies(r))
        .map(|r| {
            let mut names = r.names.clone();
            names.extend(r.name.clone());
            let mut v = json!({"names": names, "action": r.action});
            if !r.args.is_empty() {
                v["args"] = json!(r.args);
            }
            if let Some(e) = r.errno_ret {
                v["errnoRet"] = json!(e);
            }
            v
        })
        .collect();
    let mut out = json!({
        "defaultAction": p.default_action,
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    out
}

/// Docker's names for the host architecture in `includes.arches`.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn oci_arch_matches(oci: &str, arch: &str) -> bool {
    matches!(
        (oci, arch),
        ("SCMP_ARCH_X86_64", "amd64")
            | ("SCMP_ARCH_AARCH64", "arm64")
            | ("SCMP_ARCH_PPC64LE", "ppc64le")
            | ("SCMP_ARCH_S390X", "s390x")
            | ("SCMP_ARCH_RISCV64", "riscv64")
            | ("SCMP_ARCH_ARM", "arm")
            | ("SCMP_ARCH_X86", "386")
    )
}

/// What a container may call without any added capability.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Safe under seccomp since Linux 4.8 (Docker allows them to everyone there).
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    // Architecture-specific calls (names a filter's architecture lacks are skipped).
    "arch_prctl",
    "modify_ldt",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
];

/// Privileged calls, allowed only to a container that holds the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Namespace flags a plain `clone` may not carry without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The default profile, in Docker's format.
pub fn default_profile() -> Profile {
    let rule = |names: &[&str], action: &str| Rule {
        names: names.iter().map(|s| s.to_string()).collect(),
        name: None,
        action: action.into(),
        args: Vec::new(),
        errno_ret: None,
        includes: Filter::default(),
        excludes: Filter::default(),
    };
    let mut syscalls = vec![rule(ALLOWED, "SCMP_ACT_ALLOW")];
    // personality: only the harmless personas (Linux, and with ADDR_NO_RANDOMIZE/
    // UNAME26 … as Docker lists them), one value per rule (same-index args are ORed).
    for persona in [0x0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(Rule {
            args: vec![json!({"index": 0, "value": persona, "op": "SCMP_CMP_EQ"})],
            ..rule(&["personality"], "SCMP_ACT_ALLOW")
        });
    }
    // socket: every family but AF_VSOCK (40), which reaches the host.
    syscalls.push(Rule {
        args: vec![json!({"index": 0, "value": 40, "op": "SCMP_CMP_NE"})],
        ..rule(&["socket"], "SCMP_ACT_ALLOW")
    });
    // clone without namespace flags for everyone (s390x swaps the first two arguments);
    // clone3's flags are in memory the filter cannot read: ENOSYS makes libc fall back.
    syscalls.push(Rule {
        args: vec![json!({"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"})],
        excludes: Filter {
            caps: vec!["CAP_SYS_ADMIN".into()],
            arches: vec!["s390x".into()],
        },
        ..rule(&["clone"], "SCMP_ACT_ALLOW")
    });
    syscalls.push(Rule {
        args: vec![json!({"index": 1, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"})],
        includes: Filter {
            caps: Vec::new(),
            arches: vec!["s390x".into()],
        },
        excludes: Filter {
            caps: vec!["CAP_SYS_ADMIN".into()],
            arches: Vec::new(),
        },
        ..rule(&["clone"], "SCMP_ACT_ALLOW")
    });
    syscalls.push(Rule {
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: Filter {
            caps: vec!["CAP_SYS_ADMIN".into()],
            arches: Vec::new(),
        },
        ..rule(&["clone3"], "SCMP_ACT_ERRNO")
    });
    for (cap, names) in BY_CAPABILITY {
        syscalls.push(Rule {
            includes: Filter {
                caps: vec![cap.to_string()],
                arches: Vec::new(),
            },
            ..rule(names, "SCMP_ACT_ALLOW")
        });
    }
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Vec::new(),
        arch_map: vec![
            ArchMap {
                architecture: "SCMP_ARCH_X86_64".into(),
                sub_architectures: vec!["SCMP_ARCH_X86".into(), "SCMP_ARCH_X32".into()],
            },
            ArchMap {
                architecture: "SCMP_ARCH_AARCH64".into(),
                sub_architectures: vec!["SCMP_ARCH_ARM".into()],
            },
        ],
        syscalls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &Value) -> Vec<String> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn capabilities_unlock_their_calls() {
        let plain = to_oci(&default_profile(), &["CAP_CHOWN".into()]);
        let n = names(&plain);
        assert!(n.contains(&"read".to_string()) && !n.contains(&"unshare".to_string()));
        let admin = to_oci(&default_profile(), &["CAP_SYS_ADMIN".into()]);
        assert!(names(&admin).contains(&"unshare".to_string()));
        assert_eq!(plain["defaultAction"], "SCMP_ACT_ERRNO");
    }

    #[test]
    fn docker_format_parses() {
        let p = parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let v = to_oci(&p, &[]);
        assert_eq!(v["syscalls"][0]["names"][0], "mkdir");
        assert!(parse("{").is_err());
    }
}

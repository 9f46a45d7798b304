//! Seccomp (`linux.seccomp`): compiled in the parent, where a bad profile is reported before
//! anything exists, and loaded in the container's init right before execve. The compiled
//! libseccomp context lives in ordinary memory, so the forked init inherits it.
//!
//! Compiling Docker's default profile costs more than the rest of a container start, so a
//! profile without NOTIFY rules is compiled once into its BPF program, kept in a cache
//! directory under its content hash, and loaded from there with seccomp(2) (the program is
//! what libseccomp would load; the profile was validated when it was first compiled).
//!
//! Loading a filter needs no_new_privs or CAP_SYS_ADMIN. We never let libseccomp set
//! no_new_privs itself: that is `process.noNewPrivileges`'s call. With it false, the caller
//! loads the filter while still privileged (before the user switch and capability drop).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::{Error, IoContext, Result, SysContext};

/// The kernel passes six arguments to a syscall; `args[].index` must be below.
const SYSCALL_ARGS: usize = 6;

/// A filter ready to load.
pub struct SeccompFilter {
    program: Program,
}

enum Program {
    /// Built by libseccomp, which loads it: a profile with NOTIFY rules (its listener fd comes
    /// from libseccomp), or one compiled without a cache.
    Context {
        context: ScmpFilterContext,
        /// Some rule notifies a listener, so loading yields a notify fd.
        notifies: bool,
    },
    /// The BPF program (`struct sock_filter` array) and the seccomp(2) flags it loads with.
    Bpf { code: Vec<u8>, flags: libc::c_uint },
}

/// Builds the filter `seccomp` describes. Unknown syscall names are skipped (profiles list
/// syscalls newer than some kernels); everything else that is wrong is an error. With a
/// `cache` directory, a profile without NOTIFY rules is taken from (or added to) the cache of
/// compiled programs.
pub fn compile(seccomp: &LinuxSeccomp, cache: Option<&Path>) -> Result<SeccompFilter> {
    let notify_rules = seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    let cache = cache.filter(|_| !notify_rules);
    let cached = cache.map(|dir| (dir, dir.join(format!("{}.bpf", cache_key(seccomp)))));
    if let Some((_, path)) = &cached
        && let Ok(code) = std::fs::read(path)
        && is_program(&code)
    {
        return Ok(SeccompFilter {
            program: Program::Bpf {
                code,
                flags: kernel_flags(seccomp),
            },
        });
    }
    let filter = build(seccomp)?;
    let (Some((dir, path)), Program::Context { context, .. }) = (cached, &filter.program) else {
        return Ok(filter);
    };
    match export(context, dir, &path) {
        Ok(code) => Ok(SeccompFilter {
            program: Program::Bpf {
                code,
                flags: kernel_flags(seccomp),
            },
        }),
        Err(e) => {
            tracing::debug!("seccomp cache {}: {e}", dir.display());
            Ok(filter)
        }
    }
}

/// The cache name of a profile's program: what it compiles from (the profile, libseccomp's
/// version, the architecture).
fn cache_key(seccomp: &LinuxSeccomp) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(serde_json::to_vec(seccomp).unwrap_or_default());
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.update(v.to_string());
    }
    h.update(std::env::consts::ARCH);
    h.update("optimize=2");
    hex::encode(h.finalize())
}

/// A whole number of `struct sock_filter` (8 bytes each), and not empty.
fn is_program(code: &[u8]) -> bool {
    !code.is_empty() && code.len().is_multiple_of(8) && code.len() / 8 <= u16::MAX as usize
}

/// Writes the context's BPF program into the cache (temp file, fsync, rename) and returns it.
fn export(context: &ScmpFilterContext, dir: &Path, path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let file = std::fs::File::create(&tmp)?;
    let res = context
        .export_bpf(&file)
        .map_err(std::io::Error::other)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::read(&tmp))
        .and_then(|code| {
            if !is_program(&code) {
                return Err(std::io::Error::other("libseccomp exported no program"));
            }
            std::fs::rename(&tmp, path)?;
            Ok(code)
        });
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// seccomp(2)'s flags for the profile's `flags`.
fn kernel_flags(seccomp: &LinuxSeccomp) -> libc::c_uint {
    seccomp
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 32,
        })
        .fold(0, |a, b| a | b)
}

/// libseccomp's filter for the profile, checked rule by rule.
fn build(seccomp: &LinuxSeccomp) -> Result<SeccompFilter> {
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    if default == ScmpAction::Notify {
        return Err(Error::InvalidSpec(
            "seccomp: SCMP_ACT_NOTIFY cannot be the default action".into(),
        ));
    }
    let wants_notify = syscalls
        .iter()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    if wants_notify && seccomp.listener_path().is_none() {
        return Err(Error::InvalidSpec(
            "seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath".into(),
        ));
    }
    let mut context =
        ScmpFilterContext::new(default).map_err(|e| seccomp_error("creating the filter", e))?;
    context
        .set_ctl_nnp(false)
        .map_err(|e| seccomp_error("leaving no_new_privs to the caller", e))?;
    // A binary tree on the syscall number instead of libseccomp's default chain of tests: with
    // Docker's profile (370 names, three architectures) the chain is ~1000 instructions, which
    // the kernel walks for every syscall number when it loads the filter (its cache of
    // always-allowed calls): 0.8 ms per container start here, and every syscall pays the walk.
    context
        .set_ctl_optimize(2)
        .map_err(|e| seccomp_error("choosing the binary-tree layout", e))?;
    for &arch in seccomp.architectures().iter().flatten() {
        // The native architecture is always in a new context; adding it again fails.
        let present = context
            .is_arch_present(scmp_arch(arch))
            .map_err(|e| seccomp_error(&format!("checking architecture {arch}"), e))?;
        if !present {
            context
                .add_arch(scmp_arch(arch))
                .map_err(|e| seccomp_error(&format!("adding architecture {arch}"), e))?;
        }
    }
    for &flag in seccomp.flags().iter().flatten() {
        set_flag(&mut context, flag)?;
    }
    // Only a NOTIFY rule that made it into the filter gives a notify fd at load.
    let mut notifies = false;
    for syscall in syscalls {
        let added = add_rules(&mut context, syscall, default)?;
        notifies |= added && syscall.action() == LinuxSeccompAction::ScmpActNotify;
    }
    Ok(SeccompFilter {
        program: Program::Context { context, notifies },
    })
}

fn action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction> {
    let ret = |what: &str, max: u32| -> Result<u32> {
        let ret = errno_ret.unwrap_or(libc::EPERM as u32);
        if ret > max {
            return Err(Error::InvalidSpec(format!(
                "seccomp: {what} errnoRet {ret} is above {max}"
            )));
        }
        Ok(ret)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(ret("SCMP_ACT_ERRNO", 4095)? as i32),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(ret("SCMP_ACT_TRACE", u16::MAX.into())? as u16)
        }
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn set_flag(context: &mut ScmpFilterContext, flag: LinuxSeccompFilterFlag) -> Result<()> {
    let result = match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => context.set_ctl_tsync(true),
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => context.set_ctl_log(true),
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => context.set_ctl_ssb(true),
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => context.set_ctl_waitkill(true),
    };
    result
        .map(drop)
        .map_err(|e| seccomp_error(&format!("flag {flag} is not supported here"), e))
}

/// Adds one `syscalls[]` entry. As in runc: conditions on distinct arguments form one rule
/// (all must match); if two conditions test the same argument, each becomes a rule of its own
/// (any may match), since libseccomp allows one comparison per argument and rule. Returns
/// whether any rule was added.
fn add_rules(
    context: &mut ScmpFilterContext,
    syscall: &LinuxSyscall,
    default: ScmpAction,
) -> Result<bool> {
    let act = action(syscall.action(), syscall.errno_ret())?;
    if act == default {
        // libseccomp refuses rules that repeat the default action; they change nothing.
        return Ok(false);
    }
    let args = syscall.args().as_deref().unwrap_or_default();
    let conditions = args.iter().map(condition).collect::<Result<Vec<_>>>()?;
    let mut counts = [0; SYSCALL_ARGS];
    args.iter().for_each(|arg| counts[arg.index()] += 1);
    let rules: Vec<&[ScmpArgCompare]> = if counts.iter().any(|&n| n > 1) {
        conditions.chunks(1).collect()
    } else {
        vec![&conditions]
    };
    let mut added = false;
    for name in syscall.names() {
        let Ok(number) = ScmpSyscall::from_name(name) else {
            tracing::debug!(syscall = %name, "seccomp: skipping a syscall unknown to libseccomp");
            continue;
        };
        for rule in &rules {
            context
                .add_rule_conditional(act, number, rule)
                .map_err(|e| seccomp_error(&format!("adding the rule for {name}"), e))?;
        }
        added = true;
    }
    Ok(added)
}

fn condition(arg: &LinuxSeccompArg) -> Result<ScmpArgCompare> {
    let index = arg.index();
    if index >= SYSCALL_ARGS {
        return Err(Error::InvalidSpec(format!(
            "seccomp: argument index {index} is not below {SYSCALL_ARGS}"
        )));
    }
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI puts the mask in `value` and the expected result in `valueTwo`.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let value = arg.value_two().unwrap_or(0);
            return Ok(ScmpArgCompare::new(
                index as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                value,
            ));
        }
    };
    if arg.value_two().is_some_and(|v| v != 0) {
        return Err(Error::InvalidSpec(format!(
            "seccomp: valueTwo is only meaningful with SCMP_CMP_MASKED_EQ, not {}",
            arg.op()
        )));
    }
    Ok(ScmpArgCompare::new(index as u32, op, arg.value()))
}

/// Loads the filter on the calling process (see the module doc for the privilege it needs).
/// Returns the notify fd when a rule uses SCMP_ACT_NOTIFY; hand it to [`send_notify_fd`].
pub fn load(filter: &SeccompFilter) -> Result<Option<OwnedFd>> {
    let (context, notifies) = match &filter.program {
        Program::Context { context, notifies } => (context, *notifies),
        Program::Bpf { code, flags } => return load_bpf(code, *flags).map(|()| None),
    };
    context
        .load()
        .map_err(|e| seccomp_error("loading the filter", e))?;
    if !notifies {
        return Ok(None);
    }
    let fd = context
        .get_notify_fd()
        .map_err(|e| seccomp_error("getting the notify fd", e))?;
    // libseccomp keeps ownership of its fd; the caller gets a close-on-exec duplicate.
    // SAFETY: the fd is open (the load just created it) and outlives this call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed
        .try_clone_to_owned()
        .io(|| "duplicating the seccomp notify fd".into())
        .map(Some)
}

/// Loads a BPF program with seccomp(SECCOMP_SET_MODE_FILTER).
fn load_bpf(code: &[u8], flags: libc::c_uint) -> Result<()> {
    let prog = libc::sock_fprog {
        len: (code.len() / 8) as libc::c_ushort,
        filter: code.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `code`, a whole number of sock_filter entries, alive for the
    // call; the kernel copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(Error::Seccomp(format!(
            "loading the filter: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Sends the notify fd to the seccomp agent listening on `listener_path`, with the container
/// state (JSON) as the message and the fd attached as SCM_RIGHTS.
///
/// Runs after [`load`], so it needs socket, connect, sendmsg and write to pass the filter: a
/// profile that notifies on those would wait for an agent that never gets the fd.
pub fn send_notify_fd(listener_path: &Path, fd: BorrowedFd, state_json: &[u8]) -> Result<()> {
    let path = listener_path.display();
    let stream = UnixStream::connect(listener_path)
        .io(|| format!("connecting to the seccomp listener {path}"))?;
    let fds = [fd.as_raw_fd()];
    let sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(state_json)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .sys(|| format!("sending the seccomp notify fd to {path}"))?;
    let mut rest = &state_json[sent..];
    while !rest.is_empty() {
        let sent = nix::unistd::write(&stream, rest)
            .sys(|| format!("sending the container state to {path}"))?;
        rest = &rest[sent..];
    }
    Ok(())
}

fn seccomp_error(context: &str, e: libseccomp::error::SeccompError) -> Error {
    Error::Seccomp(format!("{context}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::test_child::{errno, run_in_child};
    use std::os::fd::AsFd;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    /// Compiles in the parent, then loads in a child under no_new_privs and runs `probe`.
    fn run_filtered(json: &str, probe: impl FnOnce() -> i32) -> i32 {
        let filter = compile(&profile(json), None).unwrap();
        run_in_child(|| {
            nix::sys::prctl::set_no_new_privs().unwrap();
            load(&filter).unwrap();
            probe()
        })
    }

    /// The raw syscall: 20 - nice on success, never -1, so -1 always means an error.
    fn getpriority(which: u64, who: u64) -> i32 {
        match unsafe { libc::syscall(libc::SYS_getpriority, which, who) } {
            -1 => errno(),
            _ => 0,
        }
    }

    #[test]
    fn architectures_map_to_libseccomp() {
        let native = ScmpArch::native();
        assert_eq!(scmp_arch(Arch::ScmpArchNative), ScmpArch::Native);
        for (oci, scmp) in [
            (Arch::ScmpArchX86_64, ScmpArch::X8664),
            (Arch::ScmpArchX86, ScmpArch::X86),
            (Arch::ScmpArchX32, ScmpArch::X32),
            (Arch::ScmpArchAarch64, ScmpArch::Aarch64),
            (Arch::ScmpArchArm, ScmpArch::Arm),
            (Arch::ScmpArchRiscv64, ScmpArch::Riscv64),
            (Arch::ScmpArchS390x, ScmpArch::S390X),
        ] {
            assert_eq!(scmp_arch(oci), scmp);
        }
        // Listing the native architecture with others is accepted.
        let filter = compile(
            &profile(
                r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]}"#,
            ),
            None,
        )
        .unwrap();
        let Program::Context { context, .. } = &filter.program else {
            panic!("compiled without a cache: a libseccomp context");
        };
        for arch in [native, ScmpArch::X86, ScmpArch::X32] {
            assert!(context.is_arch_present(arch).unwrap(), "{arch:?}");
        }
    }

    #[test]
    fn notify_needs_a_listener_path() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}]}"#;
        let err = compile(&profile(json), None).err().unwrap().to_string();
        assert!(err.contains("listenerPath"), "{err}");
    }

    #[test]
    fn unsupported_flag_is_an_error() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#;
        // libseccomp 2.6 knows this flag; Debian's 2.5 does not.
        let supported =
            libseccomp::check_api(7, libseccomp::ScmpVersion::from((2, 6, 0))).unwrap_or(false);
        match compile(&profile(json), None) {
            Ok(_) => assert!(supported),
            Err(e) => {
                let err = e.to_string();
                assert!(
                    err.contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
                    "{err}"
                );
            }
        }
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#;
        compile(&profile(json), None).unwrap();
    }

    #[test]
    fn bad_rules_are_errors_unknown_syscalls_are_not() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["no_such_syscall"],"action":"SCMP_ACT_ERRNO"},
            {"names":["getppid"],"action":"SCMP_ACT_ALLOW"}]}"#;
        compile(&profile(json), None).unwrap();
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getppid"],
            "action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#;
        let err = compile(&profile(json), None).err().unwrap().to_string();
        assert!(err.contains("argument index 6"), "{err}");
    }

    #[test]
    fn errno_rule_fails_mkdir() {
        let dir = tempfile::tempdir().unwrap();
        let code = run_filtered(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":42}]}"#,
            || match std::fs::create_dir(dir.path().join("x")) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(-1),
            },
        );
        assert_eq!(code, 42);
    }

    #[test]
    fn compiled_programs_are_cached_and_load() {
        let cache = tempfile::tempdir().unwrap();
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
        let first = compile(&profile(json), Some(cache.path())).unwrap();
        assert!(matches!(first.program, Program::Bpf { .. }));
        let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "one program, no temp file left");
        // The second compile reads the program back; loading it has the profile's effect.
        let again = compile(&profile(json), Some(cache.path())).unwrap();
        let Program::Bpf { code, .. } = &again.program else {
            panic!("not from the cache");
        };
        assert_eq!(
            code,
            &std::fs::read(files[0].as_ref().unwrap().path()).unwrap()
        );
        let code = run_in_child(|| {
            nix::sys::prctl::set_no_new_privs().unwrap();
            load(&again).unwrap();
            getpriority(0, 0)
        });
        assert_eq!(code, libc::ENOSYS);
        // A different profile is a different program.
        let other = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#;
        compile(&profile(other), Some(cache.path())).unwrap();
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
    }

    #[test]
    fn argument_conditions_and_or() {
        // Rule 1 tests arg 0 twice: either value matches. Rule 2 tests two arguments: both must.
        let code = run_filtered(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[
                    {"index":0,"value":1,"op":"SCMP_CMP_EQ"},
                    {"index":0,"value":2,"op":"SCMP_CMP_EQ"}]},
                {"names":["getpriority"],"action":"SCMP_ACT_ERRNO","errnoRet":6,"args":[
                    {"index":0,"value":0,"op":"SCMP_CMP_EQ"},
                    {"index":1,"value":65280,"valueTwo":4608,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
            || {
                let results = [
                    getpriority(0, 0),
                    getpriority(1, 0),
                    getpriority(2, 0),
                    getpriority(0, 0x1234),
                ];
                if results == [0, 5, 5, 6] { 0 } else { 1 }
            },
        );
        assert_eq!(code, 0);
    }

    #[test]
    fn default_errno_with_an_allow_list() {
        let code = run_filtered(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":77,"syscalls":[
                {"names":["exit_group","exit","getpid","write","munmap","brk","madvise",
                          "futex","rt_sigreturn","rt_sigprocmask"],"action":"SCMP_ACT_ALLOW"}]}"#,
            || {
                // Raw syscalls: glibc treats getppid as infallible and returns -errno as is.
                let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
                let ppid_errno = errno();
                let pid = unsafe { libc::syscall(libc::SYS_getpid) };
                if ppid == -1 && ppid_errno == 77 && pid > 0 {
                    0
                } else {
                    1
                }
            },
        );
        assert_eq!(code, 0);
    }

    #[test]
    fn notify_hands_the_fd_to_the_listener() {
        use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
        use nix::sys::socket::{ControlMessageOwned, recvmsg};
        use std::io::IoSliceMut;
        use std::os::unix::net::UnixListener;

        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("listener.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let json = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{}","syscalls":[
                {{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
            socket.display()
        );
        let agent = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::empty(),
            )
            .unwrap();
            let Some(ControlMessageOwned::ScmRights(fds)) = msg.cmsgs().unwrap().next() else {
                panic!("no fd received");
            };
            let len = msg.bytes;
            assert_eq!(&buf[..len], b"{\"id\":\"c1\"}");
            let req = ScmpNotifReq::receive(fds[0]).unwrap();
            ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
                .respond(fds[0])
                .unwrap();
        });
        let filter = compile(&profile(&json), None).unwrap();
        let code = run_in_child(|| {
            nix::sys::prctl::set_no_new_privs().unwrap();
            let fd = load(&filter).unwrap().expect("a notify fd");
            send_notify_fd(&socket, fd.as_fd(), b"{\"id\":\"c1\"}").unwrap();
            if unsafe { libc::getppid() } == 4242 {
                0
            } else {
                1
            }
        });
        agent.join().unwrap();
        assert_eq!(code, 0);
    }
}

/// The release build links Debian's libseccomp.a into a musl binary. That archive was built
/// against glibc with fortification, and its one glibc-only symbol is `__fprintf_chk`, used by
/// `seccomp_export_pfc` (a text dump of a filter) alone, which berth never calls. Should it ever
/// be reached, it fails as fprintf(3) fails.
#[cfg(target_env = "musl")]
#[unsafe(no_mangle)]
extern "C" fn __fprintf_chk() -> libc::c_int {
    -1
}

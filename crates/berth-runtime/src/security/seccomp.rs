//! Seccomp (`linux.seccomp`): compiled in the parent, where a bad profile is reported before
//! anything exists, and loaded in the container's init right before execve. The compiled
//! libseccomp context lives in ordinary memory, so the forked init inherits it.
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
    context: ScmpFilterContext,
    /// Some rule notifies a listener, so loading yields a notify fd.
    notifies: bool,
}

/// Builds the filter `seccomp` describes. Unknown syscall names are skipped (profiles list
/// syscalls newer than some kernels); everything else that is wrong is an error.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<SeccompFilter> {
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    if default == ScmpAction::Notify {
        return Err(Error::InvalidSpec(
            "seccomp: SCMP_ACT_NOTIFY cannot be the default action".into(),
        ));
    }
    let notifies = syscalls
        .iter()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    if notifies && seccomp.listener_path().is_none() {
        return Err(Error::InvalidSpec(
            "seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath".into(),
        ));
    }
    let mut context =
        ScmpFilterContext::new(default).map_err(|e| seccomp_error("creating the filter", e))?;
    context
        .set_ctl_nnp(false)
        .map_err(|e| seccomp_error("leaving no_new_privs to the caller", e))?;
    for &arch in seccomp.architectures().iter().flatten() {
        let arch = scmp_arch(arch);
        // The native architecture is always in a new context; adding it again fails.
        let present = context
            .is_arch_present(arch)
            .map_err(|e| seccomp_error(&format!("checking architecture {arch:?}"), e))?;
        if !present {
            context
                .add_arch(arch)
                .map_err(|e| seccomp_error(&format!("adding architecture {arch:?}"), e))?;
        }
    }
    for &flag in seccomp.flags().iter().flatten() {
        set_flag(&mut context, flag)?;
    }
    for syscall in syscalls {
        add_rules(&mut context, syscall, default)?;
    }
    Ok(SeccompFilter { context, notifies })
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
/// (any may match), since libseccomp allows one comparison per argument and rule.
fn add_rules(
    context: &mut ScmpFilterContext,
    syscall: &LinuxSyscall,
    default: ScmpAction,
) -> Result<()> {
    let act = action(syscall.action(), syscall.errno_ret())?;
    if act == default {
        // libseccomp refuses rules that repeat the default action; they change nothing.
        return Ok(());
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
    }
    Ok(())
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
    filter
        .context
        .load()
        .map_err(|e| seccomp_error("loading the filter", e))?;
    if !filter.notifies {
        return Ok(None);
    }
    let fd = filter
        .context
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

/// Sends the notify fd to the seccomp agent listening on `listener_path`, with the container
/// state (JSON) as the message and the fd attached as SCM_RIGHTS.
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

//! Fork-style clone3: the child continues in the same code with the namespaces asked for, and
//! the parent gets a pidfd so later signals can never hit a recycled pid.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};

use crate::error::{Result, SysContext};

/// The parent's view of a cloned child.
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

pub enum Forked {
    Parent(Child),
    /// We are the child: the caller must end in `exec` or `_exit`, never return.
    Child,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Clones the calling (single-threaded) process into `namespaces`. The child starts with an
/// empty signal mask, whatever the parent blocked for its own signal handling.
pub fn clone(namespaces: CloneFlags) -> Result<Forked> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: namespaces.bits() as u64 | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: fork-like clone3 (no new stack); the process is single-threaded, so the child
    // gets a consistent copy of memory, including allocator state.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let pid = nix::errno::Errno::result(ret)
        .sys(|| format!("clone3 with namespaces {namespaces:?}"))? as i32;
    if pid == 0 {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        return Ok(Forked::Child);
    }
    // SAFETY: CLONE_PIDFD stored a fresh descriptor owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Forked::Parent(Child { pid, pidfd }))
}

/// Runs `body` as the child's whole life: an error is reported through `report` and the child
/// exits; it never unwinds into the caller's stack.
pub fn child_main(
    body: impl FnOnce() -> Result<std::convert::Infallible>,
    report: impl FnOnce(String),
) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let message = match outcome {
        Ok(Ok(never)) => match never {},
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the container's init panicked".to_string(),
    };
    report(message);
    // SAFETY: _exit skips atexit handlers and destructors that belong to the parent's copy.
    unsafe { libc::_exit(1) }
}

//! Foreground waiting: signals sent to the runtime go to the container's process, and the
//! runtime exits with the process's status, like `runc run`.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Result, SysContext};

/// Signals that are forwarded, plus SIGCHLD, which ends the wait.
pub fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGCONT,
    ] {
        set.add(sig);
    }
    set
}

/// Blocks the forwarded signals so none is lost between clone and the wait loop. Call before
/// cloning; the child resets its mask.
pub fn block() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded()), None)
        .sys(|| "block signals for forwarding".into())
}

/// Forwards signals to `pid` until it exits; returns the shell-style exit code
/// (128 + signal for a killed process).
pub fn forward_until_exit(pid: i32) -> Result<i32> {
    let set = forwarded();
    loop {
        if let Some(code) = reap(pid)? {
            return Ok(code);
        }
        let sig = set.wait().sys(|| "wait for signals".into())?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
        }
    }
}

/// Reaps `pid` if it has exited, and any other exited children on the way (hooks, orphans of a
/// container without its own pid namespace when we are a subreaper).
pub fn reap(pid: i32) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                return Ok(Some(128 + sig as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).sys(|| format!("wait for process {pid}")),
        }
    }
}

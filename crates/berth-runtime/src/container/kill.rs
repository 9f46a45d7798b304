//! `kill`: signal the init through a pidfd, so a recycled pid is never signalled; or, with
//! `--all`, every process of the container's cgroup.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::signal::Signal;

use super::status::{init_alive, load};
use crate::error::{Error, Result, SysContext};
use crate::state::{Record, StateRoot, Status};

/// Parses `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| Error::InvalidSpec(format!("unknown signal {text:?}")));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::InvalidSpec(format!("unknown signal {text:?}")))
}

pub fn kill(root: &StateRoot, id: &str, signal: Signal) -> Result<()> {
    let container = load(root, id)?;
    container.require(
        "kill",
        &[Status::Created, Status::Running, Status::Paused],
        "created, running or paused",
    )?;
    signal_init(&container.record, signal)
}

/// Signals every process in the container's cgroup.
pub fn kill_all(root: &StateRoot, id: &str, signal: Signal) -> Result<()> {
    let container = load(root, id)?;
    for pid in container.cgroup()?.get_all_pids()? {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
    Ok(())
}

/// Signals the recorded init if it is still the same process.
pub(crate) fn signal_init(record: &Record, signal: Signal) -> Result<()> {
    let pidfd = pidfd_open(record.pid)?;
    // The pidfd pins the process: if the start time still matches now, it is our init.
    if !init_alive(record) {
        return Err(Error::BadState {
            id: record.id.clone(),
            status: "stopped".into(),
            operation: "kill",
            expected: "running",
        });
    }
    // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    nix::errno::Errno::result(rc)
        .map(drop)
        .sys(|| format!("send {signal} to container \"{}\"", record.id))
}

pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = nix::errno::Errno::result(fd).sys(|| format!("pidfd_open {pid}"))?;
    // SAFETY: the kernel just created this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

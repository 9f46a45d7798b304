//! Copying the container's output into its log while waiting for the init to exit.

use std::os::fd::{AsFd, OwnedFd};
use std::time::SystemTime;

use berth_runtime::process::clone::Child;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{Result, io};
use crate::logs::{LogWriter, Stream};

const CHUNK: usize = 64 * 1024;

/// Pumps both pipes into `log` until the init has exited and both pipes reached EOF (every
/// process holding them is gone); returns the init's shell-style exit code.
pub fn until_exit(init: &Child, out: OwnedFd, err: OwnedFd, log: &mut LogWriter) -> Result<i32> {
    let mut pipes = [(Some(out), Stream::Stdout), (Some(err), Stream::Stderr)];
    let mut exit_code = None;
    let mut buf = vec![0u8; CHUNK];
    while exit_code.is_none() || pipes.iter().any(|(fd, _)| fd.is_some()) {
        let mut fds: Vec<PollFd> = Vec::with_capacity(3);
        let mut streams = Vec::with_capacity(2);
        for (i, (fd, _)) in pipes.iter().enumerate() {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                streams.push(i);
            }
        }
        if exit_code.is_none() {
            fds.push(PollFd::new(init.pidfd.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io("poll the container's output")(e.into())),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (slot, &i) in streams.iter().enumerate() {
            if !ready[slot] {
                continue;
            }
            let (fd, stream) = &mut pipes[i];
            let Some(pipe) = fd.as_ref() else { continue };
            match nix::unistd::read(pipe, &mut buf) {
                Ok(0) => *fd = None,
                Ok(n) => log.write(*stream, &buf[..n], SystemTime::now())?,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(io("read the container's output")(e.into())),
            }
        }
        if exit_code.is_none() && ready.last().copied().unwrap_or(false) {
            exit_code = reap(init.pid)?;
        }
    }
    Ok(exit_code.expect("loop ends after the exit"))
}

fn reap(pid: i32) -> Result<Option<i32>> {
    match waitpid(Pid::from_raw(pid), None) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128 + sig as i32)),
        Ok(_) => Ok(None),
        Err(e) => Err(io(format!("wait for the container's init {pid}"))(e.into())),
    }
}

//! `start`: open the exec fifo for reading, which releases the init into the user's program.
//! No process is spawned: start costs a few system calls.

use std::os::fd::AsFd;

use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use super::status::{Container, init_alive, load};
use crate::error::{Error, Result, SysContext};
use crate::hooks;
use crate::process::init::has_poststart_hooks;
use crate::state::{StateRoot, Status};

pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let container = load(root, id)?;
    container.require("start", &[Status::Created], "created")?;
    let spec = container.dir.read_config()?;
    release(&container, has_poststart_hooks(&spec))?;
    let _ = std::fs::remove_file(container.dir.fifo_path());
    poststart(&container, &spec);
    Ok(())
}

/// Runs the poststart hooks of a container whose program was just released.
pub(crate) fn poststart(container: &Container, spec: &Spec) {
    if let Some(list) = spec.hooks().as_ref().and_then(|h| h.poststart().as_deref()) {
        let mut state = container.oci_state();
        state.status = Status::Running;
        hooks::run_logged(list, &state, "poststart");
    }
}

/// Reads the init's byte from the fifo; with `until_exec`, then waits for the fifo's EOF, which
/// comes when the init's exec closes its write end (after the startContainer hooks). Polls so a
/// dead init is noticed instead of hanging.
fn release(container: &Container, until_exec: bool) -> Result<()> {
    let path = container.dir.fifo_path();
    let fifo = open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| format!("open {}", path.display()))?;
    let mut byte = [0u8; 1];
    let mut released = false;
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            Ok(_) => match nix::unistd::read(&fifo, &mut byte) {
                Ok(1) if !until_exec => return Ok(()),
                Ok(1) => released = true,
                Ok(0) if released => return Ok(()),
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(e).sys(|| format!("read {}", path.display())),
            },
            Err(e) => return Err(e).sys(|| format!("poll {}", path.display())),
        }
        if !init_alive(&container.record) {
            if released {
                // It ran and already exited (or failed to exec): started all the same.
                return Ok(());
            }
            return Err(Error::Init(format!(
                "container \"{}\"'s init exited before it was started",
                container.record.id
            )));
        }
    }
}

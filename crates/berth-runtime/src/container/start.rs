//! `start`: write a byte into the exec fifo, which releases the init into the user's program.
//! No process is spawned and nothing waited for: start costs a few system calls.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use super::status::{Container, load};
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

/// Writes the byte the init blocks on into the exec fifo; with `until_exec`, then waits for the
/// fifo's hangup, which comes when the init's exec closes its end (after the startContainer
/// hooks). Without it, start returns at once: no wait for the init to wake up.
fn release(container: &Container, until_exec: bool) -> Result<()> {
    let path = container.dir.fifo_path();
    let open_fifo = |flags| {
        open(
            &path,
            flags | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    // A reader sees a hangup only after a writer came and went: open ours before writing.
    let watch = until_exec
        .then(|| open_fifo(OFlag::O_RDONLY))
        .transpose()
        .sys(|| format!("open {}", path.display()))?;
    let writer = match open_fifo(OFlag::O_WRONLY) {
        // No reader: the init, which holds the fifo open until its exec, is gone.
        Err(Errno::ENXIO) => return Err(exited_before_start(container)),
        other => other.sys(|| format!("open {}", path.display()))?,
    };
    nix::unistd::write(&writer, b"0").sys(|| format!("write {}", path.display()))?;
    drop(writer);
    let Some(watch) = watch else {
        return Ok(());
    };
    loop {
        // No events asked for: poll wakes on the hangup alone, not on our unread byte.
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e).sys(|| format!("poll {}", path.display())),
            Ok(_) => break,
        }
    }
    // Hung up with our byte still there: the init died before it read it.
    let mut byte = [0u8; 1];
    match nix::unistd::read(&watch, &mut byte) {
        Ok(1) => Err(exited_before_start(container)),
        _ => Ok(()),
    }
}

fn exited_before_start(container: &Container) -> Error {
    Error::Init(format!(
        "container \"{}\"'s init exited before it was started",
        container.record.id
    ))
}

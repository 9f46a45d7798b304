//! `delete`: stop what still runs (a created container's waiting init always; a running one only
//! with `--force`), empty and remove the cgroup, run poststop hooks, remove the state.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use berth_cgroups::{CgroupManager, FreezerState};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use super::abandoned;
use super::kill::{pidfd_open, signal_init};
use super::status::{init_alive, load};
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{StateRoot, Status};

const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let container = match load(root, id) {
        Err(Error::NotFound(_)) if let Some(dir) = root.abandoned(id) => {
            return abandoned::clean(&dir, id);
        }
        loaded => loaded?,
    };
    let cgroup = container.cgroup()?;
    match container.status {
        Status::Stopped => {}
        Status::Created => stop_init(&container.record, cgroup.as_ref())?,
        Status::Running | Status::Paused | Status::Creating if force => {
            if container.status == Status::Paused {
                cgroup.freeze(FreezerState::Thawed)?;
            }
            stop_init(&container.record, cgroup.as_ref())?;
        }
        _ => container.require("delete", &[Status::Stopped], "stopped (or use --force)")?,
    }
    tracing::debug!("delete: init gone");
    kill_leftovers(cgroup.as_ref())?;
    tracing::debug!("delete: leftovers gone");
    cgroup.remove()?;
    let spec = container.dir.read_config();
    if let Some(list) = spec
        .as_ref()
        .ok()
        .and_then(|s| s.hooks().as_ref())
        .and_then(|h| h.poststop().as_deref())
    {
        let mut state = container.oci_state();
        state.status = Status::Stopped;
        hooks::run_logged(list, &state, "poststop");
    }
    tracing::debug!("delete: cgroup removed");
    container.dir.remove()
}

/// SIGKILLs the init and waits until it is gone.
fn stop_init(record: &crate::state::Record, cgroup: &dyn CgroupManager) -> Result<()> {
    let Ok(pidfd) = pidfd_open(record.pid) else {
        return Ok(());
    };
    if !init_alive(record) {
        return Ok(());
    }
    signal_init(record, Signal::SIGKILL)?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while init_alive(record) {
        if Instant::now() >= deadline {
            return Err(Error::Init(format!(
                "container \"{}\" did not die within {} s of SIGKILL (cgroup pids: {:?})",
                record.id,
                STOP_TIMEOUT.as_secs(),
                cgroup.get_all_pids().unwrap_or_default()
            )));
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(50u16));
    }
    Ok(())
}

/// Processes that outlive the init (no pid namespace of its own) are killed like runc does.
pub(crate) fn kill_leftovers(cgroup: &dyn CgroupManager) -> Result<()> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let pids = cgroup.get_all_pids().unwrap_or_default();
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Init(format!(
                "processes {pids:?} of the container survived SIGKILL"
            )));
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

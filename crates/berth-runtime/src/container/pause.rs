//! `pause` and `resume`: the cgroup freezer stops and restarts every process of the container.

use berth_cgroups::FreezerState;

use super::status::load;
use crate::error::Result;
use crate::state::{StateRoot, Status};

pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    let container = load(root, id)?;
    container.require("pause", &[Status::Running], "running")?;
    Ok(container.cgroup()?.freeze(FreezerState::Frozen)?)
}

pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    let container = load(root, id)?;
    container.require("resume", &[Status::Paused], "paused")?;
    Ok(container.cgroup()?.freeze(FreezerState::Thawed)?)
}

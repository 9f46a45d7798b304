//! `update`: new cgroup limits for a container that exists.

use oci_spec::runtime::LinuxResources;

use super::status::load;
use crate::error::Result;
use crate::state::{StateRoot, Status};

pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<()> {
    let container = load(root, id)?;
    container.require(
        "update",
        &[Status::Created, Status::Running, Status::Paused],
        "created, running or paused",
    )?;
    Ok(container.cgroup()?.apply(resources)?)
}

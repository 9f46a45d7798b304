//! `events`: cgroup usage of a container and its OOM kills, so an engine can report `OOMKilled`.

use berth_cgroups::Stats;

use super::status::load;
use crate::error::Result;
use crate::state::StateRoot;

/// One batched reading of the container's cgroup.
pub fn stats(root: &StateRoot, id: &str) -> Result<Stats> {
    Ok(load(root, id)?.cgroup()?.stats()?)
}

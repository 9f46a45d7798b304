//! `events`: cgroup usage of a container and its OOM kills, so an engine can report `OOMKilled`.

use berth_cgroups::Stats;

use super::status::load;
use crate::error::Result;
use crate::state::StateRoot;

/// One batched reading of the container's cgroup.
pub fn stats(root: &StateRoot, id: &str) -> Result<Stats> {
    Ok(load(root, id)?.cgroup()?.stats()?)
}

/// How many of the container's processes the OOM killer took: what an engine needs when the
/// container exits, in one file read instead of the dozen of [`stats`].
pub fn oom_kill_count(root: &StateRoot, id: &str) -> Result<u64> {
    Ok(load(root, id)?.cgroup()?.oom_kill_count()?)
}

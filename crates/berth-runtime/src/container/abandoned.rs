//! Cleaning up after a runtime that died in the middle of `create`: its init died with it (the
//! parent-death signal), but its state directory and cgroup stay until someone removes them.
//! `create` of the same id and `delete` do that, so a crash never leaves an id stuck.

use super::cgroup;
use super::delete::kill_leftovers;
use crate::error::Result;
use crate::state::ContainerDir;

/// Removes the abandoned container's cgroup (found through its frozen config, written before
/// the cgroup was made) and its state directory.
pub(crate) fn clean(dir: &ContainerDir, id: &str) -> Result<()> {
    if let Ok(spec) = dir.read_config() {
        let manager = berth_cgroups::create_manager(&cgroup::path_for(&spec, id))?;
        kill_leftovers(manager.as_ref())?;
        manager.remove()?;
    }
    dir.remove()
}

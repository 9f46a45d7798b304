//! `ps`: the host pids of every process in the container's cgroup.

use super::status::load;
use crate::error::Result;
use crate::state::StateRoot;

pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<i32>> {
    let container = load(root, id)?;
    let mut pids = container.cgroup()?.get_all_pids()?;
    pids.sort_unstable();
    Ok(pids)
}

//! v1 cpuset hierarchy creation: a new cpuset cgroup starts with empty cpus/mems and the kernel
//! refuses tasks until both are set, so each level inherits its parent's values.

use std::path::Path;

use crate::Result;
use crate::fs::{mkdir_all, read, read_opt, write};

/// Creates `dir` (below `mount`) level by level, copying cpuset.cpus/cpuset.mems down into
/// every level where they are empty or absent.
pub(super) fn create(mount: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut parent = mount.to_path_buf();
    for component in rel.components() {
        let child = parent.join(component);
        mkdir_all(&child)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if read_opt(&child.join(file))?.unwrap_or_default().is_empty() {
                write(&child.join(file), &read(&parent.join(file))?)?;
            }
        }
        parent = child;
    }
    Ok(())
}

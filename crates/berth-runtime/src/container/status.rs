//! A container as found on disk, with its status worked out from the live system: the init's
//! pid and start time, the exec fifo, and the freezer.

use berth_cgroups::CgroupManager;

use crate::error::{Error, Result};
use crate::state::{ContainerDir, OciState, Record, StateRoot, Status, process_start_time};

/// A container's record and its current status.
#[derive(Debug)]
pub struct Container {
    pub dir: ContainerDir,
    pub record: Record,
    pub status: Status,
}

/// Loads container `id` and works out its status.
pub fn load(root: &StateRoot, id: &str) -> Result<Container> {
    let dir = root.open(id)?;
    let record = dir.read_record()?;
    let status = if !init_alive(&record) {
        Status::Stopped
    } else if dir.fifo_path().exists() {
        Status::Created
    } else if cgroup_of(&record)
        .and_then(|c| Ok(c.frozen()?))
        .unwrap_or(false)
    {
        Status::Paused
    } else {
        Status::Running
    };
    Ok(Container {
        dir,
        record,
        status,
    })
}

/// Whether the recorded init still runs (same pid *and* same start time: pids get recycled).
pub fn init_alive(record: &Record) -> bool {
    process_start_time(record.pid) == Some(record.pid_start_time)
}

fn cgroup_of(record: &Record) -> Result<Box<dyn CgroupManager>> {
    match &record.cgroup {
        Some(placement) => Ok(placement.manager()),
        None => Ok(berth_cgroups::create_manager(&record.cgroups_path)?),
    }
}

impl Container {
    pub fn cgroup(&self) -> Result<Box<dyn CgroupManager>> {
        cgroup_of(&self.record)
    }

    /// The OCI state, as `state` prints it and hooks receive it.
    pub fn oci_state(&self) -> OciState {
        let r = &self.record;
        OciState {
            oci_version: oci_spec::runtime::VERSION.to_string(),
            id: r.id.clone(),
            status: self.status,
            pid: if self.status == Status::Stopped {
                0
            } else {
                r.pid
            },
            bundle: r.bundle.clone(),
            rootfs: r.rootfs.clone(),
            created: r.created.clone(),
            owner: r.owner.clone(),
            annotations: r.annotations.clone(),
        }
    }

    /// Fails unless the status is one of `allowed`.
    pub fn require(
        &self,
        operation: &'static str,
        allowed: &[Status],
        expected: &'static str,
    ) -> Result<()> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(Error::BadState {
                id: self.record.id.clone(),
                status: self.status.to_string(),
                operation,
                expected,
            })
        }
    }
}

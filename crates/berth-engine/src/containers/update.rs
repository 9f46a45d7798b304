//! `POST /containers/{id}/update`: new limits in the record, and in the cgroup of a running
//! container (through the runtime's `update`).

use bollard_stubs::models::{ContainerUpdateBody, ContainerUpdateResponse, HostConfig};

use crate::engine::Engine;
use crate::error::{Error, Result};

use super::resources;

impl Engine {
    pub async fn update_container(
        &self,
        name: &str,
        body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        refuse_unsupported(&body)?;
        let (id, hc, running) = {
            let reg = self.registry.lock().expect("registry lock");
            let entry = reg.get(name)?;
            let mut hc = entry.record.host_config.clone();
            merge(&mut hc, body);
            resources::validate(&hc)?;
            super::restart::validate(&hc)?;
            (entry.record.id.clone(), hc, entry.running())
        };
        let me = self.arc();
        tokio::task::spawn_blocking(move || -> Result<()> {
            if running {
                let r = resources::linux_resources(&hc)?;
                let r: oci_spec::runtime::LinuxResources =
                    serde_json::from_value(serde_json::Value::Object(r))
                        .map_err(|e| Error::internal("the new limits", e))?;
                let root = berth_runtime::state::StateRoot::new(&me.layout.runtime_root);
                berth_runtime::container::update(&root, &id, &r).map_err(|e| {
                    Error::InvalidArgument(format!("Cannot update container {id}: {e}"))
                })?;
            }
            let mut reg = me.registry.lock().expect("registry lock");
            let entry = reg.get_mut(&id)?;
            entry.record.host_config = hc;
            entry.record.save(&me.layout.dir(&id))
        })
        .await
        .map_err(|e| Error::internal("update", e))??;
        Ok(ContainerUpdateResponse {
            warnings: Some(Vec::new()),
        })
    }
}

/// What `update` cannot change here is refused by name.
fn refuse_unsupported(b: &ContainerUpdateBody) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::InvalidArgument(format!(
            "updating {what} is not supported by berth"
        )))
    };
    if b.devices.as_ref().is_some_and(|d| !d.is_empty()) {
        return refuse("devices");
    }
    if b.ulimits.as_ref().is_some_and(|u| !u.is_empty()) {
        return refuse("ulimits");
    }
    if b.device_requests.as_ref().is_some_and(|d| !d.is_empty()) {
        return refuse("device requests");
    }
    if b.cgroup_parent.as_ref().is_some_and(|c| !c.is_empty()) {
        return refuse("the cgroup parent");
    }
    Ok(())
}

/// Docker's rule: a field the request sets (non-zero) replaces the container's.
fn merge(hc: &mut HostConfig, b: ContainerUpdateBody) {
    fn set<T: PartialEq + Default>(dst: &mut Option<T>, v: Option<T>) {
        if let Some(v) = v.filter(|v| *v != T::default()) {
            *dst = Some(v);
        }
    }
    set(&mut hc.cpu_shares, b.cpu_shares);
    set(&mut hc.memory, b.memory);
    set(&mut hc.memory_swap, b.memory_swap);
    set(&mut hc.memory_reservation, b.memory_reservation);
    set(&mut hc.nano_cpus, b.nano_cpus);
    set(&mut hc.cpu_period, b.cpu_period);
    set(&mut hc.cpu_quota, b.cpu_quota);
    set(&mut hc.cpuset_cpus, b.cpuset_cpus);
    set(&mut hc.cpuset_mems, b.cpuset_mems);
    set(&mut hc.pids_limit, b.pids_limit);
    set(&mut hc.blkio_weight, b.blkio_weight);
    set(&mut hc.blkio_weight_device, b.blkio_weight_device);
    set(&mut hc.blkio_device_read_bps, b.blkio_device_read_bps);
    set(&mut hc.blkio_device_write_bps, b.blkio_device_write_bps);
    set(&mut hc.blkio_device_read_iops, b.blkio_device_read_iops);
    set(&mut hc.blkio_device_write_iops, b.blkio_device_write_iops);
    set(&mut hc.memory_swappiness, b.memory_swappiness);
    if b.restart_policy.as_ref().is_some_and(|p| p.name.is_some()) {
        hc.restart_policy = b.restart_policy;
    }
    if b.oom_kill_disable.is_some() {
        hc.oom_kill_disable = b.oom_kill_disable;
    }
    if b.nano_cpus.is_some_and(|n| n > 0) {
        hc.cpu_period = None;
        hc.cpu_quota = None;
    }
}

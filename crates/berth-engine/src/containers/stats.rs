//! `GET /containers/{id}/stats`: Docker's StatsResponse from the container's cgroup (v1 or v2,
//! through berth-cgroups), the host's /proc/stat (system_cpu_usage) and the container's
//! /proc/<pid>/net/dev. Streamed once a second; `stream=false` waits for a second sample so
//! that precpu_stats is filled (CPU % needs two), `one-shot=true` does not.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use berth_cgroups::{IoEntry, Stats};
use berth_runtime::state::StateRoot;
use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
    ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats, ContainerStatsResponse,
    ContainerThrottlingData,
};
use tokio::sync::mpsc;

use crate::engine::{Engine, mem_total};
use crate::error::{Error, Result};
use crate::logs::format_timestamp;

/// Docker's sampling interval.
const INTERVAL: Duration = Duration::from_secs(1);
/// /proc/stat counts in USER_HZ ticks, 100 per second on Linux.
const TICK_NS: u64 = 10_000_000;

/// One reading of a running container.
#[derive(Clone)]
struct Sample {
    at: SystemTime,
    cgroup: Stats,
    system_ns: u64,
    online_cpus: u32,
    networks: HashMap<String, ContainerNetworkStats>,
}

impl Engine {
    /// The container's stats: one message, or (with `stream`) one a second until it stops or
    /// the receiver is dropped.
    pub async fn container_stats(
        &self,
        name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<mpsc::Receiver<ContainerStatsResponse>> {
        let (id, name, pid) = {
            let reg = self.registry.lock().expect("registry lock");
            let e = reg.get(name)?;
            let pid = if e.running() { e.record.state.pid } else { 0 };
            (e.record.id.clone(), format!("/{}", e.record.name), pid)
        };
        let (tx, rx) = mpsc::channel(2);
        let root = StateRoot::new(&self.layout.runtime_root);
        let empty = ContainerStatsResponse {
            id: Some(id.clone()),
            name: Some(name.clone()),
            os_type: Some("linux".into()),
            read: Some(ZERO_TIME.into()),
            preread: Some(ZERO_TIME.into()),
            ..Default::default()
        };
        if pid == 0 {
            let _ = tx.send(empty).await;
            return Ok(rx);
        }
        let first = read_sample(&root, &id, pid).await?;
        tokio::spawn(async move {
            let mut previous: Option<Sample> = None;
            let mut current = first;
            if !stream && !one_shot {
                tokio::time::sleep(INTERVAL).await;
                previous = Some(current);
                match read_sample(&root, &id, pid).await {
                    Ok(s) => current = s,
                    Err(_) => return drop(tx.send(empty).await),
                }
            }
            loop {
                let message = response(&id, &name, &current, previous.as_ref());
                if tx.send(message).await.is_err() || !stream {
                    return;
                }
                tokio::time::sleep(INTERVAL).await;
                match read_sample(&root, &id, pid).await {
                    Ok(s) => previous = Some(std::mem::replace(&mut current, s)),
                    // The container has stopped: the stream ends.
                    Err(_) => return,
                }
            }
        });
        Ok(rx)
    }
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

async fn read_sample(root: &StateRoot, id: &str, pid: i32) -> Result<Sample> {
    let (root, id) = (root.clone(), id.to_string());
    tokio::task::spawn_blocking(move || sample(&root, &id, pid))
        .await
        .map_err(|e| Error::internal("stats", e))?
}

fn sample(root: &StateRoot, id: &str, pid: i32) -> Result<Sample> {
    let cgroup = berth_runtime::container::events::stats(root, id)
        .map_err(|_| Error::Conflict(format!("container {id} is not running")))?;
    let stat =
        std::fs::read_to_string("/proc/stat").map_err(|e| Error::internal("/proc/stat", e))?;
    let (system_ns, online_cpus) = parse_proc_stat(&stat);
    let net_dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    Ok(Sample {
        at: SystemTime::now(),
        cgroup,
        system_ns,
        online_cpus,
        networks: parse_net_dev(&net_dev),
    })
}

/// (all CPUs' time in ns, how many CPUs) from /proc/stat.
fn parse_proc_stat(text: &str) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            total = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
                * TICK_NS;
        } else if line.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total, cpus.max(1))
}

/// The interfaces of /proc/<pid>/net/dev but loopback (Docker reports the container's
/// network endpoints).
fn parse_net_dev(text: &str) -> HashMap<String, ContainerNetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                ContainerNetworkStats {
                    rx_bytes: Some(v[0]),
                    rx_packets: Some(v[1]),
                    rx_errors: Some(v[2]),
                    rx_dropped: Some(v[3]),
                    tx_bytes: Some(v[8]),
                    tx_packets: Some(v[9]),
                    tx_errors: Some(v[10]),
                    tx_dropped: Some(v[11]),
                    ..Default::default()
                },
            ))
        })
        .collect()
}

fn cpu_stats(s: &Sample) -> ContainerCpuStats {
    let c = &s.cgroup;
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(c.cpu_usage_ns),
            percpu_usage: (!c.cpu_percpu_ns.is_empty()).then(|| c.cpu_percpu_ns.clone()),
            usage_in_kernelmode: Some(c.cpu_system_ns),
            usage_in_usermode: Some(c.cpu_user_ns),
        }),
        system_cpu_usage: Some(s.system_ns),
        online_cpus: Some(s.online_cpus),
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(c.cpu_periods),
            throttled_periods: Some(c.cpu_throttled_periods),
            throttled_time: Some(c.cpu_throttled_ns),
        }),
    }
}

fn blkio(entries: &[IoEntry]) -> Option<Vec<ContainerBlkioStatEntry>> {
    Some(
        entries
            .iter()
            .map(|e| ContainerBlkioStatEntry {
                major: Some(e.major),
                minor: Some(e.minor),
                op: Some(e.op.clone()),
                value: Some(e.value),
            })
            .collect(),
    )
}

fn response(id: &str, name: &str, s: &Sample, prev: Option<&Sample>) -> ContainerStatsResponse {
    let c = &s.cgroup;
    let host_memory = u64::try_from(mem_total()).unwrap_or(0);
    ContainerStatsResponse {
        id: Some(id.to_string()),
        name: Some(name.to_string()),
        os_type: Some("linux".into()),
        read: Some(format_timestamp(s.at)),
        preread: Some(prev.map_or_else(|| ZERO_TIME.into(), |p| format_timestamp(p.at))),
        cpu_stats: Some(cpu_stats(s)),
        precpu_stats: Some(prev.map(cpu_stats).unwrap_or_default()),
        memory_stats: Some(ContainerMemoryStats {
            usage: Some(c.memory_usage),
            max_usage: c.memory_max_usage,
            stats: Some(c.memory_stat.clone().into_iter().collect()),
            limit: Some(
                c.memory_limit
                    .unwrap_or(host_memory)
                    .min(host_memory.max(1)),
            ),
            ..Default::default()
        }),
        pids_stats: Some(ContainerPidsStats {
            current: Some(c.pids_current),
            limit: c.pids_limit,
        }),
        blkio_stats: Some(ContainerBlkioStats {
            io_service_bytes_recursive: blkio(&c.io_bytes),
            io_serviced_recursive: blkio(&c.io_ops),
            ..Default::default()
        }),
        networks: (!s.networks.is_empty()).then(|| s.networks.clone()),
        num_procs: Some(0),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_totals_and_cpus() {
        let text = "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 5 0 2 50 0 0 0 0 0 0\ncpu1 5 0 3 50 0 0 0 0 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(text), (115 * TICK_NS, 2));
    }

    #[test]
    fn net_dev_without_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let nets = parse_net_dev(text);
        assert_eq!(nets.len(), 1);
        let eth0 = &nets["eth0"];
        assert_eq!((eth0.rx_bytes, eth0.tx_bytes), (Some(2000), Some(3000)));
        assert_eq!((eth0.rx_dropped, eth0.tx_errors), (Some(2), Some(3)));
    }
}

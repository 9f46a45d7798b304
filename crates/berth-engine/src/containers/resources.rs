//! HostConfig's resource limits: Docker's validation (and its messages), and their OCI form
//! (`linux.resources`, `process.rlimits`), used at start and by `update`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use bollard_stubs::models::{HostConfig, ResourcesUlimits, ThrottleDevice};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Docker's floor for memory limits and reservations.
const MIN_MEMORY: i64 = 6 << 20;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Docker's checks of the limits, with its messages. `update` relaxes the swap rule when
/// the container already has a memory limit.
pub fn validate(hc: &HostConfig) -> Result<()> {
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    let reservation = hc.memory_reservation.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s != -1)
        && !(0..=100).contains(&s)
    {
        return Err(invalid(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if reservation != 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let nano = hc.nano_cpus.unwrap_or(0);
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if nano > 0 && hc.cpu_period.unwrap_or(0) > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && hc.cpu_quota.unwrap_or(0) > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano < 0 || nano > ncpu * 1_000_000_000 {
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if let Some(p) = hc.cpu_period.filter(|p| *p != 0)
        && !(1000..=1_000_000).contains(&p)
    {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if hc.cpu_quota.is_some_and(|q| q > 0 && q < 1000) {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    for (value, what, file) in [
        (&hc.cpuset_cpus, "cpus", "cpuset.cpus"),
        (&hc.cpuset_mems, "mems", "cpuset.mems"),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            check_cpuset(v, what, file)?;
        }
    }
    if let Some(w) = hc.blkio_weight.filter(|w| *w != 0) {
        if !(10..=1000).contains(&w) {
            return Err(invalid("Range of blkio weight is from 10 to 1000"));
        }
        check_blkio_weight_support()?;
    }
    if hc
        .blkio_weight_device
        .as_ref()
        .is_some_and(|d| !d.is_empty())
    {
        check_blkio_weight_support()?;
    }
    if hc.shm_size.is_some_and(|s| s < 0) {
        return Err(invalid("SHM size can not be less than 0"));
    }
    if hc
        .oom_score_adj
        .is_some_and(|s| !(-1000..=1000).contains(&s))
    {
        return Err(invalid(
            "Invalid value for OomScoreAdj, range is [-1000, 1000]",
        ));
    }
    let rlimits = rlimits(hc.ulimits.as_deref().unwrap_or_default())?;
    let rlimits: Vec<oci_spec::runtime::PosixRlimit> = serde_json::from_value(json!(rlimits))
        .map_err(|e| invalid(format!("invalid ulimit: {e}")))?;
    berth_runtime::security::rlimits::check(&rlimits)
        .map_err(|e| invalid(format!("invalid --ulimit: {e}")))?;
    Ok(())
}

/// No weight file on this host (CFQ gone, BFQ not built): refused rather than dropped.
fn check_blkio_weight_support() -> Result<()> {
    let v1 = std::path::Path::new("/sys/fs/cgroup/blkio");
    let present = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .any(|f| v1.join(f).exists())
        || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if present {
        Ok(())
    } else {
        Err(invalid(
            "--blkio-weight: this kernel has no Block I/O weight support (no blkio.weight or blkio.bfq.weight)",
        ))
    }
}

/// `0-2,4` style lists, each CPU/node present on the host.
fn check_cpuset(v: &str, what: &str, file: &str) -> Result<()> {
    let bad = || invalid(format!("Invalid value {v} for cpuset {what}"));
    let parse = |s: &str| -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for part in s.trim().split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            out.extend(a..=b);
        }
        Ok(out)
    };
    let wanted = parse(v)?;
    let available = ["/sys/fs/cgroup/cpuset", "/sys/fs/cgroup"]
        .iter()
        .find_map(|d| {
            std::fs::read_to_string(format!("{d}/{file}"))
                .or_else(|_| std::fs::read_to_string(format!("{d}/{file}.effective")))
                .ok()
        })
        .unwrap_or_default();
    let have = parse(&available).unwrap_or_default();
    if !have.is_empty() && wanted.iter().any(|c| !have.contains(c)) {
        let kind = if what == "cpus" {
            "CPUs"
        } else {
            "memory nodes"
        };
        return Err(invalid(format!(
            "Requested {kind} are not available - requested {v}, available: {}",
            available.trim()
        )));
    }
    Ok(())
}

/// `--ulimit name=soft[:hard]` as the runtime's rlimits.
pub fn rlimits(ulimits: &[ResourcesUlimits]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for u in ulimits {
        let name = u.name.as_deref().unwrap_or_default().to_ascii_lowercase();
        const KNOWN: &[&str] = &[
            "as",
            "core",
            "cpu",
            "data",
            "fsize",
            "locks",
            "memlock",
            "msgqueue",
            "nice",
            "nofile",
            "nproc",
            "rss",
            "rtprio",
            "rttime",
            "sigpending",
            "stack",
        ];
        if !KNOWN.contains(&name.as_str()) {
            return Err(invalid(format!("invalid ulimit type: {name}")));
        }
        let soft = u.soft.unwrap_or(0);
        let hard = u.hard.unwrap_or(soft);
        if soft > hard {
            return Err(invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        let as_u64 = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        out.push(json!({
            "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
            "soft": as_u64(soft),
            "hard": as_u64(hard),
        }));
    }
    Ok(out)
}

/// The limits as `linux.resources` (device rules are the spec's, added by the caller).
pub fn linux_resources(hc: &HostConfig) -> Result<serde_json::Map<String, Value>> {
    let mut r = serde_json::Map::new();
    let mut memory = serde_json::Map::new();
    let limit = hc.memory.filter(|m| *m > 0);
    if let Some(m) = limit {
        memory.insert("limit".into(), json!(m));
        // Docker's default: as much swap as memory (memsw = twice the limit), where the
        // kernel accounts swap at all.
        let swap = match hc.memory_swap.unwrap_or(0) {
            0 if swap_accounting() => Some(2 * m),
            0 => None,
            s => Some(s),
        };
        if let Some(s) = swap {
            memory.insert("swap".into(), json!(s));
        }
    }
    if let Some(m) = hc.memory_reservation.filter(|m| *m > 0) {
        memory.insert("reservation".into(), json!(m));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s >= 0) {
        memory.insert("swappiness".into(), json!(s));
    }
    if hc.oom_kill_disable == Some(true) {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = hc.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(n) = hc.nano_cpus.filter(|n| *n > 0) {
        cpu.insert("period".into(), json!(100_000));
        cpu.insert("quota".into(), json!(n / 10_000));
    } else {
        if let Some(q) = hc.cpu_quota.filter(|q| *q > 0) {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = hc.cpu_period.filter(|p| *p > 0) {
            cpu.insert("period".into(), json!(p));
        }
    }
    if let Some(c) = hc.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = hc.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        r.insert("pids".into(), json!({"limit": p}));
    }
    let mut blkio = serde_json::Map::new();
    if let Some(w) = hc.blkio_weight.filter(|w| *w > 0) {
        blkio.insert("weight".into(), json!(w));
    }
    let mut weights = Vec::new();
    for d in hc.blkio_weight_device.iter().flatten() {
        let (major, minor) = device_numbers(d.path.as_deref().unwrap_or_default())?;
        weights.push(json!({"major": major, "minor": minor, "weight": d.weight.unwrap_or(0)}));
    }
    if !weights.is_empty() {
        blkio.insert("weightDevice".into(), json!(weights));
    }
    for (list, key) in [
        (&hc.blkio_device_read_bps, "throttleReadBpsDevice"),
        (&hc.blkio_device_write_bps, "throttleWriteBpsDevice"),
        (&hc.blkio_device_read_iops, "throttleReadIOPSDevice"),
        (&hc.blkio_device_write_iops, "throttleWriteIOPSDevice"),
    ] {
        let devices = throttles(list.as_deref().unwrap_or_default())?;
        if !devices.is_empty() {
            blkio.insert(key.into(), json!(devices));
        }
    }
    if !blkio.is_empty() {
        r.insert("blockIO".into(), Value::Object(blkio));
    }
    Ok(r)
}

/// Whether the memory controller accounts swap (v1: `memory.memsw.*`; always on v2).
fn swap_accounting() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn throttles(list: &[ThrottleDevice]) -> Result<Vec<Value>> {
    list.iter()
        .map(|t| {
            let (major, minor) = device_numbers(t.path.as_deref().unwrap_or_default())?;
            Ok(json!({"major": major, "minor": minor, "rate": t.rate.unwrap_or(0).max(0)}))
        })
        .collect()
}

/// A block device path's major and minor numbers.
fn device_numbers(path: &str) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(path)
        .map_err(|e| invalid(format!("error getting device {path:?}: {e}")))?;
    if !meta.file_type().is_block_device() {
        return Err(invalid(format!("{path} is not a block device")));
    }
    let rdev = meta.rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(f: impl FnOnce(&mut HostConfig)) -> HostConfig {
        let mut h = HostConfig::default();
        f(&mut h);
        h
    }

    #[test]
    fn docker_messages() {
        let err = |h: HostConfig| validate(&h).unwrap_err().to_string();
        assert_eq!(
            err(hc(|h| h.memory = Some(1024))),
            "Minimum memory limit allowed is 6MB"
        );
        assert!(
            err(hc(|h| {
                h.memory = Some(64 << 20);
                h.memory_swap = Some(32 << 20)
            }))
            .contains("memoryswap limit should be larger")
        );
        assert!(err(hc(|h| h.memory_swap = Some(64 << 20))).contains("always set the Memory"));
        assert!(
            err(hc(|h| {
                h.nano_cpus = Some(500_000_000);
                h.cpu_quota = Some(50_000)
            }))
            .contains("Nano CPUs and CPU Quota")
        );
        assert!(err(hc(|h| h.nano_cpus = Some(1_000_000_000_000))).contains("Range of CPUs"));
        assert!(err(hc(|h| h.cpu_period = Some(10))).contains("CPU cfs period"));
        assert!(err(hc(|h| h.cpuset_cpus = Some("0-999".into()))).contains("not available"));
        assert!(err(hc(|h| h.cpuset_cpus = Some("x".into()))).contains("Invalid value x"));
        assert!(err(hc(|h| h.blkio_weight = Some(5))).contains("from 10 to 1000"));
        let u = |n: &str, s, h| ResourcesUlimits {
            name: Some(n.into()),
            soft: Some(s),
            hard: Some(h),
        };
        assert!(
            err(hc(|h| h.ulimits = Some(vec![u("bogus", 1, 1)]))).contains("invalid ulimit type")
        );
        assert!(err(hc(|h| h.ulimits = Some(vec![u("nofile", 5, 1)]))).contains("soft limit"));
        assert!(
            validate(&hc(|h| {
                h.memory = Some(32 << 20);
                h.nano_cpus = Some(200_000_000);
                h.ulimits = Some(vec![u("nofile", 100, 200)])
            }))
            .is_ok()
        );
    }

    #[test]
    fn default_swap_is_twice_the_limit() {
        let r = linux_resources(&hc(|h| h.memory = Some(32 << 20))).unwrap();
        assert_eq!(r["memory"]["swap"], json!(64 << 20));
        let r = linux_resources(&hc(|h| {
            h.memory = Some(32 << 20);
            h.memory_swap = Some(-1)
        }))
        .unwrap();
        assert_eq!(r["memory"]["swap"], json!(-1));
    }
}

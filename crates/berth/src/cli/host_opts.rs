//! The `run`/`create` flags that fill HostConfig's mounts, limits and security settings, and
//! `update`'s limits: parsed as the docker CLI parses them (sizes like `32m`, `--mount`'s
//! CSV, `--ulimit name=soft:hard`, a seccomp profile file read here and sent as JSON).

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Map, Value, json};

/// Mount flags of `run`/`create`.
#[derive(Args, Debug, Default)]
pub struct MountOpts {
    /// Bind mount a volume (NAME|/HOST:/CONTAINER[:OPTS], or /CONTAINER for an anonymous one).
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,src=,dst=,...).
    #[arg(long, value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (/PATH[:OPTS]).
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s).
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
}

/// Resource flags, shared by `run`/`create` and `update`.
#[derive(Args, Debug, Default)]
pub struct ResourceOpts {
    /// Memory limit.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS quota.
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS period.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
}

/// Limits only `run`/`create` take.
#[derive(Args, Debug, Default)]
pub struct CreateLimitOpts {
    /// Limit read rate (bytes per second) from a device (PATH:RATE).
    #[arg(long = "device-read-bps", value_name = "list")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device (PATH:RATE).
    #[arg(long = "device-write-bps", value_name = "list")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device (PATH:N).
    #[arg(long = "device-read-iops", value_name = "list")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device (PATH:N).
    #[arg(long = "device-write-iops", value_name = "list")]
    pub device_write_iops: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD]).
    #[arg(long, value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Disable OOM Killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Size of /dev/shm.
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Tune container memory swappiness (0 to 100).
    #[arg(long = "memory-swappiness", allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,
    /// Tune host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", allow_negative_numbers = true)]
    pub oom_score_adj: Option<i64>,
}

/// Security and namespace flags of `run`/`create`.
#[derive(Args, Debug, Default)]
pub struct SecurityOpts {
    /// Add Linux capabilities.
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Security Options (seccomp=PROFILE|unconfined, no-new-privileges, ...).
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER[:PERMS]]).
    #[arg(long, value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list.
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Add additional groups to join.
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// PID namespace to use.
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use.
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use.
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use.
    #[arg(long)]
    pub userns: Option<String>,
    /// Sysctl options (NAME=VALUE).
    #[arg(long, value_name = "map")]
    pub sysctl: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
}

/// Docker's RAMInBytes: `32m`, `1.5g`, `512k`, `100` (bytes), binary multiples.
pub fn parse_ram(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let lower = s.trim().to_ascii_lowercase();
    let body = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, unit) = match body.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => body.split_at(i),
        None => (body, ""),
    };
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult) as i64)
}

/// `-1` or a size.
fn parse_swap(s: &str) -> Result<i64, String> {
    if s == "-1" { Ok(-1) } else { parse_ram(s) }
}

fn insert(o: &mut Map<String, Value>, k: &str, v: Value) {
    o.insert(k.into(), v);
}

fn list(o: &mut Map<String, Value>, k: &str, v: &[String]) {
    if !v.is_empty() {
        insert(o, k, json!(v));
    }
}

impl MountOpts {
    /// Fills Binds, Mounts, Tmpfs and VolumesFrom (and Config.Volumes for `-v /path`).
    pub fn apply(&self, config: &mut Value) -> Result<(), String> {
        let mut binds = Vec::new();
        let mut anonymous = Map::new();
        for v in &self.volume {
            if v.contains(':') {
                binds.push(v.clone());
            } else {
                anonymous.insert(v.clone(), json!({}));
            }
        }
        if !anonymous.is_empty() {
            config["Volumes"] = Value::Object(anonymous);
        }
        let hc = config["HostConfig"].as_object_mut().expect("HostConfig");
        list(hc, "Binds", &binds);
        list(hc, "VolumesFrom", &self.volumes_from);
        let mounts: Vec<Value> = self
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<_, _>>()?;
        if !mounts.is_empty() {
            insert(hc, "Mounts", json!(mounts));
        }
        let tmpfs: BTreeMap<&str, &str> = self
            .tmpfs
            .iter()
            .map(|t| t.split_once(':').unwrap_or((t.as_str(), "")))
            .collect();
        if !tmpfs.is_empty() {
            insert(hc, "Tmpfs", json!(tmpfs));
        }
        Ok(())
    }
}

/// `--mount type=…,src=…,dst=…,readonly,…` as one `HostConfig.Mounts` entry.
pub fn parse_mount(spec: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let mut typ = "volume".to_string();
    let mut bind = Map::new();
    let mut volume = Map::new();
    let mut driver_opts = Map::new();
    let mut labels = Map::new();
    let mut tmpfs = Map::new();
    let truth = |key: &str, v: Option<&str>| -> Result<bool, String> {
        match v {
            None | Some("1" | "true") => Ok(true),
            Some("0" | "false") => Ok(false),
            Some(other) => Err(format!("invalid value for {key}: {other}")),
        }
    };
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need =
            || value.ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"));
        match key.as_str() {
            "type" => typ = need()?.to_string(),
            "source" | "src" => insert(&mut m, "Source", json!(need()?)),
            "target" | "destination" | "dst" => insert(&mut m, "Target", json!(need()?)),
            "readonly" | "ro" => insert(&mut m, "ReadOnly", json!(truth(&key, value)?)),
            "consistency" => insert(&mut m, "Consistency", json!(need()?)),
            "bind-propagation" => insert(&mut bind, "Propagation", json!(need()?)),
            "bind-nonrecursive" => insert(&mut bind, "NonRecursive", json!(truth(&key, value)?)),
            "volume-nocopy" => insert(&mut volume, "NoCopy", json!(truth(&key, value)?)),
            "volume-subpath" => insert(&mut volume, "Subpath", json!(need()?)),
            "volume-label" => {
                let (k, v) = need()?.split_once('=').unwrap_or((need()?, ""));
                labels.insert(k.into(), json!(v));
            }
            "volume-driver" => {
                volume.insert("DriverConfig".into(), json!({"Name": need()?}));
            }
            "volume-opt" => {
                let (k, v) = need()?.split_once('=').ok_or_else(|| {
                    format!(
                        "invalid value for volume-opt: {}",
                        need().unwrap_or_default()
                    )
                })?;
                driver_opts.insert(k.into(), json!(v));
            }
            "tmpfs-size" => insert(&mut tmpfs, "SizeBytes", json!(parse_ram(need()?)?)),
            "tmpfs-mode" => {
                let mode = i64::from_str_radix(need()?, 8).map_err(|_| {
                    format!(
                        "invalid value for tmpfs-mode: {}",
                        need().unwrap_or_default()
                    )
                })?;
                insert(&mut tmpfs, "Mode", json!(mode));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if !matches!(typ.as_str(), "bind" | "volume" | "tmpfs") {
        return Err(format!("invalid mount type: {typ:?}"));
    }
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    insert(&mut m, "Type", json!(typ));
    if !bind.is_empty() {
        insert(&mut m, "BindOptions", Value::Object(bind));
    }
    if !driver_opts.is_empty() {
        let dc = volume.entry("DriverConfig").or_insert_with(|| json!({}));
        dc["Options"] = Value::Object(driver_opts);
    }
    if !labels.is_empty() {
        insert(&mut volume, "Labels", Value::Object(labels));
    }
    if !volume.is_empty() {
        insert(&mut m, "VolumeOptions", Value::Object(volume));
    }
    if !tmpfs.is_empty() {
        insert(&mut m, "TmpfsOptions", Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

impl ResourceOpts {
    /// The limits as HostConfig (or update body) fields.
    pub fn apply(&self, o: &mut Map<String, Value>) -> Result<(), String> {
        if let Some(m) = &self.memory {
            insert(o, "Memory", json!(parse_ram(m)?));
        }
        if let Some(s) = &self.memory_swap {
            insert(o, "MemorySwap", json!(parse_swap(s)?));
        }
        if let Some(r) = &self.memory_reservation {
            insert(o, "MemoryReservation", json!(parse_ram(r)?));
        }
        if let Some(c) = &self.cpus {
            let n: f64 = c
                .parse()
                .map_err(|_| format!("invalid argument {c:?} for \"--cpus\" flag: failed to parse {c:?} as a rational number"))?;
            insert(o, "NanoCpus", json!((n * 1e9).round() as i64));
        }
        for (k, v) in [
            ("CpuShares", self.cpu_shares),
            ("CpuQuota", self.cpu_quota),
            ("CpuPeriod", self.cpu_period),
            ("PidsLimit", self.pids_limit),
        ] {
            if let Some(v) = v {
                insert(o, k, json!(v));
            }
        }
        if let Some(c) = &self.cpuset_cpus {
            insert(o, "CpusetCpus", json!(c));
        }
        if let Some(m) = &self.cpuset_mems {
            insert(o, "CpusetMems", json!(m));
        }
        if let Some(w) = self.blkio_weight {
            insert(o, "BlkioWeight", json!(w));
        }
        Ok(())
    }
}

impl CreateLimitOpts {
    pub fn apply(&self, o: &mut Map<String, Value>) -> Result<(), String> {
        for (list, key, bytes) in [
            (&self.device_read_bps, "BlkioDeviceReadBps", true),
            (&self.device_write_bps, "BlkioDeviceWriteBps", true),
            (&self.device_read_iops, "BlkioDeviceReadIOps", false),
            (&self.device_write_iops, "BlkioDeviceWriteIOps", false),
        ] {
            let mut devices = Vec::new();
            for d in list {
                let (path, rate) = d
                    .rsplit_once(':')
                    .ok_or_else(|| format!("bad format: {d} (expected PATH:RATE)"))?;
                let rate = if bytes {
                    parse_ram(rate)?
                } else {
                    rate.parse()
                        .map_err(|_| format!("invalid rate for device: {d}"))?
                };
                devices.push(json!({"Path": path, "Rate": rate}));
            }
            if !devices.is_empty() {
                insert(o, key, json!(devices));
            }
        }
        let mut ulimits = Vec::new();
        for u in &self.ulimit {
            let (name, limits) = u
                .split_once('=')
                .ok_or_else(|| format!("invalid ulimit argument: {u}"))?;
            let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
            let num = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| format!("invalid ulimit argument: {u}"))
            };
            ulimits.push(json!({"Name": name, "Soft": num(soft)?, "Hard": num(hard)?}));
        }
        if !ulimits.is_empty() {
            insert(o, "Ulimits", json!(ulimits));
        }
        if self.oom_kill_disable {
            insert(o, "OomKillDisable", json!(true));
        }
        if let Some(s) = &self.shm_size {
            insert(o, "ShmSize", json!(parse_ram(s)?));
        }
        if let Some(s) = self.memory_swappiness {
            insert(o, "MemorySwappiness", json!(s));
        }
        if let Some(s) = self.oom_score_adj {
            insert(o, "OomScoreAdj", json!(s));
        }
        Ok(())
    }
}

impl SecurityOpts {
    pub fn apply(&self, o: &mut Map<String, Value>) -> Result<(), String> {
        list(o, "CapAdd", &self.cap_add);
        list(o, "CapDrop", &self.cap_drop);
        if self.privileged {
            insert(o, "Privileged", json!(true));
        }
        let mut opts = Vec::new();
        for s in &self.security_opt {
            // As the docker CLI: a seccomp profile is read here and sent as its JSON.
            match s.split_once('=') {
                Some(("seccomp", file)) if file != "unconfined" => {
                    let json = std::fs::read_to_string(file)
                        .map_err(|e| format!("opening seccomp profile ({file}) failed: {e}"))?;
                    opts.push(format!("seccomp={json}"));
                }
                _ => opts.push(s.clone()),
            }
        }
        list(o, "SecurityOpt", &opts);
        let mut devices = Vec::new();
        for d in &self.device {
            let parts: Vec<&str> = d.split(':').collect();
            let (host, inside, perms) = match parts.as_slice() {
                [h] => (*h, *h, "rwm"),
                [h, p] if p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) && !p.is_empty() => {
                    (*h, *h, *p)
                }
                [h, c] => (*h, *c, "rwm"),
                [h, c, p] => (*h, *c, *p),
                _ => return Err(format!("invalid device specification: {d}")),
            };
            devices.push(
                json!({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms}),
            );
        }
        if !devices.is_empty() {
            insert(o, "Devices", json!(devices));
        }
        list(o, "DeviceCgroupRules", &self.device_cgroup_rule);
        list(o, "GroupAdd", &self.group_add);
        for (k, v) in [
            ("PidMode", &self.pid),
            ("IpcMode", &self.ipc),
            ("UTSMode", &self.uts),
            ("UsernsMode", &self.userns),
        ] {
            if let Some(v) = v {
                insert(o, k, json!(v));
            }
        }
        if !self.sysctl.is_empty() {
            let mut m = Map::new();
            for s in &self.sysctl {
                let (k, v) = s.split_once('=').ok_or_else(|| {
                    format!("invalid argument {s:?} for \"--sysctl\" flag: expected NAME=VALUE")
                })?;
                m.insert(k.into(), json!(v));
            }
            insert(o, "Sysctls", Value::Object(m));
        }
        if self.init {
            insert(o, "Init", json!(true));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_ram("32m"), Ok(32 << 20));
        assert_eq!(parse_ram("1.5g"), Ok(3 << 29));
        assert_eq!(parse_ram("512KB"), Ok(512 << 10));
        assert_eq!(parse_ram("100"), Ok(100));
        assert!(parse_ram("12x").is_err() && parse_ram("m").is_err());
    }

    #[test]
    fn mounts() {
        let m =
            parse_mount("type=bind,src=/srv,dst=/data,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(
            m,
            json!({"Type": "bind", "Source": "/srv", "Target": "/data", "ReadOnly": true, "BindOptions": {"Propagation": "rshared"}})
        );
        let m =
            parse_mount("type=volume,src=v,dst=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs")
                .unwrap();
        assert_eq!(
            m["VolumeOptions"]["DriverConfig"]["Options"],
            json!({"type": "tmpfs", "device": "tmpfs"})
        );
        let m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            m["TmpfsOptions"],
            json!({"SizeBytes": 1 << 20, "Mode": 0o1770})
        );
        assert!(
            parse_mount("type=bind,src=/x")
                .unwrap_err()
                .contains("target is required")
        );
        assert!(
            parse_mount("type=bind,dst=/x,colour=red")
                .unwrap_err()
                .contains("unexpected key 'colour'")
        );
        assert!(parse_mount("type=nfs,dst=/x").is_err());
        assert!(parse_mount("type").unwrap_err().contains("key=value"));
    }
}

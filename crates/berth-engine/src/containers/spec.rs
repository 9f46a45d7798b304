//! The OCI runtime spec for a container: Docker's defaults (mounts, capabilities, masked
//! paths, device rules) with the container's config and host config applied.

use std::path::Path;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::error::{Error, Result};

use super::etc_files::{HOSTNAME, HOSTS, RESOLV_CONF};
use super::record::Record;
use super::user::User;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where the pieces of a container live on the host.
pub struct SpecPaths<'a> {
    pub rootfs: &'a Path,
    /// Holds the hostname, hosts and resolv.conf files.
    pub etc_dir: &'a Path,
    /// The pinned network namespace; `None` shares the host's.
    pub netns: Option<&'a Path>,
    pub cgroup_v2: bool,
}

/// Features a Docker user may ask for that berth does not do yet: refused at create, by name,
/// rather than silently ignored.
pub fn check_supported(hc: &HostConfig) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::InvalidArgument(format!(
            "{what} is not supported by berth yet"
        )))
    };
    if hc.privileged == Some(true) {
        return refuse("--privileged");
    }
    if hc.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return refuse("--link (legacy container links; use a user-defined network)");
    }
    if hc.init == Some(true) {
        return refuse("--init");
    }
    if hc.mounts.as_ref().is_some_and(|m| !m.is_empty()) {
        return refuse("--mount");
    }
    if hc.volumes_from.as_ref().is_some_and(|v| !v.is_empty()) {
        return refuse("--volumes-from");
    }
    if hc
        .restart_policy
        .as_ref()
        .and_then(|r| r.name)
        .is_some_and(|n| {
            !matches!(
                n,
                bollard_stubs::models::RestartPolicyNameEnum::EMPTY
                    | bollard_stubs::models::RestartPolicyNameEnum::NO
            )
        })
    {
        return refuse("restart policies");
    }
    for bind in hc.binds.iter().flatten() {
        if !bind.starts_with('/') {
            return refuse("named volumes");
        }
    }
    if let Some(t) = hc.log_config.as_ref().and_then(|l| l.typ.as_deref())
        && !matches!(t, "" | "json-file")
    {
        return refuse(&format!("the {t:?} logging driver"));
    }
    Ok(())
}

pub fn network_mode(hc: &HostConfig) -> &str {
    match hc.network_mode.as_deref() {
        None | Some("") => "default",
        Some(m) => m,
    }
}

pub fn build(rec: &Record, user: &User, paths: &SpecPaths) -> Result<Spec> {
    let c = &rec.config;
    let hc = &rec.host_config;
    let tty = rec.tty();
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    set(format!("PATH={DEFAULT_PATH}"));
    set(format!(
        "HOSTNAME={}",
        c.hostname.as_deref().unwrap_or_default()
    ));
    if tty {
        set("TERM=xterm".into());
    }
    for kv in c.env.iter().flatten() {
        set(kv.clone());
    }
    if let Some(home) = &user.home
        && !env.iter().any(|e| e.starts_with("HOME="))
    {
        env.push(format!("HOME={home}"));
    }
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let cwd = c
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    let caps = capabilities(hc)?;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", hc.shm_size.filter(|s| *s > 0).unwrap_or(64 << 20))]}),
    ];
    for (file, dest) in [
        (RESOLV_CONF, "/etc/resolv.conf"),
        (HOSTNAME, "/etc/hostname"),
        (HOSTS, "/etc/hosts"),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": paths.etc_dir.join(file), "options": ["rbind", "rprivate"]}));
    }
    for bind in hc.binds.iter().flatten() {
        mounts.push(bind_mount(bind)?);
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if let Some(ns) = paths.netns {
        namespaces.push(json!({"type": "network", "path": ns}));
    }
    if paths.cgroup_v2 {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let spec = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false,
        },
        "root": {"path": paths.rootfs, "readonly": hc.readonly_rootfs.unwrap_or(false)},
        "hostname": c.hostname.clone().unwrap_or_default(),
        "domainname": c.domainname.clone().unwrap_or_default(),
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("/berth/{}", rec.id),
            "resources": resources(hc),
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY,
            "sysctl": hc.sysctls.clone().unwrap_or_default(),
        },
    });
    serde_json::from_value(spec).map_err(|e| Error::internal("building the runtime spec", e))
}

fn capabilities(hc: &HostConfig) -> Result<Vec<String>> {
    let norm = |c: &str| {
        let up = c.to_ascii_uppercase();
        if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        }
    };
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    for c in hc.cap_add.iter().flatten() {
        if c.eq_ignore_ascii_case("ALL") {
            return Err(Error::InvalidArgument(
                "--cap-add ALL is not supported by berth yet".into(),
            ));
        }
        let c = norm(c);
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    for c in hc.cap_drop.iter().flatten() {
        if c.eq_ignore_ascii_case("ALL") {
            caps.clear();
        } else {
            let c = norm(c);
            caps.retain(|x| *x != c);
        }
    }
    Ok(caps)
}

/// `SRC:DST[:ro|rw]` with an absolute host path.
fn bind_mount(bind: &str) -> Result<Value> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid bind mount spec {bind:?}"
            )));
        }
    };
    if !dst.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid mount config: {dst:?} is not an absolute path"
        )));
    }
    if !Path::new(src).exists() {
        return Err(Error::InvalidArgument(format!(
            "invalid mount config: bind source path does not exist: {src}"
        )));
    }
    let mut options = vec!["rbind", "rprivate"];
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => options.push("ro"),
            "rw" => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "invalid mode {other:?} in bind {bind:?}"
                )));
            }
        }
    }
    Ok(json!({"destination": dst, "type": "bind", "source": src, "options": options}))
}

/// The common limits; the rest of HostConfig's resources come with `docker update` support.
fn resources(hc: &HostConfig) -> Value {
    let mut r = serde_json::Map::new();
    r.insert(
        "devices".into(),
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
        ]),
    );
    let mut memory = serde_json::Map::new();
    if let Some(m) = hc.memory.filter(|m| *m > 0) {
        memory.insert("limit".into(), json!(m));
    }
    if let Some(s) = hc.memory_swap.filter(|s| *s != 0) {
        memory.insert("swap".into(), json!(s));
    }
    if let Some(m) = hc.memory_reservation.filter(|m| *m > 0) {
        memory.insert("reservation".into(), json!(m));
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
    Value::Object(r)
}

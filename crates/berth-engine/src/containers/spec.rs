//! The OCI runtime spec for a container: Docker's defaults (mounts, capabilities, masked
//! paths, device rules) with the container's config and host config applied.

use std::path::Path;

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::error::{Error, Result};

use super::etc_files::{HOSTNAME, HOSTS, RESOLV_CONF};
use super::init::{self, INIT_PATH};
use super::mounts::{MountKind, MountPlan};
use super::namespaces::{Namespaces, NsMode};
use super::record::Record;
use super::security;
use super::user::User;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
    /// The container's mounts, volumes' sources filled in.
    pub mounts: &'a [MountPlan],
    /// pid/ipc/uts namespaces, `container:` modes resolved.
    pub namespaces: &'a Namespaces,
}

/// Features a Docker user may ask for that berth does not do yet: refused at create, by name,
/// rather than silently ignored.
pub fn check_supported(hc: &HostConfig) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::InvalidArgument(format!(
            "{what} is not supported by berth yet"
        )))
    };
    if hc.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return refuse("--link (legacy container links; use a user-defined network)");
    }
    let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
    let unsupported_limits = [
        (
            "--cgroup-parent",
            hc.cgroup_parent.as_ref().is_some_and(|c| !c.is_empty()),
        ),
        (
            "--cpu-rt-period/--cpu-rt-runtime",
            set(hc.cpu_realtime_period) || set(hc.cpu_realtime_runtime),
        ),
        (
            "--gpus (device requests)",
            hc.device_requests.as_ref().is_some_and(|d| !d.is_empty()),
        ),
        (
            "CpuCount/CpuPercent/IOMaximum* (Windows only)",
            set(hc.cpu_count)
                || set(hc.cpu_percent)
                || set(hc.io_maximum_iops)
                || set(hc.io_maximum_bandwidth),
        ),
        (
            "--storage-opt",
            hc.storage_opt.as_ref().is_some_and(|s| !s.is_empty()),
        ),
        (
            "--cgroup (joining another container's cgroup)",
            hc.cgroup.as_ref().is_some_and(|c| !c.is_empty()),
        ),
        (
            "volume drivers other than local",
            hc.volume_driver
                .as_ref()
                .is_some_and(|d| !d.is_empty() && d != "local"),
        ),
    ];
    if let Some((what, _)) = unsupported_limits.iter().find(|(_, asked)| *asked) {
        return refuse(what);
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
    let mut args = Vec::new();
    let mut user_mounts = paths.mounts.to_vec();
    if hc.init == Some(true) {
        args.extend([INIT_PATH.to_string(), "--".to_string()]);
        user_mounts.push(MountPlan::read_only_bind(
            &init::binary()?.to_string_lossy(),
            INIT_PATH,
        ));
    }
    args.push(rec.path.clone());
    args.extend(rec.args.iter().cloned());
    let cwd = c
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    let security = security::resolve(hc)?;
    let caps = &security.caps;
    let privileged = hc.privileged == Some(true);
    let ns = paths.namespaces;
    let covered = |dest: &str| user_mounts.iter().any(|m| m.destination == dest);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [if privileged { "rw" } else { "ro" }, "nosuid", "noexec", "nodev"]}),
    ];
    mounts.push(json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}));
    if ns.ipc == NsMode::Host {
        if !covered("/dev/shm") {
            mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]}));
        }
    } else {
        if !covered("/dev/shm") && !ns.no_shm {
            mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={}", hc.shm_size.filter(|s| *s > 0).unwrap_or(64 << 20))]}));
        }
    }
    for (file, dest) in [
        (RESOLV_CONF, "/etc/resolv.conf"),
        (HOSTNAME, "/etc/hostname"),
        (HOSTS, "/etc/hosts"),
    ] {
        if !covered(dest) {
            mounts.push(json!({"destination": dest, "type": "bind", "source": paths.etc_dir.join(file), "options": ["rbind", "rprivate"]}));
        }
    }
    mounts.extend(user_mounts.iter().map(oci_mount));
    let mut namespaces = vec![json!({"type": "mount"})];
    for (kind, mode) in [("pid", &ns.pid), ("ipc", &ns.ipc), ("uts", &ns.uts)] {
        match mode {
            NsMode::New => namespaces.push(json!({"type": kind})),
            NsMode::Join(path) => namespaces.push(json!({"type": kind, "path": path})),
            NsMode::Host => {}
        }
    }
    if let Some(ns) = paths.netns {
        namespaces.push(json!({"type": "network", "path": ns}));
    }
    // Docker's default: a private cgroup namespace on v2, the host's on v1.
    let private_cgroupns = match hc.cgroupns_mode {
        Some(bollard_stubs::models::HostConfigCgroupnsModeEnum::PRIVATE) => true,
        Some(bollard_stubs::models::HostConfigCgroupnsModeEnum::HOST) => false,
        _ => paths.cgroup_v2,
    };
    if private_cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let devices = security::devices(hc)?;
    let spec = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": security.no_new_privileges,
            "rlimits": super::resources::rlimits(hc.ulimits.as_deref().unwrap_or_default())?,
            "oomScoreAdj": hc.oom_score_adj,
        },
        "root": {"path": paths.rootfs, "readonly": hc.readonly_rootfs.unwrap_or(false)},
        "hostname": if ns.uts == NsMode::Host { None } else { c.hostname.clone() },
        "domainname": c.domainname.clone().unwrap_or_default(),
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("/berth/{}", rec.id),
            "resources": resources(hc, &devices.rules)?,
            "devices": devices.nodes,
            "maskedPaths": paths_or(&hc.masked_paths, security.unmasked, MASKED),
            "readonlyPaths": paths_or(&hc.readonly_paths, security.unmasked, READONLY),
            "seccomp": security.seccomp,
            "sysctl": hc.sysctls.clone().unwrap_or_default(),
        },
    });
    serde_json::from_value(spec).map_err(|e| Error::internal("building the runtime spec", e))
}

/// Masked or read-only paths: the ones the API names, none when unmasked, Docker's otherwise.
fn paths_or(given: &Option<Vec<String>>, unmasked: bool, default: &[&str]) -> Vec<String> {
    match given {
        Some(p) => p.clone(),
        None if unmasked => Vec::new(),
        None => default.iter().map(|s| s.to_string()).collect(),
    }
}

/// One planned mount in the runtime spec's terms.
fn oci_mount(m: &MountPlan) -> Value {
    let mut options: Vec<String> = Vec::new();
    let (typ, source) = match m.kind {
        MountKind::Tmpfs => {
            options.extend(["nosuid", "nodev", "noexec"].map(String::from));
            options.extend(m.options.iter().cloned());
            ("tmpfs", "tmpfs")
        }
        MountKind::Bind | MountKind::Volume => {
            options.push("rbind".into());
            options.push(if m.propagation.is_empty() {
                "rprivate".into()
            } else {
                m.propagation.clone()
            });
            ("bind", m.source.as_str())
        }
    };
    if m.read_only && !options.iter().any(|o| o == "ro") {
        options.push("ro".into());
    }
    json!({"destination": m.destination, "type": typ, "source": source, "options": options})
}

/// The limits, Docker's default device rules and those of `--device`/`--privileged`.
fn resources(hc: &HostConfig, device_rules: &[Value]) -> Result<Value> {
    let mut r = super::resources::linux_resources(hc)?;
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
    if let Some(Value::Array(rules)) = r.get_mut("devices") {
        rules.extend(device_rules.iter().cloned());
    }
    Ok(Value::Object(r))
}

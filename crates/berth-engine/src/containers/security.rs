//! A container's security settings from HostConfig: capabilities (Docker's default set,
//! `--cap-add/--cap-drop` with `ALL`, `--privileged`), `--security-opt` (seccomp profile or
//! `unconfined`, `no-new-privileges`, `systempaths=unconfined`), and devices (`--device`,
//! `--device-cgroup-rule`, every host device for `--privileged`).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use bollard_stubs::models::HostConfig;
use serde_json::{Value, json};

use crate::error::{Error, Result};

use super::seccomp;

/// Docker's default capabilities.
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

/// Every capability Linux defines, in bit order.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// What the spec needs from HostConfig's security settings.
#[derive(Debug)]
pub struct Security {
    pub caps: Vec<String>,
    /// `linux.seccomp`, or `None` for unconfined.
    pub seccomp: Option<Value>,
    pub no_new_privileges: bool,
    /// No masked or read-only /proc and /sys paths (`--privileged`, `systempaths=unconfined`).
    pub unmasked: bool,
}

/// Reads and checks HostConfig's security settings; every error names what was wrong.
pub fn resolve(hc: &HostConfig) -> Result<Security> {
    let privileged = hc.privileged == Some(true);
    let caps = if privileged {
        host_caps()
    } else {
        capabilities(hc)?
    };
    let mut profile = Some(seccomp::default_profile());
    let mut no_new_privileges = false;
    let mut unmasked = privileged;
    for opt in hc.security_opt.iter().flatten() {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => profile = None,
            ("seccomp", "") => {
                return Err(Error::InvalidArgument(format!(
                    "invalid --security-opt: {opt:?}: seccomp needs a profile or unconfined"
                )));
            }
            ("seccomp", json) => profile = Some(seccomp::parse(json)?),
            ("no-new-privileges", "" | "true") => no_new_privileges = true,
            ("no-new-privileges", "false") => no_new_privileges = false,
            ("systempaths", "unconfined") => unmasked = true,
            ("label", "disable") => {}
            ("apparmor", "unconfined") => {}
            ("apparmor" | "label", _) => {
                return Err(Error::InvalidArgument(format!(
                    "invalid --security-opt {opt:?}: AppArmor and SELinux are not enabled on this host"
                )));
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid --security-opt: {opt:?}"
                )));
            }
        }
    }
    let seccomp = match profile {
        // Docker: --privileged runs without seccomp unless a profile was named.
        Some(_)
            if privileged
                && !hc
                    .security_opt
                    .iter()
                    .flatten()
                    .any(|o| o.starts_with("seccomp")) =>
        {
            None
        }
        Some(p) => Some(seccomp::to_oci(&p, &caps)),
        None => None,
    };
    Ok(Security {
        caps,
        seccomp,
        no_new_privileges,
        unmasked,
    })
}

/// `CHOWN`, `cap_chown` and `CAP_CHOWN` alike, checked against the known set.
fn normalise(c: &str) -> Result<String> {
    let up = c.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid capability: unknown capability: {c:?}"
        )))
    }
}

/// Every capability the daemon itself may pass on: those of its bounding set (a host may
/// withhold some, as this one does CAP_SYS_RESOURCE).
fn host_caps() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Docker's rules: start from the defaults (or nothing after `--cap-drop ALL`), drop, then
/// add (`--cap-add ALL` is every capability).
fn capabilities(hc: &HostConfig) -> Result<Vec<String>> {
    let adds = hc.cap_add.as_deref().unwrap_or_default();
    let drops = hc.cap_drop.as_deref().unwrap_or_default();
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL") || c.eq_ignore_ascii_case("CAP_ALL");
    let add: Vec<String> = adds
        .iter()
        .filter(|c| !is_all(c))
        .map(|c| normalise(c))
        .collect::<Result<_>>()?;
    let drop: Vec<String> = drops
        .iter()
        .filter(|c| !is_all(c))
        .map(|c| normalise(c))
        .collect::<Result<_>>()?;
    if adds.iter().any(is_all) {
        let mut caps = host_caps();
        if !drops.iter().any(is_all) {
            caps.retain(|c| !drop.contains(c));
        }
        return Ok(caps);
    }
    let mut caps: Vec<String> = if drops.iter().any(is_all) {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    caps.retain(|c| !drop.contains(c));
    for c in add {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// Device nodes for the spec (`linux.devices`) and their cgroup rules.
pub struct Devices {
    pub nodes: Vec<Value>,
    pub rules: Vec<Value>,
}

/// `--device HOST[:CONTAINER[:PERMS]]` (a directory brings every device under it),
/// `--device-cgroup-rule`, and for `--privileged` every host device, all allowed.
pub fn devices(hc: &HostConfig) -> Result<Devices> {
    let mut out = Devices {
        nodes: Vec::new(),
        rules: Vec::new(),
    };
    if hc.privileged == Some(true) {
        collect_devices(Path::new("/dev"), Path::new("/dev"), &mut out.nodes, true);
        out.rules.push(json!({"allow": true, "access": "rwm"}));
        return Ok(out);
    }
    for d in hc.devices.iter().flatten() {
        let host = d.path_on_host.as_deref().unwrap_or_default();
        let inside = d
            .path_in_container
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(host);
        let perms = d
            .cgroup_permissions
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("rwm");
        if perms.is_empty() || !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(Error::InvalidArgument(format!(
                "invalid device mode: {perms}"
            )));
        }
        let meta = std::fs::metadata(host).map_err(|e| {
            Error::InvalidArgument(format!(
                "error gathering device information while adding custom device {host:?}: {e}"
            ))
        })?;
        let mut nodes = Vec::new();
        if meta.is_dir() {
            collect_devices(Path::new(host), Path::new(inside), &mut nodes, false);
        } else if let Some(n) = device_node(&meta, inside) {
            nodes.push(n);
        } else {
            return Err(Error::InvalidArgument(format!(
                "error gathering device information while adding custom device {host:?}: not a device node"
            )));
        }
        for n in nodes {
            out.rules.push(json!({"allow": true, "type": n["type"], "major": n["major"], "minor": n["minor"], "access": perms}));
            out.nodes.push(n);
        }
    }
    for rule in hc.device_cgroup_rules.iter().flatten() {
        out.rules.push(cgroup_rule(rule)?);
    }
    Ok(out)
}

fn device_node(meta: &std::fs::Metadata, inside: &str) -> Option<Value> {
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(json!({
        "path": inside,
        "type": typ,
        "major": nix::sys::stat::major(rdev),
        "minor": nix::sys::stat::minor(rdev),
        "fileMode": meta.mode() & 0o777,
        "uid": meta.uid(),
        "gid": meta.gid(),
    }))
}

/// Device nodes under `host` (recursively), as seen at `inside`. For `--privileged`, the
/// pseudo-terminal, shm and mqueue trees stay the container's own.
fn collect_devices(host: &Path, inside: &Path, out: &mut Vec<Value>, privileged: bool) {
    for e in std::fs::read_dir(host).into_iter().flatten().flatten() {
        let name = e.file_name();
        if privileged
            && matches!(
                name.to_str(),
                Some("pts" | "shm" | "mqueue" | "console" | "ptmx")
            )
        {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let inside = inside.join(&name);
        if meta.is_dir() {
            collect_devices(&e.path(), &inside, out, privileged);
        } else if let Some(n) = device_node(&meta, &inside.to_string_lossy()) {
            out.push(n);
        }
    }
}

/// `c 1:3 mr`, `b *:* rwm`.
fn cgroup_rule(rule: &str) -> Result<Value> {
    let bad = || Error::InvalidArgument(format!("invalid device cgroup rule: {rule:?}"));
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    if !matches!(*typ, "a" | "b" | "c") || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(bad());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| bad())
        }
    };
    Ok(
        json!({"allow": true, "type": typ, "major": num(major)?, "minor": num(minor)?, "access": access}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(add: &[&str], drop: &[&str]) -> HostConfig {
        HostConfig {
            cap_add: Some(add.iter().map(|s| s.to_string()).collect()),
            cap_drop: Some(drop.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn capability_rules() {
        let caps = capabilities(&hc(&["sys_admin"], &["CAP_NET_RAW"])).unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".into()) && !caps.contains(&"CAP_NET_RAW".into()));
        let caps = capabilities(&hc(&["CHOWN"], &["ALL"])).unwrap();
        assert_eq!(caps, ["CAP_CHOWN"]);
        let caps = capabilities(&hc(&["ALL"], &["MKNOD"])).unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".into()) && !caps.contains(&"CAP_MKNOD".into()));
        let e = capabilities(&hc(&["NOT_A_CAP"], &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown capability: \"NOT_A_CAP\""), "{e}");
    }

    #[test]
    fn security_opts() {
        let with = |o: &str| HostConfig {
            security_opt: Some(vec![o.to_string()]),
            ..Default::default()
        };
        assert!(resolve(&HostConfig::default()).unwrap().seccomp.is_some());
        assert!(
            resolve(&with("seccomp=unconfined"))
                .unwrap()
                .seccomp
                .is_none()
        );
        assert!(
            resolve(&with("no-new-privileges"))
                .unwrap()
                .no_new_privileges
        );
        assert!(resolve(&with("seccomp={")).is_err());
        assert!(resolve(&with("bogus=1")).is_err());
        let p = HostConfig {
            privileged: Some(true),
            ..Default::default()
        };
        let s = resolve(&p).unwrap();
        assert!(s.seccomp.is_none() && s.unmasked && s.caps.contains(&"CAP_SYS_ADMIN".into()));
    }

    #[test]
    fn cgroup_rules() {
        assert_eq!(
            cgroup_rule("c 1:3 mr").unwrap(),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mr"})
        );
        assert!(cgroup_rule("x 1:3 r").is_err());
        assert!(cgroup_rule("c 1 r").is_err());
    }
}

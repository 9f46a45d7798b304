//! What the container's cgroup gets: its path (`/berth/<id>` when the config names none, so
//! berth's containers sit together) and its resources, with the device rules every container
//! needs appended as runc does, so a deny-all config still has /dev/null and a usable pty.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

pub fn path_for(spec: &Spec, id: &str) -> PathBuf {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("/berth").join(id))
}

/// Device nodes every container may use, after the config's own rules (later rules win).
const DEFAULT_DEVICES: &[(LinuxDeviceType, Option<i64>, Option<i64>, &str)] = &[
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"), // null
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"), // zero
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"), // full
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"), // random
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"), // urandom
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"), // tty
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"), // ptmx
    (LinuxDeviceType::C, Some(136), None, "rwm"),  // pts/*
    (LinuxDeviceType::C, Some(10), Some(200), "rwm"), // net/tun
];

/// The config's resources with the default device rules appended. Nodes from `linux.devices`
/// get no rule of their own: as with runc, the config must allow them in its resources.
pub fn resources_for(spec: &Spec) -> Option<LinuxResources> {
    let linux = spec.linux().as_ref()?;
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    let allow = |typ, major, minor, access: &str| {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true);
        rule.set_typ(Some(typ));
        rule.set_major(major);
        rule.set_minor(minor);
        rule.set_access(Some(access.to_string()));
        rule
    };
    for (typ, major, minor, access) in DEFAULT_DEVICES {
        rules.push(allow(*typ, *major, *minor, access));
    }
    resources.set_devices(Some(rules));
    Some(resources)
}

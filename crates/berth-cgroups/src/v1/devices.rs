//! v1 devices controller: deny everything, then replay the OCI rules as allow/deny lines.

use oci_spec::runtime::LinuxResources;

use crate::Result;
use crate::fs::Write;
use crate::resources::{ACC_MKNOD, ACC_READ, ACC_WRITE, DeviceRule};

/// "c 1:3 rwm" with '*' for wildcards.
fn line(r: &DeviceRule) -> String {
    let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    let access: String = [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| r.access & bit != 0)
        .map(|(_, c)| c)
        .collect();
    format!("{} {}:{} {access}", r.kind, num(r.major), num(r.minor))
}

/// `None` rules leave the cgroup untouched; a list (even empty) starts from deny-all, so the
/// list is an allowlist as OCI specifies.
pub(super) fn writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let Some(rules) = r.devices() else {
        return Ok(vec![]);
    };
    let mut w = vec![Write::file("devices.deny", "a")];
    for rule in rules {
        let rule = DeviceRule::from_oci(rule)?;
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        w.push(Write::file(file, line(&rule)));
    }
    Ok(w)
}

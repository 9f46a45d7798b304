//! v2 memory controller: memory.max, memory.low and memory.swap.max.

use oci_spec::runtime::LinuxResources;

use crate::fs::Write;
use crate::{Error, Result};

/// -1 → "max", anything else verbatim.
fn limit_value(v: i64) -> String {
    if v == -1 { "max".into() } else { v.to_string() }
}

/// memory.swap.max from OCI's memory+swap total, following runc: unset (0) swap with an
/// unlimited memory means unlimited swap too; otherwise swap.max = total - limit.
fn swap_max(swap: i64, limit: i64) -> Result<Option<String>> {
    let invalid = |reason: &str| Error::Invalid {
        what: "memory.swap".into(),
        reason: reason.to_string(),
    };
    match (swap, limit) {
        (0, -1) | (-1, _) => Ok(Some("max".into())),
        (0, _) => Ok(None),
        (_, 0 | -1) => Err(invalid("a swap limit needs a memory limit")),
        (s, l) if s < l => Err(invalid(&format!(
            "memory+swap {s} is below the memory limit {l}"
        ))),
        (s, l) => Ok(Some((s - l).to_string())),
    }
}

pub(super) fn writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let Some(m) = r.memory() else {
        return Ok(vec![]);
    };
    #[allow(deprecated)] // read only to warn that they are ignored
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        tracing::warn!("kernel memory limits do not exist on cgroup v2; ignoring them");
    }
    if m.swappiness().is_some() {
        tracing::warn!("memory.swappiness does not exist on cgroup v2; ignoring it");
    }
    if m.disable_oom_killer() == Some(true) {
        tracing::warn!("cgroup v2 cannot disable the OOM killer; ignoring disableOOMKiller");
    }
    let mut w = Vec::new();
    let limit = m.limit().unwrap_or(0);
    if limit != 0 {
        w.push(Write::file("memory.max", limit_value(limit)));
    }
    if let Some(swap) = swap_max(m.swap().unwrap_or(0), limit)? {
        w.push(Write::file("memory.swap.max", swap));
    }
    if let Some(low) = m.reservation().filter(|&l| l != 0) {
        w.push(Write::file("memory.low", limit_value(low)));
    }
    Ok(w)
}

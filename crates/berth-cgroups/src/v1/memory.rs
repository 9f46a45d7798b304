//! v1 memory controller: limit, memory+swap, soft limit, swappiness, OOM killer.

use oci_spec::runtime::LinuxResources;

use crate::fs::Write;
use crate::{Error, Result};

pub(super) fn writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let Some(m) = r.memory() else {
        return Ok(vec![]);
    };
    #[allow(deprecated)] // read only to warn that they are ignored
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        tracing::warn!("kernel memory limits are obsolete since Linux 5.4; ignoring them");
    }
    let mut w = Vec::new();
    // OCI: 0 means "not set"; swap is the memory+swap total, exactly memsw's meaning.
    let limit = m.limit().filter(|&l| l != 0);
    // An unlimited memory limit with swap unset lifts memory+swap too, or the kernel would
    // refuse a limit above the current memory+swap value.
    let swap = match (limit, m.swap().filter(|&s| s != 0)) {
        (Some(-1), None) => Some(-1),
        (_, s) => s,
    };
    if let (Some(l), Some(s)) = (limit, swap)
        && l > 0
        && s > 0
        && s < l
    {
        return Err(Error::Invalid {
            what: "memory.swap".into(),
            reason: format!("memory+swap {s} is below the memory limit {l}"),
        });
    }
    let limit = limit.map(|l| ("memory.limit_in_bytes".to_string(), l.to_string()));
    let swap = swap.map(|s| ("memory.memsw.limit_in_bytes".to_string(), s.to_string()));
    match (limit, swap) {
        (Some(l), Some(s)) => w.push(Write::EitherOrder([l, s])),
        (Some((f, v)), None) | (None, Some((f, v))) => w.push(Write::File(f, v)),
        (None, None) => {}
    }
    if let Some(res) = m.reservation() {
        w.push(Write::file("memory.soft_limit_in_bytes", res));
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::Invalid {
                what: "memory.swappiness".into(),
                reason: format!("{s} is above 100"),
            });
        }
        w.push(Write::file("memory.swappiness", s));
    }
    if m.disable_oom_killer() == Some(true) {
        w.push(Write::file("memory.oom_control", 1));
    }
    Ok(w)
}

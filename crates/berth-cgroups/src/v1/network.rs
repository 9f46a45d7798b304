//! v1 net_cls/net_prio: packet class id and per-interface priorities.

use oci_spec::runtime::LinuxResources;

use crate::fs::Write;

pub(super) fn net_cls(r: &LinuxResources) -> Vec<Write> {
    r.network()
        .as_ref()
        .and_then(|n| n.class_id())
        .map(|id| Write::file("net_cls.classid", id))
        .into_iter()
        .collect()
}

pub(super) fn net_prio(r: &LinuxResources) -> Vec<Write> {
    let priorities = r.network().as_ref().and_then(|n| n.priorities().as_ref());
    priorities
        .into_iter()
        .flatten()
        .map(|p| {
            Write::file(
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            )
        })
        .collect()
}

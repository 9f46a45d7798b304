//! v1 blkio controller: proportional weights and throttling.

use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice};

use crate::fs::Write;

/// Weight file names: with CFQ gone from modern kernels, BFQ exposes blkio.bfq.weight instead
/// of blkio.weight; `bfq` selects those.
pub(super) fn writes(r: &LinuxResources, bfq: bool) -> Vec<Write> {
    let Some(b) = r.block_io() else { return vec![] };
    let (weight, weight_device) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    let mut w = Vec::new();
    if let Some(v) = b.weight() {
        w.push(Write::file(weight, v));
    }
    if let Some(v) = b.leaf_weight() {
        w.push(Write::file("blkio.leaf_weight", v));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(v) = d.weight() {
            w.push(Write::file(
                weight_device,
                format!("{}:{} {v}", d.major(), d.minor()),
            ));
        }
        if let Some(v) = d.leaf_weight() {
            let line = format!("{}:{} {v}", d.major(), d.minor());
            w.push(Write::file("blkio.leaf_weight_device", line));
        }
    }
    let throttles: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, devices) in throttles {
        for d in devices.iter().flatten() {
            w.push(Write::file(
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            ));
        }
    }
    w
}

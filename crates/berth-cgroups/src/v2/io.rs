//! v2 io controller: io.weight (from blkio weights) and io.max throttling.

use std::collections::BTreeMap;

use oci_spec::runtime::LinuxResources;

use crate::fs::Write;
use crate::{Error, Result};

/// runc's mapping of blkio weight [10, 1000] onto io.weight [1, 10000].
pub(crate) fn blkio_to_io_weight(weight: u16) -> Result<u64> {
    if !(10..=1000).contains(&weight) {
        return Err(Error::Invalid {
            what: "blockIO.weight".into(),
            reason: format!("{weight} is outside 10..=1000"),
        });
    }
    Ok(1 + (u64::from(weight) - 10) * 9999 / 990)
}

pub(super) fn writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let Some(b) = r.block_io() else {
        return Ok(vec![]);
    };
    let mut w = Vec::new();
    if let Some(v) = b.weight() {
        w.push(Write::file("io.weight", blkio_to_io_weight(v)?));
    }
    if b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        tracing::warn!("blkio leaf weights do not exist on cgroup v2; ignoring them");
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(v) = d.weight() {
            let line = format!("{}:{} {}", d.major(), d.minor(), blkio_to_io_weight(v)?);
            w.push(Write::file("io.weight", line));
        }
    }
    // One io.max line per device carrying all of its limits.
    let mut max: BTreeMap<(i64, i64), String> = BTreeMap::new();
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for d in devices.iter().flatten() {
            let line = max
                .entry((d.major(), d.minor()))
                .or_insert_with(|| format!("{}:{}", d.major(), d.minor()));
            line.push_str(&format!(" {key}={}", d.rate()));
        }
    }
    w.extend(max.into_values().map(|line| Write::file("io.max", line)));
    Ok(w)
}

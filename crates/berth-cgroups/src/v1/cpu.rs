//! v1 cpu controller: shares, CFS quota/period/burst, realtime budget, SCHED_IDLE.

use oci_spec::runtime::LinuxResources;

use crate::fs::Write;

/// A pair of knobs the kernel checks against each other, or whichever one is set.
fn pair(a: Option<(&str, String)>, b: Option<(&str, String)>) -> Option<Write> {
    let own = |(f, v): (&str, String)| (f.to_string(), v);
    match (a.map(own), b.map(own)) {
        (Some(a), Some(b)) => Some(Write::EitherOrder([a, b])),
        (Some((f, v)), None) | (None, Some((f, v))) => Some(Write::File(f, v)),
        (None, None) => None,
    }
}

pub(super) fn writes(r: &LinuxResources) -> Vec<Write> {
    let Some(c) = r.cpu() else { return vec![] };
    let mut w = Vec::new();
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        w.push(Write::file("cpu.shares", s));
    }
    // A quota of 0 or less means unlimited, which v1 spells -1.
    let quota = c.quota().map(|q| {
        let v = if q <= 0 {
            "-1".to_string()
        } else {
            q.to_string()
        };
        ("cpu.cfs_quota_us", v)
    });
    let period = c.period().map(|p| ("cpu.cfs_period_us", p.to_string()));
    w.extend(pair(period, quota));
    let rt_period = c
        .realtime_period()
        .map(|p| ("cpu.rt_period_us", p.to_string()));
    let rt_runtime = c
        .realtime_runtime()
        .map(|r| ("cpu.rt_runtime_us", r.to_string()));
    w.extend(pair(rt_period, rt_runtime));
    if let Some(b) = c.burst() {
        w.push(Write::file("cpu.cfs_burst_us", b));
    }
    if let Some(i) = c.idle() {
        w.push(Write::file("cpu.idle", i));
    }
    w
}

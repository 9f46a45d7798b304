//! v2 cpu controller: weight (from v1 shares), bandwidth, burst, idle.

use oci_spec::runtime::LinuxResources;

use crate::fs::Write;
use crate::{Error, Result};

/// The kernel's default CFS period, used when only a quota is given.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// runc's mapping of shares [2, 262144] onto cpu.weight [1, 10000].
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(super) fn writes(r: &LinuxResources) -> Result<Vec<Write>> {
    let Some(c) = r.cpu() else { return Ok(vec![]) };
    if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
        return Err(Error::Invalid {
            what: "cpu.realtimeRuntime/realtimePeriod".into(),
            reason: "realtime scheduling budgets do not exist on cgroup v2".into(),
        });
    }
    let mut w = Vec::new();
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        w.push(Write::file("cpu.weight", shares_to_weight(s)));
    }
    if c.quota().is_some() || c.period().is_some() {
        let quota = match c.quota() {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".into(),
        };
        let period = c.period().unwrap_or(DEFAULT_PERIOD_US);
        w.push(Write::file("cpu.max", format!("{quota} {period}")));
    }
    if let Some(b) = c.burst() {
        w.push(Write::file("cpu.max.burst", b));
    }
    if let Some(i) = c.idle() {
        w.push(Write::file("cpu.idle", i));
    }
    Ok(w)
}

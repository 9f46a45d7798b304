//! `events` output in runc's shape: `{"type":"stats"|"oom","id":...,"data":{...}}` per line.

use std::time::Duration;

use anyhow::Result;
use berth_cgroups::Stats;
use berth_runtime::container;
use berth_runtime::state::{StateRoot, Status};
use serde_json::json;

pub fn print(root: &StateRoot, id: &str, once: bool, interval: u64) -> Result<()> {
    let mut last_ooms = None;
    loop {
        let stats = container::events::stats(root, id)?;
        if last_ooms.is_some_and(|n| stats.oom_kill_count > n) {
            println!("{}", json!({"type": "oom", "id": id}));
        }
        last_ooms = Some(stats.oom_kill_count);
        println!("{}", stats_event(id, &stats));
        if once || container::load(root, id)?.status == Status::Stopped {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(interval.max(1)));
    }
}

fn stats_event(id: &str, s: &Stats) -> serde_json::Value {
    json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {"usage": {"total": s.cpu_usage_ns}},
            "memory": {
                "usage": {"usage": s.memory_usage, "limit": s.memory_limit},
                "oom_kill": s.oom_kill_count
            },
            "pids": {"current": s.pids_current, "limit": s.pids_limit},
            "frozen": s.frozen
        }
    })
}

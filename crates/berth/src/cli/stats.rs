//! `berth stats`: docker's table of CPU %, memory, network and block I/O, PIDs per container,
//! computed from the daemon's StatsResponse as the docker CLI computes it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Body, Client, enc};

use super::human::{bytes_size, size};
use super::template::Format;
use super::{Exit, Res, out};

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

fn header() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

fn u(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0) as f64
}

/// docker's calculateCPUPercentUnix.
fn cpu_percent(v: &Value) -> f64 {
    let cpu =
        u(v, "/cpu_stats/cpu_usage/total_usage") - u(v, "/precpu_stats/cpu_usage/total_usage");
    let system = u(v, "/cpu_stats/system_cpu_usage") - u(v, "/precpu_stats/system_cpu_usage");
    let mut online = u(v, "/cpu_stats/online_cpus");
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as f64;
    }
    if system > 0.0 && cpu > 0.0 {
        cpu / system * online * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the inactive page cache (cgroup v1's `total_inactive_file`, v2's
/// `inactive_file`), as docker's calculateMemUsageUnixNoCache.
fn memory_used(v: &Value) -> f64 {
    let usage = u(v, "/memory_stats/usage");
    let stats = v.pointer("/memory_stats/stats");
    let inactive = stats
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .and_then(Value::as_u64)
        .map_or(0.0, |n| n as f64);
    if inactive < usage {
        usage - inactive
    } else {
        usage
    }
}

/// (read, write) sums of a list of blkio entries or (rx, tx) over networks.
fn io_totals(v: &Value) -> ((f64, f64), (f64, f64)) {
    let mut blk = (0.0, 0.0);
    for e in v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = e.get("value").and_then(Value::as_u64).unwrap_or(0) as f64;
        match e
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("read") => blk.0 += value,
            Some("write") => blk.1 += value,
            _ => {}
        }
    }
    let mut net = (0.0, 0.0);
    for n in v
        .get("networks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        net.0 += u(n, "/rx_bytes");
        net.1 += u(n, "/tx_bytes");
    }
    (net, blk)
}

/// The template's view of one container's stats.
fn row(container: &str, v: &Value, no_trunc: bool) -> Value {
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
    let used = memory_used(v);
    let limit = u(v, "/memory_stats/limit");
    let mem_percent = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let ((rx, tx), (read, write)) = io_totals(v);
    json!({
        "Container": container,
        "ID": if no_trunc { id } else { &id[..id.len().min(12)] },
        "Name": name.trim_start_matches('/'),
        "CPUPerc": format!("{:.2}%", cpu_percent(v)),
        "MemUsage": format!("{} / {}", bytes_size(used), bytes_size(limit)),
        "MemPerc": format!("{mem_percent:.2}%"),
        "NetIO": format!("{} / {}", size(rx), size(tx)),
        "BlockIO": format!("{} / {}", size(read), size(write)),
        "PIDs": format!("{}", u(v, "/pids_stats/current") as u64),
    })
}

/// The containers to show: those named, or the running (all with `-a`) ones.
fn targets(c: &Client, a: &StatsArgs) -> Result<Vec<String>, Exit> {
    if !a.containers.is_empty() {
        return Ok(a.containers.clone());
    }
    let list = c
        .get_json(&format!("/containers/json?all={}", a.all as u8))
        .map_err(Exit::one)?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("Id").and_then(Value::as_str))
        .map(|id| id[..12.min(id.len())].to_string())
        .collect())
}

type Latest = Arc<Mutex<BTreeMap<usize, Value>>>;

/// Reads one container's stats lines into `latest` until the stream ends.
fn follow(c: Client, index: usize, name: String, stream: bool, no_trunc: bool, latest: Latest) {
    let path = format!("/containers/{}/stats?stream={}", enc(&name), stream as u8);
    let r = match c.request("GET", &path, Body::None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    for line in BufReader::new(r.body).lines() {
        let Ok(line) = line else { return };
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            latest
                .lock()
                .expect("stats lock")
                .insert(index, row(&name, &v, no_trunc));
        }
    }
}

pub fn stats(c: &Client, a: &StatsArgs) -> Res {
    let names = targets(c, a)?;
    let fmt = Format::new(a.format.as_deref().unwrap_or(DEFAULT_TABLE), DEFAULT_TABLE);
    let latest: Latest = Arc::default();
    let threads: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (c, name, latest) = (c.fork(), name.clone(), latest.clone());
            let (stream, no_trunc) = (!a.no_stream, a.no_trunc);
            std::thread::spawn(move || follow(c, i, name, stream, no_trunc, latest))
        })
        .collect();
    let render = || -> Result<String, Exit> {
        let rows: Vec<Value> = latest
            .lock()
            .expect("stats lock")
            .values()
            .cloned()
            .collect();
        fmt.render_list(&header(), &rows).map_err(Exit::one)
    };
    if a.no_stream {
        for t in threads {
            let _ = t.join();
        }
        out(&render()?);
        let missing = latest.lock().expect("stats lock").len() < names.len();
        return Ok(if missing { 1 } else { 0 });
    }
    let terminal = nix::unistd::isatty(std::io::stdout()).unwrap_or(false);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let done = threads.iter().all(|t| t.is_finished());
        let text = render()?;
        out(&if terminal {
            format!("\x1b[2J\x1b[H{text}")
        } else {
            text
        });
        if done {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_as_docker_does() {
        let v = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3145728, "limit": 10485760, "stats": {"inactive_file": 1048576}},
            "pids_stats": {"current": 3},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 20}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "write", "value": 2000000}]},
        });
        let r = row("web", &v, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 10MiB");
        assert_eq!(r["MemPerc"], "20.00%");
        assert_eq!(r["NetIO"], "1.5kB / 20B");
        assert_eq!(r["BlockIO"], "4.1kB / 2MB");
        assert_eq!(r["PIDs"], "3");
    }
}

//! `ps`: docker's columns, human formats and `--format` fields.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Map, Value, json};

use crate::client::{Client, enc};

use super::template::Format;
use super::{Exit, Res, human, out};

pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long, default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    pub latest: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    pub size: bool,
    /// Filter output based on conditions provided.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
}

/// `-f k=v` flags as the API's `filters` JSON.
pub fn filters_json(filters: &[String]) -> Result<String, String> {
    let mut m: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {f}"))?;
        m.entry(k.trim()).or_default().insert(v, true);
    }
    Ok(serde_json::to_string(&m).expect("serializable"))
}

pub fn trunc_id(id: &str, no_trunc: bool) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    if no_trunc {
        id.to_string()
    } else {
        id.chars().take(12).collect()
    }
}

/// go's `Ellipsis`: at most `n` characters, the last one "…" when cut.
fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut o: String = s.chars().take(n - 1).collect();
    o.push('…');
    o
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn ports(c: &Value) -> String {
    let mut out: Vec<String> = Vec::new();
    for p in c
        .get("Ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
        let ty = p.get("Type").and_then(Value::as_str).unwrap_or("tcp");
        let e = match p.get("PublicPort").and_then(Value::as_u64) {
            Some(public) if public > 0 => {
                let ip = s(p, "IP");
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{ip}:{public}->{private}/{ty}")
            }
            _ => format!("{private}/{ty}"),
        };
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out.join(", ")
}

/// The `--format` fields of one container, as docker's ps formatter defines them.
pub fn row(c: &Value, no_trunc: bool, now: i64) -> Value {
    let names: Vec<&str> = c
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .filter(|n| no_trunc || !n.contains('/'))
        .collect();
    let mut command = s(c, "Command").to_string();
    if !no_trunc {
        command = ellipsis(&command, 20);
    }
    let image = s(c, "Image");
    let image = if image.starts_with("sha256:") {
        trunc_id(image, no_trunc)
    } else {
        image.to_string()
    };
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let labels: Map<String, Value> = c
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut label_list: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    label_list.sort();
    let mounts: Vec<String> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            let name = s(m, "Name");
            if name.is_empty() {
                let src = s(m, "Source");
                if no_trunc {
                    src.to_string()
                } else {
                    ellipsis(src, 15)
                }
            } else if no_trunc {
                name.to_string()
            } else {
                ellipsis(name, 15)
            }
        })
        .collect();
    let local_volumes = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter(|m| s(m, "Driver") == "local").count())
        .unwrap_or(0);
    let mut networks: Vec<&String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|n| n.keys().collect())
        .unwrap_or_default();
    networks.sort();
    let size = match c.get("SizeRw").and_then(Value::as_f64) {
        Some(rw) => {
            let mut t = human::size(rw);
            if let Some(v) = c.get("SizeRootFs").and_then(Value::as_f64) {
                t.push_str(&format!(" (virtual {})", human::size(v)));
            }
            t
        }
        None => "0B".into(),
    };
    json!({
        "ID": trunc_id(s(c, "Id"), no_trunc),
        "Image": image,
        "Command": format!("{command:?}"),
        "CreatedAt": human::go_time_local(created),
        "RunningFor": format!("{} ago", human::duration(now - created)),
        "Ports": ports(c),
        "Status": s(c, "Status"),
        "State": s(c, "State"),
        "Size": size,
        "Names": names.join(","),
        "Labels": label_list.join(","),
        "Label": labels,
        "Mounts": mounts.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Networks": networks.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
    })
}

pub fn header() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "Status": "STATUS", "State": "STATE",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
        "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
    })
}

pub fn ps(c: &Client, a: &PsArgs) -> Res {
    let mut q = format!(
        "/containers/json?all={}",
        (a.all || a.latest || a.last > 0) as u8
    );
    let limit = if a.latest { 1 } else { a.last };
    if limit > 0 {
        q.push_str(&format!("&limit={limit}"));
    }
    if a.size {
        q.push_str("&size=1");
    }
    if !a.filter.is_empty() {
        q.push_str(&format!(
            "&filters={}",
            enc(&filters_json(&a.filter).map_err(Exit::one)?)
        ));
    }
    let list = c.get_json(&q).map_err(Exit::one)?;
    let now = human::now_secs();
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| row(x, a.no_trunc, now))
        .collect();
    let default = if a.size {
        format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
    } else {
        DEFAULT_TABLE.to_string()
    };
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format.clone().unwrap_or_else(|| default.clone())
    };
    let f = Format::new(&fmt, &default);
    out(&f.render_list(&header(), &rows).map_err(Exit::one)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let c = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web", "/other/link"], "Image": "busybox",
            "Command": "sh -c 'while true; do sleep 1; done'", "Created": 1000, "State": "running",
            "Status": "Up 3 seconds", "Labels": {"b": "2", "a": "1"},
            "Ports": [{"PrivatePort": 80, "Type": "tcp"}, {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
            "NetworkSettings": {"Networks": {"bridge": {}}}
        });
        let r = row(&c, false, 1300);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sh -c 'while true; …\"");
        assert_eq!(r["RunningFor"], "5 minutes ago");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Ports"], "80/tcp, 0.0.0.0:8080->80/tcp");
        assert_eq!(r["Networks"], "bridge");
        let f = Format::new(DEFAULT_TABLE, DEFAULT_TABLE);
        let text = f.render_list(&header(), std::slice::from_ref(&r)).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS                          NAMES"
        );
        let f = Format::new(r#"{{.Names}} {{.Label "b"}}"#, DEFAULT_TABLE);
        assert_eq!(f.render_list(&header(), &[r]).unwrap(), "web 2\n");
        assert_eq!(
            filters_json(&["status=exited".into(), "label=a".into(), "label=b".into()]).unwrap(),
            r#"{"label":{"a":true,"b":true},"status":{"exited":true}}"#
        );
    }
}

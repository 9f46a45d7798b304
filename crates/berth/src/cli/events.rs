//! `berth events`: the daemon's event stream, printed as docker prints it (or through
//! `--format`).

use std::io::{BufRead, BufReader};

use clap::Args;
use serde_json::Value;

use crate::client::{Body, Client, enc};

use super::human::timestamp;
use super::ps::filters_json;
use super::template::Format;
use super::{Exit, Res, out};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp.
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided.
    #[arg(short, long, value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
}

/// docker's line: `TIME TYPE ACTION ID (k=v, ...)`, attributes sorted by key.
fn line(e: &Value) -> String {
    let nanos = e.get("timeNano").and_then(Value::as_i64).unwrap_or(0);
    let time = berth_engine::logs::format_timestamp(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64),
    );
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
    let id = e
        .pointer("/Actor/ID")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut text = format!("{time} {} {} {id}", s("Type"), s("Action"));
    if let Some(attrs) = e.pointer("/Actor/Attributes").and_then(Value::as_object)
        && !attrs.is_empty()
    {
        let mut pairs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        pairs.sort();
        text.push_str(&format!(" ({})", pairs.join(", ")));
    }
    text
}

pub fn events(c: &Client, a: &EventsArgs) -> Res {
    let mut query = Vec::new();
    for (key, value) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = value {
            query.push(format!("{key}={}", timestamp(v).map_err(Exit::one)?));
        }
    }
    if !a.filter.is_empty() {
        query.push(format!(
            "filters={}",
            enc(&filters_json(&a.filter).map_err(Exit::one)?)
        ));
    }
    let format = a.format.as_deref().map(|f| Format::new(f, "{{json .}}"));
    let r = c
        .request("GET", &format!("/events?{}", query.join("&")), Body::None)
        .map_err(Exit::one)?;
    for l in BufReader::new(r.body).lines() {
        let l = l.map_err(Exit::one)?;
        let Ok(e) = serde_json::from_str::<Value>(&l) else {
            continue;
        };
        let text = match &format {
            Some(f) => f
                .render_list(&Value::Null, std::slice::from_ref(&e))
                .map_err(Exit::one)?,
            None => format!("{}\n", line(&e)),
        };
        out(&text);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_line() {
        let e = serde_json::json!({
            "Type": "container", "Action": "die", "timeNano": 1_700_000_000_123_456_789i64,
            "Actor": {"ID": "abc", "Attributes": {"name": "web", "exitCode": "0"}},
        });
        assert_eq!(
            line(&e),
            "2023-11-14T22:13:20.123456789Z container die abc (exitCode=0, name=web)"
        );
    }
}

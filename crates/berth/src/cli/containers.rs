//! `logs`, `stop`, `restart`, `kill`, `rm`, `wait`.

use std::io::{self, Read, Write};

use clap::Args;
use serde_json::Value;

use crate::client::{Body, Client, enc, stdcopy};

use super::{Exit, Res, each, human};

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m").
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time.
    #[arg(long)]
    pub until: Option<String>,
    /// Number of lines to show from the end of the logs.
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show extra details provided to logs.
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

pub fn logs(c: &Client, a: &LogsArgs) -> Res {
    let mut q = format!(
        "/containers/{}/logs?stdout=1&stderr=1&follow={}&timestamps={}&details={}&tail={}",
        enc(&a.container),
        a.follow as u8,
        a.timestamps as u8,
        a.details as u8,
        enc(&a.tail)
    );
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let t = human::timestamp(v).map_err(Exit::one)?;
            q.push_str(&format!("&{k}={}", enc(&t)));
        }
    }
    let r = c.request("GET", &q, Body::None).map_err(Exit::one)?;
    // API ≥ 1.42 says whether the stream is multiplexed; older daemons need an inspect.
    let multiplexed = match r.head.header("content-type") {
        Some(t) if t.contains("multiplexed-stream") => true,
        Some(t) if t.contains("raw-stream") => false,
        _ => {
            let info = c
                .get_json(&format!("/containers/{}/json", enc(&a.container)))
                .map_err(Exit::one)?;
            !info
                .pointer("/Config/Tty")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }
    };
    let mut body = r.body;
    let stdout = io::stdout();
    let mut o = stdout.lock();
    let res = if multiplexed {
        stdcopy::demux(&mut body, &mut o, &mut io::stderr().lock())
    } else {
        let mut buf = [0u8; 32 * 1024];
        loop {
            match body.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = o.write_all(&buf[..n]).and_then(|_| o.flush()) {
                        break Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        }
    };
    res.map_err(Exit::one)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container.
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container.
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn stop(c: &Client, a: &StopArgs, verb: &str) -> Res {
    let mut q = String::new();
    if let Some(t) = a.time {
        q.push_str(&format!("t={t}&"));
    }
    if let Some(s) = &a.signal {
        q.push_str(&format!("signal={}&", enc(s)));
    }
    each(&a.containers, |n| {
        c.call("POST", &format!("/containers/{}/{verb}?{q}", enc(n)))
            .map(|_| None)
    })
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn kill(c: &Client, a: &KillArgs) -> Res {
    let q = a
        .signal
        .as_ref()
        .map(|s| format!("?signal={}", enc(s)))
        .unwrap_or_default();
    each(&a.containers, |n| {
        c.call("POST", &format!("/containers/{}/kill{q}", enc(n)))
            .map(|_| None)
    })
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove the specified link.
    #[arg(short, long)]
    pub link: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn rm(c: &Client, a: &RmArgs) -> Res {
    each(&a.containers, |n| {
        c.call(
            "DELETE",
            &format!(
                "/containers/{}?force={}&v={}&link={}",
                enc(n),
                a.force as u8,
                a.volumes as u8,
                a.link as u8
            ),
        )
        .map(|_| None)
    })
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn wait(c: &Client, a: &WaitArgs) -> Res {
    each(&a.containers, |n| {
        let v = c.post_json(&format!("/containers/{}/wait", enc(n)), None)?;
        Ok(Some(
            v.get("StatusCode")
                .and_then(Value::as_i64)
                .unwrap_or(-1)
                .to_string(),
        ))
    })
}

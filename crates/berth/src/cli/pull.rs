//! `berth pull`, and the pull `run`/`create` do for a missing image, with docker's progress
//! display (shared with `push`): one line per layer, redrawn in place on a terminal, status
//! changes only otherwise.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};

use clap::Args;
use serde_json::Value;

use super::images::split_ref;
use super::{Exit, Res, credentials, human};
use crate::client::{Body, Client, Error, Result, enc};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

pub fn pull(c: &Client, a: &PullArgs) -> Res {
    with_progress(a.quiet, &a.image, |out, tty| {
        image(c, &a.image, a.platform.as_deref(), out, tty)
    })
}

/// Runs `f` with stdout for progress (redrawn when a terminal), or, with `quiet`, with a sink
/// and then prints `image` alone, as docker's `pull -q`/`push -q` do.
pub fn with_progress(
    quiet: bool,
    image: &str,
    f: impl FnOnce(&mut dyn Write, bool) -> Result<()>,
) -> Res {
    let out = std::io::stdout();
    let mut out = out.lock();
    let tty = !quiet && out.is_terminal();
    let mut sink: Box<dyn Write> = if quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(&mut out)
    };
    f(&mut sink, tty).map_err(Exit::one)?;
    drop(sink);
    if quiet {
        println!("{image}");
    }
    Ok(0)
}

/// Pulls `reference`, rendering the daemon's progress messages to `out`.
pub fn image(
    c: &Client,
    reference: &str,
    platform: Option<&str>,
    out: &mut dyn Write,
    tty: bool,
) -> Result<()> {
    let (name, tag) = match reference.split_once('@') {
        Some(_) => (reference, ""),
        None => split_ref(reference),
    };
    let mut q = format!("/images/create?fromImage={}", enc(name));
    q.push_str(&format!(
        "&tag={}",
        enc(if tag.is_empty() && !name.contains('@') {
            "latest"
        } else {
            tag
        })
    ));
    if let Some(p) = platform {
        q.push_str(&format!("&platform={}", enc(p)));
    }
    let auth = credentials::registry_auth(name);
    let r = c.request_with_headers("POST", &q, Body::None, &[("X-Registry-Auth", &auth)])?;
    show_progress(r.body, out, tty)
}

/// Renders a stream of the daemon's JSON progress messages; an `error` message ends it as
/// an error.
pub fn show_progress(body: impl Read, out: &mut dyn Write, tty: bool) -> Result<()> {
    let mut progress = Progress::new(tty);
    for line in BufReader::new(body).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(Error::Other(e.to_string()));
        }
        progress.show(out, &v)?;
    }
    Ok(())
}

/// Docker's jsonmessage display, reduced to what a pull sends.
struct Progress {
    tty: bool,
    /// Layer ids in the order they appeared (their line's position on a terminal).
    ids: Vec<String>,
    /// The last status printed per layer (without a terminal: print changes only).
    last: Vec<String>,
}

impl Progress {
    fn new(tty: bool) -> Progress {
        Progress {
            tty,
            ids: Vec::new(),
            last: Vec::new(),
        }
    }

    fn show(&mut self, out: &mut dyn Write, v: &Value) -> std::io::Result<()> {
        let Some(status) = v.get("status").and_then(Value::as_str) else {
            // `aux` results (a push's digest) carry no line of their own.
            return Ok(());
        };
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|_| v.get("progressDetail").is_some());
        let Some(id) = id else {
            let prefix = v
                .get("id")
                .and_then(Value::as_str)
                .map(|i| format!("{i}: "))
                .unwrap_or_default();
            return writeln!(out, "{prefix}{status}");
        };
        let text = match (
            v.pointer("/progressDetail/current"),
            v.pointer("/progressDetail/total"),
        ) {
            (Some(cur), Some(total)) => {
                let (cur, total) = (cur.as_f64().unwrap_or(0.0), total.as_f64().unwrap_or(0.0));
                format!(
                    "{status} {} {}/{}",
                    bar(cur, total),
                    human::size(cur),
                    human::size(total)
                )
            }
            _ => status.to_string(),
        };
        let line = format!("{id}: {text}");
        match self.ids.iter().position(|i| i == id) {
            None => {
                self.ids.push(id.to_string());
                self.last.push(status.to_string());
                writeln!(out, "{line}")
            }
            Some(i) if self.tty => {
                // Up to the layer's line, rewrite it, back down.
                let up = self.ids.len() - i;
                write!(out, "\x1b[{up}A\r\x1b[2K{line}\x1b[{up}B\r")?;
                out.flush()
            }
            Some(i) if self.last[i] != status => {
                self.last[i] = status.to_string();
                writeln!(out, "{id}: {status}")
            }
            Some(_) => Ok(()),
        }
    }
}

/// `[=====>      ]`, 50 wide like docker's.
fn bar(current: f64, total: f64) -> String {
    const WIDTH: usize = 50;
    let done = if total > 0.0 {
        ((current / total) * WIDTH as f64) as usize
    } else {
        0
    }
    .min(WIDTH);
    let mut s = String::with_capacity(WIDTH + 2);
    s.push('[');
    s.push_str(&"=".repeat(done.saturating_sub(1)));
    if done > 0 {
        s.push('>');
    }
    s.push_str(&" ".repeat(WIDTH - done));
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_output_prints_status_changes() {
        let mut p = Progress::new(false);
        let mut out = Vec::new();
        for v in [
            json!({"status": "Pulling from tools/bb", "id": "1"}),
            json!({"status": "Downloading", "progressDetail": {"current": 1, "total": 4}, "id": "abc"}),
            json!({"status": "Downloading", "progressDetail": {"current": 2, "total": 4}, "id": "abc"}),
            json!({"status": "Pull complete", "progressDetail": {}, "id": "abc"}),
            json!({"status": "Digest: sha256:00"}),
            json!({"progressDetail": {}, "aux": {"Tag": "1"}}),
        ] {
            p.show(&mut out, &v).unwrap();
        }
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.lines().count(), 4, "{s}");
        assert!(
            s.starts_with("1: Pulling from tools/bb\nabc: Downloading ["),
            "{s}"
        );
        assert!(
            s.ends_with("abc: Pull complete\nDigest: sha256:00\n"),
            "{s}"
        );
    }

    #[test]
    fn bars() {
        assert_eq!(bar(0.0, 10.0).len(), 52);
        assert!(bar(5.0, 10.0).starts_with("[========================>"));
        assert_eq!(bar(10.0, 10.0).matches('=').count(), 49);
    }
}

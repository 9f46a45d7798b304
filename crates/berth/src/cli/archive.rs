//! `save`, `load` and `history`.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Body, Client, enc};

use super::ps::trunc_id;
use super::template::Format;
use super::{Exit, Res, human, out};

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Streams the archive to `-o FILE` (written under a temporary name, renamed when complete)
/// or to stdout, which must not be a terminal.
pub fn save(c: &Client, a: &SaveArgs) -> Res {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Exit::one(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let path = match a.images.as_slice() {
        [one] => format!("/images/{}/get", enc(one)),
        many => {
            let q: Vec<String> = many.iter().map(|n| format!("names={}", enc(n))).collect();
            format!("/images/get?{}", q.join("&"))
        }
    };
    let mut r = c.request("GET", &path, Body::None).map_err(Exit::one)?;
    match &a.output {
        None => {
            let mut o = std::io::stdout().lock();
            std::io::copy(&mut r.body, &mut o)
                .and_then(|_| o.flush())
                .map_err(|e| Exit::one(format!("writing the archive: {e}")))?;
        }
        Some(file) => {
            let tmp = format!("{file}.partial-{}", std::process::id());
            let res = std::fs::File::create(&tmp).and_then(|f| {
                let mut counted = Counted {
                    inner: f,
                    written: 0,
                    shown: 0,
                    tty: std::io::stderr().is_terminal(),
                };
                std::io::copy(&mut r.body, &mut counted)?;
                counted.finish();
                counted.inner.sync_all()?;
                std::fs::rename(&tmp, file)
            });
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(Exit::one(format!("failed to save to {file}: {e}")));
            }
        }
    }
    Ok(0)
}

/// The archive file being written, with its size so far shown on a terminal's stderr.
struct Counted {
    inner: std::fs::File,
    written: u64,
    shown: u64,
    tty: bool,
}

impl Counted {
    const EVERY: u64 = 4 << 20;

    fn show(&mut self) {
        if self.tty {
            self.shown = self.written;
            let size = human::size(self.written as f64);
            eprint!("\r\x1b[2KSaving: {size}");
        }
    }

    fn finish(&mut self) {
        if self.tty && self.written > 0 {
            self.show();
            eprintln!();
        }
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if self.written - self.shown >= Self::EVERY {
            self.show();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn load(c: &Client, a: &LoadArgs) -> Res {
    let mut reader: Box<dyn Read> = match &a.input {
        Some(f) => {
            Box::new(std::fs::File::open(f).map_err(|e| Exit::one(format!("open {f}: {e}")))?)
        }
        None if std::io::stdin().is_terminal() => {
            return Err(Exit::one(
                "requested load from stdin, but stdin is empty (use -i FILE or redirect)",
            ));
        }
        None => Box::new(std::io::stdin().lock()),
    };
    let r = c
        .request(
            "POST",
            &format!("/images/load?quiet={}", a.quiet as u8),
            Body::Stream {
                content_type: "application/x-tar",
                reader: &mut *reader,
            },
        )
        .map_err(Exit::one)?;
    let tty = !a.quiet && std::io::stdout().is_terminal();
    let mut o = std::io::stdout().lock();
    each_message(r.body, |v| {
        if let Some(s) = v.get("stream").and_then(Value::as_str) {
            let _ = write!(o, "{}{s}", if tty { "\n" } else { "" });
        } else if let (true, Some(p)) = (tty, v.get("progress").and_then(Value::as_str)) {
            let _ = write!(o, "\r\x1b[2K{}: {p}", v["status"].as_str().unwrap_or(""));
        }
        let _ = o.flush();
    })?;
    Ok(0)
}

/// Calls `f` on each JSON message of a progress stream (`load`, `build`); a message with an
/// `error` ends it with that error.
pub fn each_message(body: impl Read, mut f: impl FnMut(&Value)) -> Result<(), Exit> {
    for line in BufReader::new(body).lines() {
        let line = line.map_err(Exit::one)?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(Exit::one)?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(Exit::one(e));
        }
        f(&v);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

pub const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// Docker's history rows: ids truncated (full `sha256:` ids with `--no-trunc`), CreatedBy cut
/// to 45 characters.
pub fn history_rows(items: &Value, no_trunc: bool, human_readable: bool, now: i64) -> Vec<Value> {
    let mut rows = Vec::new();
    for h in items.as_array().into_iter().flatten() {
        let id = h["Id"].as_str().unwrap_or("");
        let id = if id == "<missing>" || no_trunc {
            id.to_string()
        } else {
            trunc_id(id, false)
        };
        let created = h["Created"].as_i64().unwrap_or(0);
        let mut by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let size = h["Size"].as_i64().unwrap_or(0);
        rows.push(json!({
            "ID": id,
            "CreatedSince": if human_readable { format!("{} ago", human::duration(now - created)) } else { human::go_time(created) },
            "CreatedAt": human::go_time_local(created),
            "CreatedBy": by,
            "Size": if human_readable { human::size(size as f64) } else { size.to_string() },
            "Comment": h["Comment"].as_str().unwrap_or(""),
        }));
    }
    rows
}

pub fn history(c: &Client, a: &HistoryArgs) -> Res {
    let items = c
        .get_json(&format!("/images/{}/history", enc(&a.image)))
        .map_err(Exit::one)?;
    let rows = history_rows(&items, a.no_trunc, a.human, human::now_secs());
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format
            .clone()
            .unwrap_or_else(|| HISTORY_TABLE.to_string())
    };
    let header = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    out(&Format::new(&fmt, HISTORY_TABLE)
        .render_list(&header, &rows)
        .map_err(Exit::one)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_table() {
        let items = json!([
            {"Id": "sha256:0123456789abcdef0123", "Created": 100, "CreatedBy": "x".repeat(50), "Size": 4_261_000, "Comment": "c", "Tags": ["a:b"]},
            {"Id": "<missing>", "Created": 100, "CreatedBy": "/bin/sh\t-c", "Size": 0, "Comment": ""},
        ]);
        let rows = history_rows(&items, false, true, 400);
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["CreatedBy"].as_str().unwrap().chars().count(), 45);
        assert_eq!(rows[1]["CreatedBy"], "/bin/sh -c");
        assert_eq!(rows[0]["Size"], "4.26MB");
        assert_eq!(rows[0]["CreatedSince"], "5 minutes ago");
        let full = history_rows(&items, true, false, 400);
        assert_eq!(full[0]["ID"], "sha256:0123456789abcdef0123");
        assert_eq!(full[0]["Size"], "4261000");
        let text = Format::new(HISTORY_TABLE, HISTORY_TABLE)
            .render_list(&json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}), &rows)
            .unwrap();
        assert!(
            text.starts_with("IMAGE          CREATED         CREATED BY"),
            "{text}"
        );
    }
}

//! `GET /containers/{id}/logs`: the json-file log as Docker's wire bytes, read (and followed)
//! on a thread of its own and handed over in chunks.

use std::io::Write;
use std::sync::Arc;

use crate::api::{LogStream, LogsOptions};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::{self, LogEntry, ReadOptions, encode_frame, format_timestamp};

/// Entries are batched into chunks of about this size.
const CHUNK: usize = 32 * 1024;

impl Engine {
    pub fn container_logs(&self, name: &str, opts: LogsOptions) -> Result<LogStream> {
        let (id, tty) = {
            let reg = self.registry.lock().expect("registry lock");
            let e = reg.get(name)?;
            (e.record.id.clone(), e.record.tty())
        };
        let path = self.layout.log(&id);
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let me: Arc<Engine> = self.arc();
        let read = ReadOptions {
            since: opts.since,
            until: opts.until,
            tail: opts.tail,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        std::thread::Builder::new()
            .name("logs".into())
            .spawn(move || {
                let mut buf = Vec::with_capacity(CHUNK);
                // Followed entries go out one by one: nobody waits for a chunk to fill.
                let batch = if opts.follow { 1 } else { CHUNK };
                let mut emit = |e: LogEntry| -> logs::Result<()> {
                    encode(&mut buf, &e, tty, opts.timestamps);
                    if buf.len() >= batch {
                        tx.blocking_send(std::mem::take(&mut buf))
                            .map_err(|_| closed(&path))?;
                    }
                    Ok(())
                };
                let res = if opts.follow {
                    logs::follow(&path, read, || !me.is_running(&id), &mut emit)
                } else {
                    logs::read_logs(&path, read)
                        .and_then(|r| r.into_iter().try_for_each(|e| emit(e?)))
                };
                if let Err(e) = res {
                    tracing::debug!("logs of {id}: {e}");
                }
                if !buf.is_empty() {
                    let _ = tx.blocking_send(buf);
                }
            })
            .map_err(|e| Error::internal("start the log reader", e))?;
        Ok(LogStream { tty, chunks: rx })
    }

    pub(crate) fn is_running(&self, id: &str) -> bool {
        let reg = self.registry.lock().expect("registry lock");
        reg.by_id.get(id).is_some_and(|e| e.running())
    }
}

fn encode(out: &mut Vec<u8>, e: &LogEntry, tty: bool, timestamps: bool) {
    let mut payload = Vec::with_capacity(e.line.len() + 32);
    if timestamps {
        let _ = write!(payload, "{} ", format_timestamp(e.time));
    }
    payload.extend_from_slice(&e.line);
    if tty {
        out.extend_from_slice(&payload);
    } else {
        encode_frame(e.stream, &payload, out);
    }
}

fn closed(path: &std::path::Path) -> logs::Error {
    logs::Error::Io {
        op: "send the log of",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away"),
    }
}

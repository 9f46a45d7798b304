//! `POST /containers/{id}/attach`: a connection to the monitor's socket when the container
//! runs; before that, one end of a socket pair the start connects (so `docker run` loses no
//! output between attach and start).

use crate::api::{AttachOptions, AttachStream};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::monitor;

use super::PendingAttach;

impl Engine {
    pub async fn attach_container(&self, name: &str, opts: AttachOptions) -> Result<AttachStream> {
        let found = self.registry.lock().expect("registry lock").find(name);
        if let Ok(id) = found {
            self.container_event(&id, "attach", &[]);
        }
        let (id, tty, running) = {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(name)?;
            let tty = entry.record.tty();
            if !entry.running() {
                let (ours, theirs) = tokio::net::UnixStream::pair()
                    .map_err(|e| Error::internal("attach socket pair", e))?;
                entry.pending.push(PendingAttach { end: ours, opts });
                return Ok(AttachStream {
                    tty,
                    stream: theirs,
                });
            }
            (entry.record.id.clone(), tty, true)
        };
        debug_assert!(running);
        let socket = self.layout.socket(&id);
        let conn = tokio::task::spawn_blocking(move || {
            monitor::attach(&socket, opts.stdin, opts.stdout, opts.stderr)
        })
        .await
        .map_err(|e| Error::internal("attach", e))?
        .map_err(|e| Error::Conflict(format!("attach to container {id}: {e}")))?;
        conn.set_nonblocking(true)
            .map_err(|e| Error::internal("attach", e))?;
        let stream =
            tokio::net::UnixStream::from_std(conn).map_err(|e| Error::internal("attach", e))?;
        Ok(AttachStream { tty, stream })
    }
}

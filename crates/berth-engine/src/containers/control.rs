//! kill, stop, restart, wait, remove, resize.

use std::time::Duration;

use bollard_stubs::models::ContainerWaitResponse;
use nix::sys::signal::Signal;
use tokio::sync::oneshot;

use crate::api::WaitCondition;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::monitor;

use berth_runtime::state::StateRoot;

use super::record::REMOVING_PREFIX;
use super::signal;

const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Engine {
    pub fn wait_container(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<oneshot::Receiver<ContainerWaitResponse>> {
        let (tx, rx) = oneshot::channel();
        let mut reg = self.registry.lock().expect("registry lock");
        let entry = reg.get_mut(name)?;
        if condition == WaitCondition::NotRunning && !entry.running() && !entry.busy {
            let code = entry.record.state.exit_code as i64;
            let _ = tx.send(ContainerWaitResponse {
                status_code: code,
                error: None,
            });
        } else {
            entry.waiters.push((condition, tx));
        }
        Ok(rx)
    }

    pub async fn kill_container(&self, name: &str, signal: Option<&str>) -> Result<()> {
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => signal::parse(s)?,
            None => Signal::SIGKILL,
        };
        let id = self.running_id(name)?;
        let stop_signal = {
            let reg = self.registry.lock().expect("registry lock");
            reg.get(&id)?
                .record
                .config
                .stop_signal
                .as_deref()
                .and_then(|s| signal::parse(s).ok())
        };
        let fatal = super::restart::is_fatal(sig, stop_signal);
        if fatal {
            self.mark_manually_stopped(&id);
        }
        match self.signal(&id, sig) {
            // It ended on its own just before the signal: stopped all the same, and the mark
            // keeps its restart policy from bringing it back, as with Docker. An error here
            // would leave the policy resting on a kill the user was told had failed.
            Err(Error::Conflict(_)) if fatal => Ok(()),
            other => other,
        }
    }

    /// The id of a running container; Docker's 409 otherwise.
    pub(crate) fn running_id(&self, name: &str) -> Result<String> {
        let reg = self.registry.lock().expect("registry lock");
        let entry = reg.get(name)?;
        if !entry.running() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                entry.record.id
            )));
        }
        Ok(entry.record.id.clone())
    }

    fn signal(&self, id: &str, sig: Signal) -> Result<()> {
        let root = StateRoot::new(&self.layout.runtime_root);
        berth_runtime::container::kill(&root, id, sig).map_err(|e| match e {
            berth_runtime::Error::BadState { .. } | berth_runtime::Error::NotFound(_) => {
                Error::Conflict(format!("Container {id} is not running"))
            }
            e => Error::internal(format!("kill {id}"), e),
        })?;
        self.container_event(id, "kill", &[("signal", &(sig as i32).to_string())]);
        // A frozen process dies only once thawed (as Docker, a SIGKILL unpauses).
        if sig == Signal::SIGKILL {
            self.thaw_after_kill(id);
        }
        Ok(())
    }

    pub async fn stop_container(
        &self,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let (id, sig, timeout, exited) = {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(name)?;
            entry.record.state.manually_stopped = true;
            if entry.record.state.restarting {
                // Stopping a container waiting to restart calls the restart off, for good: an
                // `unless-stopped` one must not come back when the daemon starts again.
                entry.record.state.restarting = false;
                return entry.record.save(&self.layout.dir(&entry.record.id));
            }
            if !entry.running() {
                return Err(Error::NotModified("container already stopped".into()));
            }
            let c = &entry.record.config;
            let sig = match signal
                .filter(|s| !s.is_empty())
                .or(c.stop_signal.as_deref())
            {
                Some(s) => signal::parse(s)?,
                None => Signal::SIGTERM,
            };
            let timeout = timeout.or(c.stop_timeout).unwrap_or(DEFAULT_STOP_TIMEOUT);
            let (tx, rx) = oneshot::channel();
            entry.waiters.push((WaitCondition::NextExit, tx));
            (entry.record.id.clone(), sig, timeout, rx)
        };
        let _ = self.signal(&id, sig);
        let exited = if timeout < 0 {
            let _ = exited.await;
            self.container_event(&id, "stop", &[]);
            return Ok(());
        } else {
            match tokio::time::timeout(Duration::from_secs(timeout as u64), exited).await {
                Ok(_) => {
                    self.container_event(&id, "stop", &[]);
                    return Ok(());
                }
                Err(_) => {
                    let (tx, rx) = oneshot::channel();
                    let mut reg = self.registry.lock().expect("registry lock");
                    match reg.get_mut(&id) {
                        Ok(e) if e.running() => e.waiters.push((WaitCondition::NextExit, tx)),
                        _ => return Ok(()),
                    }
                    rx
                }
            }
        };
        let _ = self.signal(&id, Signal::SIGKILL);
        let _ = exited.await;
        self.container_event(&id, "stop", &[]);
        Ok(())
    }

    pub async fn restart_container(
        &self,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        match self.stop_container(name, signal, timeout).await {
            Ok(()) | Err(Error::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        {
            let mut reg = self.registry.lock().expect("registry lock");
            reg.get_mut(name)?.record.restart_count += 1;
        }
        self.start_container(name).await?;
        let found = self.registry.lock().expect("registry lock").find(name);
        if let Ok(id) = found {
            self.container_event(&id, "restart", &[]);
        }
        Ok(())
    }

    pub async fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let (id, running) = {
            let reg = self.registry.lock().expect("registry lock");
            let entry = reg.get(name)?;
            (entry.record.id.clone(), entry.running())
        };
        if running {
            if !force {
                let reg = self.registry.lock().expect("registry lock");
                let n = &reg.get(&id)?.record.name;
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{n}\": container is running: stop the container before removing or force remove"
                )));
            }
            let rx = self.wait_container(&id, WaitCondition::NextExit)?;
            let _ = self.signal(&id, Signal::SIGKILL);
            let _ = rx.await;
        }
        let entry = {
            let mut reg = self.registry.lock().expect("registry lock");
            let Some(entry) = reg.by_id.get(&id) else {
                return Ok(()); // removed meanwhile (--rm)
            };
            if entry.running() {
                return Err(Error::Conflict(format!(
                    "container {id} started again while being removed"
                )));
            }
            let entry = reg.by_id.remove(&id).expect("present");
            reg.names.remove(&entry.record.name);
            entry
        };
        let me = self.arc();
        let owned = id.clone();
        tokio::task::spawn_blocking(move || me.remove_files(&owned))
            .await
            .map_err(|e| Error::internal("remove", e))??;
        if volumes || entry.record.auto_remove() {
            self.remove_anonymous_volumes(&entry.record.mounts);
        }
        self.removed_container_event(&entry.record, "destroy");
        let mut waiters = entry.waiters;
        super::notify(&mut waiters, entry.record.state.exit_code, true);
        Ok(())
    }

    /// The record and the writable layer leave at once (a rename each) and are deleted on a
    /// thread of their own, so that `--rm` does not wait for the files. A crash in between
    /// leaves `.removing-*` directories, which the next start deletes.
    fn remove_files(&self, id: &str) -> Result<()> {
        // Mounts, netns and bundle were released when it exited (or when its start failed).
        let l = &self.layout;
        let mut doomed = Vec::new();
        for (dir, parent) in [(l.dir(id), &l.records), (l.layers.join(id), &l.layers)] {
            let to = parent.join(format!("{REMOVING_PREFIX}{id}"));
            match std::fs::rename(&dir, &to) {
                Ok(()) => doomed.push(to),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::internal(format!("remove {}", dir.display()), e)),
            }
        }
        std::thread::spawn(move || {
            for d in doomed {
                if let Err(e) = std::fs::remove_dir_all(&d) {
                    tracing::warn!("removing {}: {e}", d.display());
                }
            }
        });
        Ok(())
    }

    pub fn resize_container_tty(&self, name: &str, height: u16, width: u16) -> Result<()> {
        let id = self.running_id(name)?;
        monitor::resize(&self.layout.socket(&id), height, width)
            .map_err(|e| Error::internal("resize the terminal", e))?;
        let (h, w) = (height.to_string(), width.to_string());
        self.container_event(&id, "resize", &[("height", &h), ("width", &w)]);
        Ok(())
    }
}

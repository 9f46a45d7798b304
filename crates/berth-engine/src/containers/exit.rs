//! How the engine learns that a container ended: the monitor's pidfd becomes readable when it
//! exits, and the exit record it wrote says how. The same path re-adopts running containers
//! when the daemon starts again.

use std::os::fd::OwnedFd;

use berth_runtime::state::{StateRoot, process_start_time};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::engine::Engine;
use crate::logs::format_timestamp;
use crate::monitor::ExitRecord;

use super::record::Status;
use super::start::{pidfd_open, release_resources};

impl Engine {
    /// Waits (in a task) for the monitor behind `pidfd` to exit, then records the exit.
    pub(crate) fn watch_monitor(&self, id: String, pidfd: OwnedFd) {
        let me = self.arc();
        tokio::spawn(async move {
            // SAFETY: the AsyncFd owns the pidfd, which lives until it is dropped.
            if let Ok(fd) = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) } {
                let _ = fd.readable().await;
            }
            me.on_exit(&id).await;
        });
    }

    /// Records the exit, releases the container's mounts, tells the waiters, honours `--rm`.
    pub(crate) async fn on_exit(&self, id: &str) {
        let me = self.arc();
        let owned = id.to_string();
        let t = std::time::Instant::now();
        tracing::debug!(id, "exit: the monitor is gone");
        let _ = tokio::task::spawn_blocking(move || me.record_exit(&owned)).await;
        tracing::debug!(id, "exit: recorded after {:?}", t.elapsed());
        self.after_exit(id).await;
    }

    /// What follows a recorded exit: the `die` event, the waiters, `--rm`.
    async fn after_exit(&self, id: &str) {
        let t = std::time::Instant::now();
        let code = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id
                .get(id)
                .map(|e| e.record.state.exit_code.to_string())
        };
        if let Some(code) = code {
            self.container_event(id, "die", &[("exitCode", &code)]);
        }
        let auto_remove = {
            let mut reg = self.registry.lock().expect("registry lock");
            let Ok(entry) = reg.get_mut(id) else { return };
            let code = entry.record.state.exit_code;
            super::notify(&mut entry.waiters, code, false);
            entry.record.auto_remove()
        };
        if !auto_remove {
            self.restart_if_due(id);
        }
        if auto_remove {
            let _ = self.remove_container(id, true, false).await;
            tracing::debug!(id, "exit: removed after {:?}", t.elapsed());
        }
    }

    /// The blocking half of an exit: the record, the runtime's leftovers, the mounts.
    fn record_exit(&self, id: &str) {
        let l = &self.layout;
        let exit = ExitRecord::read(&l.exit_file(id)).ok();
        // A monitor that died without a record leaves the runtime's state: clear it.
        if exit.is_none() {
            let _ = berth_runtime::container::delete(&StateRoot::new(&l.runtime_root), id, true);
        }
        // The veths go with the namespace (the kernel tears it down in the background; a
        // quick restart replaces a veth still there).
        release_resources(l, id, &l.rootfs(id));
        self.networks.release_owner(id);
        self.stop_dns(id);
        let mut reg = self.registry.lock().expect("registry lock");
        let Ok(entry) = reg.get_mut(id) else { return };
        let s = &mut entry.record.state;
        s.status = Status::Exited;
        s.paused = false;
        s.pid = 0;
        s.monitor = None;
        let endpoints = std::mem::take(&mut s.endpoints);
        s.slots.clear();
        s.ports.clear();
        match exit {
            Some(r) => {
                s.exit_code = r.exit_code;
                s.oom_killed = r.oom_killed;
                s.finished_at = Some(r.finished_at);
            }
            None => {
                s.exit_code = 255;
                s.error = "the container's monitor exited without recording an exit status".into();
                s.finished_at = Some(format_timestamp(std::time::SystemTime::now()));
            }
        }
        entry.busy = false;
        if let Some(health) = entry.health_task.take() {
            health.abort();
        }
        // A `--rm` container's record is about to go: no need to save its exit. A stop by the
        // user is a decision the restart policy must find after a reboot: durable.
        if !entry.record.auto_remove() {
            let saved = if entry.record.state.manually_stopped {
                entry.record.save(&l.dir(id))
            } else {
                entry.record.save_state(&l.dir(id))
            };
            if let Err(e) = saved {
                tracing::error!(id, "saving the exit: {e}");
            }
        }
        let mounts = entry.record.mounts.clone();
        drop(reg);
        self.endpoint_events(id, &endpoints, "disconnect");
        self.volume_unmount_events(id, &mounts);
        self.release_volumes(&mounts);
    }

    /// At start-up: the ports of running containers are held and routed again, and their
    /// resolvers served again (a daemon that stopped took both with it).
    pub(crate) fn republish(&self) {
        let running: Vec<super::Record> = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id
                .values()
                .filter(|e| e.record.state.status == Status::Running)
                .map(|e| e.record.clone())
                .collect()
        };
        for rec in running {
            let netns = self.layout.netns(&rec.id);
            if netns.exists()
                && let Err(e) = self.resume_dns_for(&rec, &netns)
            {
                tracing::warn!(id = rec.id, "serving its resolver again: {e}");
            }
            let ports = &rec.state.ports;
            if ports.is_empty() {
                continue;
            }
            let again = crate::networks::republish(ports)
                .and_then(|req| self.networks.publish(&rec.id, ports[0].dest, &req));
            if let Err(e) = again {
                tracing::warn!(id = rec.id, "publishing its ports again: {e}");
            }
        }
    }

    /// At start-up: watch the monitors of containers recorded as running (they kept running
    /// while no daemon was there), and record the exits of those that ended meanwhile, whose
    /// ids it returns.
    pub(crate) fn readopt(&self) -> Vec<String> {
        let running: Vec<(String, Option<super::record::MonitorRef>)> = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id
                .values()
                .filter(|e| e.record.state.status == Status::Running)
                .map(|e| (e.record.id.clone(), e.record.state.monitor))
                .collect()
        };
        let mut exited = Vec::new();
        for (id, monitor) in running {
            let alive = monitor.and_then(|m| {
                let fd = pidfd_open(m.pid).ok()?;
                (process_start_time(m.pid) == Some(m.start_time)).then_some(fd)
            });
            match alive {
                Some(fd) => {
                    tracing::info!(id, "re-adopted a running container");
                    self.watch_health(&id);
                    self.watch_monitor(id, fd);
                }
                None => {
                    // Recorded before the API serves, so that nobody sees it running.
                    self.record_exit(&id);
                    exited.push(id.clone());
                    let me = self.arc();
                    tokio::spawn(async move { me.after_exit(&id).await });
                }
            }
        }
        exited
    }
}

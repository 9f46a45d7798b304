//! `POST /containers/{id}/pause` and `/unpause`: the cgroup freezer (v1 `freezer.state`, v2
//! `cgroup.freeze`, through the runtime and berth-cgroups) stops and restarts every process of
//! the container; `State.Paused` is recorded durably.

use berth_runtime::state::StateRoot;

use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    pub async fn pause_container(&self, name: &str) -> Result<()> {
        self.set_paused(name, true).await
    }

    pub async fn unpause_container(&self, name: &str) -> Result<()> {
        self.set_paused(name, false).await
    }

    async fn set_paused(&self, name: &str, pause: bool) -> Result<()> {
        let id = {
            let reg = self.registry.lock().expect("registry lock");
            let entry = reg.get(name)?;
            let id = entry.record.id.clone();
            if !entry.running() {
                return Err(Error::Conflict(format!("Container {id} is not running")));
            }
            match (pause, entry.record.state.paused) {
                (true, true) => {
                    return Err(Error::Conflict(format!("Container {id} is already paused")));
                }
                (false, false) => {
                    return Err(Error::Conflict(format!("Container {id} is not paused")));
                }
                _ => {}
            }
            id
        };
        let root = StateRoot::new(&self.layout.runtime_root);
        let owned = id.clone();
        tokio::task::spawn_blocking(move || {
            if pause {
                berth_runtime::container::pause(&root, &owned)
            } else {
                berth_runtime::container::resume(&root, &owned)
            }
        })
        .await
        .map_err(|e| Error::internal("pause", e))?
        .map_err(|e| {
            let verb = if pause { "pause" } else { "unpause" };
            Error::internal(format!("{verb} container {id}"), e)
        })?;
        {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(&id)?;
            entry.record.state.paused = pause;
            entry.record.save_state(&self.layout.dir(&id))?;
        }
        self.container_event(&id, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// Thaws a paused container that was just sent SIGKILL, so that it can die.
    pub(crate) fn thaw_after_kill(&self, id: &str) {
        let paused = {
            let reg = self.registry.lock().expect("registry lock");
            reg.get(id).is_ok_and(|e| e.record.state.paused)
        };
        if paused {
            let root = StateRoot::new(&self.layout.runtime_root);
            if let Err(e) = berth_runtime::container::resume(&root, id) {
                tracing::warn!(id, "thaw after SIGKILL: {e}");
            }
        }
    }
}

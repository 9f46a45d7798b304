//! Containers: their registry (in memory, backed by one durable record each), and the
//! operations on them, one file per verb family. A running container is under a monitor
//! process forked from the zygote (see [`crate::monitor`]); the engine watches the monitor's
//! pidfd and reads the exit record it leaves.

mod attach;
mod control;
mod create;
mod dns_names;
mod etc_files;
mod events;
pub(crate) mod exec;
mod exit;
mod files;
mod health;
mod init;
mod logs;
pub(crate) mod mounts;
mod names;
mod namespaces;
pub(crate) mod netns;
mod network;
mod overlay;
mod pause;
mod ports;
pub(crate) mod record;
mod rename;
mod resources;
mod restart;
mod seccomp;
mod security;
mod signal;
mod spec;
mod start;
mod stats;
mod top;
mod update;
mod user;
mod view;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard_stubs::models::ContainerWaitResponse;
use tokio::sync::oneshot;

use crate::api::{AttachOptions, WaitCondition};
use crate::error::{Error, Result};

pub(crate) use create::random_id;
pub(crate) use dns_names::dns_names;
pub(crate) use etc_files::{add_own_address, host_names, remove_own_address};
pub use files::{PathStat, TarStream};
pub(crate) use files::{RootAccess, image_stat, runtime_mount_points};

/// A record's network mode as Docker names it (`bridge`, `host`, `container:ID`, ...).
pub(crate) fn network_mode_of(rec: &Record) -> String {
    spec::network_mode(&rec.host_config).to_string()
}
pub use record::{Record, Status};

/// Where a container's files are.
pub(crate) struct Layout {
    /// `<data-root>/containers`: records, logs, exit records, /etc files.
    pub records: PathBuf,
    /// `<exec-root>/c`: bundles and monitor sockets (short: socket paths are limited).
    pub bundles: PathBuf,
    /// `<exec-root>/netns`.
    pub netns: PathBuf,
    /// The runtime's state root.
    pub runtime_root: PathBuf,
    pub zygote: PathBuf,
    /// `<data-root>/overlay/containers`: writable layers and root mount points.
    pub layers: PathBuf,
    /// `<exec-root>/e`: exec monitors' sockets and exit records.
    pub execs: PathBuf,
}

impl Layout {
    pub fn new(data_root: &Path, exec_root: &Path) -> Layout {
        Layout {
            records: data_root.join("containers"),
            bundles: exec_root.join("c"),
            netns: exec_root.join("netns"),
            runtime_root: exec_root.join("runtime"),
            zygote: exec_root.join("zygote.sock"),
            layers: data_root.join("overlay").join("containers"),
            execs: exec_root.join("e"),
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.records.join(id)
    }

    pub fn log(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }

    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.dir(id).join("exit.json")
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.bundles.join(id)
    }

    pub fn socket(&self, id: &str) -> PathBuf {
        self.bundle(id).join("m.sock")
    }

    /// Where the container's overlay root is mounted.
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.layers.join(id).join("merged")
    }

    pub fn netns(&self, id: &str) -> PathBuf {
        self.netns.join(id)
    }
}

pub(crate) type Waiter = (WaitCondition, oneshot::Sender<ContainerWaitResponse>);

/// An attach made before the container runs: connected to the monitor when it starts.
pub(crate) struct PendingAttach {
    pub end: tokio::net::UnixStream,
    pub opts: AttachOptions,
}

pub(crate) struct Entry {
    pub record: Record,
    /// A start, stop or removal is under way.
    pub busy: bool,
    pub waiters: Vec<Waiter>,
    pub pending: Vec<PendingAttach>,
    /// The wait between restarts by policy.
    pub backoff: restart::Backoff,
    /// The health monitor of the current run, ended with it.
    pub health_task: Option<tokio::task::AbortHandle>,
}

impl Entry {
    pub fn new(record: Record) -> Entry {
        Entry {
            record,
            busy: false,
            waiters: Vec::new(),
            pending: Vec::new(),
            backoff: restart::Backoff::default(),
            health_task: None,
        }
    }

    pub fn running(&self) -> bool {
        self.record.state.status == Status::Running
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub by_id: HashMap<String, Entry>,
    /// Name (without `/`) → id.
    pub names: HashMap<String, String>,
}

impl Registry {
    /// Docker's lookup order: full id, name, unique id prefix.
    pub fn find(&self, name: &str) -> Result<String> {
        if self.by_id.contains_key(name) {
            return Ok(name.to_string());
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(id) = self.names.get(bare) {
            return Ok(id.clone());
        }
        if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hits = self.by_id.keys().filter(|id| id.starts_with(bare));
            if let (Some(id), None) = (hits.next(), hits.next()) {
                return Ok(id.clone());
            }
        }
        Err(no_such_container(name))
    }

    pub fn get(&self, name: &str) -> Result<&Entry> {
        let id = self.find(name)?;
        Ok(&self.by_id[&id])
    }

    pub fn get_mut(&mut self, name: &str) -> Result<&mut Entry> {
        let id = self.find(name)?;
        Ok(self.by_id.get_mut(&id).expect("found"))
    }

    pub fn insert(&mut self, record: Record) {
        self.names.insert(record.name.clone(), record.id.clone());
        self.by_id.insert(record.id.clone(), Entry::new(record));
    }
}

pub fn no_such_container(name: &str) -> Error {
    Error::NotFound(format!("No such container: {name}"))
}

/// Fulfils the waiters whose condition `event` meets.
pub(crate) fn notify(waiters: &mut Vec<Waiter>, exit_code: i32, removed: bool) {
    let all = std::mem::take(waiters);
    for (cond, tx) in all {
        if removed || cond != WaitCondition::Removed {
            let _ = tx.send(ContainerWaitResponse {
                status_code: exit_code as i64,
                error: None,
            });
        } else {
            waiters.push((cond, tx));
        }
    }
}

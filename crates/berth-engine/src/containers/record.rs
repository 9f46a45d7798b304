//! A container's durable record: what `inspect` shows and what survives a daemon restart.
//! Written whole with write, fsync, rename, fsync of the directory; a new container's
//! directory appears under its final name only once its record is complete.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use bollard_stubs::models::{ContainerConfig, EndpointSettings, HostConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const RECORD_FILE: &str = "container.json";
/// Prefix of a container directory still being written; removed at start-up.
pub const PARTIAL_PREFIX: &str = ".partial-";
/// Prefix of a removed container's directories, deleted in the background (and at start-up).
pub const REMOVING_PREFIX: &str = ".removing-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// The monitor a running container is under, identified beyond its pid (which may be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRef {
    pub pid: i32,
    pub start_time: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub monitor: Option<MonitorRef>,
    /// The endpoints wired at the last start, with their addresses (empty when not running).
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSettings>,
    /// Network name → the interface number (`eth<N>`) it is wired as.
    #[serde(default)]
    pub slots: BTreeMap<String, usize>,
    /// The ports published at the last start (empty when not running).
    #[serde(default)]
    pub ports: Vec<crate::networks::Published>,
    /// Frozen by `pause` (the cgroup freezer); only while running.
    #[serde(default)]
    pub paused: bool,
    /// Waiting out the back-off before a restart by policy.
    #[serde(default)]
    pub restarting: bool,
    /// Stopped by the user (`stop`, or `kill` with a fatal signal): the restart policy rests
    /// until the next start.
    #[serde(default)]
    pub manually_stopped: bool,
    /// `State.Health` of a container with a health check (its status made durable on each
    /// change).
    #[serde(default)]
    pub health: Option<bollard_stubs::models::Health>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub path: String,
    pub args: Vec<String>,
    /// The container's config with the image's defaults applied, as inspect shows it.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The networks asked for, by name (`NetworkingConfig.EndpointsConfig` and the mode).
    #[serde(default)]
    pub networks: BTreeMap<String, EndpointSettings>,
    pub state: State,
    pub restart_count: i64,
    /// Binds, volumes and tmpfs mounts, planned at create.
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountPlan>,
}

impl Record {
    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config.auto_remove.unwrap_or(false)
    }

    /// Writes the record into `dir` atomically and durably.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).expect("records serialize");
        write_durably(&dir.join(RECORD_FILE), &bytes)
    }

    pub fn load(dir: &Path) -> Result<Record> {
        let path = dir.join(RECORD_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::internal(path.display(), e))?;
        let mut rec: Record =
            serde_json::from_slice(&bytes).map_err(|e| Error::internal(path.display(), e))?;
        if rec.mounts.is_empty() {
            rec.mounts = super::mounts::binds_of_older_record(&rec.host_config);
        }
        Ok(rec)
    }

    /// Creates `<containers>/<id>` holding the record, or nothing at all.
    pub fn create_dir(&self, containers: &Path) -> Result<PathBuf> {
        let partial = containers.join(format!("{PARTIAL_PREFIX}{}", self.id));
        let dir = containers.join(&self.id);
        std::fs::create_dir_all(&partial).map_err(|e| Error::internal(partial.display(), e))?;
        let res = self.save(&partial).and_then(|()| {
            std::fs::rename(&partial, &dir).map_err(|e| Error::internal(dir.display(), e))?;
            sync_dir(containers)
        });
        if res.is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        res.map(|()| dir)
    }
}

pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::internal(format!("write {}", path.display()), e))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::internal(format!("sync {}", dir.display()), e))
}

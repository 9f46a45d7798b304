//! A container's durable record: what `inspect` shows and what survives a daemon restart.
//! Written whole with write, fsync, rename, fsync of the directory; a new container's
//! directory appears under its final name only once its record is complete.
//!
//! What only describes the container's processes (running or exited, pid, exit code) changes
//! on every start and exit, and would be stale after a reboot anyway: those changes go to a
//! second file, replaced atomically (write, rename) but not fsync'ed, which keeps three
//! fsyncs off every start and exit. A sequence number says which of the two files is newer;
//! a state file a power loss tore or lost leaves the last durable state.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use bollard_stubs::models::{ContainerConfig, EndpointSettings, HostConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const RECORD_FILE: &str = "container.json";
/// The process state written since the last durable save (see the module doc).
const STATE_FILE: &str = "state.json";
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
    /// Counts saves, so that the newer of the record and its state file wins at load.
    #[serde(default)]
    pub seq: u64,
}

/// The state file's content.
#[derive(Serialize, Deserialize)]
struct ProcessState<'a> {
    seq: u64,
    state: Cow<'a, State>,
    restart_count: i64,
}

impl Record {
    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config.auto_remove.unwrap_or(false)
    }

    /// Writes the record into `dir` atomically and durably.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        self.seq += 1;
        let bytes = serde_json::to_vec(self).expect("records serialize");
        write_durably(&dir.join(RECORD_FILE), &bytes)
    }

    /// Writes a change of the process state only (a start, an exit, a pause): atomically, not
    /// durably (see the module doc).
    pub fn save_state(&mut self, dir: &Path) -> Result<()> {
        self.seq += 1;
        let bytes = serde_json::to_vec(&ProcessState {
            seq: self.seq,
            state: Cow::Borrowed(&self.state),
            restart_count: self.restart_count,
        })
        .expect("states serialize");
        let path = dir.join(STATE_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::internal(format!("write {}", path.display()), e))
    }

    pub fn load(dir: &Path) -> Result<Record> {
        let path = dir.join(RECORD_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::internal(path.display(), e))?;
        let mut rec: Record =
            serde_json::from_slice(&bytes).map_err(|e| Error::internal(path.display(), e))?;
        let newer = std::fs::read(dir.join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<ProcessState>(&b).ok())
            .filter(|p| p.seq > rec.seq);
        if let Some(p) = newer {
            rec.seq = p.seq;
            rec.state = p.state.into_owned();
            rec.restart_count = p.restart_count;
        }
        if rec.mounts.is_empty() {
            rec.mounts = super::mounts::binds_of_older_record(&rec.host_config);
        }
        Ok(rec)
    }

    /// Creates `<containers>/<id>` holding the record, or nothing at all.
    pub fn create_dir(&mut self, containers: &Path) -> Result<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            id: "c".repeat(64),
            name: "n".into(),
            created: String::new(),
            image: "i".into(),
            image_id: "sha256:0".into(),
            path: "true".into(),
            args: Vec::new(),
            config: ContainerConfig::default(),
            host_config: HostConfig::default(),
            networks: BTreeMap::new(),
            state: State::default(),
            restart_count: 0,
            mounts: Vec::new(),
            seq: 0,
        }
    }

    #[test]
    fn the_newer_of_record_and_state_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = record();
        rec.save(dir.path()).unwrap();
        rec.state.status = Status::Running;
        rec.state.pid = 42;
        rec.restart_count = 3;
        rec.save_state(dir.path()).unwrap();
        let loaded = Record::load(dir.path()).unwrap();
        assert_eq!(loaded.state.status, Status::Running);
        assert_eq!((loaded.state.pid, loaded.restart_count), (42, 3));

        // A durable save after it supersedes the state file.
        rec.state.status = Status::Exited;
        rec.name = "renamed".into();
        rec.save(dir.path()).unwrap();
        let loaded = Record::load(dir.path()).unwrap();
        assert_eq!(
            (loaded.state.status, loaded.name.as_str()),
            (Status::Exited, "renamed")
        );
        assert_eq!(loaded.seq, rec.seq);
    }

    #[test]
    fn a_torn_state_file_leaves_the_durable_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = record();
        rec.state.exit_code = 7;
        rec.save(dir.path()).unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{\"seq\": 99, \"sta").unwrap();
        let loaded = Record::load(dir.path()).unwrap();
        assert_eq!(loaded.state.exit_code, 7);
        std::fs::write(dir.path().join(STATE_FILE), b"").unwrap();
        assert_eq!(Record::load(dir.path()).unwrap().state.exit_code, 7);
    }
}

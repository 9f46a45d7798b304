//! Volumes: data that outlives containers. The `local` driver keeps each volume under
//! `<data-root>/volumes/<name>/` — `_data` (what containers mount) and `volume.json` (its
//! record, written atomically; a half-made volume directory is `.partial-*` and dropped at
//! start-up). Which containers use a volume is read from their records, never stored twice.

mod copy_up;
mod driver;
mod events;
mod name;
mod ops;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bollard_stubs::models::{Volume, VolumeScopeEnum};
use serde::{Deserialize, Serialize};

use crate::containers::record::{PARTIAL_PREFIX, REMOVING_PREFIX, write_durably};
use crate::error::{Error, Result};

pub(crate) use copy_up::copy_up;
pub(crate) use name::validate as validate_name;

/// The label Docker puts on the volumes it makes for `VOLUME` and `-v /path`.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
const RECORD_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";

/// What `volume.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
}

impl VolumeRecord {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// The local driver's volumes on disk. `lock` orders creations and removals.
pub(crate) struct Volumes {
    root: PathBuf,
    lock: Mutex<()>,
    /// Where `volume create` and `destroy` are told (every path that makes or removes one).
    events: std::sync::Arc<crate::events::Events>,
}

/// A request to make a volume.
#[derive(Debug, Default, Clone)]
pub(crate) struct NewVolume {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub options: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

impl Volumes {
    /// Opens `<data-root>/volumes`, dropping what an interrupted create or remove left.
    pub fn open(
        data_root: &Path,
        events: std::sync::Arc<crate::events::Events>,
    ) -> Result<Volumes> {
        let root = data_root.join("volumes");
        std::fs::create_dir_all(&root).map_err(|e| Error::internal(root.display(), e))?;
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(PARTIAL_PREFIX) || n.starts_with(REMOVING_PREFIX) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(Volumes {
            root,
            lock: Mutex::new(()),
            events,
        })
    }

    /// The host directory containers mount for `name`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    /// Makes a volume, or returns the existing one of that name (as Docker does).
    pub fn create(&self, req: NewVolume) -> Result<VolumeRecord> {
        let driver = req.driver.filter(|d| !d.is_empty());
        if let Some(d) = driver.as_deref().filter(|d| *d != "local") {
            return Err(Error::NotFound(format!(
                "error looking up volume plugin {d}: plugin {d:?} not found (berth has the local driver only)"
            )));
        }
        driver::validate(&req.options)?;
        let mut labels = req.labels;
        let name = match req.name.filter(|n| !n.is_empty()) {
            Some(n) => {
                validate_name(&n)?;
                n
            }
            None => {
                labels.insert(ANONYMOUS_LABEL.into(), String::new());
                crate::containers::random_id()
            }
        };
        let _guard = self.lock.lock().expect("volumes lock");
        if let Ok(existing) = self.get(&name) {
            return Ok(existing);
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver: "local".into(),
            created_at: crate::logs::format_timestamp(std::time::SystemTime::now()),
            labels,
            options: req.options,
        };
        let partial = self.root.join(format!("{PARTIAL_PREFIX}{name}"));
        let made = (|| {
            std::fs::create_dir_all(partial.join(DATA_DIR))
                .map_err(|e| Error::internal(partial.display(), e))?;
            let bytes = serde_json::to_vec(&rec).expect("volume records serialize");
            write_durably(&partial.join(RECORD_FILE), &bytes)?;
            std::fs::rename(&partial, self.root.join(&name))
                .map_err(|e| Error::internal(format!("create volume {name}"), e))
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        made?;
        events::emit(&self.events, "create", &rec.name, &[]);
        Ok(rec)
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        let missing = || Error::NotFound(format!("get {name}: no such volume"));
        if validate_name(name).is_err() {
            return Err(missing());
        }
        let path = self.root.join(name).join(RECORD_FILE);
        let bytes = std::fs::read(&path).map_err(|_| missing())?;
        serde_json::from_slice(&bytes).map_err(|e| Error::internal(path.display(), e))
    }

    pub fn list(&self) -> Vec<VolumeRecord> {
        let mut out: Vec<VolumeRecord> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Deletes a volume and its data; the caller has checked that no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _guard = self.lock.lock().expect("volumes lock");
        self.get(name)?;
        driver::unmount(&self.data_dir(name));
        let doomed = self.root.join(format!("{REMOVING_PREFIX}{name}"));
        std::fs::rename(self.root.join(name), &doomed)
            .map_err(|e| Error::internal(format!("remove volume {name}"), e))?;
        std::fs::remove_dir_all(&doomed)
            .map_err(|e| Error::internal(format!("remove volume {name}"), e))?;
        events::emit(&self.events, "destroy", name, &[]);
        Ok(())
    }

    /// Mounts the volume's filesystem (driver options) before a container uses it; returns
    /// the directory to bind.
    pub fn prepare(&self, name: &str) -> Result<PathBuf> {
        let rec = self.get(name)?;
        let data = self.data_dir(name);
        driver::mount(&rec.options, &data)?;
        Ok(data)
    }

    /// Unmounts the volume's own filesystem, if it has one (no container uses it any more).
    pub fn release(&self, name: &str) {
        if let Ok(rec) = self.get(name)
            && driver::needs_mount(&rec.options)
        {
            driver::unmount(&self.data_dir(name));
        }
    }

    /// The record in Docker's shape.
    pub fn model(&self, rec: &VolumeRecord) -> Volume {
        Volume {
            name: rec.name.clone(),
            driver: rec.driver.clone(),
            mountpoint: self.data_dir(&rec.name).to_string_lossy().into_owned(),
            created_at: Some(rec.created_at.clone()),
            status: None,
            labels: rec.labels.clone(),
            scope: Some(VolumeScopeEnum::LOCAL),
            cluster_volume: None,
            options: rec.options.clone(),
            usage_data: None,
        }
    }
}

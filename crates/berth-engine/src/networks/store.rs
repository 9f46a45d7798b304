//! Network definitions: one durable JSON file each under `<data-root>/networks/defs`
//! (write, fsync, rename, fsync of the directory), loaded at start-up.

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_network::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Docker's three kinds: a bridge, the host's stack, or no network at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    Null,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One network as berth keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkDef {
    pub id: String,
    pub name: String,
    pub driver: Driver,
    /// The Linux bridge (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    /// `None` until the default bridge is first brought up (then chosen from the pools).
    #[serde(default)]
    pub subnet: Option<Ipv4Net>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
    pub created: String,
    /// Made by `network create` (the predefined bridge, host and none are not).
    #[serde(default)]
    pub user_defined: bool,
}

/// The directory of definitions.
pub struct DefStore {
    dir: PathBuf,
}

impl DefStore {
    pub fn open(dir: &Path) -> Result<DefStore> {
        std::fs::create_dir_all(dir).map_err(|e| Error::internal(dir.display(), e))?;
        Ok(DefStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Every definition; a file that does not parse is skipped with a warning, half-written
    /// temporaries are deleted.
    pub fn load_all(&self) -> Result<Vec<NetworkDef>> {
        let mut out = Vec::new();
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| Error::internal(self.dir.display(), e))?;
        for e in entries.flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(def) => out.push(def),
                Err(err) => tracing::warn!("skipping network {}: {err}", path.display()),
            }
        }
        Ok(out)
    }

    pub fn save(&self, def: &NetworkDef) -> Result<()> {
        let path = self.dir.join(format!("{}.json", def.id));
        let tmp = self.dir.join(format!(".{}.tmp", def.id));
        let fail = |e: std::io::Error| Error::internal(format!("write {}", path.display()), e);
        let bytes = serde_json::to_vec_pretty(def).map_err(|e| Error::internal("encode", e))?;
        let mut f = std::fs::File::create(&tmp).map_err(fail)?;
        f.write_all(&bytes).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(fail)
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.dir.join(format!("{id}.json"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::internal(path.display(), e))
            }
            _ => Ok(()),
        }
    }
}

//! The pullers compared: berth (berth CLI → berth daemon), Docker (docker CLI → dockerd),
//! Podman (daemonless, its own roots) and skopeo copying to a directory (the floor: the same
//! transfer with nothing unpacked). Each can pull the image and then return to cold: whatever
//! the pull stored is removed and checked to be gone, so every timed pull fetches and unpacks
//! every layer.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::daemon::Daemon;
use crate::podman::Podman;
use crate::stats::check;

/// What a contender's median is compared as.
#[derive(Clone, Copy, PartialEq)]
pub enum Role {
    /// The one measured: the others are ratios to it.
    Berth,
    /// A peer engine, by the name its ratio is printed with.
    Peer(&'static str),
    /// The transfer alone: the least a pull can take.
    Floor,
}

/// One way of pulling the image cold.
pub trait Puller {
    /// The table row's label.
    fn name(&self) -> &str;
    fn role(&self) -> Role;
    fn pull(&self, image: &str) -> Result<()>;
    /// Removes what the pull stored and fails if anything remains, so the next pull is cold.
    fn reset(&self, image: &str) -> Result<()>;
}

/// `berth pull` through the berth CLI against a berth daemon (the daemon's client is the CLI).
pub struct Berth {
    pub daemon: Daemon,
}

impl Puller for Berth {
    fn name(&self) -> &str {
        "berth CLI -> berth"
    }

    fn role(&self) -> Role {
        Role::Berth
    }

    fn pull(&self, image: &str) -> Result<()> {
        check(self.daemon.docker().args(["pull", image]))
    }

    fn reset(&self, image: &str) -> Result<()> {
        check(self.daemon.docker().args(["rmi", image]))?;
        let root = self.daemon.data_root();
        for dir in ["content/blobs/sha256", "overlay/snapshots"] {
            let left = entries(&root.join(dir))?;
            if !left.is_empty() {
                bail!(
                    "berth rmi left {} entries in {}: the next pull would not be cold",
                    left.len(),
                    root.join(dir).display()
                );
            }
        }
        Ok(())
    }
}

/// `docker pull` through the docker CLI against dockerd.
pub struct Docker {
    pub daemon: Daemon,
}

impl Puller for Docker {
    fn name(&self) -> &str {
        "docker CLI -> dockerd"
    }

    fn role(&self) -> Role {
        Role::Peer("Docker")
    }

    fn pull(&self, image: &str) -> Result<()> {
        check(self.daemon.docker().args(["pull", "-q", image]))
    }

    fn reset(&self, image: &str) -> Result<()> {
        check(self.daemon.docker().args(["rmi", image]))?;
        check(self.daemon.docker().args(["image", "prune", "-af"]))?;
        let layers = self.daemon.data_root().join("overlay2");
        let left: Vec<String> = entries(&layers)?
            .into_iter()
            .filter(|e| e != "l") // the short-name link directory stays
            .collect();
        if !left.is_empty() {
            bail!(
                "docker rmi + image prune left {} layers in {}: the next pull would not be cold",
                left.len(),
                layers.display()
            );
        }
        Ok(())
    }
}

/// `podman pull` with storage and run roots in the scratch dir.
impl Puller for Podman {
    fn name(&self) -> &str {
        "podman"
    }

    fn role(&self) -> Role {
        Role::Peer("Podman")
    }

    fn pull(&self, image: &str) -> Result<()> {
        check(
            self.command()
                .args(["pull", "-q", "--tls-verify=false", image]),
        )
    }

    fn reset(&self, image: &str) -> Result<()> {
        check(self.command().args(["rmi", image]))?;
        let out = self.command().args(["images", "-aq"]).output()?;
        let layers = self.dir.join("root/overlay-layers/layers.json");
        let records = std::fs::read_to_string(&layers).unwrap_or_default();
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() || records.contains("\"id\"") {
            bail!("podman rmi left images or layers behind: the next pull would not be cold");
        }
        Ok(())
    }
}

/// `skopeo copy` into a directory: the transfer alone, nothing unpacked.
pub struct Skopeo {
    pub binary: PathBuf,
    pub dir: PathBuf,
}

impl Puller for Skopeo {
    fn name(&self) -> &str {
        "skopeo copy (floor: no unpack)"
    }

    fn role(&self) -> Role {
        Role::Floor
    }

    fn pull(&self, image: &str) -> Result<()> {
        check(
            Command::new(&self.binary)
                .args([
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    "--src-tls-verify=false",
                ])
                .arg(format!("docker://{image}"))
                .arg(format!("dir:{}", self.dir.display())),
        )
    }

    fn reset(&self, _image: &str) -> Result<()> {
        std::fs::remove_dir_all(&self.dir).with_context(|| format!("remove {}", self.dir.display()))
    }
}

/// Names in `dir` (none if it does not exist).
fn entries(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("list {}", dir.display())),
    }
}

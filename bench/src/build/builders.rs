//! The builders compared, each through its own CLI: berth (berth CLI → berth daemon), Docker's
//! classic builder (`DOCKER_BUILDKIT=0 docker build` → dockerd) and Podman (`podman build`,
//! buildah inside, its own roots). They take the same arguments for what the bench does —
//! import the base, build, remove what a build made — so the bench drives them alike.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::daemon::Daemon;
use crate::podman::Podman;
use crate::stats::check;

/// The tag every build gets.
pub const TAG: &str = "bench-build-out:1";

/// One builder under test.
pub enum Builder {
    Berth(Daemon),
    Docker(Daemon),
    Podman(Podman),
}

impl Builder {
    /// The table row's label.
    pub fn name(&self) -> &'static str {
        match self {
            Builder::Berth(_) => "berth build",
            Builder::Docker(_) => "docker build (classic)",
            Builder::Podman(_) => "podman build",
        }
    }

    /// The name the ratio to berth is printed with; `None` for berth itself.
    pub fn peer(&self) -> Option<&'static str> {
        match self {
            Builder::Berth(_) => None,
            Builder::Docker(_) => Some("Docker"),
            Builder::Podman(_) => Some("Podman"),
        }
    }

    /// The builder's CLI, pointed at its daemon or roots.
    fn cli(&self) -> Command {
        match self {
            Builder::Berth(d) => d.docker(),
            Builder::Docker(d) => {
                let mut c = d.docker();
                c.env("DOCKER_BUILDKIT", "0");
                c
            }
            Builder::Podman(p) => p.command(),
        }
    }

    /// Imports the rootfs tar as the base image (untimed).
    pub fn load_base(&self, rootfs_tar: &Path, base: &str) -> Result<()> {
        check(self.cli().arg("import").arg(rootfs_tar).arg(base))
            .with_context(|| format!("{}: import the base image", self.name()))
    }

    /// Builds `context` as [`TAG`] and returns the image id; `cold` passes `--no-cache`.
    pub fn build(&self, context: &Path, cold: bool, iidfile: &Path) -> Result<String> {
        let _ = std::fs::remove_file(iidfile);
        let mut c = self.cli();
        c.args(["build", "-q", "-t", TAG, "--iidfile"]).arg(iidfile);
        if cold {
            c.arg("--no-cache");
        }
        if let Builder::Podman(_) = self {
            // Podman's RUN would otherwise get a netavark bridge and firewall rules on the
            // host; dockerd here has none either (`--bridge none`).
            c.args(["--network", "none", "--layers"]);
        }
        check(c.arg(context))?;
        let id = std::fs::read_to_string(iidfile)
            .with_context(|| format!("{}: read its --iidfile", self.name()))?;
        Ok(id.trim().to_string())
    }

    /// Removes what builds made — the tagged image and its intermediate images (the classic
    /// builder's cache, and buildah's) — and fails unless the images left are the `expected` ones (the base).
    pub fn reset(&self, expected: usize) -> Result<()> {
        // Absent before the first build; whatever else stays is caught by the count below.
        let _ = self.cli().args(["rmi", "-f", TAG]).output();
        check(self.cli().args(["image", "prune", "-f"]))?;
        let left = self.image_count()?;
        if left != expected {
            bail!(
                "{}: {left} images left after removing the build's, {expected} expected: the next build would not be cold",
                self.name()
            );
        }
        Ok(())
    }

    /// How many images `images -aq` lists (intermediate ones included).
    pub fn image_count(&self) -> Result<usize> {
        let out = self.cli().args(["images", "-aq"]).output()?;
        if !out.status.success() {
            bail!(
                "{}: images -aq failed: {}",
                self.name(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().count())
    }
}

//! Podman as a contender: daemonless, with its storage, run and temp roots in the bench's
//! scratch dir, so it neither sees nor touches the host's images.

use std::path::PathBuf;
use std::process::Command;

/// The podman binary and the dir its roots live in.
pub struct Podman {
    pub binary: PathBuf,
    pub dir: PathBuf,
}

impl Podman {
    /// `podman` with the roots under `dir`, overlay storage, no event log, cgroupfs.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--storage-driver", "overlay", "--events-backend", "none"])
            .args(["--cgroup-manager", "cgroupfs"]);
        c
    }
}

//! `--init`: a small reaper as the container's PID 1 that runs the command, forwards signals
//! and collects orphaned zombies. As Docker does, that is tini (Debian's static build), bound
//! read-only at `/sbin/docker-init`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where the init appears inside the container.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// Statically linked candidates: the container's root has none of the host's libraries.
const CANDIDATES: &[&str] = &[
    "/usr/bin/tini-static",
    "/usr/bin/docker-init",
    "/usr/libexec/docker/docker-init",
];

/// The host binary to bind as the init; a clear error when none is installed.
pub fn binary() -> Result<PathBuf> {
    CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "--init: no static init binary found (looked for {}); install Debian's tini package",
                CANDIDATES.join(", ")
            ))
        })
}

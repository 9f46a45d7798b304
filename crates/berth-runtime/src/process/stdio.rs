//! The container's standard streams when the caller hands them over explicitly (an engine's
//! monitor passes pipes) instead of letting the container inherit the runtime's own.

use std::os::fd::{AsFd, OwnedFd};

use crate::error::{Result, SysContext};

/// Descriptors that become the container process's 0, 1 and 2.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl Stdio {
    /// In the child: installs the descriptors as 0, 1 and 2 (dup2 clears close-on-exec).
    pub fn install(self) -> Result<()> {
        nix::unistd::dup2_stdin(self.stdin.as_fd())
            .and_then(|()| nix::unistd::dup2_stdout(self.stdout.as_fd()))
            .and_then(|()| nix::unistd::dup2_stderr(self.stderr.as_fd()))
            .sys(|| "install the container's stdio".into())
    }
}

//! One error type for the runtime; every variant names what was wrong so the CLI can print it
//! as is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed; `context` says what was being done.
    #[error("{context}: {errno}")]
    Sys {
        context: String,
        errno: nix::errno::Errno,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The bundle's config.json asks for something invalid or unsupported.
    #[error("invalid config: {0}")]
    InvalidSpec(String),
    #[error("bundle {path}: {reason}")]
    Bundle { path: PathBuf, reason: String },
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    #[error("container \"{0}\" already exists")]
    Exists(String),
    #[error("invalid container id \"{0}\": use letters, digits, '_', '-', '.' (no leading '.')")]
    InvalidId(String),
    #[error("container \"{id}\" is {status}: {operation} needs it {expected}")]
    BadState {
        id: String,
        status: String,
        operation: &'static str,
        expected: &'static str,
    },
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("hook {path}: {reason}")]
    Hook { path: PathBuf, reason: String },
    /// The program to run does not exist (Docker maps this to exit code 127).
    #[error("{0}")]
    ExecNotFound(String),
    /// The program exists but cannot be executed (exit code 126).
    #[error("{0}")]
    ExecDenied(String),
    /// An error the container's init process reported before the user's program ran.
    #[error("container init: {0}")]
    Init(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds "what was being done" to a failed system call.
pub trait SysContext<T> {
    fn sys(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|errno| Error::Sys {
            context: context(),
            errno,
        })
    }
}

/// Adds "what was being done" to a failed I/O call.
pub trait IoContext<T> {
    fn io(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}

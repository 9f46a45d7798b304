use std::path::PathBuf;

/// Errors from cgroup operations; each names the file or controller involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cgroup controller {0} is not available on this host")]
    ControllerMissing(String),
    #[error("invalid cgroup value for {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("cgroup: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

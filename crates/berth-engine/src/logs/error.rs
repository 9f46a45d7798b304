//! The log driver's error type.

use std::io;
use std::path::PathBuf;

/// Errors of the json-file log driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a log file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line of a log file is not a valid entry. Readers skip such lines (with a warning)
    /// rather than returning this error; it names the place for the warning.
    #[error("corrupt log entry in {}{}: {reason}", path.display(), place(*line, *offset))]
    Corrupt {
        path: PathBuf,
        /// 1-based line number, when known (not when reading started from a `tail` position).
        line: Option<u64>,
        /// Byte offset of the line's start in the file.
        offset: u64,
        reason: String,
    },
    /// Invalid [`LogOptions`](super::LogOptions).
    #[error("invalid log options: {0}")]
    InvalidOptions(String),
    /// A multiplexed stream frame header is invalid.
    #[error("invalid stream frame: {0}")]
    Frame(String),
    /// The daemon reported an error inside a multiplexed stream (stream type 3).
    #[error("error from daemon: {0}")]
    Daemon(String),
}

fn place(line: Option<u64>, offset: u64) -> String {
    match line {
        Some(line) => format!(" line {line} (byte {offset})"),
        None => format!(" at byte {offset}"),
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the log driver.
pub type Result<T, E = Error> = std::result::Result<T, E>;

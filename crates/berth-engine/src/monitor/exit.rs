//! The record of how a container ended, written atomically: the engine reads it after a restart to
//! show `State.ExitCode`, `State.OOMKilled` and `State.FinishedAt`.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Result, io};
use crate::logs::format_timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// The shell-style code: the program's status, or 128 + the signal that killed it.
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC 3339 UTC with nanoseconds, as Docker shows it.
    pub finished_at: String,
}

impl ExitRecord {
    pub fn now(exit_code: i32, oom_killed: bool) -> ExitRecord {
        ExitRecord {
            exit_code,
            oom_killed,
            finished_at: format_timestamp(SystemTime::now()),
        }
    }

    /// Write, rename: a daemon that reads it sees the whole record or none. Not fsync'ed: an
    /// exit status describes a process, which a power loss ends anyway (the engine's state
    /// file follows the same rule), and two fsyncs would delay every exit.
    pub fn write(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(self).expect("record serializes");
        std::fs::write(&tmp, bytes).map_err(io(format!("write {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(io(format!("rename {}", tmp.display())))
    }

    pub fn read(path: &Path) -> Result<ExitRecord> {
        let bytes = std::fs::read(path).map_err(io(format!("read {}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            io(format!("parse {}", path.display()))(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e,
            ))
        })
    }
}

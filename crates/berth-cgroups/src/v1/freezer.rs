//! v1 freezer: freezer.state goes through FREEZING; re-writing the target state on each poll
//! nudges the kernel like runc does.

use std::path::Path;

use crate::FreezerState;
use crate::Result;
use crate::fs::{poll_until, read, write};

pub(super) fn set(dir: &Path, state: FreezerState) -> Result<()> {
    let file = dir.join("freezer.state");
    let reach = |want: &str| {
        poll_until(&format!("{} to read {want}", file.display()), || {
            write(&file, want)?;
            Ok(read(&file)? == want)
        })
    };
    match state {
        FreezerState::Thawed => reach("THAWED"),
        FreezerState::Frozen => reach("FROZEN").inspect_err(|_| {
            // Never leave a container half frozen.
            let _ = reach("THAWED");
        }),
    }
}

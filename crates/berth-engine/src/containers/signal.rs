//! Signals as Docker's API names them (`KILL`, `SIGKILL`, `9`), with Docker's error message.

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

pub fn parse(s: &str) -> Result<Signal> {
    berth_runtime::container::kill::parse_signal(s)
        .map_err(|_| Error::InvalidArgument(format!("Invalid signal: {s}")))
}

//! Health checks: the probe a container's `Healthcheck` describes runs as an exec every
//! interval while the container runs, and its results make `State.Health` as Docker keeps it.

mod config;
mod monitor;
mod output;

pub(crate) use config::{Probe, merge, validate};
pub(crate) use monitor::initial_health;

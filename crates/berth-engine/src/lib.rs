//! The container manager: what the daemon serves. Images (imported, tagged, removed),
//! containers (created from an image's config and Docker's `Config`/`HostConfig`, run under a
//! monitor that outlives the daemon), their logs and exit records.

pub mod api;
mod build;
mod containers;
pub mod detach;
mod engine;
mod error;
pub mod events;
pub mod heap;
mod images;
pub mod logs;
pub mod monitor;
mod networks;
mod volumes;

pub use api::*;
pub use containers::{PathStat, TarStream};
pub use engine::{API_VERSION, Engine, MIN_API_VERSION};
pub use error::{Error, Result};
pub use images::{DiskUsage, SavePlan};

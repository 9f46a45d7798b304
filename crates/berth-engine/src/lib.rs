//! The container manager: what the daemon serves. Images (imported, tagged, removed),
//! containers (created from an image's config and Docker's `Config`/`HostConfig`, run under a
//! monitor that outlives the daemon), their logs and exit records.

pub mod api;
mod engine;
mod error;
pub mod logs;
pub mod monitor;

pub use api::*;
pub use engine::Engine;
pub use error::{Error, Result};

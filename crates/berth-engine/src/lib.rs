//! The container manager. Today: the json-file log driver and the per-container monitor that
//! writes it; containers, images, networks and volumes services follow.

pub mod logs;
pub mod monitor;

//! The berth OCI runtime: turns a bundle (config.json + root filesystem) into an isolated process.
//!
//! The lifecycle verbs live in [`container`], one file each; the process chain (clone, the
//! container's init, exec) in [`process`]; what the init does to its view of the world in
//! [`rootfs`], [`namespaces`] and [`security`]. Cgroups are a crate of their own
//! (`berth-cgroups`).

pub mod channel;
pub mod container;
pub mod error;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;

pub use error::{Error, Result};

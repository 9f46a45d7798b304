//! The Docker Engine API server: HTTP in, engine calls out, nothing of its own in between.
//!
//! [`serve`] listens on unix sockets and TCP (optionally TLS), strips the `/v1.NN` prefix
//! ([`version`]), routes Docker's paths to the [`berth_engine::Engine`] and answers errors as
//! Docker's `{"message": "..."}` JSON.

mod app;
pub mod error;
pub mod hijack;
pub mod query;
mod routes;
mod server;
pub mod version;

#[cfg(test)]
mod testutil;

pub use error::{ApiError, Error};
pub use routes::build::CONTEXT_DIR_HEADER;
pub use server::{Listener, LocalPeer, TlsConfig, serve};
pub use version::{API_VERSION, MIN_API_VERSION};

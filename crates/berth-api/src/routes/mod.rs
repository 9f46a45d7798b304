//! The router: Docker's paths, each to a handler that calls the engine.

mod auth;
pub(crate) mod build;
mod containers;
mod events;
mod exec;
mod files;
mod image_archive;
mod images;
mod manage;
mod networks;
mod stats;
mod system;
mod volumes;

use std::sync::Arc;

use axum::Router;
use berth_engine::Engine;
use serde::de::DeserializeOwned;

use crate::app::panic_message;
use crate::error::ApiError;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(auth::routes())
        .merge(images::routes())
        .merge(build::routes())
        .merge(containers::routes())
        .merge(volumes::routes())
        .merge(files::routes())
        .merge(networks::routes())
        .merge(exec::routes())
        .merge(events::routes())
        .merge(manage::routes())
        .merge(stats::routes())
        .fallback(|| async { ApiError::page_not_found() })
        .with_state(engine)
}

/// A JSON request body, or a 400 saying what is wrong with it.
pub(crate) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid JSON: got EOF while reading request body",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// A blocking task's failure as a 500.
pub(crate) fn join_error(e: tokio::task::JoinError) -> ApiError {
    if e.is_panic() {
        let panic = e.into_panic();
        ApiError::internal(format!("internal error: {}", panic_message(&*panic)))
    } else {
        ApiError::internal(format!("internal error: {e}"))
    }
}

//! `/_ping`, `/version`, `/info`, `/system/df`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use berth_engine::Engine;
use bollard_stubs::models::{SystemInfo, SystemVersion};

use crate::version::API_VERSION;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
}

async fn ping() -> impl IntoResponse {
    (
        [
            ("Api-Version", API_VERSION),
            ("Ostype", "linux"),
            ("Docker-Experimental", "false"),
            ("Builder-Version", "1"),
            (
                header::CACHE_CONTROL.as_str(),
                "no-cache, no-store, must-revalidate",
            ),
            (header::PRAGMA.as_str(), "no-cache"),
            (header::CONTENT_TYPE.as_str(), "text/plain; charset=utf-8"),
        ],
        "OK",
    )
}

async fn version(State(engine): State<Arc<Engine>>) -> Json<SystemVersion> {
    Json(engine.version())
}

async fn info(State(engine): State<Arc<Engine>>) -> Json<SystemInfo> {
    Json(engine.info())
}

/// `GET /system/df`: sizing walks the layers, so it runs on a blocking thread.
async fn df(
    State(engine): State<Arc<Engine>>,
) -> crate::error::ApiResult<axum::response::Response> {
    let usage = tokio::task::spawn_blocking(move || engine.disk_usage())
        .await
        .map_err(super::join_error)??;
    Ok(Json(usage).into_response())
}

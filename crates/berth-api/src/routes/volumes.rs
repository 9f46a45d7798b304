//! `/volumes`: create, list, inspect, remove, prune. The engine's volume calls touch the disk
//! (fsync), so they run on blocking threads.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use berth_engine::Engine;
use bollard_stubs::models::VolumeCreateRequest;

use super::{join_error, json_body};
use crate::error::ApiResult;
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect))
        .route("/volumes/{name}", delete(remove))
}

type Eng = State<Arc<Engine>>;

/// Runs a blocking engine call and answers its value as JSON with `status`.
async fn blocking<T: serde::Serialize + Send + 'static>(
    status: StatusCode,
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<Response> {
    let value = tokio::task::spawn_blocking(f).await.map_err(join_error)??;
    Ok((status, Json(value)).into_response())
}

async fn create(State(engine): Eng, body: Bytes) -> ApiResult<Response> {
    let req: VolumeCreateRequest = json_body(&body)?;
    blocking(StatusCode::CREATED, move || engine.create_volume(req)).await
}

async fn list(State(engine): Eng, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    blocking(StatusCode::OK, move || engine.list_volumes(&filters)).await
}

async fn inspect(State(engine): Eng, Path(name): Path<String>) -> ApiResult<Response> {
    blocking(StatusCode::OK, move || engine.inspect_volume(&name)).await
}

async fn remove(
    State(engine): Eng,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let force = params.bool("force");
    tokio::task::spawn_blocking(move || engine.remove_volume(&name, force))
        .await
        .map_err(join_error)??;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(engine): Eng, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    blocking(StatusCode::OK, move || engine.prune_volumes(&filters)).await
}

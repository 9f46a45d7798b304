//! `/networks`: list, inspect, create, remove, prune, connect, disconnect. The calls that
//! change networks run on blocking threads (the engine speaks netlink and runs nft).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use berth_engine::Engine;
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};

use super::{join_error, json_body};
use crate::error::ApiResult;
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect))
        .route("/networks/{id}", delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

type Eng = State<Arc<Engine>>;

/// Runs a blocking engine call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_error)??)
}

async fn list(State(engine): Eng, params: Params) -> ApiResult<Response> {
    Ok(Json(engine.list_networks(&params.filters()?)?).into_response())
}

async fn inspect(State(engine): Eng, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(engine.inspect_network(&id)?).into_response())
}

async fn create(State(engine): Eng, body: Bytes) -> ApiResult<Response> {
    let req: NetworkCreateRequest = json_body(&body)?;
    let created = blocking(move || engine.create_network(req)).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn remove(State(engine): Eng, Path(id): Path<String>) -> ApiResult<StatusCode> {
    blocking(move || engine.remove_network(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(engine): Eng, params: Params) -> ApiResult<Response> {
    let filters = params.filters()?;
    Ok(Json(blocking(move || engine.prune_networks(&filters)).await?).into_response())
}

async fn connect(State(engine): Eng, Path(id): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    let req: NetworkConnectRequest = json_body(&body)?;
    blocking(move || engine.connect_network(&id, req)).await?;
    Ok(StatusCode::OK)
}

async fn disconnect(
    State(engine): Eng,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: NetworkDisconnectRequest = json_body(&body)?;
    blocking(move || engine.disconnect_network(&id, req)).await?;
    Ok(StatusCode::OK)
}

//! `/containers/{id}/top`, `/pause`, `/unpause`, `/rename`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_engine::Engine;

use super::containers::container;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
}

type Eng = State<Arc<Engine>>;

async fn top(State(engine): Eng, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let top = engine
        .top_container(container(&id), params.non_empty("ps_args"))
        .await?;
    Ok(Json(top).into_response())
}

async fn pause(State(engine): Eng, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.pause_container(container(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(engine): Eng, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.unpause_container(container(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rename(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let name = params
        .get("name")
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    engine.rename_container(container(&id), name)?;
    Ok(StatusCode::NO_CONTENT)
}

//! `docker exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked unless
//! detached), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_engine::{Engine, ExecStartOptions, ExecStarted};
use bollard_stubs::models::{ExecConfig, ExecStartConfig};

use super::containers::{container, terminal_size};
use super::json_body;
use crate::error::{ApiError, ApiResult};
use crate::hijack;
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

type Eng = State<Arc<Engine>>;

async fn create(State(engine): Eng, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let config = exec_config(&body)?;
    let exec_id = engine.create_exec(container(&id), config)?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": exec_id })),
    )
        .into_response())
}

/// The exec's config; keys in any case, as Docker's JSON decoder takes them (docker-py sends
/// `detachKeys`).
fn exec_config(body: &[u8]) -> ApiResult<ExecConfig> {
    const FIELDS: [&str; 11] = [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "ConsoleSize",
        "DetachKeys",
        "Tty",
        "Env",
        "Cmd",
        "Privileged",
        "User",
        "WorkingDir",
    ];
    let mut value: serde_json::Value = json_body(body)?;
    if let Some(object) = value.as_object_mut() {
        for field in FIELDS {
            let other = object
                .keys()
                .find(|k| k.as_str() != field && k.eq_ignore_ascii_case(field))
                .cloned();
            if let Some(other) = other
                && let Some(v) = object.remove(&other)
            {
                object.entry(field).or_insert(v);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

async fn start(State(engine): Eng, Path(id): Path<String>, req: Request) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(format!("read the request body: {e}")))?;
    // docker-py sends an empty body for a plain start.
    let config: ExecStartConfig = if bytes.iter().all(u8::is_ascii_whitespace) {
        ExecStartConfig::default()
    } else {
        json_body(&bytes)?
    };
    let opts = ExecStartOptions {
        detach: config.detach.unwrap_or(false),
        console_size: config.console_size,
    };
    match engine.start_exec(&id, opts).await? {
        ExecStarted::Detached => Ok(StatusCode::OK.into_response()),
        ExecStarted::Attached { stream, launch } => Ok(hijack::attach_response_then(
            Request::from_parts(parts, axum::body::Body::empty()),
            stream,
            Some(launch),
        )),
    }
}

async fn inspect(State(engine): Eng, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(engine.inspect_exec(&id)?).into_response())
}

async fn resize(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let (height, width) = terminal_size(&params)?;
    engine.resize_exec(&id, height, width).await?;
    Ok(StatusCode::OK)
}

//! A container's files: `/containers/{id}/archive` (HEAD stat, GET copy out, PUT copy in),
//! `/changes` and `/export`. The engine's file work is blocking; tar streams are read on
//! blocking threads and sent as the body chunk by chunk.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_engine::{Engine, TarStream};

use super::images::BodyReader;
use super::join_error;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route(
            "/containers/{id}/archive",
            get(archive).head(stat).put(extract),
        )
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
}

type Eng = State<Arc<Engine>>;

const STAT_HEADER: &str = "x-docker-container-path-stat";

fn container(id: &str) -> String {
    id.strip_prefix('/').unwrap_or(id).to_string()
}

fn path_param(params: &Params) -> ApiResult<String> {
    params
        .non_empty("path")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("bad parameter: path cannot be empty"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f).await.map_err(join_error)??)
}

fn stat_header(value: String) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&value).map_err(|e| ApiError::internal(e.to_string()))
}

async fn stat(State(engine): Eng, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let st = blocking(move || engine.container_path_stat(&container(&id), &path)).await?;
    Ok((
        [(STAT_HEADER, stat_header(st.header_value())?)],
        StatusCode::OK,
    )
        .into_response())
}

async fn archive(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let path = path_param(&params)?;
    let (st, tar) = blocking(move || engine.container_archive(&container(&id), &path)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (
                header::HeaderName::from_static(STAT_HEADER),
                stat_header(st.header_value())?,
            ),
        ],
        stream_body(tar),
    )
        .into_response())
}

async fn extract(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
    req: Request,
) -> ApiResult<StatusCode> {
    let path = path_param(&params)?;
    let no_overwrite = params.bool("noOverwriteDirNonDir");
    let copy_ids = params.bool("copyUIDGID");
    let mut body = BodyReader::new(req);
    blocking(move || {
        engine.extract_to_container(&container(&id), &path, &mut body, no_overwrite, copy_ids)
    })
    .await?;
    Ok(StatusCode::OK)
}

async fn changes(State(engine): Eng, Path(id): Path<String>) -> ApiResult<Response> {
    let list = blocking(move || engine.container_changes(&container(&id))).await?;
    Ok(Json(list).into_response())
}

async fn export(State(engine): Eng, Path(id): Path<String>) -> ApiResult<Response> {
    let tar = blocking(move || engine.export_container(&container(&id))).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        stream_body(tar),
    )
        .into_response())
}

/// The tar read on a blocking thread, 64 KiB at a time, into the response body.
fn stream_body(mut tar: TarStream) -> Body {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match tar.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

//! `GET /containers/{id}/stats?stream=&one-shot=`: Docker's StatsResponse, one JSON document
//! per line, streamed unless `stream=false`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_engine::Engine;

use super::containers::container;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/containers/{id}/stats", get(stats))
}

async fn stats(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let stream = params.bool_or("stream", true);
    let one_shot = params.bool("one-shot");
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let rx = engine
        .container_stats(container(&id), stream, one_shot)
        .await?;
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let message = rx.recv().await?;
        let mut line = serde_json::to_vec(&message).unwrap_or_default();
        line.push(b'\n');
        Some((Ok::<_, std::io::Error>(Bytes::from(line)), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response())
}

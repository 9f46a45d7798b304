//! `/images/...`: import, list, inspect, tag, remove.
//!
//! Pulling (`POST /images/create?fromImage=`) streams Docker's JSON progress lines.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_engine::{Engine, ImageListOptions, ImportRequest, PullRequest};
use bytes::{Buf, Bytes};
use futures_util::StreamExt;

use super::join_error;
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/images/create", post(create))
        .route("/images/json", get(list))
        .route(
            "/images/{*rest}",
            get(get_image).post(post_image).delete(delete_image),
        )
}

type Eng = State<Arc<Engine>>;

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage=` would pull.
async fn create(State(engine): Eng, params: Params, req: Request) -> ApiResult<Response> {
    if let Some(image) = params.non_empty("fromImage") {
        let image = match params.non_empty("tag") {
            Some(tag) if !image.contains('@') => format!("{image}:{tag}"),
            _ => image.to_owned(),
        };
        let auth = req
            .headers()
            .get("x-registry-auth")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let pull = PullRequest {
            image,
            platform: params.non_empty("platform").map(str::to_owned),
            auth,
        };
        return pull_stream(engine, pull).await;
    }
    match params.non_empty("fromSrc") {
        Some("-") => {}
        Some(src) => {
            return Err(ApiError::bad_request(format!(
                "importing from {src:?} is not supported: send the tarball as the body with fromSrc=-"
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "either fromSrc or fromImage must be given",
            ));
        }
    }
    let import = ImportRequest {
        repo: params.non_empty("repo").map(str::to_owned),
        tag: params.non_empty("tag").map(str::to_owned),
        changes: params
            .get_all("changes")
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect(),
        message: params.non_empty("message").map(str::to_owned),
        platform: params.non_empty("platform").map(str::to_owned),
    };
    let mut reader = BodyReader::new(req);
    let id = tokio::task::spawn_blocking(move || engine.import_image(&mut reader, import))
        .await
        .map_err(join_error)??;
    let line = format!("{}\r\n", serde_json::json!({ "status": id }));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(line),
    )
        .into_response())
}

/// Docker's pull: a stream of JSON progress lines; an error before the first line is a plain
/// error status (404 for an image that cannot be had), one after it an `errorDetail` line.
async fn pull_stream(engine: Arc<Engine>, pull: PullRequest) -> ApiResult<Response> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let lines = tx.clone();
    let mut task = tokio::task::spawn_blocking(move || {
        engine.pull_image(&pull, &move |v| {
            let _ = lines.send(Bytes::from(format!("{v}\r\n")));
        })
    });
    let first = tokio::select! {
        line = rx.recv() => line,
        done = &mut task => {
            done.map_err(join_error)??;
            rx.recv().await
        }
    };
    tokio::spawn(async move {
        if let Ok(Err(e)) = task.await {
            let msg = e.to_string();
            let line = serde_json::json!({"errorDetail": {"message": msg}, "error": msg});
            let _ = tx.send(Bytes::from(format!("{line}\r\n")));
        }
    });
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let body = futures_util::stream::iter(first.map(Ok)).chain(rest);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// A request body read, blocking, from a blocking task: one chunk at a time, never all of it.
pub(crate) struct BodyReader {
    body: BodyDataStream,
    current: Bytes,
    runtime: tokio::runtime::Handle,
}

impl BodyReader {
    /// Must be made inside the runtime (it keeps its handle).
    pub(crate) fn new(req: Request) -> BodyReader {
        BodyReader {
            body: req.into_body().into_data_stream(),
            current: Bytes::new(),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.runtime.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

async fn list(State(engine): Eng, params: Params) -> ApiResult<Response> {
    let opts = ImageListOptions {
        all: params.bool("all"),
        filters: params.filters()?,
    };
    Ok(Json(engine.list_images(opts)?).into_response())
}

/// Splits `localhost:5000/a/b:tag/json` into the image name and the operation.
fn split_op(rest: &str) -> (&str, &str) {
    let rest = rest.trim_start_matches('/');
    match rest.rsplit_once('/') {
        Some((name, op)) => (name, op),
        None => ("", rest),
    }
}

async fn get_image(State(engine): Eng, Path(rest): Path<String>) -> ApiResult<Response> {
    match split_op(&rest) {
        (name, "json") if !name.is_empty() => Ok(Json(engine.inspect_image(name)?).into_response()),
        _ => Err(ApiError::page_not_found()),
    }
}

async fn post_image(
    State(engine): Eng,
    Path(rest): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    match split_op(&rest) {
        (name, "tag") if !name.is_empty() => {
            let repo = params
                .non_empty("repo")
                .ok_or_else(|| ApiError::bad_request("repo is required"))?;
            engine.tag_image(name, repo, params.non_empty("tag"))?;
            Ok(StatusCode::CREATED.into_response())
        }
        (name, "push") if !name.is_empty() => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "pushing images is not supported yet by berth",
        )),
        _ => Err(ApiError::page_not_found()),
    }
}

async fn delete_image(
    State(engine): Eng,
    Path(rest): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let name = rest.trim_start_matches('/');
    if name.is_empty() {
        return Err(ApiError::page_not_found());
    }
    let deleted = engine.remove_image(name, params.bool("force"), params.bool("noprune"))?;
    Ok(Json(deleted).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_with_slashes_and_colons() {
        assert_eq!(
            split_op("localhost:5000/a/b:tag/json"),
            ("localhost:5000/a/b:tag", "json")
        );
        assert_eq!(split_op("/busybox/tag"), ("busybox", "tag"));
        assert_eq!(split_op("sha256:abcd/json"), ("sha256:abcd", "json"));
        assert_eq!(split_op("json"), ("", "json"));
    }
}

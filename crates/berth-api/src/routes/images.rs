//! `/images/...`: import, list, inspect, tag, remove; save, load, history and prune are in
//! `image_archive`.
//!
//! Pulling (`POST /images/create?fromImage=`) and pushing (`POST /images/{name}/push`) stream
//! Docker's JSON progress lines.

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_engine::{
    CommitRequest, Engine, ImageListOptions, ImportRequest, PullRequest, PushRequest,
};
use bytes::{Buf, Bytes};
use futures_util::StreamExt;

use super::{image_archive, join_error, json_body};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/images/create", post(create))
        .route("/commit", post(commit))
        .route("/images/json", get(list))
        .route("/images/get", get(image_archive::save_many))
        .route("/images/load", post(image_archive::load))
        .route("/images/prune", post(image_archive::prune))
        .route(
            "/images/{*rest}",
            get(get_image).post(post_image).delete(delete_image),
        )
}

type Eng = State<Arc<Engine>>;

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`: 201 with the new
/// image's id. A config in the body (Docker's override of the container's) is refused.
async fn commit(State(engine): Eng, params: Params, body: Bytes) -> ApiResult<Response> {
    let container = params
        .non_empty("container")
        .ok_or_else(|| ApiError::bad_request("the container query parameter is required"))?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let config: serde_json::Value = json_body(&body)?;
        let empty = match &config {
            serde_json::Value::Null => true,
            serde_json::Value::Object(m) => m.values().all(serde_json::Value::is_null),
            _ => false,
        };
        if !empty {
            return Err(ApiError::bad_request(
                "a container config in the commit body is not supported by berth yet: use changes",
            ));
        }
    }
    let req = CommitRequest {
        container: container.to_owned(),
        repo: params.non_empty("repo").map(str::to_owned),
        tag: params.non_empty("tag").map(str::to_owned),
        comment: params.non_empty("comment").map(str::to_owned),
        author: params.non_empty("author").map(str::to_owned),
        changes: changes(&params),
        pause: params.bool_or("pause", true),
    };
    let id = engine.commit_container(req).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "Id": id }))).into_response())
}

/// The `changes` parameters (Dockerfile instructions) that say something.
fn changes(params: &Params) -> Vec<String> {
    params
        .get_all("changes")
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .collect()
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage=` would pull.
async fn create(State(engine): Eng, params: Params, req: Request) -> ApiResult<Response> {
    if let Some(image) = params.non_empty("fromImage") {
        let image = match params.non_empty("tag") {
            Some(tag) if !image.contains('@') => format!("{image}:{tag}"),
            _ => image.to_owned(),
        };
        let pull = PullRequest {
            image,
            platform: params.non_empty("platform").map(str::to_owned),
            auth: registry_auth(req.headers()),
        };
        return progress_stream(move |emit| engine.pull_image(&pull, emit)).await;
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
        changes: changes(&params),
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

/// The `X-Registry-Auth` header docker sends with pull and push.
fn registry_auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Docker's pull and push: a stream of JSON progress lines from `work` (run on a blocking
/// thread); an error before the first line is a plain error status (404 for an image that
/// cannot be had), one after it an `errorDetail` line.
pub(crate) async fn progress_stream<T: Send + 'static>(
    work: impl FnOnce(&(dyn Fn(serde_json::Value) + Sync)) -> berth_engine::Result<T> + Send + 'static,
) -> ApiResult<Response> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let lines = tx.clone();
    let mut task = tokio::task::spawn_blocking(move || {
        work(&move |v| {
            let _ = lines.send(Bytes::from(format!("{v}\r\n")));
        })
    });
    let error_line = |e: berth_engine::Error| {
        let msg = e.to_string();
        let line = serde_json::json!({"errorDetail": {"message": msg}, "error": msg});
        Bytes::from(format!("{line}\r\n"))
    };
    enum Start<T> {
        Running(Option<Bytes>),
        Finished(berth_engine::Result<T>),
    }
    let start = tokio::select! {
        line = rx.recv() => Start::Running(line),
        done = &mut task => Start::Finished(done.map_err(join_error)?),
    };
    let first = match start {
        // Still working: its error, if any, ends the stream. (A finished JoinHandle must not
        // be awaited again: that panics, which aborts a release daemon.)
        Start::Running(line) => {
            tokio::spawn(async move {
                if let Ok(Err(e)) = task.await {
                    let _ = tx.send(error_line(e));
                }
            });
            line
        }
        // Already done: what it sent, then its error if it failed after sending something.
        Start::Finished(result) => {
            let first = rx.try_recv().ok();
            match (result, first) {
                (Err(e), None) => return Err(e.into()),
                (Err(e), Some(line)) => {
                    let _ = tx.send(error_line(e));
                    Some(line)
                }
                (Ok(_), first) => first,
            }
        }
    };
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

async fn get_image(
    State(engine): Eng,
    Path(rest): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    match split_op(&rest) {
        (name, "json") if !name.is_empty() => Ok(Json(engine.inspect_image(name)?).into_response()),
        (name, "history") if !name.is_empty() => {
            Ok(Json(engine.image_history(name)?).into_response())
        }
        (name, "get") if !name.is_empty() => {
            image_archive::refuse_platform(&params)?;
            image_archive::save(engine, vec![name.to_owned()]).await
        }
        _ => Err(ApiError::page_not_found()),
    }
}

async fn post_image(
    State(engine): Eng,
    Path(rest): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match split_op(&rest) {
        (name, "tag") if !name.is_empty() => {
            let repo = params
                .non_empty("repo")
                .ok_or_else(|| ApiError::bad_request("repo is required"))?;
            engine.tag_image(name, repo, params.non_empty("tag"))?;
            Ok(StatusCode::CREATED.into_response())
        }
        (name, "push") if !name.is_empty() => {
            let push = PushRequest {
                name: name.to_owned(),
                tag: params.non_empty("tag").map(str::to_owned),
                auth: registry_auth(&headers),
            };
            progress_stream(move |emit| engine.push_image(&push, emit)).await
        }
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

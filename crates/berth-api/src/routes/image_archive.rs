//! `GET /images/get`, `GET /images/{name}/get` (save), `POST /images/load`,
//! `POST /images/prune`.

use std::io::Write;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::images::{BodyReader, progress_stream};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;

/// Bytes gathered before a chunk is handed to the response.
const CHUNK: usize = 128 * 1024;

/// `platform` (API 1.48+) picks one platform of a multi-platform image; berth stores one
/// platform per image, so a request for a particular one is refused rather than ignored.
pub(super) fn refuse_platform(params: &Params) -> ApiResult<()> {
    match params.non_empty("platform") {
        Some(p) => Err(ApiError::bad_request(format!(
            "choosing a platform ({p}) to save or load is not supported by berth: images hold one platform each"
        ))),
        None => Ok(()),
    }
}

/// `GET /images/get?names=a&names=b`.
pub(super) async fn save_many(
    State(engine): State<Arc<Engine>>,
    params: Params,
) -> ApiResult<Response> {
    refuse_platform(&params)?;
    let names: Vec<String> = params
        .get_all("names")
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "no image names given: use ?names=IMAGE",
        ));
    }
    save(engine, names).await
}

/// Streams the archive of `names`: unknown names are a 404 before any byte; a failure while
/// streaming aborts the body, so the client sees a broken transfer, never a short archive.
pub(super) async fn save(engine: Arc<Engine>, names: Vec<String>) -> ApiResult<Response> {
    let plan = engine.plan_save(&names)?;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let res = engine.save_images(&plan, &mut out).and_then(|()| {
            out.flush()
                .map_err(|e| berth_engine::Error::internal("save", e))
        });
        if let Err(e) = res {
            tracing::warn!("image save failed mid-stream: {e}");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(body),
    )
        .into_response())
}

/// A blocking writer feeding the response body in chunks, with back-pressure.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// `POST /images/load?quiet=`: the body is the archive.
pub(super) async fn load(
    State(engine): State<Arc<Engine>>,
    params: Params,
    req: Request,
) -> ApiResult<Response> {
    let quiet = params.bool("quiet");
    let mut reader = BodyReader::new(req);
    if let Err(e) = refuse_platform(&params) {
        // Read the upload to its end, so the client receives the answer, not a broken pipe.
        let _ =
            tokio::task::spawn_blocking(move || std::io::copy(&mut reader, &mut std::io::sink()))
                .await;
        return Err(e);
    }
    progress_stream(move |emit| engine.load_images(&mut reader, quiet, emit)).await
}

/// `POST /images/prune?filters=`.
pub(super) async fn prune(
    State(engine): State<Arc<Engine>>,
    params: Params,
) -> ApiResult<Response> {
    let filters = params.filters()?;
    let res = tokio::task::spawn_blocking(move || engine.prune_images(&filters))
        .await
        .map_err(super::join_error)??;
    Ok(Json(res).into_response())
}

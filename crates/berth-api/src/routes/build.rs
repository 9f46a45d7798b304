//! `POST /build` (Docker's classic builder: a tar context as the body, progress as Docker's
//! JSON stream) and `POST /build/prune`. Options berth's builder does not have are refused
//! by name, never ignored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use berth_engine::{BuildRequest, Engine};

use super::images::{BodyReader, progress_stream};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::server::LocalPeer;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
}

/// Query parameters that must keep their defaults: berth's builder has no such option.
const UNSUPPORTED: &[(&str, &[&str])] = &[
    ("memory", &["0"]),
    ("memswap", &["0"]),
    ("cpushares", &["0"]),
    ("cpusetcpus", &[]),
    ("cpusetmems", &[]),
    ("cpuperiod", &["0"]),
    ("cpuquota", &["0"]),
    ("shmsize", &["0"]),
    ("cgroupparent", &[]),
    ("isolation", &[]),
    ("extrahosts", &["[]", "null"]),
    ("cachefrom", &["[]", "null"]),
    ("ulimits", &["[]", "null"]),
    ("squash", &["0", "false"]),
    ("networkmode", &["default", "bridge"]),
    ("remote", &[]),
    ("outputs", &["[]", "null"]),
];

fn json_map<T: serde::de::DeserializeOwned + Default>(params: &Params, key: &str) -> ApiResult<T> {
    match params.non_empty(key) {
        None => Ok(T::default()),
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("invalid {key} {raw:?}: {e}"))),
    }
}

/// A local root client's shortcut: the context is this directory of the host, read in place,
/// and the body is empty. Only root on the daemon's unix socket may name one (the daemon reads
/// it as root); the berth CLI sends it when it can, other clients send the tar.
pub const CONTEXT_DIR_HEADER: &str = "X-Berth-Context-Dir";

fn context_dir(req: &Request) -> ApiResult<Option<PathBuf>> {
    let Some(value) = req.headers().get(CONTEXT_DIR_HEADER) else {
        return Ok(None);
    };
    if req
        .extensions()
        .get::<LocalPeer>()
        .is_none_or(|p| p.uid != 0)
    {
        return Err(ApiError::bad_request(format!(
            "{CONTEXT_DIR_HEADER} is taken only from root on the daemon's unix socket: send the context as a tar"
        )));
    }
    let dir = value
        .to_str()
        .map(PathBuf::from)
        .map_err(|_| ApiError::bad_request(format!("{CONTEXT_DIR_HEADER} is not text")))?;
    if !dir.is_absolute() || !dir.is_dir() {
        return Err(ApiError::bad_request(format!(
            "{CONTEXT_DIR_HEADER} {}: not an absolute path to a directory",
            dir.display()
        )));
    }
    Ok(Some(dir))
}

async fn build(
    State(engine): State<Arc<Engine>>,
    params: Params,
    req: Request,
) -> ApiResult<Response> {
    if params.non_empty("version") == Some("2") {
        return Err(ApiError::bad_request(
            "BuildKit (version=2) is not supported by berth: use the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    for (key, defaults) in UNSUPPORTED {
        if let Some(v) = params.non_empty(key)
            && !defaults.contains(&v)
        {
            return Err(ApiError::bad_request(format!(
                "the build option {key}={v} is not supported by berth yet"
            )));
        }
    }
    let build = BuildRequest {
        tags: params
            .get_all("t")
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect(),
        dockerfile: params.non_empty("dockerfile").map(str::to_owned),
        build_args: json_map::<HashMap<String, Option<String>>>(&params, "buildargs")?,
        target: params.non_empty("target").map(str::to_owned),
        labels: json_map::<HashMap<String, String>>(&params, "labels")?,
        no_cache: params.bool("nocache"),
        pull: params.bool("pull"),
        quiet: params.bool("q"),
        remove: params.bool_or("rm", true),
        force_remove: params.bool("forcerm"),
        platform: params.non_empty("platform").map(str::to_owned),
        context_dir: context_dir(&req)?,
    };
    let mut body = BodyReader::new(req);
    progress_stream(move |emit| {
        let res = engine.build_image(&mut body, build, emit);
        if res.is_err() {
            let _ = std::io::copy(&mut body, &mut std::io::sink());
        }
        res
    })
    .await
}

/// Forgets the build cache. Its entries name step images whose layers the built images share,
/// so no space is reclaimed here (`image prune` removes the images left dangling).
async fn prune(State(engine): State<Arc<Engine>>, params: Params) -> ApiResult<Response> {
    for key in [
        "filters",
        "keep-storage",
        "reserved-space",
        "max-used-space",
        "min-free-space",
    ] {
        if let Some(v) = params.non_empty(key)
            && v != "0"
            && v != "{}"
        {
            return Err(ApiError::bad_request(format!(
                "builder prune with {key}={v} is not supported by berth yet"
            )));
        }
    }
    let n = engine.prune_build_cache()?;
    let deleted: Vec<String> = (0..n).map(|i| format!("cache-entry-{i}")).collect();
    Ok(Json(serde_json::json!({ "CachesDeleted": deleted, "SpaceReclaimed": 0 })).into_response())
}

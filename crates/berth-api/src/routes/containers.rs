//! `/containers/...`: create, list, inspect, start, attach, wait, logs, kill, stop, restart,
//! remove, resize.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use berth_engine::{AttachOptions, ContainerListOptions, Engine, LogsOptions, WaitCondition};
use bollard_stubs::models::{ContainerCreateBody, ContainerWaitResponse};
use tokio::sync::oneshot;

use super::json_body;
use crate::error::{ApiError, ApiResult};
use crate::hijack;
use crate::query::Params;
use crate::version::Requested;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}", delete(remove))
}

type Eng = State<Arc<Engine>>;

/// A container reference from the path: an id or a name, with or without its leading `/`.
pub(crate) fn container(id: &str) -> &str {
    id.strip_prefix('/').unwrap_or(id)
}

async fn create(State(engine): Eng, params: Params, body: Bytes) -> ApiResult<Response> {
    let config: ContainerCreateBody = json_body(&body)?;
    let created = engine.create_container(params.non_empty("name"), config)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list(State(engine): Eng, params: Params) -> ApiResult<Response> {
    let limit = params.num::<i64>("limit")?;
    let opts = ContainerListOptions {
        all: params.bool("all"),
        limit: limit.filter(|&n| n > 0).map(|n| n as usize),
        size: params.bool("size"),
        filters: params.filters()?,
    };
    Ok(Json(engine.list_containers(opts)?).into_response())
}

async fn inspect(
    State(engine): Eng,
    Path(id): Path<String>,
    asked: Option<Extension<Requested>>,
) -> ApiResult<Response> {
    let info = engine.inspect_container(container(&id))?;
    let mut value = serde_json::to_value(info).map_err(|e| ApiError::internal(e.to_string()))?;
    legacy_network_fields(&mut value);
    if Requested::before(asked.map(|Extension(v)| v), (1, 45)) {
        legacy_aliases(&mut value);
    }
    Ok(Json(value).into_response())
}

/// Before API 1.45 the `Aliases` of an endpoint on a user-defined network also held the
/// short id and the hostname, which clients of that age look for there (since 1.44 they
/// are in `DNSNames`, which only such endpoints have).
fn legacy_aliases(inspect: &mut serde_json::Value) {
    let short_id = inspect["Id"].as_str().unwrap_or_default();
    let short_id = short_id[..12.min(short_id.len())].to_string();
    let hostname = inspect["Config"]["Hostname"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(networks) = inspect["NetworkSettings"]["Networks"].as_object_mut() else {
        return;
    };
    for ep in networks.values_mut() {
        if ep.get("DNSNames").is_none_or(|n| n.is_null()) {
            continue;
        }
        let mut aliases: Vec<serde_json::Value> =
            ep["Aliases"].as_array().cloned().unwrap_or_default();
        for name in [&short_id, &hostname] {
            if !name.is_empty() && !aliases.iter().any(|a| a == name.as_str()) {
                aliases.push(name.as_str().into());
            }
        }
        ep["Aliases"] = aliases.into();
    }
}

/// The top-level `NetworkSettings` fields API 1.50 still shows for the default bridge
/// (`IPAddress`, `Gateway`, `MacAddress`, ...), which the pinned models no longer have.
fn legacy_network_fields(inspect: &mut serde_json::Value) {
    let Some(ns) = inspect
        .get_mut("NetworkSettings")
        .and_then(|n| n.as_object_mut())
    else {
        return;
    };
    let bridge = ns
        .get("Networks")
        .and_then(|n| n.get("bridge"))
        .cloned()
        .unwrap_or_default();
    let field = |k: &str, empty: serde_json::Value| bridge.get(k).cloned().unwrap_or(empty);
    let s = || serde_json::Value::String(String::new());
    for (key, value) in [
        ("Bridge", s()),
        ("EndpointID", field("EndpointID", s())),
        ("Gateway", field("Gateway", s())),
        ("IPAddress", field("IPAddress", s())),
        ("IPPrefixLen", field("IPPrefixLen", 0.into())),
        ("MacAddress", field("MacAddress", s())),
        ("GlobalIPv6Address", s()),
        ("GlobalIPv6PrefixLen", 0.into()),
        ("IPv6Gateway", s()),
        ("HairpinMode", false.into()),
        ("LinkLocalIPv6Address", s()),
        ("LinkLocalIPv6PrefixLen", 0.into()),
    ] {
        ns.entry(key).or_insert(value);
    }
}

async fn start(State(engine): Eng, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.start_container(container(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn attach(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
    req: Request,
) -> ApiResult<Response> {
    let opts = AttachOptions {
        stdin: params.bool("stdin"),
        stdout: params.bool("stdout"),
        stderr: params.bool("stderr"),
        logs: params.bool("logs"),
        stream: params.bool("stream"),
    };
    let attached = engine.attach_container(container(&id), opts).await?;
    Ok(hijack::attach_response(req, attached))
}

/// The wait is registered before anything is answered, the headers go out at once (the docker
/// CLI starts the container only once they arrive), the body when the condition is met.
async fn wait(State(engine): Eng, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let raw = params.get("condition").unwrap_or("");
    let condition = WaitCondition::parse(raw)
        .ok_or_else(|| ApiError::bad_request(format!("invalid condition: {raw:?}")))?;
    let receiver = engine.wait_container(container(&id), condition)?;
    Ok(wait_response(receiver))
}

/// `200` with the headers now and `{"StatusCode":n,"Error":null}` when `receiver` yields; a
/// dropped receiver gives a body with an error (status code -1) instead.
pub(crate) fn wait_response(receiver: oneshot::Receiver<ContainerWaitResponse>) -> Response {
    let body = futures_util::stream::once(async move {
        let json = match receiver.await {
            Ok(r) => serde_json::json!({ "StatusCode": r.status_code, "Error": r.error }),
            Err(_) => {
                let message = "the wait was abandoned by the engine";
                serde_json::json!({
                    "StatusCode": -1,
                    "Error": { "Message": message },
                    "message": message,
                })
            }
        };
        Ok::<_, std::io::Error>(Bytes::from(format!("{json}\n")))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Docker's timestamps: unix seconds with an optional fraction; `0` or empty is unset.
pub(crate) fn parse_time(params: &Params, key: &str) -> ApiResult<Option<SystemTime>> {
    let Some(raw) = params.non_empty(key) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request(format!("invalid value for {key}: {raw:?}"));
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    if secs == 0 && nanos == 0 {
        return Ok(None);
    }
    Ok(Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)))
}

fn parse_tail(params: &Params) -> Option<usize> {
    // Docker reads anything but a non-negative number as "all".
    params
        .non_empty("tail")
        .and_then(|t| t.trim().parse::<usize>().ok())
}

async fn logs(State(engine): Eng, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let opts = LogsOptions {
        follow: params.bool("follow"),
        stdout: params.bool("stdout"),
        stderr: params.bool("stderr"),
        since: parse_time(&params, "since")?,
        until: parse_time(&params, "until")?,
        timestamps: params.bool("timestamps"),
        tail: parse_tail(&params),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let log = engine.container_logs(container(&id), opts)?;
    let chunks = futures_util::stream::unfold(log.chunks, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(Bytes::from(chunk)), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, hijack::stream_content_type(log.tty))],
        Body::from_stream(chunks),
    )
        .into_response())
}

async fn kill(State(engine): Eng, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    engine
        .kill_container(container(&id), params.non_empty("signal"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop(State(engine): Eng, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let timeout = params.num::<i64>("t")?;
    engine
        .stop_container(container(&id), params.non_empty("signal"), timeout)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let timeout = params.num::<i64>("t")?;
    engine
        .restart_container(container(&id), params.non_empty("signal"), timeout)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    engine
        .remove_container(container(&id), params.bool("force"), params.bool("v"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(State(engine): Eng, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body: bollard_stubs::models::ContainerUpdateBody = json_body(&body)?;
    Ok(Json(engine.update_container(container(&id), body).await?).into_response())
}

async fn resize(
    State(engine): Eng,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let (height, width) = terminal_size(&params)?;
    engine.resize_container_tty(container(&id), height, width)?;
    Ok(StatusCode::OK)
}

/// A resize's `h` and `w`, both required.
pub(crate) fn terminal_size(params: &Params) -> ApiResult<(u16, u16)> {
    let get = |key: &str| {
        params
            .num::<u16>(key)?
            .ok_or_else(|| ApiError::bad_request(format!("{key} is required")))
    };
    Ok((get("h")?, get("w")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> Params {
        Params(vec![(k.into(), v.into())])
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(&p("since", "0"), "since").unwrap(), None);
        assert_eq!(parse_time(&Params::default(), "since").unwrap(), None);
        assert_eq!(
            parse_time(&p("since", "1700000000.5"), "since").unwrap(),
            Some(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000))
        );
        assert_eq!(
            parse_time(&p("until", "12"), "until").unwrap(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(12))
        );
        assert!(parse_time(&p("since", "abc"), "since").is_err());
        assert!(parse_time(&p("since", "1.x"), "since").is_err());
    }

    #[test]
    fn tails() {
        assert_eq!(parse_tail(&p("tail", "all")), None);
        assert_eq!(parse_tail(&p("tail", "10")), Some(10));
        assert_eq!(parse_tail(&Params::default()), None);
    }

    #[test]
    fn names_with_a_slash() {
        assert_eq!(container("/web"), "web");
        assert_eq!(container("abc123"), "abc123");
    }

    async fn wait_over_http(
        send: impl FnOnce(oneshot::Sender<ContainerWaitResponse>),
    ) -> (String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (tx, rx) = oneshot::channel();
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
        let mut client = crate::testutil::connect(move |_req| {
            let rx = slot.lock().unwrap().take().unwrap();
            async move { wait_response(rx) }
        });
        client
            .write_all(b"POST /containers/x/wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        // The head arrives while the container is still "running".
        let head = crate::testutil::read_head(&mut client).await;
        send(tx);
        let mut body = Vec::new();
        client.read_to_end(&mut body).await.unwrap();
        (head, String::from_utf8(body).unwrap())
    }

    #[tokio::test]
    async fn wait_sends_headers_at_once_and_the_status_later() {
        let (head, body) = wait_over_http(|tx| {
            tx.send(ContainerWaitResponse {
                status_code: 3,
                error: None,
            })
            .unwrap()
        })
        .await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("application/json"), "{head}");
        assert!(body.contains(r#"{"Error":null,"StatusCode":3}"#), "{body}");
    }

    #[tokio::test]
    async fn wait_abandoned_gives_an_error_body() {
        let (head, body) = wait_over_http(drop).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(body.contains(r#""StatusCode":-1"#), "{body}");
        assert!(body.contains("abandoned"), "{body}");
    }
}

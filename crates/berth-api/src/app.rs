//! One request, start to end: the version prefix, the router, the headers every response
//! carries, and a 500 instead of a dead connection when a handler panics.

use std::any::Any;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use berth_engine::Engine;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::service::TowerToHyperService;

use crate::error::ApiError;
use crate::routes;
use crate::version::{self, API_VERSION};

/// `Server:` on every response.
pub const SERVER: &str = concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)");

/// The whole API as something a connection can call.
#[derive(Clone)]
pub struct App {
    router: TowerToHyperService<Router>,
}

impl App {
    pub fn new(engine: Arc<Engine>) -> App {
        App {
            router: TowerToHyperService::new(routes::router(engine)),
        }
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let mut response = match self.route(req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            // Docker answers a known path with the wrong method like an unknown one.
            response = ApiError::page_not_found().into_response();
        }
        let headers = response.headers_mut();
        headers.insert("Api-Version", HeaderValue::from_static(API_VERSION));
        headers.insert(axum::http::header::SERVER, HeaderValue::from_static(SERVER));
        tracing::debug!("{method} {uri} -> {}", response.status().as_u16());
        Ok(response)
    }

    async fn route(&self, mut req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
        let (asked, path) = version::strip_prefix(req.uri().path())?;
        let asked = asked.and_then(version::Requested::parse);
        if path.len() != req.uri().path().len() {
            let path_and_query = match req.uri().query() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(
                path_and_query
                    .parse()
                    .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))?,
            );
            *req.uri_mut() = Uri::from_parts(parts)
                .map_err(|e| ApiError::bad_request(format!("invalid path: {e}")))?;
        }
        if let Some(asked) = asked {
            req.extensions_mut().insert(asked);
        }
        let method = req.method().clone();
        let uri = req.uri().clone();
        match AssertUnwindSafe(self.router.call(req)).catch_unwind().await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(never)) => match never {},
            Err(panic) => {
                let message = panic_message(&*panic);
                tracing::error!("{method} {uri}: handler panicked: {message}");
                Err(ApiError::internal(format!("internal error: {message}")))
            }
        }
    }
}

/// The text of a panic's payload.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

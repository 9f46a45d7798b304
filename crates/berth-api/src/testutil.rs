//! A handler served over a real hyper HTTP/1 connection (with upgrades) on a socket pair,
//! for tests of what goes on the wire.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

/// The client end of a connection served by `handler`.
pub fn connect<F, Fut>(handler: F) -> UnixStream
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let (client, server) = UnixStream::pair().unwrap();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler(req.map(Body::new)).await) }
    });
    tokio::spawn(async move {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server), service)
            .with_upgrades()
            .await;
    });
    client
}

/// Reads a response head (up to the blank line), failing after two seconds.
pub async fn read_head(s: &mut UnixStream) -> String {
    let read = async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let b = s.read_u8().await.expect("connection closed in the head");
            head.push(b);
        }
        String::from_utf8(head).unwrap().to_ascii_lowercase()
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .expect("no response head within 2s")
}

//! Hijacked connections (`attach`): the HTTP connection becomes a raw byte pipe to the
//! container, both ways.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_engine::AttachStream;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Docker's content type for stdcopy frames (no TTY).
pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
/// Docker's content type for a TTY's raw bytes.
pub const RAW: &str = "application/vnd.docker.raw-stream";

pub fn stream_content_type(tty: bool) -> &'static str {
    if tty { RAW } else { MULTIPLEXED }
}

/// Whether the client asked to upgrade the connection (`Upgrade: tcp`).
pub fn wants_upgrade(req: &Request) -> bool {
    req.headers().contains_key(header::UPGRADE)
}

/// Answers an attach. With `Upgrade:` the answer is `101` and the connection is spliced to the
/// container once hyper hands it over; without, a `200` whose body is the container's output
/// (stdin stays open, unfed, until the output ends).
pub fn attach_response(req: Request, attached: AttachStream) -> Response {
    attach_response_then(req, attached, None)
}

/// [`attach_response`], with `launch` run once the connection is upgraded (at once without an
/// upgrade), alongside the splice: an exec's process starts only after the `101` is out.
pub fn attach_response_then(
    mut req: Request,
    attached: AttachStream,
    launch: Option<BoxFuture<'static, ()>>,
) -> Response {
    let content_type = HeaderValue::from_static(stream_content_type(attached.tty));
    if !wants_upgrade(&req) {
        if let Some(launch) = launch {
            tokio::spawn(launch);
        }
        let (read, write) = attached.stream.into_split();
        let body = Body::from_stream(reader_stream(read, Some(write)));
        return ([(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                if let Some(launch) = launch {
                    tokio::spawn(launch);
                }
                splice(TokioIo::new(upgraded), attached.stream).await
            }
            Err(e) => tracing::debug!("attach: upgrade failed: {e}"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("Upgrade")),
            (header::UPGRADE, HeaderValue::from_static("tcp")),
            (header::CONTENT_TYPE, content_type),
        ],
    )
        .into_response()
}

/// Copies both ways until the engine's side ends. The client's EOF shuts down the write half
/// toward the engine (the container's stdin EOF) and the output keeps flowing; the engine's
/// EOF flushes and closes the client.
pub async fn splice<C>(client: C, engine: tokio::net::UnixStream)
where
    C: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut engine_read, mut engine_write) = engine.into_split();
    let to_engine = async {
        if let Err(e) = tokio::io::copy(&mut client_read, &mut engine_write).await {
            tracing::debug!("attach: client to container: {e}");
        }
        let _ = engine_write.shutdown().await;
    };
    let to_client = async {
        if let Err(e) = tokio::io::copy(&mut engine_read, &mut client_write).await {
            tracing::debug!("attach: container to client: {e}");
        }
        let _ = client_write.flush().await;
        let _ = client_write.shutdown().await;
    };
    tokio::pin!(to_engine, to_client);
    let mut input_done = false;
    loop {
        tokio::select! {
            _ = &mut to_client => break,
            _ = &mut to_engine, if !input_done => input_done = true,
        }
    }
}

/// A reader as a body stream; `keep` is held (and dropped) with it.
pub fn reader_stream<R, K>(
    reader: R,
    keep: Option<K>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static
where
    R: AsyncRead + Send + Unpin + 'static,
    K: Send + 'static,
{
    futures_util::stream::unfold(
        (reader, keep, false),
        |(mut reader, keep, done)| async move {
            if done {
                return None;
            }
            let mut buf = BytesMut::with_capacity(16 * 1024);
            match reader.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(buf.freeze()), (reader, keep, false))),
                Err(e) => Some((Err(e), (reader, keep, true))),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splice_half_closes_toward_engine_and_closes_client_on_engine_eof() {
        let (client, client_peer) = tokio::io::duplex(1024);
        let (engine, mut engine_peer) = tokio::net::UnixStream::pair().unwrap();
        let task = tokio::spawn(splice(client_peer, engine));
        let (mut cr, mut cw) = tokio::io::split(client);
        cw.write_all(b"input").await.unwrap();
        cw.shutdown().await.unwrap();
        // The engine sees the input, then EOF (stdin closed)...
        let mut got = Vec::new();
        engine_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"input");
        // ...and can still answer.
        engine_peer.write_all(b"output").await.unwrap();
        drop(engine_peer);
        let mut out = Vec::new();
        cr.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"output");
        task.await.unwrap();
    }

    fn take_attach(slot: &std::sync::Arc<std::sync::Mutex<Option<AttachStream>>>) -> AttachStream {
        slot.lock().unwrap().take().expect("one request only")
    }

    #[tokio::test]
    async fn attach_with_upgrade_is_101_then_both_ways() {
        let (engine_side, mut engine_peer) = tokio::net::UnixStream::pair().unwrap();
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(AttachStream {
            tty: true,
            stream: engine_side,
        })));
        let mut client = crate::testutil::connect(move |req| {
            let attached = take_attach(&slot);
            async move { attach_response(req, attached) }
        });
        client
            .write_all(
                b"POST /containers/x/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\
                  Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            )
            .await
            .unwrap();
        let head = crate::testutil::read_head(&mut client).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: tcp"), "{head}");
        assert!(head.contains("connection: upgrade"), "{head}");
        assert!(head.contains(RAW), "{head}");

        client.write_all(b"stdin data").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        engine_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"stdin data");
        engine_peer.write_all(b"stdout data").await.unwrap();
        drop(engine_peer);
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"stdout data");
    }

    #[tokio::test]
    async fn attach_without_upgrade_streams_the_output_as_the_body() {
        let (engine_side, mut engine_peer) = tokio::net::UnixStream::pair().unwrap();
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(AttachStream {
            tty: false,
            stream: engine_side,
        })));
        let mut client = crate::testutil::connect(move |req| {
            let attached = take_attach(&slot);
            async move { attach_response(req, attached) }
        });
        client
            .write_all(b"POST /containers/x/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let head = crate::testutil::read_head(&mut client).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains(MULTIPLEXED), "{head}");
        engine_peer.write_all(b"frames").await.unwrap();
        drop(engine_peer);
        let mut rest = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.read_to_end(&mut rest),
        )
        .await
        .expect("the body did not end")
        .unwrap();
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.contains("frames"), "{rest}");
        assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
    }
}

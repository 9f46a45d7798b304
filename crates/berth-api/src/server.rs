//! Listeners and accept loops: unix sockets, plain TCP, TLS over TCP; each connection served
//! by hyper's HTTP/1 with upgrades, so hijacking works on all of them.

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_engine::Engine;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::error::Error;

/// Where to listen.
#[derive(Debug, Clone)]
pub enum Listener {
    Unix(PathBuf),
    Tcp {
        addr: std::net::SocketAddr,
        tls: Option<TlsConfig>,
    },
}

/// TLS for a TCP listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The CA that client certificates must chain to.
    pub ca: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require and verify client certificates (`--tlsverify`).
    pub verify_clients: bool,
}

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

enum Bound {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

/// Serves the API on every listener until `shutdown` completes; unix sockets are removed then.
/// Every listener is bound before any is served: a bad one fails the call.
pub async fn serve(
    engine: Arc<Engine>,
    listeners: Vec<Listener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let app = App::new(engine);
    let mut bound = Vec::new();
    for listener in listeners {
        match bind(listener).await {
            Ok(b) => bound.push(b),
            Err(e) => {
                for b in &bound {
                    if let Bound::Unix(_, path) = b {
                        let _ = std::fs::remove_file(path);
                    }
                }
                return Err(e);
            }
        }
    }
    let sockets: Vec<PathBuf> = bound
        .iter()
        .filter_map(|b| match b {
            Bound::Unix(_, path) => Some(path.clone()),
            Bound::Tcp(..) => None,
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = Vec::new();
    for b in bound {
        let app = app.clone();
        let stop = stop_rx.clone();
        loops.push(match b {
            Bound::Unix(l, path) => {
                tracing::info!("API listening on {}", path.display());
                tokio::spawn(accept_unix(l, app, stop))
            }
            Bound::Tcp(l, tls) => {
                if let Ok(addr) = l.local_addr() {
                    let tls_note = if tls.is_some() { " (TLS)" } else { "" };
                    tracing::info!("API listening on {addr}{tls_note}");
                }
                tokio::spawn(accept_tcp(l, tls, app, stop))
            }
        });
    }
    shutdown.await;
    tracing::info!("shutting down the API");
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    remove_sockets(&sockets);
    Ok(())
}

fn remove_sockets(paths: &[PathBuf]) {
    for path in paths {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("removing {}: {e}", path.display());
        }
    }
}

async fn bind(listener: Listener) -> Result<Bound, Error> {
    match listener {
        Listener::Unix(path) => bind_unix(&path).map(|l| Bound::Unix(l, path)),
        Listener::Tcp { addr, tls } => {
            let acceptor = tls.as_ref().map(tls_acceptor).transpose()?;
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| Error::io(format!("listen on {addr}"), e))?;
            Ok(Bound::Tcp(l, acceptor))
        }
    }
}

fn bind_unix(path: &Path) -> Result<UnixListener, Error> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(ctx("create the directory of"), e))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            // A stale socket from a daemon that did not clean up (the pidfile keeps two
            // daemons from sharing an exec root).
            std::fs::remove_file(path).map_err(|e| Error::io(ctx("remove stale socket"), e))?;
        }
        Ok(_) => {
            return Err(Error::io(
                ctx("listen on"),
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the path exists and is not a socket",
                ),
            ));
        }
        Err(_) => {}
    }
    let l = UnixListener::bind(path).map_err(|e| Error::io(ctx("listen on"), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Error::io(ctx("chmod"), e))?;
    Ok(l)
}

fn tls_acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, Error> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| Error::Tls(format!("reading {}: {e}", path.display())))
    };
    let certs_in = |path: &Path| -> Result<Vec<CertificateDer<'static>>, Error> {
        let pem = read(path)?;
        let certs = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::Tls(format!("{}: no certificate", path.display())));
        }
        Ok(certs)
    };
    let certs = certs_in(&cfg.cert)?;
    let key_pem = read(&cfg.key)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| Error::Tls(format!("{}: {e}", cfg.key.display())))?
        .ok_or_else(|| Error::Tls(format!("{}: no private key", cfg.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = if cfg.verify_clients {
        let ca = cfg.ca.as_ref().ok_or_else(|| {
            Error::Tls("verifying clients needs a CA certificate (--tlscacert)".into())
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for c in certs_in(ca)? {
            roots
                .add(c)
                .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Tls(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Waits out a failed `accept` (out of file descriptors, ...) instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!("accept: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn accept_unix(l: UnixListener, app: App, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = l.accept() => match accepted {
                Ok((stream, _)) => {
                    let peer = stream.peer_cred().ok().map(|c| LocalPeer { uid: c.uid() });
                    tokio::spawn(serve_connection(stream, app.clone(), peer));
                }
                Err(e) => accept_failed(e).await,
            },
        }
    }
}

async fn accept_tcp(
    l: TcpListener,
    tls: Option<TlsAcceptor>,
    app: App,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = l.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    match tls.clone() {
                        None => {
                            tokio::spawn(serve_connection(stream, app, None));
                        }
                        Some(acceptor) => {
                            tokio::spawn(async move {
                                match tokio::time::timeout(
                                    TLS_HANDSHAKE_TIMEOUT,
                                    acceptor.accept(stream),
                                )
                                .await
                                {
                                    Ok(Ok(stream)) => serve_connection(stream, app, None).await,
                                    Ok(Err(e)) => tracing::debug!("TLS handshake with {peer}: {e}"),
                                    Err(_) => tracing::debug!("TLS handshake with {peer}: timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => accept_failed(e).await,
            },
        }
    }
}

/// A client on the daemon's own unix socket, by the uid the kernel vouches for: set on every
/// request of such a connection, for what only a local client may ask (a context directory).
#[derive(Debug, Clone, Copy)]
pub struct LocalPeer {
    pub uid: u32,
}

async fn serve_connection<S>(stream: S, app: App, peer: Option<LocalPeer>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        if let Some(peer) = peer {
            req.extensions_mut().insert(peer);
        }
        let app = app.clone();
        async move { app.handle(req).await }
    });
    // A limit on reading a request head (no slowloris); it also closes keep-alive connections
    // idle that long, so it is generous.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!("connection: {e}");
    }
}

//! A small blocking client of the Docker Engine API. The HTTP/1.1 layer is hand-written on
//! purpose: no async runtime, nothing to initialise, so `berth run` starts in milliseconds.
//! One connection per request (`Connection: close` semantics are not needed: each request opens
//! its own socket, which on a unix socket costs microseconds).

pub mod conn;
pub mod host;
pub mod http;
pub mod spawn;
pub mod stdcopy;

use std::cell::RefCell;
use std::io::{self, BufReader, Read, Write};

use conn::Conn;
use host::Host;
use http::{BodyReader, Head};

/// The API version we speak.
pub const API_VERSION: &str = "1.50";

#[derive(Debug)]
pub enum Error {
    /// The daemon could not be reached.
    Connect {
        addr: String,
        err: io::Error,
    },
    /// The daemon answered with an error status.
    Api {
        status: u16,
        message: String,
    },
    Io(io::Error),
    /// Anything else, printed as is.
    Other(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect { addr, err } => write!(
                f,
                "Cannot connect to the berth daemon at {addr}. Is the daemon running? ({err})"
            ),
            Error::Api { message, .. } => write!(f, "Error response from daemon: {message}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Other(format!("malformed answer from the daemon: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
    /// Sent with `Transfer-Encoding: chunked`; cannot be replayed on a version retry.
    Stream {
        content_type: &'a str,
        reader: &'a mut dyn Read,
    },
}

/// A response whose head has been read; the body is read on demand.
pub struct Response {
    pub head: Head,
    pub body: BodyReader<BufReader<Conn>>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.body.read_to_end(&mut v)?;
        Ok(v)
    }

    pub fn json(self) -> Result<serde_json::Value> {
        let b = self.bytes()?;
        if b.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        Ok(serde_json::from_slice(&b)?)
    }
}

/// A hijacked connection: the read side (with anything the daemon sent after its head) and a
/// write side.
pub struct Hijacked {
    pub reader: BufReader<Conn>,
    pub writer: Conn,
}

pub struct Client {
    host: Host,
    version: RefCell<String>,
    /// Whether this process already tried to start a daemon.
    started: std::cell::Cell<bool>,
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn api_error(status: u16, body: &[u8]) -> Error {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            let t = String::from_utf8_lossy(body).trim().to_string();
            if t.is_empty() {
                format!("status {status}")
            } else {
                t
            }
        });
    Error::Api { status, message }
}

impl Client {
    /// `version` pins the API version (docker's `DOCKER_API_VERSION`); the default is ours.
    pub fn new(host: Host, version: Option<String>) -> Client {
        Client {
            host,
            version: RefCell::new(version.unwrap_or_else(|| API_VERSION.to_string())),
            started: std::cell::Cell::new(false),
        }
    }

    /// A client for another thread, sharing the negotiated version.
    pub fn fork(&self) -> Client {
        Client {
            host: self.host.clone(),
            version: RefCell::new(self.api_version()),
            started: std::cell::Cell::new(true),
        }
    }

    pub fn api_version(&self) -> String {
        self.version.borrow().clone()
    }

    fn connect(&self) -> Result<Conn> {
        match Conn::connect(&self.host.addr) {
            Ok(c) => Ok(c),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) && self.host.auto_start.is_some()
                    && !self.started.get() =>
            {
                self.started.set(true);
                let a = self.host.auto_start.as_ref().expect("checked");
                spawn::start_daemon(&self.host.addr, a)?;
                Conn::connect(&self.host.addr).map_err(|err| Error::Connect {
                    addr: self.host.addr.to_string(),
                    err,
                })
            }
            Err(err) => Err(Error::Connect {
                addr: self.host.addr.to_string(),
                err,
            }),
        }
    }

    /// Sends one request and reads the response head.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: &mut Body,
        upgrade: bool,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        let mut conn = self.connect()?;
        let full = if path.starts_with("/_ping") {
            path.to_string()
        } else {
            format!("/v{}{}", self.version.borrow(), path)
        };
        let mut hdrs: Vec<(&str, &str)> = Vec::with_capacity(4 + extra.len());
        hdrs.extend_from_slice(extra);
        if upgrade {
            hdrs.push(("Connection", "Upgrade"));
            hdrs.push(("Upgrade", "tcp"));
        }
        let len;
        match body {
            Body::None => {
                if method == "POST" {
                    hdrs.push(("Content-Length", "0"));
                }
                http::write_head(&mut conn, method, &full, &hdrs)?;
            }
            Body::Json(v) => {
                let data = serde_json::to_vec(v)?;
                len = data.len().to_string();
                hdrs.push(("Content-Type", "application/json"));
                hdrs.push(("Content-Length", &len));
                // One write for head and body.
                let mut buf = Vec::with_capacity(256 + data.len());
                http::write_head(&mut buf, method, &full, &hdrs)?;
                buf.extend_from_slice(&data);
                conn.write_all(&buf)?;
            }
            Body::Stream {
                content_type,
                reader,
            } => {
                hdrs.push(("Content-Type", content_type));
                hdrs.push(("Transfer-Encoding", "chunked"));
                let mut w = io::BufWriter::with_capacity(64 * 1024, &mut conn);
                http::write_head(&mut w, method, &full, &hdrs)?;
                http::write_chunked(&mut w, *reader)?;
                w.flush()?;
            }
        }
        let mut reader = BufReader::with_capacity(16 * 1024, conn);
        let head = http::read_head(&mut reader)?;
        let framing = head.framing(method);
        Ok(Response {
            head,
            body: BodyReader::new(reader, framing),
        })
    }

    /// Whether an error answer means our API version is not supported.
    fn version_rejected(status: u16, message: &str) -> bool {
        let m = message.to_ascii_lowercase();
        status == 400
            && (m.contains("too new") || m.contains("not supported") || m.contains("unsupported"))
    }

    /// Pings the daemon and adopts its `Api-Version`.
    pub fn negotiate(&self) -> Result<()> {
        let r = self.send("GET", "/_ping", &mut Body::None, false, &[])?;
        if let Some(v) = r.head.header("api-version") {
            *self.version.borrow_mut() = v.to_string();
        }
        Ok(())
    }

    /// Sends a request; an error status becomes `Error::Api`. Retries once with the daemon's
    /// own API version when ours is refused.
    /// `dir`, absolute, when the daemon may read it in place: it listens on a unix socket of
    /// this host and this process is root, as the daemon requires of whoever names a directory.
    pub fn local_dir(&self, dir: &std::path::Path) -> Option<std::path::PathBuf> {
        let unix = matches!(self.host.addr, host::Addr::Unix(_));
        // SAFETY: geteuid cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let dir = (unix && root).then(|| dir.canonicalize().ok()).flatten()?;
        dir.is_dir().then_some(dir)
    }

    /// POSTs a tar streamed from `reader` (a build context, an image archive).
    pub fn post_tar(&self, path: &str, reader: &mut dyn Read) -> Result<Response> {
        let body = Body::Stream {
            content_type: "application/x-tar",
            reader,
        };
        self.request("POST", path, body)
    }

    pub fn request(&self, method: &str, path: &str, mut body: Body) -> Result<Response> {
        self.request_inner(method, path, &mut body, false, &[])
    }

    /// [`Client::request`] with extra headers (`X-Registry-Auth`).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        mut body: Body,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        self.request_inner(method, path, &mut body, false, headers)
    }

    fn request_inner(
        &self,
        method: &str,
        path: &str,
        body: &mut Body,
        upgrade: bool,
        extra: &[(&str, &str)],
    ) -> Result<Response> {
        let r = self.send(method, path, body, upgrade, extra)?;
        let status = r.status();
        if status < 400 {
            return Ok(r);
        }
        let err = api_error(status, &r.bytes()?);
        if let Error::Api { status, message } = &err
            && Self::version_rejected(*status, message)
            && !matches!(body, Body::Stream { .. })
        {
            let before = self.api_version();
            self.negotiate()?;
            if self.api_version() != before {
                let r = self.send(method, path, body, upgrade, extra)?;
                if r.status() < 400 {
                    return Ok(r);
                }
                let s = r.status();
                return Err(api_error(s, &r.bytes()?));
            }
        }
        Err(err)
    }

    pub fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        self.request("GET", path, Body::None)?.json()
    }

    pub fn post_json(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let b = match body {
            Some(v) => Body::Json(v),
            None => Body::None,
        };
        self.request("POST", path, b)?.json()
    }

    /// A request whose body is ignored.
    pub fn call(&self, method: &str, path: &str) -> Result<()> {
        self.request(method, path, Body::None)?.bytes()?;
        Ok(())
    }

    /// Upgrades a connection to a raw stream (attach). Accepts 101 and 200.
    pub fn hijack(&self, path: &str) -> Result<Hijacked> {
        self.hijack_with(path, Body::None)
    }

    /// [`Client::hijack`] with a request body (`exec` start sends one).
    pub fn hijack_with(&self, path: &str, mut body: Body) -> Result<Hijacked> {
        let r = self.request_inner("POST", path, &mut body, true, &[])?;
        if r.status() != 101 && r.status() != 200 {
            return Err(Error::Other(format!(
                "unexpected status {} on attach",
                r.status()
            )));
        }
        let reader = r.body.into_inner();
        let writer = reader.get_ref().try_clone()?;
        Ok(Hijacked { reader, writer })
    }
}

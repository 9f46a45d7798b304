//! One registry repository as seen over HTTP: endpoint selection, the `/v2/` auth handshake
//! (Basic or Bearer token, for the scopes a pull or a push needs), and requests that turn the
//! registry's error JSON into [`Error`]s.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use berth_image::Digest;

use crate::Credentials;
use crate::error::{Error, Result};

const MAX_ERROR_BODY: u64 = 64 * 1024;
const MAX_TOKEN_BODY: u64 = 1024 * 1024;

/// The host to contact for a registry name (`docker.io` is served by `registry-1.docker.io`).
pub fn endpoint_host(registry: &str) -> &str {
    if registry == "docker.io" || registry == "index.docker.io" {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// Whether `registry` (host with optional port) is a loopback address, as Docker treats it.
pub fn is_loopback(registry: &str) -> bool {
    let host = strip_port(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn strip_port(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        // [v6]:port
        return match rest.find(']') {
            Some(i) => &registry[..i + 2],
            None => registry,
        };
    }
    match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => registry,
    }
}

/// `http` for loopback and configured insecure registries, `https` otherwise.
pub fn scheme_for(registry: &str, insecure: &[String]) -> &'static str {
    let host = strip_port(registry);
    if is_loopback(registry) || insecure.iter().any(|i| i == registry || i == host) {
        "http"
    } else {
        "https"
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// Parses `Scheme k="v", k2=v2` (quoted values may contain commas and `\"`).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.find(char::is_whitespace) {
        Some(i) => (&header[..i], &header[i..]),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.trim().is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// Talks to one repository of one registry. The authorization it obtained (a Basic header or
/// a Bearer token for its scopes) is cached for its lifetime: one pull or push.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    registry: String,
    repository: String,
    credentials: Option<Credentials>,
    /// Token scopes, e.g. `repository:a/b:pull` (a push adds `push`, and `pull` on the
    /// repositories it mounts from).
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
}

/// How long a registry may take to accept a connection, and then to answer a request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

pub(crate) type Response = ureq::http::Response<ureq::Body>;

/// A request body. A streamed one is opened again when the request is repeated after
/// authenticating.
pub(crate) enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream {
        open: &'a dyn Fn() -> Result<Box<dyn Read + 'a>>,
        len: u64,
    },
}

impl Client {
    /// A client for pulling (`pull` scope) from `registry/repository`.
    pub fn new(
        registry: &str,
        repository: &str,
        insecure_registries: &[String],
        credentials: Option<Credentials>,
    ) -> Client {
        let agent = agent(DEFAULT_TIMEOUT);
        let scheme = scheme_for(registry, insecure_registries);
        Client {
            agent,
            base: format!("{scheme}://{}", endpoint_host(registry)),
            registry: registry.to_string(),
            repository: repository.to_string(),
            credentials,
            scopes: vec![format!("repository:{repository}:pull")],
            authorization: Mutex::new(None),
        }
    }

    /// Replaces how long the registry may take to accept a connection and then to answer.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Client {
        self.agent = agent(timeout.unwrap_or(DEFAULT_TIMEOUT));
        self
    }

    /// Replaces the token scopes asked for in a Bearer flow.
    pub fn with_scopes(mut self, scopes: Vec<String>) -> Client {
        self.scopes = scopes;
        self
    }

    /// `<scheme>://<host>/v2/<repository>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }

    /// A `Location` header made absolute against the registry's base URL.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }

    /// `GET /v2/`, authenticating if the registry asks for it.
    pub fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send("GET", &url, &[], &Payload::Empty)?;
        check(resp, &url, || self.registry.clone()).map(drop)
    }

    /// GETs `/v2/<repo>/<path>`; non-2xx answers become [`Error::Registry`] about `what`.
    pub fn get(
        &self,
        path: &str,
        accept: Option<&str>,
        what: &dyn Fn() -> String,
    ) -> Result<Response> {
        let url = self.url(path);
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let resp = self.send("GET", &url, &headers, &Payload::Empty)?;
        check(resp, &url, what)
    }

    /// GETs a blob from byte `offset` on (a `Range` request when not 0). The registry may
    /// ignore the range: a 206 answer continues at `offset`, a 200 one starts from the first
    /// byte.
    pub fn get_blob(
        &self,
        digest: &Digest,
        offset: u64,
        what: &dyn Fn() -> String,
    ) -> Result<Response> {
        let url = self.url(&format!("blobs/{digest}"));
        let range = format!("bytes={offset}-");
        let headers: &[(&str, &str)] = if offset > 0 {
            &[("Range", &range)]
        } else {
            &[]
        };
        let resp = self.send("GET", &url, headers, &Payload::Empty)?;
        check(resp, &url, what)
    }

    /// Sends one request with the cached authorization; a 401 authenticates from its
    /// challenge and repeats the request once. The answer is returned whatever its status.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: &Payload,
    ) -> Result<Response> {
        let resp = self.send_once(method, url, headers, payload)?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        self.authenticate(&resp)?;
        self.send_once(method, url, headers, payload)
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload: &Payload,
    ) -> Result<Response> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(auth) = self.authorization.lock().expect("auth lock").clone() {
            req = req.header("Authorization", auth);
        }
        let with_body = !matches!(method, "GET" | "HEAD");
        let run = |req: ureq::http::request::Builder, len: u64, body: ureq::SendBody| {
            let req = if with_body {
                req.header("Content-Length", len)
            } else {
                req
            };
            let req = req.body(body).map_err(|e| transport(url, e.into()))?;
            self.agent.run(req).map_err(|e| transport(url, e))
        };
        match payload {
            Payload::Empty => run(req, 0, ureq::SendBody::none()),
            Payload::Bytes(b) => {
                let mut reader: &[u8] = b;
                run(
                    req,
                    b.len() as u64,
                    ureq::SendBody::from_reader(&mut reader),
                )
            }
            Payload::Stream { open, len } => {
                let mut reader = open()?;
                run(req, *len, ureq::SendBody::from_reader(&mut reader))
            }
        }
    }

    fn basic(&self) -> Option<String> {
        self.credentials.as_ref().map(|c| {
            format!(
                "Basic {}",
                B64.encode(format!("{}:{}", c.username, c.password))
            )
        })
    }

    fn auth_err(&self, reason: impl Into<String>) -> Error {
        Error::Auth {
            registry: self.registry.clone(),
            reason: reason.into(),
        }
    }

    fn authenticate(&self, resp: &Response) -> Result<()> {
        let header = resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_challenge)
            // Prefer Bearer when both are offered.
            .max_by_key(|c| c.scheme == "bearer");
        let Some(ch) = header else {
            return Err(self.auth_err("401 Unauthorized without a WWW-Authenticate challenge"));
        };
        let value = match ch.scheme.as_str() {
            "basic" => self
                .basic()
                .ok_or_else(|| self.auth_err("basic authentication required: no credentials"))?,
            "bearer" => format!("Bearer {}", self.token(&ch)?),
            other => return Err(self.auth_err(format!("unsupported auth scheme {other:?}"))),
        };
        *self.authorization.lock().expect("auth lock") = Some(value);
        Ok(())
    }

    fn token(&self, ch: &Challenge) -> Result<String> {
        let realm = ch
            .params
            .get("realm")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| self.auth_err("bearer challenge without realm"))?;
        let mut req = self.agent.get(realm);
        if let Some(service) = ch.params.get("service") {
            req = req.query("service", service);
        }
        for scope in &self.scopes {
            req = req.query("scope", scope);
        }
        if let Some(b) = self.basic() {
            req = req.header("Authorization", b);
        }
        let resp = req.call().map_err(|e| Error::Transport {
            url: realm.clone(),
            source: Box::new(e),
        })?;
        let mut resp = check(resp, realm, || format!("token for {}", self.registry))?;
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_TOKEN_BODY)
            .read_to_vec()
            .map_err(|e| self.auth_err(format!("reading token response: {e}")))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body)
            .map_err(|e| self.auth_err(format!("token response: {e}")))?;
        t.token
            .filter(|t| !t.is_empty())
            .or(t.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| self.auth_err("token response without token"))
    }
}

fn transport(url: &str, e: ureq::Error) -> Error {
    Error::Transport {
        url: url.to_string(),
        source: Box::new(e),
    }
}

/// Passes 2xx answers through; turns others into [`Error::Registry`] with the registry's error
/// JSON message when present.
pub(crate) fn check(
    mut resp: Response,
    url: &str,
    what: impl FnOnce() -> String,
) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let mut body = Vec::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut body);
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<RegistryError>,
    }
    #[derive(serde::Deserialize)]
    struct RegistryError {
        code: Option<String>,
        message: Option<String>,
    }
    let parsed = serde_json::from_slice::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let code = parsed.as_ref().and_then(|e| e.code.clone());
    let message = parsed
        .and_then(|e| e.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{} from {url}",
                status.canonical_reason().unwrap_or("error response")
            )
            .to_lowercase()
        });
    Err(Error::Registry {
        what: what(),
        status: status.as_u16(),
        code,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_scheme() {
        for r in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(r), "{r}");
            assert_eq!(scheme_for(r, &[]), "http");
        }
        for r in [
            "docker.io",
            "10.0.0.1:5000",
            "example.com",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback(r), "{r}");
            assert_eq!(scheme_for(r, &[]), "https");
        }
        assert_eq!(scheme_for("reg.lan:5000", &["reg.lan:5000".into()]), "http");
        assert_eq!(scheme_for("reg.lan:5000", &["reg.lan".into()]), "http");
        assert_eq!(endpoint_host("docker.io"), "registry-1.docker.io");
        assert_eq!(endpoint_host("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["service"], "registry.example");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let c = parse_challenge(r#"Basic realm="basic""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "basic");
        let c = parse_challenge("Basic realm=x, charset=UTF-8").unwrap();
        assert_eq!(c.params["charset"], "UTF-8");
        assert!(parse_challenge("").is_none());
    }
}

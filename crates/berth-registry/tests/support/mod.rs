//! Shared by the registry crate's tests: a real registry (Debian's `docker-registry`) on
//! 127.0.0.1 with its own storage, and a berth store to build source images in.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_image::{Digest, Image, ImageStore, ImportOptions, Reference, Snapshots, import_rootfs};

/// A registry child process with its own storage; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with("")
    }

    pub fn start_with(extra_yaml: &str) -> Registry {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let cfg = dir.path().join("config.yml");
            fs::write(
                &cfg,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra_yaml}",
                    dir.path().join("data").display()
                ),
            )
            .unwrap();
            let log = fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let mut reg = Registry { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if reg.child.try_wait().unwrap().is_some() {
                    break; // port taken, most likely: retry with another
                }
                if let Ok(resp) = ureq::get(&format!("http://127.0.0.1:{port}/v2/"))
                    .config()
                    .http_status_as_error(false)
                    .build()
                    .call()
                {
                    let s = resp.status().as_u16();
                    if s == 200 || s == 401 {
                        return reg;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = reg.child.kill();
        }
        panic!("docker-registry did not start");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn blob_data(&self, d: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex())
            .join("data")
    }

    /// The digest the registry reports for a manifest.
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Digest {
        let resp = ureq::get(&format!(
            "http://{}/v2/{repo}/manifests/{reference}",
            self.addr()
        ))
        .header(
            "Accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
        )
        .call()
        .unwrap();
        resp.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A berth store to build source images in.
pub struct Source {
    pub dir: tempfile::TempDir,
    pub store: ImageStore,
    pub snaps: Snapshots,
}

impl Source {
    pub fn new() -> Source {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let snaps = Snapshots::open(dir.path()).unwrap();
        Source { dir, store, snaps }
    }

    pub fn content_dir(&self) -> PathBuf {
        self.dir.path().join("content")
    }

    pub fn import(&self, name: &str, files: &[(&str, Vec<u8>)], arch: Option<&str>) -> Image {
        let mut b = tar::Builder::new(Vec::new());
        for dir in ["bin", "etc"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, format!("{dir}/"), &[][..]).unwrap();
        }
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o755);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, path, &data[..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let opts = ImportOptions {
            reference: Some(Reference::parse(name).unwrap()),
            platform: arch.map(|a| berth_image::Platform {
                os: "linux".into(),
                architecture: a.into(),
                variant: None,
            }),
            ..Default::default()
        };
        import_rootfs(&self.store, &self.snaps, &tar[..], opts).unwrap()
    }

    /// skopeo-pushes the layout entry named `name` (add `--all` for an index) as it is stored:
    /// `--preserve-digests`, or skopeo would compress the uncompressed layers made here.
    pub fn push(&self, layout: &Path, name: &str, dest: String, all: bool) {
        let mut cmd = Command::new("/usr/bin/skopeo");
        cmd.args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ]);
        if all {
            cmd.arg("--all");
        }
        let out = cmd
            .arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{dest}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

pub fn busybox() -> Vec<u8> {
    fs::read("/bin/busybox").unwrap()
}

/// A registry with htpasswd (Basic) authentication accepting only `user`/`pass`.
pub fn registry_with_htpasswd(user: &str, pass: &str) -> (Registry, tempfile::TempDir) {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .expect("htpasswd (apache2-utils) is installed by scripts/install-deps.sh");
    assert!(out.status.success());
    let pwdir = tempfile::tempdir().unwrap();
    let pwfile = pwdir.path().join("htpasswd");
    fs::write(&pwfile, &out.stdout).unwrap();
    let reg = Registry::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: basic\n    path: {}\n",
        pwfile.display()
    ));
    (reg, pwdir)
}

/// A forwarding HTTP proxy on 127.0.0.1 in front of a registry: it records every request
/// (`METHOD path`) and can answer 500 to blob uploads (the `PUT`/`PATCH` of an upload
/// session), to see what a client really sent and how it takes a failing registry.
/// With `token_for`, it also stands in for a token-authenticated registry: every request
/// needs `Bearer <token>`, which its `/token` endpoint gives for Basic `user:password`.
#[derive(Clone)]
pub struct Front {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub fail_uploads: Arc<AtomicBool>,
    /// What to do to blob downloads (GETs of `/blobs/<digest>`).
    pub blob_fault: Arc<Mutex<Option<BlobFault>>>,
    /// Basic credentials (`user:password`) the token endpoint accepts.
    token_for: Option<String>,
}

const FRONT_TOKEN: &str = "front-token";

impl Front {
    pub fn start(upstream: String) -> Front {
        Front::serve(upstream, None)
    }

    /// A front that demands Bearer tokens, issued for `user:password`.
    pub fn start_bearer(upstream: String, user_password: &str) -> Front {
        Front::serve(upstream, Some(user_password.to_string()))
    }

    fn serve(upstream: String, token_for: Option<String>) -> Front {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let front = Front {
            port: listener.local_addr().unwrap().port(),
            requests: Arc::new(Mutex::new(Vec::new())),
            fail_uploads: Arc::new(AtomicBool::new(false)),
            blob_fault: Arc::new(Mutex::new(None)),
            token_for,
        };
        let shared = front.clone();
        // The thread lives until the test process ends; it only ever serves loopback.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (upstream, front) = (upstream.clone(), shared.clone());
                std::thread::spawn(move || {
                    let _ = front.forward(conn, &upstream);
                });
            }
        });
        front
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests seen so far, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// How a [`Front`] misbehaves on blob downloads.
#[derive(Clone, Copy)]
pub enum BlobFault {
    /// Pass through after this many milliseconds.
    Delay(u64),
    /// Announce the whole body, send this many bytes of it, and hang up.
    Truncate(usize),
    /// Answer 500.
    ServerError,
    /// Take the request and never answer (any request, `/v2/` included).
    Hang,
}

/// An HTTP/1.1 request line and headers (names lower-cased).
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
}

/// Reads a request's head from a test server's connection.
pub fn read_head(reader: &mut impl std::io::BufRead) -> std::io::Result<RequestHead> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let path = parts.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok(RequestHead {
        method,
        path,
        headers,
    })
}

impl Front {
    fn forward(&self, conn: std::net::TcpStream, upstream: &str) -> std::io::Result<()> {
        use std::io::{BufReader, Read, Write};
        let port = self.port;
        let mut reader = BufReader::new(conn.try_clone()?);
        let RequestHead {
            method,
            path,
            headers,
        } = read_head(&mut reader)?;
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let fault = *self.blob_fault.lock().unwrap();
        if let Some(BlobFault::Hang) = fault {
            std::thread::sleep(std::time::Duration::from_secs(120));
            return Ok(());
        }
        let mut seen = format!("{method} {path}");
        if let Some(range) = headers.get("range") {
            seen.push_str(&format!(" range={range}"));
        }
        self.requests.lock().unwrap().push(seen);
        let mut out = conn;
        let download = method == "GET" && path.contains("/blobs/sha256:");
        let fault = fault.filter(|_| download);
        match fault {
            Some(BlobFault::ServerError) => {
                let msg = br#"{"errors":[{"code":"UNKNOWN","message":"storage backend on fire"}]}"#;
                write!(
                    out,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    msg.len()
                )?;
                out.write_all(msg)?;
                return out.flush();
            }
            Some(BlobFault::Delay(ms)) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            _ => {}
        }
        if let Some(user_password) = &self.token_for {
            use base64::Engine as _;
            let auth = headers.get("authorization").map(String::as_str);
            let reply = |out: &mut std::net::TcpStream, status: &str, extra: &str, body: &str| {
                write!(
                    out,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                out.flush()
            };
            if path.starts_with("/token?") {
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(user_password)
                );
                if auth != Some(basic.as_str()) {
                    return reply(
                        &mut out,
                        "401 Unauthorized",
                        "",
                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                    );
                }
                return reply(
                    &mut out,
                    "200 OK",
                    "",
                    &format!(r#"{{"token":"{FRONT_TOKEN}"}}"#),
                );
            }
            if auth != Some(format!("Bearer {FRONT_TOKEN}").as_str()) {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"front\"\r\n"
                );
                return reply(
                    &mut out,
                    "401 Unauthorized",
                    &challenge,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
            }
        }
        let upload = path.contains("/blobs/uploads/") && (method == "PUT" || method == "PATCH");
        if upload && self.fail_uploads.load(Ordering::SeqCst) {
            let msg = br#"{"errors":[{"code":"UNKNOWN","message":"storage backend failed"}]}"#;
            write!(
                out,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                msg.len()
            )?;
            out.write_all(msg)?;
            return out.flush();
        }
        let mut req = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(format!("http://{upstream}{path}"));
        for (k, v) in &headers {
            if !matches!(
                k.as_str(),
                "host" | "connection" | "content-length" | "authorization"
            ) {
                req = req.header(k, v);
            }
        }
        let with_body = method != "GET" && method != "HEAD";
        if with_body {
            req = req.header("content-length", body.len());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let send = if with_body {
            ureq::SendBody::from_owned_reader(std::io::Cursor::new(body))
        } else {
            ureq::SendBody::none()
        };
        let mut resp = agent
            .run(req.body(send).unwrap())
            .map_err(std::io::Error::other)?;
        let status = resp.status();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nConnection: close\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("X")
        );
        for (k, v) in resp.headers() {
            if matches!(
                k.as_str(),
                "connection" | "content-length" | "transfer-encoding"
            ) {
                continue;
            }
            let v = v.to_str().unwrap_or_default();
            let v = v.replace(
                &format!("http://{upstream}"),
                &format!("http://127.0.0.1:{port}"),
            );
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let data = if method == "HEAD" {
            let n = resp
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_string();
            head.push_str(&format!("content-length: {n}\r\n\r\n"));
            Vec::new()
        } else {
            let data = resp
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_vec()
                .map_err(std::io::Error::other)?;
            head.push_str(&format!("content-length: {}\r\n\r\n", data.len()));
            match fault {
                Some(BlobFault::Truncate(n)) => data[..n.min(data.len())].to_vec(),
                _ => data,
            }
        };
        out.write_all(head.as_bytes())?;
        out.write_all(&data)?;
        out.flush()
    }
}

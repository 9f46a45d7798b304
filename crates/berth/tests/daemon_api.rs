//! `berth daemon` end to end: the real binary on a temp socket with temp data and exec roots,
//! checked with raw HTTP over the unix socket, curl (TLS) and the real docker CLI.
//!
//! Each test owns its daemon through [`Daemon`], whose `Drop` kills it (also when an assertion
//! fails), then any monitor or zygote it left, and removes its temp directory.

mod daemon_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const DOCKER: &str = "/usr/local/bin/docker";

/// A running `berth daemon`, killed on drop.
struct Daemon {
    child: Option<Child>,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Daemon {
    /// A daemon on `<tmp>/berth.sock` plus `extra` flags.
    fn start(extra: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        Daemon::start_in(dir, extra)
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Daemon {
        let socket = dir.path().join("berth.sock");
        let child = daemon_command(dir.path(), &socket, extra)
            .spawn()
            .expect("spawn berth daemon");
        let mut d = Daemon {
            child: Some(child),
            dir,
            socket,
        };
        d.wait_ready();
        d
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    fn pidfile(&self) -> PathBuf {
        self.exec_root().join("berth.pid")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("daemon exited early ({status}):\n{}", self.log());
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready after 20s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> Response {
        http(&self.socket, "GET", path, &[], b"")
    }

    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(DOCKER);
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        output_within(cmd, Duration::from_secs(60))
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        wait_timeout(&mut child, Duration::from_secs(10)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("daemon ignored SIGTERM:\n{}", self.log())
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Containers the test ran outlive the daemon: their monitors and the zygote go too.
        let marker = self.dir.path().to_string_lossy().into_owned();
        daemon_support::kill_processes_mentioning(&marker);
        daemon_support::unmount_under(self.dir.path());
        daemon_support::remove_test_bridge(&daemon_support::test_bridge_name(self.dir.path()));
    }
}

fn daemon_command(dir: &Path, socket: &Path, extra: &[&str]) -> Command {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let mut cmd = Command::new(BERTH);
    cmd.arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--log-level=debug")
        .arg("--bridge-name")
        .arg(daemon_support::test_bridge_name(dir))
        .args(extra)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

/// Runs `cmd` (stdin closed) and collects its output, killing it after `timeout`.
fn output_within(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let collect = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let status = wait_timeout(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} still running after {timeout:?}")
    });
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One HTTP/1.1 request over a unix socket, `Connection: close`, read to the end.
fn http(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head: bool) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head_text = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked && !head {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_tcp(port: u16, d: &mut Daemon) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no TCP listener:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_api_headers(r: &Response) {
    assert_eq!(r.header("api-version"), Some("1.50"), "{r:?}");
    let server = r.header("server").unwrap_or_default();
    assert!(
        server.starts_with("Berth/") && server.ends_with("(linux)"),
        "{server:?}"
    );
}

#[test]
fn ping_get_and_head() {
    let d = Daemon::start(&[]);
    let r = d.get("/_ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"OK");
    assert_api_headers(&r);
    assert_eq!(r.header("ostype"), Some("linux"));
    assert_eq!(r.header("docker-experimental"), Some("false"));
    assert_eq!(r.header("builder-version"), Some("1"));
    assert_eq!(
        r.header("cache-control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(r.header("pragma"), Some("no-cache"));

    let r = http(&d.socket, "HEAD", "/_ping", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_api_headers(&r);
    assert_eq!(r.header("ostype"), Some("linux"));
}

#[test]
fn version_prefixes() {
    let d = Daemon::start(&[]);
    for path in ["/v1.41/_ping", "/v1.24/_ping", "/v1.50/_ping"] {
        let r = d.get(path);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"OK"[..]), "{path}");
    }
    let r = d.get("/v1.99/version");
    assert_eq!(r.status, 400);
    assert_api_headers(&r);
    assert_eq!(
        r.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.50"
    );
    let r = d.get("/v1.12/_ping");
    assert_eq!(r.status, 400);
    assert!(
        r.message().starts_with("client version 1.12 is too old"),
        "{r:?}"
    );
}

#[test]
fn unknown_routes_are_404_json() {
    let d = Daemon::start(&[]);
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/v1.50/containers/abc/frobnicate"),
        ("PUT", "/_ping"),
        ("GET", "/images/busybox/nope"),
    ] {
        let r = http(&d.socket, method, path, &[], b"");
        assert_eq!(r.status, 404, "{method} {path}: {r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.message(), "page not found", "{method} {path}");
        assert_api_headers(&r);
    }
}

#[test]
fn bad_requests_are_400_json() {
    let d = Daemon::start(&[]);
    let json = [("Content-Type", "application/json")];
    let r = http(&d.socket, "POST", "/containers/create", &json, b"{bad");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.message().starts_with("invalid JSON"), "{r:?}");
    let r = http(&d.socket, "POST", "/v1.50/containers/create", &json, b"");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.message().contains("JSON"), "{r:?}");
    let r = http(
        &d.socket,
        "POST",
        "/containers/create",
        &json,
        br#"{"Image":5}"#,
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = d.get("/containers/json?filters=%7Bnope");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.message().contains("filter"), "{r:?}");
    let r = http(
        &d.socket,
        "POST",
        "/containers/abc/wait?condition=bogus",
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = d.get("/containers/abc/logs");
    assert_eq!(r.status, 400, "{r:?}");
    let r = http(
        &d.socket,
        "POST",
        "/containers/abc/resize?h=x&w=1",
        &[],
        b"",
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = http(&d.socket, "POST", "/images/create", &[], b"");
    assert_eq!(r.status, 400, "{r:?}");
    // Still serving.
    assert_eq!(d.get("/_ping").status, 200);
}

/// Whatever the engine does with a request (today its stubs panic), the answer is JSON and the
/// daemon keeps serving.
#[test]
fn engine_failures_do_not_kill_the_daemon() {
    let mut d = Daemon::start(&[]);
    for path in ["/version", "/info", "/containers/json", "/images/json"] {
        let r = d.get(path);
        assert!(r.status == 200 || r.status == 500, "{path}: {r:?}");
        let _ = r.json();
        assert_api_headers(&r);
    }
    let r = http(
        &d.socket,
        "POST",
        "/images/create?fromSrc=-",
        &[],
        b"not a tarball",
    );
    assert!(r.status >= 400, "{r:?}");
    let _ = r.json();
    assert_eq!(d.get("/_ping").status, 200);
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
}

/// A registry that does not answer (a closed loopback port: tests never leave 127.0.0.0/8).
#[test]
fn pull_from_an_unreachable_registry_is_a_clear_error() {
    let d = Daemon::start(&[]);
    let r = http(
        &d.socket,
        "POST",
        "/v1.50/images/create?fromImage=127.0.0.1:9/busybox&tag=latest",
        &[],
        b"",
    );
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.message().contains("127.0.0.1:9/busybox:latest"), "{r:?}");
    // Through the docker CLI: version negotiation, the prefix, the error message.
    let out = d.docker(&["pull", "127.0.0.1:9/busybox"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
}

/// The docker CLI's create body deserializes: today the engine stub answers (500), never a 400.
#[test]
fn docker_cli_create_body_is_accepted() {
    let d = Daemon::start(&[]);
    let out = d.docker(&[
        "create",
        "--name",
        "web",
        "-e",
        "A=1",
        "-p",
        "8080:80",
        "-v",
        "/tmp:/data",
        "--restart",
        "always",
        "--memory",
        "64m",
        "-t",
        "busybox",
        "sh",
        "-c",
        "echo hi",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("invalid JSON"), "{stderr}");
    assert!(stderr.contains("Error response from daemon") || out.status.success());
}

#[test]
fn pidfile_refuses_a_second_daemon() {
    let d = Daemon::start(&[]);
    let pid = std::fs::read_to_string(d.pidfile()).unwrap();
    assert_eq!(pid.trim(), d.pid().to_string());

    let other_socket = d.dir.path().join("other.sock");
    let out = daemon_command(d.dir.path(), &other_socket, &[])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked by a running daemon") && stderr.contains(pid.trim()),
        "{stderr}"
    );
    assert!(!other_socket.exists());
    // The first one is untouched.
    assert_eq!(d.get("/_ping").status, 200);
    assert_eq!(
        std::fs::read_to_string(d.pidfile()).unwrap().trim(),
        d.pid().to_string()
    );
}

#[test]
fn sigterm_removes_socket_and_pidfile() {
    let mut d = Daemon::start(&[]);
    assert!(d.pidfile().exists());
    let status = d.terminate();
    assert!(status.success(), "{status}:\n{}", d.log());
    assert!(!d.socket.exists(), "socket left behind");
    assert!(!d.pidfile().exists(), "pidfile left behind");
}

#[test]
fn stale_socket_is_replaced_and_mode_is_0660() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("berth.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let d = Daemon::start_in(dir, &[]);
    assert_eq!(d.get("/_ping").status, 200);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct Certs {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_certs(dir: &Path) -> Certs {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=berth test CA"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        let (key, csr, cert, extfile) = (
            format!("{name}-key.pem"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(dir.join(&extfile), ext).unwrap();
        let subj = format!("/CN={name}");
        let mut req = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
        req.extend(ec);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &cert,
                "-extfile",
                &extfile,
            ],
        );
    }
    Certs {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server-key.pem"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client-key.pem"),
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl")
}

#[test]
fn tls_with_client_verification() {
    let certs_dir = tempfile::tempdir().unwrap();
    let c = make_certs(certs_dir.path());
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut d = Daemon::start(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        c.ca.to_str().unwrap(),
        "--tlscert",
        c.server_cert.to_str().unwrap(),
        "--tlskey",
        c.server_key.to_str().unwrap(),
    ]);
    wait_tcp(port, &mut d);
    let url = format!("https://127.0.0.1:{port}/v1.41/_ping");
    let ok = curl(&[
        "-i",
        "--cacert",
        c.ca.to_str().unwrap(),
        "--cert",
        c.client_cert.to_str().unwrap(),
        "--key",
        c.client_key.to_str().unwrap(),
        &url,
    ]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.ends_with("OK") && text.to_ascii_lowercase().contains("api-version: 1.50"),
        "{text}"
    );
    // No client certificate: refused.
    let refused = curl(&["--cacert", c.ca.to_str().unwrap(), &url]);
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = curl(&[&format!("http://127.0.0.1:{port}/_ping")]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("OK"));
    // The docker CLI over TLS reaches the API (pull is refused by berth, not by TLS).
    let mut cmd = Command::new(DOCKER);
    cmd.args([
        "--tlsverify",
        "--tlscacert",
        c.ca.to_str().unwrap(),
        "--tlscert",
        c.client_cert.to_str().unwrap(),
        "--tlskey",
        c.client_key.to_str().unwrap(),
        "-H",
        &host,
        "version",
        "--format",
        "{{.Server.APIVersion}}",
    ])
    .env("DOCKER_CONFIG", d.dir.path().join("docker-config"));
    let out = output_within(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "1.50",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The unix socket is served alongside.
    assert_eq!(d.get("/_ping").status, 200);
}

#[test]
fn tls_without_client_verification() {
    let certs_dir = tempfile::tempdir().unwrap();
    let c = make_certs(certs_dir.path());
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut d = Daemon::start(&[
        "-H",
        &host,
        "--tls",
        "--tlscert",
        c.server_cert.to_str().unwrap(),
        "--tlskey",
        c.server_key.to_str().unwrap(),
    ]);
    wait_tcp(port, &mut d);
    let out = curl(&[
        "--cacert",
        c.ca.to_str().unwrap(),
        &format!("https://127.0.0.1:{port}/_ping"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"OK");
}

#[test]
fn plain_tcp() {
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut d = Daemon::start(&["-H", &host]);
    wait_tcp(port, &mut d);
    let out = curl(&["-i", &format!("http://127.0.0.1:{port}/v1.50/_ping")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("OK"), "{text}");
}

#[test]
fn bad_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["-H", "fd://"],
        vec!["--tls"],
        vec!["--tlsverify", "--tlscert", "/x", "--tlskey", "/y"],
        vec!["--log-level", "loud"],
    ] {
        let out = daemon_command(dir.path(), &dir.path().join("s.sock"), &args)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

// ---- Needing the engine's bodies --------------------------------------------------------

#[test]
fn docker_cli_version() {
    let d = Daemon::start(&[]);
    let out = d.docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.50");
    let out = d.docker(&["info"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox root filesystem as a tarball, from the host's busybox.
fn busybox_tarball(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for tool in ["sh", "echo", "cat", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

/// Everything up to a container start, through the docker CLI: import (the body streamed to
/// the engine), tag and inspect names with `/` and `:`, create, ps, inspect by `/name`, rm, rmi.
#[test]
fn docker_cli_images_and_created_containers() {
    let d = Daemon::start(&[]);
    let tar = busybox_tarball(d.dir.path());
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let id = ok(&d.docker(&[
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        tar.to_str().unwrap(),
        "bb:1",
    ]));
    assert!(id.starts_with("sha256:"), "{id}");
    ok(&d.docker(&["tag", "bb:1", "localhost:5000/a/b:tag"]));
    let listed = ok(&d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(
        listed.contains("bb:1") && listed.contains("localhost:5000/a/b:tag"),
        "{listed}"
    );
    let inspected = ok(&d.docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Config.Cmd}}",
        "localhost:5000/a/b:tag",
    ]));
    assert_eq!(inspected, format!("{id} [sh]"));

    let cid = ok(&d.docker(&["create", "--name", "web", "bb:1"]));
    let ps = ok(&d.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]));
    assert!(ps.contains("web Created"), "{ps}");
    let r = d.get("/v1.50/containers/%2Fweb/json");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["Id"], cid.as_str());
    // Whatever start does today (the monitor is not there yet), the daemon answers in JSON.
    let r = http(&d.socket, "POST", "/containers/web/start", &[], b"");
    assert!(r.status == 204 || !r.message().is_empty(), "{r:?}");
    ok(&d.docker(&["rm", "-f", "web"]));
    assert_eq!(d.get("/containers/web/json").status, 404);
    ok(&d.docker(&["rmi", "localhost:5000/a/b:tag", "bb:1"]));
    assert_eq!(ok(&d.docker(&["images", "-q"])), "");
}

#[test]
fn docker_cli_import_run_logs_rm() {
    let d = Daemon::start(&[]);
    let tar = busybox_tarball(d.dir.path());
    let out = d.docker(&["import", tar.to_str().unwrap(), "bb:test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
    let out = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("bb:test"));

    // run = create, attach (hijack), wait (headers first), start.
    let out = d.docker(&["run", "--name", "hello", "bb:test", "echo", "hi there"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi there\n");
    let out = d.docker(&["run", "--rm", "bb:test", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));

    let out = d.docker(&["logs", "hello"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi there\n");
    let out = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello"));
    let out = d.docker(&["rm", "hello"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.docker(&["rmi", "bb:test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn docker_cli_stdin_and_stop() {
    let d = Daemon::start(&[]);
    let tar = busybox_tarball(d.dir.path());
    assert!(
        d.docker(&["import", tar.to_str().unwrap(), "bb:test"])
            .status
            .success()
    );
    // stdin through the hijacked connection, its EOF ending `cat`.
    let mut child = Command::new(DOCKER)
        .args(["run", "--rm", "-i", "bb:test", "cat"])
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through stdin\n");

    let out = d.docker(&["run", "-d", "--name", "sleeper", "bb:test", "sleep", "60"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.docker(&["stop", "-t", "1", "sleeper"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = d.docker(&["rm", "-f", "sleeper"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

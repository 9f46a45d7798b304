//! The client verbs against a scripted fake daemon on a unix socket: the request sequence of
//! `run` (create, attach hijack, wait, start), stream demultiplexing, exit codes, error
//! printing, API version negotiation and chunked import uploads.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    /// "METHOD /path" of every request, in arrival order.
    log: Vec<String>,
    started: bool,
    /// The last created container has a TTY.
    tty: bool,
    bodies: Vec<(String, Vec<u8>)>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

struct Daemon {
    dir: tempfile::TempDir,
    state: Shared,
}

impl Daemon {
    /// `max_version`: when set, requests for a newer version get docker's 400.
    fn start(max_version: Option<&'static str>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let state: Shared = Arc::default();
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let st = st.clone();
                let conn = conn.unwrap();
                std::thread::spawn(move || serve(conn, st, max_version));
            }
        });
        Daemon { dir, state }
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("d.sock")
    }

    fn berth(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn log(&self) -> Vec<String> {
        self.state.0.lock().unwrap().log.clone()
    }

    fn body(&self, prefix: &str) -> Vec<u8> {
        let s = self.state.0.lock().unwrap();
        s.bodies
            .iter()
            .find(|(p, _)| p.starts_with(prefix))
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![stream, 0, 0, 0];
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn respond(w: &mut UnixStream, status: u16, body: &str) {
    let _ = write!(
        w,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nApi-Version: 1.45\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

fn wait_started(st: &Shared) {
    let (m, cv) = &**st;
    let mut g = m.lock().unwrap();
    while !g.started {
        g = cv.wait(g).unwrap();
    }
}

fn serve(conn: UnixStream, st: Shared, max_version: Option<&str>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap().to_string();
    let full = parts.next().unwrap().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let hdr = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(n) = hdr("content-length") {
        body.resize(n.parse().unwrap(), 0);
        r.read_exact(&mut body).unwrap();
    } else if hdr("transfer-encoding").is_some() {
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            let n = usize::from_str_radix(l.trim(), 16).unwrap();
            let mut c = vec![0; n + 2];
            r.read_exact(&mut c).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&c[..n]);
        }
    }
    let (version, path) = match full.strip_prefix("/v") {
        Some(rest) => {
            let (v, p) = rest.split_at(rest.find('/').unwrap());
            (Some(v.to_string()), p.to_string())
        }
        None => (None, full.clone()),
    };
    {
        let mut g = st.0.lock().unwrap();
        g.log.push(format!("{method} {path}"));
        g.bodies.push((format!("{method} {path}"), body.clone()));
    }
    if let (Some(v), Some(max)) = (&version, max_version)
        && v.as_str() > max
    {
        return respond(
            &mut w,
            400,
            &format!(
                r#"{{"message":"client version {v} is too new. Maximum supported API version is {max}"}}"#
            ),
        );
    }
    let p = path.split('?').next().unwrap();
    match (method.as_str(), p) {
        ("GET", "/_ping") => respond(&mut w, 200, "OK"),
        ("POST", "/containers/create") => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            st.0.lock().unwrap().tty = v["Tty"] == true;
            match v["Image"].as_str() {
                Some("busybox") => respond(&mut w, 201, r#"{"Id":"c0ffee","Warnings":[]}"#),
                Some("noexec") => respond(&mut w, 201, r#"{"Id":"bad","Warnings":[]}"#),
                Some(i) => respond(
                    &mut w,
                    404,
                    &format!(r#"{{"message":"No such image: {i}:latest"}}"#),
                ),
                None => respond(&mut w, 400, r#"{"message":"no image"}"#),
            }
        }
        ("POST", "/containers/c0ffee/attach") => {
            assert_eq!(hdr("upgrade").as_deref(), Some("tcp"));
            w.write_all(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").unwrap();
            wait_started(&st);
            // Echo stdin (until the client half-closes) on stdout, then write to stderr.
            let mut input = Vec::new();
            if path.contains("stdin=1") {
                r.read_to_end(&mut input).unwrap();
            }
            if st.0.lock().unwrap().tty {
                w.write_all(b"raw tty output\r\n").unwrap();
                return;
            }
            let mut out = frame(1, b"hello\n");
            out.extend(frame(1, &input));
            out.extend(frame(2, b"oops\n"));
            w.write_all(&out).unwrap();
        }
        ("POST", "/containers/c0ffee/wait") => {
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
            wait_started(&st);
            std::thread::sleep(Duration::from_millis(50));
            let b = r#"{"StatusCode":3}"#;
            write!(w, "{:x}\r\n{b}\r\n0\r\n\r\n", b.len()).unwrap();
        }
        ("POST", "/containers/c0ffee/start") => {
            let (m, cv) = &*st;
            m.lock().unwrap().started = true;
            cv.notify_all();
            w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        }
        ("POST", "/containers/bad/start") => respond(
            &mut w,
            400,
            r#"{"message":"failed to create task: exec: \"nope\": executable file not found in $PATH"}"#,
        ),
        ("POST", "/containers/bad/attach") => {
            w.write_all(b"HTTP/1.1 101 UPGRADED\r\n\r\n").unwrap();
        }
        ("POST", "/containers/bad/wait") => {
            w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
        }
        ("GET", "/containers/web/logs") => {
            assert!(
                path.contains("tail=5") && path.contains("timestamps=1"),
                "{path}"
            );
            let mut out = frame(1, b"log out\n");
            out.extend(frame(2, b"log err\n"));
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nContent-Length: {}\r\n\r\n",
                out.len()
            );
            w.write_all(&out).unwrap();
        }
        ("GET", "/containers/json") => respond(
            &mut w,
            200,
            r#"[{"Id":"c0ffee0123456789abcdef","Names":["/web"],"Image":"busybox","Command":"top","Created":0,"State":"running","Status":"Up 3 seconds","Ports":[]}]"#,
        ),
        ("GET", "/containers/web/json") => respond(
            &mut w,
            200,
            r#"{"Id":"c0ffee","State":{"ExitCode":0},"Config":{"Env":["A=1","B=2"]}}"#,
        ),
        ("POST", "/images/create") if path.contains("fromImage=") => respond(
            &mut w,
            404,
            r#"{"message":"manifest for nosuch:latest not found"}"#,
        ),
        ("POST", "/images/create") => respond(&mut w, 200, "{\"status\":\"sha256:1234\"}\r\n"),
        _ => respond(
            &mut w,
            404,
            &format!(r#"{{"message":"No such object: {p}"}}"#),
        ),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_attaches_before_start_and_exits_with_the_status() {
    let d = Daemon::start(None);
    let o = d.berth(
        &["run", "--rm", "-e", "A=1", "busybox", "sh", "-c", "exit 3"],
        b"",
    );
    assert_eq!(text(&o.stdout), "hello\n");
    assert_eq!(text(&o.stderr), "oops\n");
    assert_eq!(o.status.code(), Some(3));
    let log = d.log();
    let pos = |prefix: &str| log.iter().position(|l| l.starts_with(prefix)).unwrap();
    assert!(pos("POST /containers/create") < pos("POST /containers/c0ffee/attach"));
    assert!(pos("POST /containers/c0ffee/attach") < pos("POST /containers/c0ffee/start"));
    assert!(
        pos("POST /containers/c0ffee/wait?condition=removed")
            < pos("POST /containers/c0ffee/start")
    );
    let body: serde_json::Value =
        serde_json::from_slice(&d.body("POST /containers/create")).unwrap();
    assert_eq!(body["Cmd"], serde_json::json!(["sh", "-c", "exit 3"]));
    assert_eq!(body["HostConfig"]["AutoRemove"], true);
    assert_eq!(body["AttachStdin"], false);
}

#[test]
fn run_interactive_pipes_stdin_and_half_closes() {
    let d = Daemon::start(None);
    let o = d.berth(&["run", "-i", "busybox", "cat"], b"piped input\n");
    assert_eq!(text(&o.stdout), "hello\npiped input\n");
    assert_eq!(o.status.code(), Some(3));
    assert!(
        d.log()
            .iter()
            .any(|l| l.contains("attach?stream=1&stdin=1"))
    );
}

#[test]
fn run_errors_exit_like_docker() {
    let d = Daemon::start(None);
    let o = d.berth(&["run", "nosuch"], b"");
    assert_eq!(o.status.code(), Some(125));
    // As docker: the missing image is pulled first, and the pull's error is the one shown.
    assert_eq!(
        text(&o.stderr),
        "Unable to find image 'nosuch' locally\nberth: Error response from daemon: manifest for nosuch:latest not found\n"
    );
    let o = d.berth(&["run", "noexec"], b"");
    assert_eq!(o.status.code(), Some(127));
    assert!(text(&o.stderr).contains("executable file not found"));
}

#[test]
fn version_negotiation_and_ps() {
    let d = Daemon::start(Some("1.45"));
    let o = d.berth(&["ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"], b"");
    assert_eq!(
        text(&o.stdout),
        "c0ffee012345 web Up 3 seconds\n",
        "{}",
        text(&o.stderr)
    );
    let log = d.log();
    assert!(log.contains(&"GET /_ping".to_string()));
}

#[test]
fn inspect_format_and_missing_objects() {
    let d = Daemon::start(None);
    let o = d.berth(
        &[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.Config.Env}}",
            "web",
        ],
        b"",
    );
    assert_eq!(text(&o.stdout), "0 [A=1 B=2]\n");
    let o = d.berth(&["inspect", "web", "ghost"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).starts_with("[\n    {\n        \"Id\": \"c0ffee\","));
    assert_eq!(text(&o.stderr), "Error: No such object: ghost\n");
}

#[test]
fn import_streams_the_tar_chunked() {
    let d = Daemon::start(None);
    let data = vec![7u8; 200_000];
    let o = d.berth(&["import", "-", "mybox:1", "-c", "CMD [\"sh\"]"], &data);
    assert_eq!(text(&o.stdout), "sha256:1234\n", "{}", text(&o.stderr));
    let log = d.log();
    let req = log
        .iter()
        .find(|l| l.starts_with("POST /images/create"))
        .unwrap();
    assert!(
        req.contains("fromSrc=-&repo=mybox&tag=1&changes=CMD%20%5B%22sh%22%5D"),
        "{req}"
    );
    assert_eq!(d.body("POST /images/create").len(), 200_000);
}

#[test]
fn unreachable_explicit_host_does_not_autostart() {
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "unix:///nonexistent/berth.sock", "ps"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr)
            .contains("Cannot connect to the berth daemon at unix:///nonexistent/berth.sock")
    );
}

#[test]
fn autostart_under_berth_root_reports_the_log_on_failure() {
    // Only meaningful while this binary has no `daemon` verb (a real daemon would be left
    // running; cli_e2e covers that case): the start fails and must name the log, which must be
    // where BERTH_ROOT puts it.
    let has_daemon = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "--help"])
        .output()
        .unwrap()
        .status
        .success();
    if has_daemon {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("ps")
        .env("BERTH_ROOT", root.path())
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let log = root.path().join("run/berth-daemon.log");
    assert!(!o.status.success());
    assert!(log.exists());
    assert!(
        text(&o.stderr).contains(&log.display().to_string()),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn run_tty_output_is_raw() {
    let d = Daemon::start(None);
    let o = d.berth(&["run", "-t", "busybox", "sh"], b"");
    assert_eq!(o.stdout, b"raw tty output\r\n");
    assert_eq!(o.status.code(), Some(3));
    let body: serde_json::Value =
        serde_json::from_slice(&d.body("POST /containers/create")).unwrap();
    assert_eq!(body["Tty"], true);
}

#[test]
fn logs_demultiplexes() {
    let d = Daemon::start(None);
    let o = d.berth(&["logs", "-t", "-n", "5", "web"], b"");
    assert_eq!(text(&o.stdout), "log out\n");
    assert_eq!(text(&o.stderr), "log err\n");
    assert!(o.status.success());
}

#[test]
fn ps_default_table() {
    let d = Daemon::start(None);
    let o = d.berth(&["ps"], b"");
    let out = text(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "CONTAINER ID   IMAGE     COMMAND   CREATED        STATUS         PORTS     NAMES"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("c0ffee012345   busybox   \"top\"     "),
        "{row}"
    );
    assert!(row.ends_with("Up 3 seconds             web"), "{row}");
}

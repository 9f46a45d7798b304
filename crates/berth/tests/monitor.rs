//! Container monitors forked from the zygote (`berth monitor-zygote`), against real containers:
//! attach framing, stdin, tty and resize, spawn failures, survival without the caller, memory.
mod common;
use common::*;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_engine::logs::{FrameDecoder, LogOptions, Stream};
use berth_engine::monitor::{self, Error, SpawnErrorKind, SpawnRequest, Spawned};
use serde_json::Value;

/// This test's own zygote on its own socket.
struct Zygote {
    socket: PathBuf,
    pid: i32,
    shut: bool,
}

impl Zygote {
    fn start(rt: &Runtime) -> Zygote {
        let socket = rt.tempdir().join("zygote.sock");
        monitor::ensure_zygote(&socket, Path::new(env!("CARGO_BIN_EXE_berth"))).unwrap();
        // A second call finds it answering.
        monitor::ensure_zygote(&socket, Path::new("/nonexistent/berth")).unwrap();
        let pid = peer_pid(&socket);
        assert_ne!(
            ppid(pid),
            std::process::id() as i32,
            "the zygote is our child"
        );
        Zygote {
            socket,
            pid,
            shut: false,
        }
    }

    /// Shuts the zygote down and checks it is gone (its monitors must have exited).
    fn shutdown(mut self) {
        self.shut = true;
        monitor::shutdown_zygote(&self.socket).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || !pid_alive(self.pid)),
            "zygote {} still alive after shutdown",
            self.pid
        );
        assert!(!self.socket.exists(), "zygote socket left behind");
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        if !self.shut {
            let _ = monitor::shutdown_zygote(&self.socket);
        }
    }
}

fn peer_pid(socket: &Path) -> i32 {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(b"{\"ping\":true}\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "{\"ok\":true}\n");
    let cred =
        nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials).unwrap();
    cred.pid()
}

fn ppid(pid: i32) -> i32 {
    proc_status_field(pid, "PPid")
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1)
}

struct Container {
    id: String,
    req: SpawnRequest,
}

fn request(rt: &Runtime, b: &Bundle, prefix: &str) -> Container {
    b.save();
    let id = rt.id(prefix);
    rt.track(&id);
    let dir = rt.tempdir();
    let req = SpawnRequest {
        id: id.clone(),
        bundle: b.dir.clone(),
        state_root: rt.root.clone(),
        log: dir.join("container.log"),
        log_options: LogOptions::default(),
        exit_file: dir.join("exit.json"),
        socket: dir.join("monitor.sock"),
        tty: false,
        open_stdin: false,
        stdin_once: false,
        console_size: None,
    };
    Container { id, req }
}

fn read_all(mut s: UnixStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

fn frames(bytes: &[u8]) -> Vec<(Stream, Vec<u8>)> {
    let mut d = FrameDecoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        out.push(f);
    }
    assert_eq!(d.pending(), 0, "trailing partial frame");
    out
}

fn stream_text(frames: &[(Stream, Vec<u8>)], want: Stream) -> String {
    frames
        .iter()
        .filter(|(s, _)| *s == want)
        .map(|(_, p)| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn exit_record(path: &Path) -> Value {
    assert!(
        wait_until(Duration::from_secs(20), || path.exists()),
        "no exit record at {}",
        path.display()
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn log_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

/// After the end: the monitor is gone, its socket removed, nothing left in the runtime.
fn assert_ended(rt: &Runtime, b: &Bundle, c: &Container, spawned: Spawned) {
    assert!(
        wait_until(Duration::from_secs(10), || !pid_alive(spawned.monitor_pid)),
        "monitor still alive"
    );
    assert!(!c.req.socket.exists(), "monitor socket left behind");
    rt.assert_nothing_left(b, &c.id);
}

#[test]
fn attach_gets_frames_log_and_exit_record() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.sh("echo out; echo err >&2; exit 3");
        let c = request(&rt, &b, "monattach");
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        assert_eq!(rt.status(&c.id), "created");
        assert_eq!(rt.pid(&c.id), spawned.init_pid);
        let mode = std::fs::metadata(&c.req.socket).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let client = monitor::attach(&c.req.socket, false, true, true).unwrap();
        assert!(
            monitor::resize(&c.req.socket, 10, 10).is_err(),
            "resize without a terminal"
        );
        monitor::start(&c.req.socket).unwrap();
        assert!(monitor::start(&c.req.socket).is_err(), "a second start");
        let bytes = read_all(client);
        let got = frames(&bytes);
        assert_eq!(stream_text(&got, Stream::Stdout), "out\n", "{got:?}");
        assert_eq!(stream_text(&got, Stream::Stderr), "err\n", "{got:?}");
        // The whole wire: exactly two frames, nothing else.
        assert_eq!(bytes.len(), 2 * (8 + 4), "{bytes:?}");
        // The stream ends after the exit record is written.
        assert!(
            c.req.exit_file.exists(),
            "stream ended before the exit record"
        );
        let exit = exit_record(&c.req.exit_file);
        assert_eq!(exit["exitCode"], 3, "{exit}");
        assert_eq!(exit["oomKilled"], false, "{exit}");
        let lines = log_lines(&c.req.log);
        let of = |stream: &str| -> Vec<String> {
            lines
                .iter()
                .filter(|l| l["stream"] == stream)
                .map(|l| l["log"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(of("stdout"), ["out\n"], "{lines:?}");
        assert_eq!(of("stderr"), ["err\n"], "{lines:?}");
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

#[test]
fn stdin_once_closes_the_containers_stdin_at_the_clients_eof() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.args(&["cat"]);
        let mut c = request(&rt, &b, "monstdin");
        c.req.open_stdin = true;
        c.req.stdin_once = true;
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        let mut client = monitor::attach(&c.req.socket, true, true, false).unwrap();
        monitor::start(&c.req.socket).unwrap();
        client.write_all(b"hello\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let got = frames(&read_all(client));
        assert_eq!(got, [(Stream::Stdout, b"hello\n".to_vec())], "{got:?}");
        let exit = exit_record(&c.req.exit_file);
        assert_eq!(exit["exitCode"], 0, "{exit}");
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

#[test]
fn tty_output_is_raw_and_resize_reaches_the_pty() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.set("/process/terminal", serde_json::json!(true));
        b.sh("sleep 0.3; stty size");
        let mut c = request(&rt, &b, "montty");
        c.req.tty = true;
        c.req.console_size = Some((24, 80));
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        let client = monitor::attach(&c.req.socket, false, true, true).unwrap();
        monitor::resize(&c.req.socket, 40, 100).unwrap();
        monitor::start(&c.req.socket).unwrap();
        let text = String::from_utf8_lossy(&read_all(client)).into_owned();
        assert_eq!(text, "40 100\r\n");
        let exit = exit_record(&c.req.exit_file);
        assert_eq!(exit["exitCode"], 0, "{exit}");
        let lines = log_lines(&c.req.log);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["log"], "40 100\r\n", "{lines:?}");
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

#[test]
fn a_missing_program_is_not_found_and_leaves_nothing() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.args(&["/nope"]);
        let c = request(&rt, &b, "monnope");
        match monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req) {
            Err(Error::Spawn {
                kind: SpawnErrorKind::NotFound,
                message,
            }) => assert!(
                message.contains("no such file or directory")
                    || message.contains("executable file not found in $PATH"),
                "{message}"
            ),
            other => panic!("expected a not-found spawn error, got {other:?}"),
        }
        assert!(!c.req.socket.exists(), "monitor socket left behind");
        assert!(
            !c.req.exit_file.exists(),
            "exit record for a container that never ran"
        );
        rt.assert_nothing_left(&b, &c.id);

        // Not found in $PATH, too.
        let mut b = rt.bundle();
        b.args(&["no-such-program"]);
        let c = request(&rt, &b, "monnope");
        match monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req) {
            Err(Error::Spawn {
                kind: SpawnErrorKind::NotFound,
                message,
            }) => assert!(
                message.contains("executable file not found in $PATH"),
                "{message}"
            ),
            other => panic!("expected a not-found spawn error, got {other:?}"),
        }
        rt.assert_nothing_left(&b, &c.id);
        z.shutdown();
    }
}

#[test]
fn a_malformed_request_gets_an_error_reply() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut s = UnixStream::connect(&z.socket).unwrap();
        s.write_all(b"{\"nonsense\":1}\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("{\"error\":"), "{reply}");
        z.shutdown();
    }
}

#[test]
fn the_monitor_is_the_zygotes_child_and_runs_on_alone() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let c = request(&rt, &b, "monsurv");
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        assert_eq!(ppid(spawned.monitor_pid), z.pid);
        assert_ne!(ppid(spawned.monitor_pid), std::process::id() as i32);
        let client = monitor::attach(&c.req.socket, false, true, true).unwrap();
        monitor::start(&c.req.socket).unwrap();
        drop(client);
        std::thread::sleep(Duration::from_millis(300));
        assert!(pid_alive(spawned.monitor_pid));
        assert_eq!(rt.status(&c.id), "running");
        // A bad request on the monitor's socket does not hurt it either.
        let mut s = UnixStream::connect(&c.req.socket).unwrap();
        s.write_all(b"garbage\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("{\"error\":"), "{reply}");
        assert_eq!(rt.status(&c.id), "running");
        assert_ok(rt.kind, "kill", &rt.kill(&c.id, "KILL"));
        let exit = exit_record(&c.req.exit_file);
        assert_eq!(exit["exitCode"], 137, "{exit}");
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

fn smaps_kb(pid: i32) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb = v.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some((k.to_string(), kb))
        })
        .collect()
}

/// Every mapping with private dirty pages (for finding what a monitor touches).
fn dump_private_dirty(pid: i32) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut header = "";
    for line in text.lines() {
        if !line.ends_with("kB") && line.split_whitespace().count() >= 5 {
            header = line;
        } else if let Some(v) = line.strip_prefix("Private_Dirty:")
            && v.trim() != "0 kB"
        {
            eprintln!("  {:>8} {header}", v.trim());
        }
    }
}

fn field(fields: &[(String, u64)], name: &str) -> u64 {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or(0, |(_, v)| *v)
}

#[test]
fn monitors_are_small() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut running = Vec::new();
        for _ in 0..3 {
            let mut b = rt.bundle();
            b.args(&["sleep", "100"]);
            let c = request(&rt, &b, "monmem");
            let spawned =
                monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
            monitor::start(&c.req.socket).unwrap();
            running.push((b, c, spawned));
        }
        std::thread::sleep(Duration::from_millis(200));
        for (_, c, spawned) in &running {
            let f = smaps_kb(spawned.monitor_pid);
            let (rss, pss, dirty, clean) = (
                field(&f, "Rss"),
                field(&f, "Pss"),
                field(&f, "Private_Dirty"),
                field(&f, "Private_Clean"),
            );
            eprintln!(
                "monitor {} (pid {}): Rss {rss} kB, Pss {pss} kB, Private_Dirty {dirty} kB, Private_Clean {clean} kB",
                c.id, spawned.monitor_pid
            );
            assert!(dirty < 4096, "monitor private dirty {dirty} kB");
            if std::env::var_os("BERTH_TEST_SMAPS").is_some() {
                dump_private_dirty(spawned.monitor_pid);
            }
        }
        let f = smaps_kb(z.pid);
        eprintln!(
            "zygote (pid {}): Rss {} kB, Pss {} kB, Private_Dirty {} kB",
            z.pid,
            field(&f, "Rss"),
            field(&f, "Pss"),
            field(&f, "Private_Dirty")
        );
        for (b, c, spawned) in &running {
            assert_ok(rt.kind, "kill", &rt.kill(&c.id, "KILL"));
            let exit = exit_record(&c.req.exit_file);
            assert_eq!(exit["exitCode"], 137, "{exit}");
            assert_ended(&rt, b, c, *spawned);
        }
        z.shutdown();
    }
}

/// A container that writes far more than a pipe holds does not stall: the monitor drains it into
/// the log and to the attached client, in order.
#[test]
fn large_output_reaches_the_log_and_the_client() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.sh("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done");
        let c = request(&rt, &b, "monbig");
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        let client = monitor::attach(&c.req.socket, false, true, false).unwrap();
        monitor::start(&c.req.socket).unwrap();
        let got = frames(&read_all(client));
        let text = stream_text(&got, Stream::Stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20000);
        assert_eq!(lines[19999], "line-19999");
        let log = log_lines(&c.req.log);
        assert_eq!(log.len(), 20000);
        assert_eq!(log[19999]["log"], "line-19999\n");
        assert_eq!(exit_record(&c.req.exit_file)["exitCode"], 0);
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

#[test]
fn oom_kill_is_recorded() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        let mib32 = 32 * 1024 * 1024;
        b.set(
            "/linux/resources/memory",
            serde_json::json!({"limit": mib32, "swap": mib32}),
        );
        b.sh("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}");
        let c = request(&rt, &b, "monoom");
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        monitor::start(&c.req.socket).unwrap();
        let exit = exit_record(&c.req.exit_file);
        assert_eq!(exit["exitCode"], 137, "{exit}");
        assert_eq!(exit["oomKilled"], true, "{exit}");
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

/// A created container stays created; killing it through the runtime ends it like any exit.
#[test]
fn a_container_killed_before_start_is_recorded() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.args(&["sleep", "100"]);
        let c = request(&rt, &b, "monnostart");
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        let client = monitor::attach(&c.req.socket, false, true, true).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(rt.status(&c.id), "created");
        assert_ok(rt.kind, "kill", &rt.kill(&c.id, "KILL"));
        assert!(read_all(client).is_empty());
        let exit = exit_record(&c.req.exit_file);
        assert_eq!(exit["exitCode"], 137, "{exit}");
        // Start after the end is refused, not hung.
        assert!(monitor::start(&c.req.socket).is_err());
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

/// The monitor needs nothing of the process that forked it: with the zygote SIGKILLed, it still
/// takes attach clients, feeds stdin and records the exit.
#[test]
fn monitors_outlive_a_killed_zygote() {
    for rt in berth_only() {
        let mut z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.sh("read x; echo got $x");
        let mut c = request(&rt, &b, "monorphan");
        c.req.open_stdin = true;
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        monitor::start(&c.req.socket).unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(z.pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        assert!(wait_until(Duration::from_secs(5), || !pid_alive(z.pid)));
        z.shut = true;
        assert!(pid_alive(spawned.monitor_pid));
        let mut client = monitor::attach(&c.req.socket, true, true, true).unwrap();
        client.write_all(b"hi\n").unwrap();
        let got = frames(&read_all(client));
        assert_eq!(stream_text(&got, Stream::Stdout), "got hi\n", "{got:?}");
        assert_eq!(exit_record(&c.req.exit_file)["exitCode"], 0);
        assert_ended(&rt, &b, &c, spawned);
    }
}

#[test]
fn tty_stdin_goes_to_the_pty() {
    for rt in berth_only() {
        let z = Zygote::start(&rt);
        let mut b = rt.bundle();
        b.set("/process/terminal", serde_json::json!(true));
        b.sh("read x; echo got-$x");
        let mut c = request(&rt, &b, "mottyin");
        c.req.tty = true;
        c.req.open_stdin = true;
        c.req.stdin_once = true;
        let spawned =
            monitor::spawn(&z.socket, Path::new(env!("CARGO_BIN_EXE_berth")), &c.req).unwrap();
        let mut client = monitor::attach(&c.req.socket, true, true, false).unwrap();
        monitor::start(&c.req.socket).unwrap();
        client.write_all(b"hi\n").unwrap();
        let text = String::from_utf8_lossy(&read_all(client)).into_owned();
        // The pty echoes the input, then the program answers.
        assert!(text.contains("got-hi\r\n"), "{text:?}");
        assert_eq!(exit_record(&c.req.exit_file)["exitCode"], 0);
        assert_ended(&rt, &b, &c, spawned);
        z.shutdown();
    }
}

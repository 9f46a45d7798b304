//! `exec` through the daemon: the real docker CLI, docker-py and the berth CLI running
//! processes in running containers (output, exit codes, a TTY, env/workdir/user, detached,
//! errors).

mod daemon_support;

use daemon_support::{Daemon, text};

/// A running busybox container named `name` that sleeps.
fn sleeper(d: &Daemon, name: &str) -> String {
    d.docker_ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"])
        .trim()
        .to_string()
}

#[test]
fn exec_output_and_exit_code() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex1");
    let out = d.docker(&["exec", "ex1", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = d.berth(&["exec", "ex1", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    // The exec'd process is in the container's pid namespace (the sleep is pid 1).
    let out = d.berth(&["exec", "ex1", "cat", "/proc/1/cmdline"]);
    assert_eq!(text(&out.stdout), "sleep\u{0}1000\u{0}");
}

#[test]
fn exec_stdin_is_forwarded_and_closed() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex2");
    let out = d.docker_stdin(
        &["exec", "-i", "ex2", "sh", "-c", "cat; echo end"],
        b"hello\n",
    );
    assert_eq!(text(&out.stdout), "hello\nend\n", "{}", text(&out.stderr));
    let out = d.berth_stdin(&["exec", "-i", "ex2", "wc", "-c"], b"12345");
    assert_eq!(text(&out.stdout).trim(), "5", "{}", text(&out.stderr));
}

/// Runs `argv` under a pseudo-terminal of 40x120 (python's pty), typing `input`; returns
/// (exit code, what the terminal showed).
fn under_pty(d: &Daemon, argv: &[&str], input: &str) -> (i32, String) {
    let script = format!(
        r#"
import os, pty, fcntl, termios, struct, time
argv = {argv:?}
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
    os.execvp(argv[0], argv)
time.sleep(0.5)
os.write(fd, {input:?}.encode())
out = b''
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(str(os.waitstatus_to_exitcode(status)) + '\n' + out.decode('utf-8', 'replace'))
"#
    );
    let out = d.python(&script);
    let s = text(&out.stdout);
    let (code, shown) = s.split_once('\n').unwrap_or(("-1", ""));
    (
        code.trim().parse().unwrap_or(-1),
        format!("{shown}{}", text(&out.stderr)),
    )
}

#[test]
fn exec_it_gets_a_terminal_of_the_callers_size() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex3");
    let script = "tty; stty size; read line; echo got:$line; exit 5";
    for cli in [daemon_support::DOCKER, daemon_support::BERTH] {
        let (code, shown) = under_pty(
            &d,
            &[cli, "exec", "-it", "ex3", "sh", "-c", script],
            "typed\r",
        );
        assert_eq!(code, 5, "{cli}: {shown}");
        assert!(shown.contains("/dev/pts/"), "{cli}: {shown}");
        assert!(shown.contains("40 120"), "{cli}: {shown}");
        assert!(shown.contains("got:typed"), "{cli}: {shown}");
    }
}

#[test]
fn exec_env_workdir_user() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex4");
    let env_file = d.dir.path().join("exec.env");
    std::fs::write(&env_file, "FROM_FILE=f1\n").unwrap();
    for cli in ["docker", "berth"] {
        let args = [
            "exec",
            "-e",
            "A=1",
            "--env-file",
            env_file.to_str().unwrap(),
            "-w",
            "/tmp",
            "-u",
            "www",
            "ex4",
            "sh",
            "-c",
            "echo $A $FROM_FILE $(pwd) $(id -G) $PATH",
        ];
        let out = d.cli(cli, &args);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "1 f1 /tmp 33 50 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
            "{cli}"
        );
    }
    // An unknown user is refused with Docker's wording, on the stream, exit code 126.
    let out = d.docker(&["exec", "-u", "nosuchuser", "ex4", "true"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        text(&out.stdout).contains("unable to find user nosuchuser"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn exec_detached_runs_in_the_background() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex5");
    for (cli, file) in [("docker", "/tmp/d1"), ("berth", "/tmp/d2")] {
        let args = [
            "exec",
            "-d",
            "ex5",
            "sh",
            "-c",
            &format!("sleep 0.3; echo hi > {file}"),
        ];
        let out = d.cli(cli, &args);
        assert!(out.status.success(), "{cli}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "{cli}");
        // It returned before the process finished.
        let now = d.docker(&["exec", "ex5", "cat", file]);
        assert!(!now.status.success(), "{cli}: the file is there already");
        d.eventually(10, "the detached exec's file", || {
            text(&d.docker(&["exec", "ex5", "cat", file]).stdout) == "hi\n"
        });
    }
}

#[test]
fn exec_errors() {
    let d = Daemon::with_busybox();
    d.docker_ok(&["create", "--name", "ex6", "busybox", "sleep", "1000"]);
    // A container that does not run: 409 with Docker's message.
    let (code, body) = d.http(
        "POST",
        "/containers/ex6/exec",
        Some(r#"{"Cmd":["true"],"AttachStdout":true}"#),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("is not running"), "{body}");
    for cli in ["docker", "berth"] {
        let args = ["exec", "ex6", "true"];
        let out = d.cli(cli, &args);
        assert_eq!(out.status.code(), Some(1), "{cli}");
        assert!(
            text(&out.stderr).contains("is not running"),
            "{cli}: {}",
            text(&out.stderr)
        );
    }
    d.docker_ok(&["start", "ex6"]);
    // A program that is missing: 127; one that cannot be executed: 126.
    for cli in ["docker", "berth"] {
        let run = |args: &[&str]| d.cli(cli, args);
        let out = run(&["exec", "ex6", "/no/such/program"]);
        assert_eq!(out.status.code(), Some(127), "{cli}");
        assert!(
            text(&out.stdout).contains("no such file or directory"),
            "{cli}: {}",
            text(&out.stdout)
        );
        let out = run(&["exec", "ex6", "/etc/passwd"]);
        assert_eq!(out.status.code(), Some(126), "{cli}: {}", text(&out.stdout));
        // A working directory that is not there: 126, the reason on the stream.
        let out = run(&["exec", "-w", "/no/such/dir", "ex6", "true"]);
        assert_eq!(out.status.code(), Some(126), "{cli}: {}", text(&out.stdout));
        assert!(
            text(&out.stdout).contains("/no/such/dir"),
            "{cli}: {}",
            text(&out.stdout)
        );
    }
    // An exec created while the container ran, started after it stopped: 409.
    let (_, body) = d.http("POST", "/containers/ex6/exec", Some(r#"{"Cmd":["true"]}"#));
    let late: serde_json::Value = serde_json::from_str(&body).unwrap();
    d.docker_ok(&["kill", "ex6"]);
    d.eventually(10, "the container to stop", || {
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", "ex6"])
            .trim()
            == "false"
    });
    let (code, body) = d.http(
        "POST",
        &format!("/exec/{}/start", late["Id"].as_str().unwrap()),
        Some(r#"{"Detach":true}"#),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("is not running"), "{body}");
    let (code, body) = d.http("POST", "/containers/ex6/exec", Some(r#"{"Cmd":[]}"#));
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.http("GET", "/exec/nope/json", None);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("No such exec instance"), "{body}");
    d.docker_ok(&["rm", "-f", "ex6"]);
}

#[test]
fn exec_through_docker_py_and_inspect() {
    let d = Daemon::with_busybox();
    let id = sleeper(&d, "ex7");
    let out = d.python(
        r#"
c = client.containers.get("ex7")
code, output = c.exec_run(["sh", "-c", "echo py; exit 2"])
print(code, output.decode().strip())
code, output = c.exec_run("env", environment={"K": "v"}, workdir="/etc", user="www")
print("K=v" in output.decode(), code)
r = client.api.exec_create("ex7", ["sleep", "5"])
client.api.exec_start(r["Id"], detach=True)
i = client.api.exec_inspect(r["Id"])
print(i["Running"], i["Pid"] > 0, i["ContainerID"] == c.id, i["ProcessConfig"]["entrypoint"])
print(r["Id"] in (client.api.inspect_container("ex7")["ExecIDs"] or []))
"#,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "2 py\nTrue 0\nTrue True True sleep\nTrue\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(id.len(), 64);
}

#[test]
fn exec_resize_reaches_its_terminal() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex8");
    let (code, body) = d.http(
        "POST",
        "/containers/ex8/exec",
        Some(r#"{"Cmd":["sh","-c","sleep 1; stty size > /tmp/size"],"Tty":true}"#),
    );
    assert_eq!(code, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = v["Id"].as_str().unwrap();
    let (code, body) = d.http(
        "POST",
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":true,"Tty":true}"#),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = d.http("POST", &format!("/exec/{id}/resize?h=33&w=111"), None);
    assert_eq!(code, 200, "{body}");
    d.eventually(10, "the size written", || {
        text(&d.docker(&["exec", "ex8", "cat", "/tmp/size"]).stdout) == "33 111\n"
    });
    // Started once only; a resize of a finished exec is refused.
    let (code, _) = d.http(
        "POST",
        &format!("/exec/{id}/start"),
        Some(r#"{"Detach":true}"#),
    );
    assert_eq!(code, 409);
    d.eventually(10, "the exec to end", || {
        d.http("GET", &format!("/exec/{id}/json"), None)
            .1
            .contains(r#""Running":false"#)
    });
    let (code, _) = d.http("POST", &format!("/exec/{id}/resize?h=1&w=1"), None);
    assert_eq!(code, 409);
}

#[test]
fn exec_privileged_gets_every_capability() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex9");
    let caps = |args: &[&str]| {
        let out = d.berth(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        let hex = s.split_whitespace().nth(1).unwrap_or_default().to_string();
        u64::from_str_radix(&hex, 16).unwrap()
    };
    let plain = caps(&["exec", "ex9", "grep", "CapEff", "/proc/self/status"]);
    let privileged = caps(&[
        "exec",
        "--privileged",
        "ex9",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    // Docker's default set lacks CAP_SYS_ADMIN (21); a privileged exec has it.
    assert_eq!(plain & (1 << 21), 0, "{plain:x}");
    assert_ne!(privileged & (1 << 21), 0, "{privileged:x}");
    assert!(privileged.count_ones() > plain.count_ones());
}

#[test]
fn exec_detach_keys_leave_the_process_running() {
    let d = Daemon::with_busybox();
    sleeper(&d, "ex10");
    // The daemon watches a terminal exec's input (docker-py leaves it to the daemon); docker-py
    // spells the key `detachKeys`, which Docker's decoder takes as `DetachKeys`.
    let out = d.python(
        r#"
r = client.api.exec_create("ex10", ["sh", "-c", "cat; echo unreachable"], stdin=True, tty=True, detach_keys="ctrl-x,x")
s = client.api.exec_start(r["Id"], tty=True, socket=True)
raw = getattr(s, "_sock", s)
raw.settimeout(10)
raw.sendall(b"abc")
got = b""
while b"abc" not in got:
    got += raw.recv(4096)
raw.sendall(b"\x18x")
while True:
    chunk = raw.recv(4096)
    if not chunk:
        break
    got += chunk
print(got.count(b"abc") >= 1, client.api.exec_inspect(r["Id"])["Running"])
"#,
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "True True",
        "{}",
        text(&out.stderr)
    );
    let (code, body) = d.http(
        "POST",
        "/containers/ex10/exec",
        Some(r#"{"Cmd":["true"],"Tty":true,"AttachStdin":true,"DetachKeys":"ctrl-1"}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("detach keys"), "{body}");
}

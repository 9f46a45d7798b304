//! The berth CLI's local context: as root on the daemon's unix socket it names the directory
//! and the daemon reads it in place (no tar); anyone else must send the tar.

mod daemon_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use daemon_support::{Daemon, text};

#[test]
fn the_directory_is_read_in_place_and_a_changed_file_is_seen() {
    let d = Daemon::start_with_args(&["--log-level", "debug"]);
    d.import_busybox("busybox");
    let ctx = tempfile::tempdir().unwrap();
    let dir = ctx.path().to_str().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY a.txt /a.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "secret.txt\n").unwrap();
    std::fs::write(ctx.path().join("a.txt"), "one\n").unwrap();
    std::fs::write(ctx.path().join("secret.txt"), "hidden\n").unwrap();
    let first = d.berth_ok(&["build", "-q", "-t", "inplace:1", dir]);
    assert!(
        d.log().contains("build context read in place"),
        "the CLI sent a tar: {}",
        d.log()
    );
    assert_eq!(
        d.berth_ok(&["run", "--rm", "inplace:1", "cat", "/a.txt"]),
        "one\n"
    );
    // The same size, other bytes: the COPY is not taken from the cache.
    std::fs::write(ctx.path().join("a.txt"), "two\n").unwrap();
    let second = d.berth_ok(&["build", "-q", "-t", "inplace:2", dir]);
    assert_ne!(first.trim(), second.trim());
    assert_eq!(
        d.berth_ok(&["run", "--rm", "inplace:2", "cat", "/a.txt"]),
        "two\n"
    );
    // .dockerignore holds for a directory read in place as for a tar.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY secret.txt /s\n",
    )
    .unwrap();
    let out = d.berth(&["build", "-q", dir]);
    assert!(!out.status.success(), "an ignored file was copied");
}

#[test]
fn a_directory_is_refused_over_tcp() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with_args(&["-H", &tcp]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no TCP listener: {}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "-H"])
        .arg(format!("X-Berth-Context-Dir: {}", ctx.path().display()))
        .arg(format!("http://127.0.0.1:{port}/v1.50/build"))
        .output()
        .unwrap();
    let body = text(&out.stdout);
    assert!(body.ends_with("\n400"), "{body}");
    assert!(
        body.contains("only from root on the daemon's unix socket"),
        "{body}"
    );
}

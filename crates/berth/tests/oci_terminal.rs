//! `process.terminal`: the pty master goes to `--console-socket` (runc's protocol), and the
//! process sees a terminal from the container's own devpts.
mod common;
use common::*;
use serde_json::json;
use std::io::{IoSliceMut, Read};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Receives the pty master sent over an accepted console-socket connection.
fn receive_master(listener: &UnixListener) -> Option<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let (stream, _) = listener
        .accept()
        .expect("runtime connects to the console socket");
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg on the console socket");
    for cmsg in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel installed this descriptor for us.
            return Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    None
}

/// Reads from the master until `want` shows up or the process closes the terminal.
fn read_until(master: OwnedFd, want: &str) -> String {
    let mut file = std::fs::File::from(master);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !text.contains(want) {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[test]
fn console_socket_gets_the_pty() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/process/terminal", json!(true));
        b.sh("tty; echo ok-$((6*7))");
        let dir = rt.tempdir();
        let sock = dir.join("console.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        b.save();
        let id = rt.id("tty");
        rt.track(&id);
        let mut create = rt.cmd();
        create
            .args([
                "create",
                "--console-socket",
                sock.to_str().unwrap(),
                "--bundle",
                b.path_str(),
                &id,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = create.spawn().unwrap();
        let master = receive_master(&listener);
        let created = child.wait_with_output().unwrap();
        assert!(
            created.status.success() && master.is_some(),
            "{k}: create with a console socket failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let master = master.unwrap();
        assert_ok(k, "start", &rt.start(&id));
        let text = read_until(master, "ok-42");
        assert!(
            text.contains("/dev/pts/0"),
            "{k}: tty inside is not the container's pts: {text:?}"
        );
        assert!(
            text.contains("ok-42"),
            "{k}: output did not come through the pty: {text:?}"
        );
    }
}

#[test]
fn terminal_without_console_socket_refused_for_create() {
    for rt in runtimes() {
        let k = rt.kind;
        let mut b = rt.bundle();
        b.set("/process/terminal", json!(true));
        b.args(&["true"]);
        let id = rt.id("notty");
        let o = rt.create(&b, &id);
        assert_fail(k, "create with terminal and no console socket", &o);
        rt.assert_nothing_left(&b, &id);
    }
}

//! The zygote: a single-threaded process that forks one monitor per spawn request. It never
//! runs a container itself; each fork inherits its pages copy-on-write, which is what keeps a
//! monitor small.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use super::protocol::{Reply, ZygoteRequest, read_line, write_line};
use super::{Error, Result, SpawnErrorKind, child, exec, sys};

/// How long the zygote waits for a connection's first line before dropping it.
const READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Binds `socket` (mode 0600) and serves spawn requests until a shutdown request, then waits for
/// its last monitor to exit and returns. The calling process must be single-threaded.
pub fn serve_zygote(socket: &Path) -> Result<()> {
    // A client that goes away must not kill us (or the monitors, which inherit this; the
    // runtime restores default dispositions before the container's program runs).
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&chld), None).map_err(sys("block SIGCHLD"))?;
    let sigfd = SignalFd::with_flags(&chld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(sys("signalfd"))?;
    // Read the host's cgroup layout once here: every monitor forked later inherits it.
    if let Err(e) = berth_cgroups::detect() {
        tracing::warn!("reading the cgroup layout: {e}");
    }
    let listener = bind(socket)?;
    let mut listener = Some(listener);
    let mut monitors: usize = 0;
    loop {
        if listener.is_none() && monitors == 0 {
            return Ok(());
        }
        let (accept_ready, child_ready) = {
            let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
            if let Some(l) = &listener {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(sys("poll the zygote's socket")(e)),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (fds.get(1).is_some_and(ready), ready(&fds[0]))
        };
        if child_ready {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            monitors -= reap(monitors);
        }
        if accept_ready && let Some(l) = &listener {
            match l.accept() {
                Ok((conn, _)) => match serve_one(conn, l, &sigfd) {
                    Served::Forked => monitors += 1,
                    Served::Shutdown => {
                        listener = None;
                        let _ = std::fs::remove_file(socket);
                    }
                    Served::Nothing => {}
                },
                Err(e) => tracing::warn!("zygote: accept: {e}"),
            }
            // Give back what parsing the request took: the zygote stays the size it started.
            crate::heap::release_free_heap();
        }
    }
}

/// Binds the listening socket, replacing a stale one nobody answers on.
fn bind(socket: &Path) -> Result<UnixListener> {
    if socket.exists() && UnixStream::connect(socket).is_ok() {
        return Err(Error::Protocol(format!(
            "a zygote already listens on {}",
            socket.display()
        )));
    }
    child::bind_private(socket)
}

/// Reaps every exited child without blocking; returns how many.
fn reap(limit: usize) -> usize {
    let mut reaped = 0;
    while reaped < limit {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => reaped += 1,
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
    reaped
}

enum Served {
    Forked,
    Shutdown,
    Nothing,
}

fn serve_one(mut conn: UnixStream, listener: &UnixListener, sigfd: &SignalFd) -> Served {
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let request = read_line(&mut conn).and_then(|line| {
        serde_json::from_slice::<ZygoteRequest>(&line)
            .map_err(|e| Error::Protocol(format!("bad request: {e}")))
    });
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            let _ = write_line(
                &mut conn,
                &Reply::error(SpawnErrorKind::Other, e.to_string()),
            );
            return Served::Nothing;
        }
    };
    match request {
        ZygoteRequest::Ping { .. } => {
            let _ = write_line(&mut conn, &Reply::Ok(true));
            Served::Nothing
        }
        ZygoteRequest::Shutdown { shutdown } => {
            let _ = write_line(&mut conn, &Reply::Ok(true));
            if shutdown {
                Served::Shutdown
            } else {
                Served::Nothing
            }
        }
        ZygoteRequest::Spawn(req) => {
            let zygote_fds = [listener.as_raw_fd(), sigfd.as_raw_fd()];
            fork_monitor(conn, |conn| {
                child::run(conn, &req, &zygote_fds);
            })
        }
        ZygoteRequest::Exec { exec } => {
            let zygote_fds = [listener.as_raw_fd(), sigfd.as_raw_fd()];
            fork_monitor(conn, |conn| {
                exec::run(conn, &exec, &zygote_fds);
            })
        }
    }
}

/// Forks a monitor that runs `body` with the connection (and nothing else of the zygote's);
/// `body` never returns (it ends in `_exit`).
fn fork_monitor(mut conn: UnixStream, body: impl FnOnce(UnixStream)) -> Served {
    let _ = conn.set_read_timeout(None);
    // SAFETY: the zygote is single-threaded, so the child gets a consistent copy of memory;
    // it never returns from `body`.
    match unsafe { libc::fork() } {
        0 => {
            body(conn);
            // SAFETY: unreachable in practice; never return into the zygote's loop.
            unsafe { libc::_exit(1) }
        }
        -1 => {
            let e = std::io::Error::last_os_error();
            let _ = write_line(
                &mut conn,
                &Reply::error(SpawnErrorKind::Other, format!("fork a monitor: {e}")),
            );
            Served::Nothing
        }
        _ => Served::Forked,
    }
}

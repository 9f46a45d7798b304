//! The exec monitor: forked from the zygote for one `docker exec`. It starts the process in the
//! running container through the runtime library (which joins the container's namespaces and
//! cgroup and applies the process's credentials, capabilities, no_new_privs and seccomp),
//! holds its stdio, pumps it over the zygote connection it kept (Docker's attach bytes), serves
//! `resize` for a terminal, and writes the exit record when the process ends.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use berth_runtime::container::{self, ExecOptions};
use berth_runtime::process::clone::Child;
use berth_runtime::process::stdio::Stdio;
use berth_runtime::state::StateRoot;
use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, socketpair};

use super::child::{
    CHUNK, bind_private, exit_status, flush_stdin, leave_zygote, pipe, receive_master, send_all,
    set_nonblocking, set_winsize,
};
use super::poll::PollSet;
use super::protocol::{MonitorRequest, Reply, read_line, write_line};
use super::{Error, ExecRequest, ExitRecord, Result, SpawnErrorKind, Spawned, io, sys};
use crate::detach::Escape;
use crate::logs::{Stream, encode_frame};

/// How long a resize client may take to send its line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs in the zygote's child: starts the process, replies on `conn`, pumps until the process
/// has ended and its output is drained, records the exit and exits.
pub fn run(mut conn: UnixStream, req: &ExecRequest, zygote_fds: &[RawFd]) -> ! {
    leave_zygote(zygote_fds);
    let code = match ExecMonitor::launch(req) {
        Ok(monitor) => {
            let reply = Reply::Created(Spawned {
                monitor_pid: std::process::id() as i32,
                init_pid: monitor.child.pid,
            });
            let _ = write_line(&mut conn, &reply);
            let conn = (!req.detached()).then_some(conn);
            crate::heap::release_free_heap();
            monitor.serve(conn);
            0
        }
        Err(e) => {
            if let Some(socket) = &req.socket {
                let _ = std::fs::remove_file(socket);
            }
            let _ = write_line(&mut conn, &Reply::from_error(&e));
            1
        }
    };
    // SAFETY: everything is written and closed; skip the zygote's exit handlers.
    unsafe { libc::_exit(code) }
}

struct ExecMonitor<'a> {
    req: &'a ExecRequest,
    child: Child,
    listener: Option<UnixListener>,
    /// stdout and stderr read ends; for a terminal, the master in slot 0.
    outputs: [Option<OwnedFd>; 2],
    /// A terminal's master, for resizing.
    tty: Option<OwnedFd>,
    /// Where the client's bytes go (a pipe, or the master), non-blocking.
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    exit_code: Option<i32>,
    /// Watches the client's input for the detach keys.
    escape: Option<Escape>,
}

/// What a read from the client came to.
enum ClientRead {
    More,
    /// Its EOF: stdin closes.
    Eof,
    /// It typed the detach keys: the client goes, the process runs on.
    Detach,
}

#[derive(Clone, Copy)]
enum Slot {
    Client,
    Stdin,
    Output(usize),
    Child,
    Listener,
}

fn dev_null() -> Result<OwnedFd> {
    Ok(std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(io("open /dev/null"))?
        .into())
}

/// A pipe whose read end we keep (non-blocking) if `wanted`, else /dev/null for the process.
fn output(wanted: bool) -> Result<(Option<OwnedFd>, OwnedFd)> {
    if !wanted {
        return Ok((None, dev_null()?));
    }
    let (read, write) = pipe()?;
    set_nonblocking(&read)?;
    Ok((Some(read), write))
}

impl<'a> ExecMonitor<'a> {
    fn launch(req: &'a ExecRequest) -> Result<ExecMonitor<'a>> {
        let listener = match &req.socket {
            Some(path) => {
                let l = bind_private(path)?;
                l.set_nonblocking(true)
                    .map_err(io("make the exec socket non-blocking"))?;
                Some(l)
            }
            None => None,
        };
        let root = StateRoot::new(&req.state_root);
        let options = |console_socket, stdio| ExecOptions {
            id: &req.container_id,
            process: req.process.clone(),
            detach: true,
            pid_file: None,
            console_socket,
            preserve_fds: 0,
            stdio,
        };
        if req.tty() {
            let (ours, theirs) = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(sys("socketpair for the console"))?;
            let child = container::spawn_exec(&root, options(Some(theirs), None))?;
            let master = receive_master(ours)?;
            set_nonblocking(&master)?;
            let dup = || master.try_clone().map_err(io("dup the pty master"));
            let stdin = if req.attach_stdin { Some(dup()?) } else { None };
            let tty = Some(dup()?);
            return Ok(ExecMonitor::new(
                req,
                child,
                listener,
                [Some(master), None],
                tty,
                stdin,
            ));
        }
        let (out, stdout) = output(req.attach_stdout)?;
        let (err, stderr) = output(req.attach_stderr)?;
        let (stdin, stdin_end) = if req.attach_stdin {
            let (read, write) = pipe()?;
            set_nonblocking(&write)?;
            (Some(write), read)
        } else {
            (None, dev_null()?)
        };
        let stdio = Stdio {
            stdin: stdin_end,
            stdout,
            stderr,
        };
        let child = container::spawn_exec(&root, options(None, Some(stdio)))?;
        Ok(ExecMonitor::new(
            req,
            child,
            listener,
            [out, err],
            None,
            stdin,
        ))
    }

    fn new(
        req: &'a ExecRequest,
        child: Child,
        listener: Option<UnixListener>,
        outputs: [Option<OwnedFd>; 2],
        tty: Option<OwnedFd>,
        stdin: Option<OwnedFd>,
    ) -> ExecMonitor<'a> {
        ExecMonitor {
            req,
            child,
            listener,
            outputs,
            tty,
            stdin,
            stdin_buf: Vec::new(),
            exit_code: None,
            escape: (!req.detach_keys.is_empty()).then(|| Escape::new(req.detach_keys.clone())),
        }
    }

    /// The poll loop, until the process has exited and its output is drained.
    fn serve(mut self, mut conn: Option<UnixStream>) {
        let mut buf = [0u8; CHUNK];
        let mut reading = conn.is_some();
        let mut set = PollSet::with_capacity(6);
        while self.exit_code.is_none() || self.outputs.iter().any(Option::is_some) {
            set.clear();
            if self.exit_code.is_none() {
                set.add(self.child.pidfd.as_raw_fd(), libc::POLLIN, Slot::Child);
            }
            for (i, out) in self.outputs.iter().enumerate() {
                if let Some(fd) = out {
                    set.add(fd.as_raw_fd(), libc::POLLIN, Slot::Output(i));
                }
            }
            if let Some(l) = &self.listener {
                set.add(l.as_raw_fd(), libc::POLLIN, Slot::Listener);
            }
            match (&self.stdin, &conn) {
                (Some(fd), _) if !self.stdin_buf.is_empty() => {
                    set.add(fd.as_raw_fd(), libc::POLLOUT, Slot::Stdin)
                }
                (_, Some(c)) if reading => set.add(c.as_raw_fd(), libc::POLLIN, Slot::Client),
                _ => {}
            }
            if !set.wait() {
                continue;
            }
            for k in 0..set.len() {
                let Some(slot) = set.ready(k) else { continue };
                match slot {
                    Slot::Output(i) => {
                        if !self.pump(i, &mut buf, conn.as_ref()) {
                            conn = None;
                        }
                    }
                    Slot::Child => self.reap(),
                    Slot::Listener => self.accept_all(),
                    Slot::Stdin => self.write_stdin(),
                    Slot::Client => {
                        let read = conn.as_ref().map(|c| self.read_client(c, &mut buf));
                        match read {
                            Some(ClientRead::Eof) => reading = false,
                            Some(ClientRead::Detach) => {
                                if let Some(c) = conn.take() {
                                    let _ = c.shutdown(std::net::Shutdown::Both);
                                }
                            }
                            Some(ClientRead::More) | None => {}
                        }
                    }
                }
            }
        }
        self.finish(conn);
    }

    /// Moves one chunk of output to the client; false if the client is gone.
    fn pump(&mut self, i: usize, buf: &mut [u8], conn: Option<&UnixStream>) -> bool {
        let Some(fd) = &self.outputs[i] else {
            return true;
        };
        let n = match nix::unistd::read(fd, buf) {
            Ok(0) | Err(Errno::EIO) => {
                self.outputs[i] = None;
                return true;
            }
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::EINTR) => return true,
            Err(_) => {
                self.outputs[i] = None;
                return true;
            }
        };
        let Some(conn) = conn else { return true };
        let data = &buf[..n];
        if self.req.tty() {
            return send_all(conn, data).is_ok();
        }
        let stream = if i == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        let mut frame = Vec::with_capacity(n + 8);
        encode_frame(stream, data, &mut frame);
        send_all(conn, &frame).is_ok()
    }

    /// Takes what the client sent for stdin.
    fn read_client(&mut self, conn: &UnixStream, buf: &mut [u8]) -> ClientRead {
        match nix::sys::socket::recv(conn.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
            Ok(0) | Err(Errno::ECONNRESET) => {
                // A terminal's master is also the output: only a pipe is closed.
                if !self.req.tty() {
                    self.stdin = None;
                }
                ClientRead::Eof
            }
            Ok(n) => {
                let detach = match &mut self.escape {
                    Some(escape) => escape.feed(&buf[..n], &mut self.stdin_buf),
                    None => {
                        self.stdin_buf.extend_from_slice(&buf[..n]);
                        false
                    }
                };
                if self.stdin.is_some() {
                    self.write_stdin();
                } else {
                    self.stdin_buf.clear();
                }
                if detach {
                    ClientRead::Detach
                } else {
                    ClientRead::More
                }
            }
            Err(_) => ClientRead::More,
        }
    }

    fn write_stdin(&mut self) {
        flush_stdin(&mut self.stdin, &mut self.stdin_buf);
    }

    fn reap(&mut self) {
        self.exit_code = self.exit_code.or(exit_status(self.child.pid));
    }

    /// Serves `resize` requests (the only ones an exec monitor takes).
    fn accept_all(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
            let request = read_line(&mut stream).and_then(|line| {
                serde_json::from_slice::<MonitorRequest>(&line)
                    .map_err(|e| Error::Protocol(format!("bad request: {e}")))
            });
            let reply = match (request, &self.tty) {
                (Ok(MonitorRequest::Resize { height, width }), Some(master)) => {
                    match set_winsize(master, height, width) {
                        Ok(()) => Reply::Ok(true),
                        Err(e) => Reply::from_error(&e),
                    }
                }
                (Ok(_), _) => {
                    Reply::error(SpawnErrorKind::Other, "an exec monitor serves resize only")
                }
                (Err(e), _) => Reply::from_error(&e),
            };
            let _ = write_line(&mut stream, &reply);
        }
    }

    /// The exit record first, so that a client that sees the stream end finds the exit code.
    fn finish(self, conn: Option<UnixStream>) {
        let record = ExitRecord::now(self.exit_code.unwrap_or(255), false);
        if let Err(e) = record.write(&self.req.exit_file) {
            tracing::warn!("exec monitor: exit record: {e}");
        }
        if let Some(c) = conn {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        if let Some(socket) = &self.req.socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

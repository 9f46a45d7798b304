//! The monitor process: forked from the zygote, it creates one container and then, in a single
//! poll loop, pumps the container's output into the log and to attached clients, feeds the
//! container's stdin, serves start/resize/attach requests on its socket and waits for the init
//! to exit. Then it drains the output, records the end and exits.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, SystemTime};

use berth_runtime::container::{self, CreateOptions};
use berth_runtime::process::clone::Child;
use berth_runtime::process::stdio::Stdio;
use berth_runtime::state::StateRoot;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::poll::PollSet;
use super::protocol::{MonitorRequest, Reply, take_line_part, write_line};
use super::{Error, ExitRecord, Result, SpawnErrorKind, SpawnRequest, Spawned, io, sys};
use crate::logs::{LogWriter, Stream, encode_frame};

/// Bytes read from the container or a client at a time. Small: every page the monitor touches
/// is its own.
pub(super) const CHUNK: usize = 8 * 1024;
/// The longest request line a monitor accepts.
pub(super) const MAX_REQUEST: usize = 4096;

/// Runs in the zygote's child: creates the container, replies on `conn`, serves until the
/// container has ended, and exits. `zygote_fds` are the zygote's own descriptors, closed here.
pub fn run(mut conn: UnixStream, req: &SpawnRequest, zygote_fds: &[RawFd]) -> ! {
    leave_zygote(zygote_fds);
    let code = match Monitor::create(req) {
        Ok(monitor) => {
            let reply = Reply::Created(Spawned {
                monitor_pid: std::process::id() as i32,
                init_pid: monitor.init.pid,
            });
            let _ = write_line(&mut conn, &reply);
            drop(conn);
            // Give back what creating the container took (the parsed spec and friends).
            crate::heap::release_free_heap();
            monitor.serve();
            0
        }
        Err(e) => {
            let _ = write_line(&mut conn, &Reply::from_error(&e));
            1
        }
    };
    // SAFETY: everything is written and closed; skip the zygote's exit handlers.
    unsafe { libc::_exit(code) }
}

/// A forked monitor's first step: close the zygote's descriptors and take SIGCHLD again (the
/// zygote blocks it for its signalfd).
pub(super) fn leave_zygote(zygote_fds: &[RawFd]) {
    for &fd in zygote_fds {
        // SAFETY: these descriptors are the zygote's; nothing in this process uses them.
        unsafe { libc::close(fd) };
    }
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&chld), None);
}

/// How our child `pid` ended, shell-style (its status, or 128 + the signal), if it has.
pub(super) fn exit_status(pid: i32) -> Option<i32> {
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Ok(_) | Err(Errno::EINTR) => None,
        Err(e) => {
            tracing::warn!("monitor: wait for {pid}: {e}");
            Some(255)
        }
    }
}

/// The lowest address of the main thread's stack mapping, from /proc/self/maps.
pub(super) fn stack_bottom() -> Option<usize> {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter(|l| l.ends_with("[stack]"))
        .filter_map(|l| {
            let (s, e) = l.split_whitespace().next()?.split_once('-')?;
            Some((
                usize::from_str_radix(s, 16).ok()?,
                usize::from_str_radix(e, 16).ok()?,
            ))
        })
        .find(|(s, e)| (*s..*e).contains(&here))
        .map(|(s, _)| s)
}

/// Deep calls (creating the container parses the spec, mounts, compiles seccomp; a start reads
/// the spec again) dirty stack pages that would stay private to this monitor for its whole
/// life. Gives back those below the caller's frame; they are zero-filled if ever touched again.
#[inline(never)]
pub(super) fn release_stack_below_here(bottom: Option<usize>) {
    /// Left alone below this frame: room for the call made from here.
    const MARGIN: usize = 8 * 1024;
    let Some(bottom) = bottom else { return };
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let top = (here & !4095).saturating_sub(MARGIN);
    if top > bottom {
        // SAFETY: [bottom, top) lies below every live frame (the stack grows down, and the
        // madvise call fits in MARGIN); nothing refers to it.
        unsafe {
            libc::madvise(
                bottom as *mut libc::c_void,
                top - bottom,
                libc::MADV_DONTNEED,
            )
        };
    }
}

/// Binds a socket file with mode 0600 (no window with a wider mode), replacing a stale one.
pub(super) fn bind_private(path: &Path) -> Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    // SAFETY: umask only changes this single-threaded process's file creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(io(format!("bind {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io(format!("chmod {}", path.display())))?;
    Ok(listener)
}

struct Pending {
    stream: Option<UnixStream>,
    line: Vec<u8>,
}

struct Client {
    stream: UnixStream,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    /// Still reading what the client sends (false after its EOF).
    reading: bool,
    dead: bool,
}

struct Monitor<'a> {
    req: &'a SpawnRequest,
    root: StateRoot,
    listener: UnixListener,
    log: Option<LogWriter>,
    init: Child,
    exit_code: Option<i32>,
    /// The container's stdout and stderr read ends; for a tty, the master in slot 0.
    outputs: [Option<OwnedFd>; 2],
    /// A tty container's master, for resizing.
    tty: Option<OwnedFd>,
    /// Where clients' stdin bytes go (a pipe, or the master for a tty), non-blocking.
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    /// Close `stdin` once `stdin_buf` is written (a stdin_once client hit EOF).
    close_stdin: bool,
    pending: Vec<Pending>,
    clients: Vec<Client>,
    frame: Vec<u8>,
    /// A request ran deep into the runtime (start): give the stack back after it.
    went_deep: bool,
}

#[derive(Clone, Copy)]
enum Slot {
    Listener,
    Init,
    Output(usize),
    Pending(usize),
    Client(usize),
    Stdin,
}

pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe for the container's stdio"))
}

pub(super) fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(sys("F_GETFL"))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(sys("F_SETFL O_NONBLOCK"))?;
    Ok(())
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd> {
    fd.try_clone().map_err(io("dup the pty master"))
}

pub(super) fn set_winsize(fd: &OwnedFd, height: u16, width: u16) -> Result<()> {
    let size = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    Errno::result(rc)
        .map(drop)
        .map_err(sys("set the terminal size"))
}

/// Receives the pty master the container's init sends over the console socket.
pub(super) fn receive_master(socket: OwnedFd) -> Result<OwnedFd> {
    let stream = UnixStream::from(socket);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut name = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(sys("receive the pty master"))?;
    for cmsg in msg.cmsgs().into_iter().flatten() {
        if let ControlMessageOwned::ScmRights(fds) = cmsg
            && let Some(&fd) = fds.first()
        {
            // SAFETY: the kernel installed this descriptor for us.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(Error::Protocol(
        "no pty master arrived on the console socket".into(),
    ))
}

impl<'a> Monitor<'a> {
    fn create(req: &'a SpawnRequest) -> Result<Monitor<'a>> {
        if UnixStream::connect(&req.socket).is_ok() {
            return Err(Error::Protocol(format!(
                "{} is in use by another monitor",
                req.socket.display()
            )));
        }
        let listener = bind_private(&req.socket)?;
        match Self::create_container(req, listener) {
            Ok(m) => Ok(m),
            Err(e) => {
                let _ = std::fs::remove_file(&req.socket);
                Err(e)
            }
        }
    }

    fn create_container(req: &'a SpawnRequest, listener: UnixListener) -> Result<Monitor<'a>> {
        listener
            .set_nonblocking(true)
            .map_err(io("make the monitor socket non-blocking"))?;
        let root = StateRoot::new(&req.state_root);
        let log = LogWriter::open(&req.log, req.log_options)?;
        let mut outputs = [None, None];
        let mut stdin = None;
        if req.tty {
            let (ours, theirs) = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(sys("socketpair for the console"))?;
            let child = Self::runtime_create(req, &root, Some(theirs), None)?;
            let master = match receive_master(ours) {
                Ok(m) => m,
                Err(e) => {
                    let _ = container::delete(&root, &req.id, true);
                    return Err(e);
                }
            };
            set_nonblocking(&master)?;
            if let Some((height, width)) = req.console_size {
                set_winsize(&master, height, width)?;
            }
            if req.open_stdin {
                stdin = Some(dup(&master)?);
            }
            let tty = Some(dup(&master)?);
            outputs[0] = Some(master);
            return Ok(Self::new(
                req, root, listener, log, child, outputs, tty, stdin,
            ));
        }
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        let container_stdin: OwnedFd = if req.open_stdin {
            let (read, write) = pipe()?;
            set_nonblocking(&write)?;
            stdin = Some(write);
            read
        } else {
            std::fs::File::open("/dev/null")
                .map_err(io("open /dev/null"))?
                .into()
        };
        set_nonblocking(&out_read)?;
        set_nonblocking(&err_read)?;
        let stdio = Stdio {
            stdin: container_stdin,
            stdout: out_write,
            stderr: err_write,
        };
        let child = Self::runtime_create(req, &root, None, Some(stdio))?;
        outputs = [Some(out_read), Some(err_read)];
        Ok(Self::new(
            req, root, listener, log, child, outputs, None, stdin,
        ))
    }

    fn runtime_create(
        req: &SpawnRequest,
        root: &StateRoot,
        console_socket: Option<OwnedFd>,
        stdio: Option<Stdio>,
    ) -> Result<Child> {
        Ok(container::create(
            root,
            CreateOptions {
                id: &req.id,
                bundle: &req.bundle,
                pid_file: None,
                console_socket,
                stdio,
                no_pivot: false,
                start_at_once: false,
                preserve_fds: 0,
            },
        )?)
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        req: &'a SpawnRequest,
        root: StateRoot,
        listener: UnixListener,
        log: LogWriter,
        init: Child,
        outputs: [Option<OwnedFd>; 2],
        tty: Option<OwnedFd>,
        stdin: Option<OwnedFd>,
    ) -> Monitor<'a> {
        Monitor {
            req,
            root,
            listener,
            log: Some(log),
            init,
            exit_code: None,
            outputs,
            tty,
            stdin,
            stdin_buf: Vec::new(),
            close_stdin: false,
            pending: Vec::new(),
            clients: Vec::new(),
            frame: Vec::new(),
            went_deep: false,
        }
    }

    /// The poll loop, until the init has exited and its output is drained; then the end.
    fn serve(mut self) {
        let stack = stack_bottom();
        release_stack_below_here(stack);
        let mut buf = [0u8; CHUNK];
        let mut set = PollSet::with_capacity(8);
        while self.exit_code.is_none() || self.outputs.iter().any(Option::is_some) {
            set.clear();
            set.add(self.listener.as_raw_fd(), libc::POLLIN, Slot::Listener);
            if self.exit_code.is_none() {
                set.add(self.init.pidfd.as_raw_fd(), libc::POLLIN, Slot::Init);
            }
            for (i, out) in self.outputs.iter().enumerate() {
                if let Some(fd) = out {
                    set.add(fd.as_raw_fd(), libc::POLLIN, Slot::Output(i));
                }
            }
            for (i, p) in self.pending.iter().enumerate() {
                if let Some(s) = &p.stream {
                    set.add(s.as_raw_fd(), libc::POLLIN, Slot::Pending(i));
                }
            }
            if self.stdin_buf.is_empty() {
                for (i, c) in self.clients.iter().enumerate() {
                    if c.reading && !c.dead {
                        set.add(c.stream.as_raw_fd(), libc::POLLIN, Slot::Client(i));
                    }
                }
            } else if let Some(fd) = &self.stdin {
                set.add(fd.as_raw_fd(), libc::POLLOUT, Slot::Stdin);
            }
            if !set.wait() {
                continue;
            }
            for k in 0..set.len() {
                let Some(slot) = set.ready(k) else { continue };
                match slot {
                    Slot::Output(i) => self.pump(i, &mut buf),
                    Slot::Init => self.reap(),
                    Slot::Listener => self.accept_all(),
                    Slot::Pending(i) => self.read_pending(i),
                    Slot::Client(i) => self.read_client(i, &mut buf),
                    Slot::Stdin => self.write_stdin(),
                }
            }
            self.pending.retain(|p| p.stream.is_some());
            self.clients.retain(|c| !c.dead);
            if std::mem::take(&mut self.went_deep) {
                release_stack_below_here(stack);
            }
        }
        self.finish();
    }

    fn pump(&mut self, i: usize, buf: &mut [u8]) {
        let Some(fd) = &self.outputs[i] else { return };
        let n = match nix::unistd::read(fd, buf) {
            Ok(0) | Err(Errno::EIO) => {
                self.outputs[i] = None;
                return;
            }
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::EINTR) => return,
            Err(e) => {
                tracing::warn!("monitor {}: read output: {e}", self.req.id);
                self.outputs[i] = None;
                return;
            }
        };
        let data = &buf[..n];
        let stream = if i == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        if let Some(log) = &mut self.log
            && let Err(e) = log.write(stream, data, SystemTime::now())
        {
            tracing::warn!("monitor {}: write the log: {e}", self.req.id);
        }
        let tty = self.req.tty;
        let frame = &mut self.frame;
        frame.clear();
        if !tty {
            encode_frame(stream, data, frame);
        }
        for c in self.clients.iter_mut().filter(|c| !c.dead) {
            let wanted = match stream {
                Stream::Stdout => c.stdout,
                Stream::Stderr => c.stderr,
            };
            if !wanted {
                continue;
            }
            let bytes: &[u8] = if tty { data } else { frame };
            if send_all(&c.stream, bytes).is_err() {
                c.dead = true;
            }
        }
        if self.frame.capacity() > 2 * CHUNK {
            self.frame = Vec::new();
        }
    }

    fn reap(&mut self) {
        self.exit_code = self.exit_code.or(exit_status(self.init.pid));
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    self.pending.push(Pending {
                        stream: Some(stream),
                        line: Vec::new(),
                    });
                    // Handle the first line now if it is there: requests are then served in
                    // the order they connected (an attach made before a start sees all output).
                    self.read_pending(self.pending.len() - 1);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Reads what has arrived of a pending connection's request line, without waiting and
    /// without taking anything after the newline (a stdin stream may follow it).
    fn read_pending(&mut self, i: usize) {
        let p = &mut self.pending[i];
        let Some(stream) = &mut p.stream else { return };
        loop {
            match take_line_part(stream, &mut p.line, MsgFlags::MSG_DONTWAIT) {
                Ok(true) => break,
                Ok(false) if p.line.len() >= MAX_REQUEST => {
                    let mut stream = p.stream.take().expect("checked");
                    let _ = write_line(
                        &mut stream,
                        &Reply::error(SpawnErrorKind::Other, "request line too long"),
                    );
                    return;
                }
                Ok(false) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    p.stream = None;
                    return;
                }
            }
        }
        let stream = p.stream.take().expect("checked");
        let line = std::mem::take(&mut p.line);
        self.handle(stream, &line);
    }

    fn handle(&mut self, mut stream: UnixStream, line: &[u8]) {
        let request = match serde_json::from_slice::<MonitorRequest>(line) {
            Ok(r) => r,
            Err(e) => {
                let reply = Reply::error(SpawnErrorKind::Other, format!("bad request: {e}"));
                let _ = write_line(&mut stream, &reply);
                return;
            }
        };
        let reply = match request {
            MonitorRequest::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                self.clients.push(Client {
                    stream,
                    stdin,
                    stdout,
                    stderr,
                    reading: true,
                    dead: false,
                });
                return;
            }
            MonitorRequest::Start {} if self.exit_code.is_some() => {
                Reply::error(SpawnErrorKind::Other, "the container has exited")
            }
            MonitorRequest::Start {} => {
                self.went_deep = true;
                match container::start(&self.root, &self.req.id) {
                    Ok(()) => Reply::Ok(true),
                    Err(e) => Reply::from_error(&Error::Runtime(e)),
                }
            }
            MonitorRequest::Resize { height, width } => match &self.tty {
                Some(master) => match set_winsize(master, height, width) {
                    Ok(()) => Reply::Ok(true),
                    Err(e) => Reply::from_error(&e),
                },
                None => Reply::error(SpawnErrorKind::Other, "the container has no terminal"),
            },
        };
        let _ = write_line(&mut stream, &reply);
    }

    fn read_client(&mut self, i: usize, buf: &mut [u8]) {
        let c = &mut self.clients[i];
        match nix::sys::socket::recv(c.stream.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => {
                c.reading = false;
                if c.stdin && self.req.stdin_once {
                    self.close_stdin = true;
                    self.write_stdin();
                }
            }
            Ok(n) => {
                if c.stdin && self.stdin.is_some() && !self.close_stdin {
                    self.stdin_buf.extend_from_slice(&buf[..n]);
                    self.write_stdin();
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => c.dead = true,
        }
    }

    /// Writes what clients sent to the container's stdin, as far as it takes it now.
    fn write_stdin(&mut self) {
        if !flush_stdin(&mut self.stdin, &mut self.stdin_buf) {
            return;
        }
        if self.close_stdin {
            self.stdin = None;
        }
    }

    /// The container has ended and its output is drained: log, state, exit record, clients.
    fn finish(mut self) {
        let id = &self.req.id;
        if let Some(log) = self.log.take()
            && let Err(e) = log.close()
        {
            tracing::warn!("monitor {id}: close the log: {e}");
        }
        let oom_killed = container::events::oom_kill_count(&self.root, id)
            .map(|count| count > 0)
            .unwrap_or(false);
        if let Err(e) = container::delete(&self.root, id, true) {
            tracing::warn!("monitor {id}: delete: {e}");
        }
        let record = ExitRecord::now(self.exit_code.unwrap_or(255), oom_killed);
        if let Err(e) = record.write(&self.req.exit_file) {
            tracing::warn!("monitor {id}: exit record: {e}");
        }
        for c in &self.clients {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.req.socket);
    }
}

/// Writes `buf` to the process's stdin as far as it takes it now (a broken stdin is dropped).
/// True when nothing is left, false when it would block with bytes left.
pub(super) fn flush_stdin(stdin: &mut Option<OwnedFd>, buf: &mut Vec<u8>) -> bool {
    while let Some(fd) = stdin.as_ref()
        && !buf.is_empty()
    {
        match nix::unistd::write(fd, buf) {
            Ok(n) => {
                buf.drain(..n);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return false,
            Err(_) => *stdin = None,
        }
    }
    buf.clear();
    if buf.capacity() > 2 * CHUNK {
        *buf = Vec::new();
    }
    true
}

/// Writes all of `bytes` to a (blocking) client; a slow client blocks us, as in Docker.
pub(super) fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        match nix::sys::socket::send(stream.as_fd().as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(sys("write to an attached client")(e)),
        }
    }
    Ok(())
}

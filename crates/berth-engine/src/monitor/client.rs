//! The engine's side: blocking calls that talk to the zygote and to monitors.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::protocol::{MonitorRequest, Reply, ZygoteRequest, read_reply, write_line};
use super::{Error, ExecRequest, Result, SpawnRequest, Spawned, io};

/// How long [`ensure_zygote`] waits for a zygote it started to answer.
const ZYGOTE_START_TIMEOUT: Duration = Duration::from_secs(5);

fn connect(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).map_err(io(format!("connect to {}", socket.display())))
}

/// One request, one reply.
fn call<T: serde::Serialize>(socket: &Path, request: &T) -> Result<Reply> {
    let mut stream = connect(socket)?;
    write_line(&mut stream, request)?;
    read_reply(&mut stream)
}

fn expect_ok(reply: Reply) -> Result<()> {
    match reply {
        Reply::Ok(true) => Ok(()),
        Reply::Error { kind, message } => Err(Error::Spawn { kind, message }),
        other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
    }
}

fn ping(socket: &Path) -> Result<()> {
    expect_ok(call(socket, &ZygoteRequest::Ping { ping: true })?)
}

/// Connects to the zygote; if nothing answers, starts `berth monitor-zygote --socket` detached
/// (double fork + setsid, stdio /dev/null: nobody's child, it survives the daemon) and waits
/// until it answers.
pub fn ensure_zygote(socket: &Path, berth_binary: &Path) -> Result<()> {
    if ping(socket).is_ok() {
        return Ok(());
    }
    start_detached(socket, berth_binary)?;
    let deadline = Instant::now() + ZYGOTE_START_TIMEOUT;
    loop {
        match ping(socket) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::Protocol(format!(
                    "the zygote at {} did not answer: {e}",
                    socket.display()
                )));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::Protocol("a path contains a NUL byte".into()))
}

/// Double fork: the intermediate child calls setsid, forks the zygote and exits at once, so the
/// zygote is reparented away from the caller. Only async-signal-safe calls after the fork (the
/// caller may be multi-threaded); everything is prepared before it.
fn start_detached(socket: &Path, berth_binary: &Path) -> Result<()> {
    let binary = cstring(berth_binary.as_os_str().as_bytes())?;
    let args = [
        binary.clone(),
        cstring(b"monitor-zygote")?,
        cstring(b"--socket")?,
        cstring(socket.as_os_str().as_bytes())?,
    ];
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let devnull = c"/dev/null";
    let root = c"/";
    let chdir = socket.is_absolute() && berth_binary.is_absolute();
    // SAFETY: the child only makes async-signal-safe calls on memory prepared above, and ends in
    // execv or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io("fork the zygote")(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe {
            libc::setsid();
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            let null = libc::open(devnull.as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
                libc::dup2(null, 2);
            }
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if chdir {
                libc::chdir(root.as_ptr());
            }
            libc::execv(binary.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own intermediate child, which exits at once.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(io("wait for the zygote's launcher")(e));
        }
    }
    Ok(())
}

/// Asks the zygote for a monitor; returns once the container is created (its init blocked on
/// the exec fifo), not started.
/// Asks the zygote for a container's monitor; returns once the container is created. There is
/// no ping on the way (a round trip on every start): the zygote is started only when nothing
/// answers.
pub fn spawn(zygote_socket: &Path, berth_binary: &Path, req: &SpawnRequest) -> Result<Spawned> {
    let mut stream = connect_or_start(zygote_socket, berth_binary)?;
    write_line(&mut stream, req)?;
    match read_reply(&mut stream)? {
        Reply::Created(spawned) => Ok(spawned),
        Reply::Error { kind, message } => Err(Error::Spawn { kind, message }),
        other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
    }
}

/// A connection to the zygote, started first (as [`ensure_zygote`] does) if nothing answers.
fn connect_or_start(zygote_socket: &Path, berth_binary: &Path) -> Result<UnixStream> {
    match connect(zygote_socket) {
        Ok(s) => Ok(s),
        Err(_) => {
            ensure_zygote(zygote_socket, berth_binary)?;
            connect(zygote_socket)
        }
    }
}

/// Asks the zygote for an exec monitor; returns once the process runs, with the connection
/// that carries its attach bytes (unless the request is detached).
pub fn exec(
    zygote_socket: &Path,
    berth_binary: &Path,
    req: &ExecRequest,
) -> Result<(Spawned, UnixStream)> {
    let mut stream = connect_or_start(zygote_socket, berth_binary)?;
    write_line(
        &mut stream,
        &ZygoteRequest::Exec {
            exec: Box::new(req.clone()),
        },
    )?;
    match read_reply(&mut stream)? {
        Reply::Created(spawned) => Ok((spawned, stream)),
        Reply::Error { kind, message } => Err(Error::Spawn { kind, message }),
        other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
    }
}

/// Starts the created container; returns once it is started. A refusal (already started,
/// already exited) comes back as [`Error::Spawn`] with the runtime's message.
pub fn start(monitor_socket: &Path) -> Result<()> {
    expect_ok(call(monitor_socket, &MonitorRequest::Start {})?)
}

/// Attaches to the container's streams; the returned stream carries Docker's attach bytes.
pub fn attach(
    monitor_socket: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<UnixStream> {
    let mut stream = connect(monitor_socket)?;
    write_line(
        &mut stream,
        &MonitorRequest::Attach {
            stdin,
            stdout,
            stderr,
        },
    )?;
    Ok(stream)
}

/// Sets the container's pty size.
pub fn resize(monitor_socket: &Path, height: u16, width: u16) -> Result<()> {
    expect_ok(call(
        monitor_socket,
        &MonitorRequest::Resize { height, width },
    )?)
}

/// The zygote stops accepting and exits when its last monitor has exited.
pub fn shutdown_zygote(socket: &Path) -> Result<()> {
    expect_ok(call(socket, &ZygoteRequest::Shutdown { shutdown: true })?)
}

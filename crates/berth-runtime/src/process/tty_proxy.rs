//! A terminal for foreground `run`/`exec` when no console socket is given, as runc does: the
//! runtime receives the pty master itself, puts its own terminal in raw mode, and copies bytes
//! both ways until the process exits, forwarding signals and window size changes.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, socketpair,
};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use super::signals;
use crate::error::{Error, Result, SysContext};

/// Our end of the console socket pair.
pub struct TtyProxy {
    socket: OwnedFd,
}

impl TtyProxy {
    /// Returns the proxy and the end to hand to create/exec as their console socket.
    pub fn new() -> Result<(TtyProxy, OwnedFd)> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .sys(|| "socketpair for the terminal".into())?;
        Ok((TtyProxy { socket: ours }, theirs))
    }

    /// A proxy when the process wants a terminal and the caller gave no console socket: then
    /// `console_socket` is set to our pair's other end. A detached process cannot have one.
    pub fn if_needed(
        terminal: bool,
        detach: bool,
        console_socket: &mut Option<OwnedFd>,
    ) -> Result<Option<TtyProxy>> {
        if !terminal || console_socket.is_some() {
            return Ok(None);
        }
        if detach {
            return Err(Error::InvalidSpec(
                "a terminal for a detached process needs --console-socket".into(),
            ));
        }
        let (proxy, theirs) = TtyProxy::new()?;
        *console_socket = Some(theirs);
        Ok(Some(proxy))
    }

    /// Takes the pty master the container's process sent.
    pub fn receive_master(&self) -> Result<OwnedFd> {
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .sys(|| "receive the pty master".into())?;
        for cmsg in msg.cmsgs().into_iter().flatten() {
            if let ControlMessageOwned::ScmRights(fds) = cmsg
                && let Some(&fd) = fds.first()
            {
                // SAFETY: the kernel installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        Err(Error::Init(
            "no pty master arrived on the console socket".into(),
        ))
    }
}

/// Copies stdin → master and master → stdout until `pid` exits; returns its exit code.
/// The forwarded signals must already be blocked (`signals::block`).
pub fn pump_until_exit(master: OwnedFd, pid: i32) -> Result<i32> {
    let stdin = std::io::stdin();
    let _raw = RawMode::enter(stdin.as_fd());
    copy_window_size(stdin.as_fd(), master.as_fd());
    let sigfd = SignalFd::with_flags(&signals::forwarded(), SfdFlags::SFD_CLOEXEC)
        .sys(|| "signalfd".into())?;
    let stdout = std::io::stdout();
    let mut stdin_open = true;
    let mut master_open = true;
    let mut exit_code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(code) = exit_code
            && !master_open
        {
            return Ok(code);
        }
        let mut fds = vec![
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Once the process is gone, drain what is left in the master and stop.
        let timeout = if exit_code.is_some() { 50u16 } else { u16::MAX };
        match poll(&mut fds, PollTimeout::from(timeout)) {
            Ok(0) => master_open = false,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).sys(|| "poll the terminal".into()),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready, stdin_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if sig_ready && let Ok(Some(info)) = sigfd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => {
                    if let Some(code) = signals::reap(pid)? {
                        exit_code = Some(code);
                    }
                }
                Ok(Signal::SIGWINCH) => copy_window_size(stdin.as_fd(), master.as_fd()),
                Ok(sig) => {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
                }
                Err(_) => {}
            }
        }
        if master_ready {
            match nix::unistd::read(&master, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => master_open = false,
                Ok(n) => write_all(stdout.as_fd(), &buf[..n])?,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(e).sys(|| "read the pty".into()),
            }
        }
        if stdin_ready {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(master.as_fd(), &buf[..n])?,
            }
        }
    }
}

fn write_all(fd: BorrowedFd, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).sys(|| "write terminal output".into()),
        }
    }
    Ok(())
}

fn copy_window_size(from: BorrowedFd, to: BorrowedFd) {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize we own.
    unsafe {
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// Our terminal in raw mode for as long as this lives (nothing when stdin is not a terminal).
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Option<Termios>,
}

impl<'a> RawMode<'a> {
    fn enter(fd: BorrowedFd<'a>) -> RawMode<'a> {
        let saved = tcgetattr(fd).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(fd, SetArg::TCSANOW, &raw);
        }
        RawMode { fd, saved }
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(self.fd, SetArg::TCSANOW, saved);
        }
    }
}

//! `terminal: true`: the process gets a new pty as its controlling terminal and stdio; the
//! master end goes to whoever listens on `--console-socket`, as runc's protocol has it.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::Process;

use crate::error::{IoContext, Result, SysContext};

/// A pty whose slave is about to become the process's terminal.
pub struct Console {
    master: OwnedFd,
    slave: OwnedFd,
    /// Host path of the slave, for the /dev/console bind mount.
    pub slave_path: PathBuf,
}

impl Console {
    /// Opens a pty sized as the process asks.
    pub fn open(process: &Process) -> Result<Console> {
        let size = process.console_size().as_ref().map(|b| Winsize {
            ws_row: b.height() as u16,
            ws_col: b.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let OpenptyResult { master, slave } =
            openpty(size.as_ref(), None).sys(|| "open a pty for the terminal".into())?;
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd()))
            .unwrap_or_else(|_| PathBuf::from("/dev/console"));
        Ok(Console {
            master,
            slave,
            slave_path,
        })
    }

    /// Sends the master to the console socket, then makes the slave our controlling terminal
    /// and stdio. Call after `setsid`.
    pub fn attach(self, socket: OwnedFd) -> Result<()> {
        let name = b"/dev/ptmx";
        let fds = [self.master.as_raw_fd()];
        sendmsg::<()>(
            socket.as_raw_fd(),
            &[IoSlice::new(name)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .sys(|| "send the pty master to the console socket".into())?;
        drop(socket);
        drop(self.master);
        // SAFETY: TIOCSCTTY on a pty slave we own; arg 0 = don't steal from another session.
        let rc = unsafe { libc::ioctl(self.slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
        nix::errno::Errno::result(rc).sys(|| "make the pty the controlling terminal".into())?;
        nix::unistd::dup2_stdin(self.slave.as_fd())
            .and_then(|()| nix::unistd::dup2_stdout(self.slave.as_fd()))
            .and_then(|()| nix::unistd::dup2_stderr(self.slave.as_fd()))
            .sys(|| "connect the pty to stdio".into())
    }
}

/// Connects to a `--console-socket` path.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .io(|| format!("connect to console socket {}", path.display()))
}

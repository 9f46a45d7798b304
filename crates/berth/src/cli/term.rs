//! The terminal: raw mode for `run -t`/`attach` (restored on every exit path through
//! [`restore`], which `cli::main` calls before exiting) and the window size.

use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use nix::sys::termios::{self, SetArg, Termios};

static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn stdin_fd() -> BorrowedFd<'static> {
    // SAFETY: fd 0 stays open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(0) }
}

pub fn stdin_is_tty() -> bool {
    nix::unistd::isatty(stdin_fd()).unwrap_or(false)
}

/// Puts stdin's terminal in raw mode; a no-op when it is not a terminal.
pub fn make_raw() {
    let fd = stdin_fd();
    let Ok(orig) = termios::tcgetattr(fd) else {
        return;
    };
    let mut raw = orig.clone();
    termios::cfmakeraw(&mut raw);
    if termios::tcsetattr(fd, SetArg::TCSANOW, &raw).is_ok() {
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(orig);
    }
}

/// Restores the terminal if [`make_raw`] changed it.
pub fn restore() {
    if let Some(t) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = termios::tcsetattr(stdin_fd(), SetArg::TCSANOW, &t);
    }
}

/// (rows, columns) of the terminal on stdout or stdin.
pub fn size() -> Option<(u16, u16)> {
    for fd in [1, 0] {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes one winsize into ws.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Runs `f` with the terminal's echo off (a password prompt), restoring it after.
pub fn without_echo<T>(f: impl FnOnce() -> T) -> nix::Result<T> {
    let fd = stdin_fd();
    let orig = termios::tcgetattr(fd)?;
    let mut quiet = orig.clone();
    quiet.local_flags.remove(termios::LocalFlags::ECHO);
    termios::tcsetattr(fd, SetArg::TCSANOW, &quiet)?;
    let out = f();
    let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &orig);
    eprintln!();
    Ok(out)
}

//! Auto-starting a daemon for the default socket: `<current_exe> daemon [...]`, detached in its
//! own session, output appended to a log; then wait until `/_ping` answers.

use std::fs::OpenOptions;
use std::io::{BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::host::{Addr, AutoStart};
use super::{Error, Result, http};

const TIMEOUT: Duration = Duration::from_secs(10);

fn fail(a: &AutoStart, what: String) -> Error {
    Error::Other(format!(
        "could not start the berth daemon: {what} (its log is {})",
        a.log.display()
    ))
}

fn ping(addr: &Addr) -> bool {
    let Ok(mut c) = Conn::connect(addr) else {
        return false;
    };
    if http::write_head(&mut c, "GET", "/_ping", &[]).is_err() || c.flush().is_err() {
        return false;
    }
    let mut r = BufReader::new(c);
    matches!(http::read_head(&mut r), Ok(h) if h.status == 200)
}

pub fn start_daemon(addr: &Addr, a: &AutoStart) -> Result<()> {
    if let Some(dir) = a.log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(a, format!("{}: {e}", dir.display())))?;
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
        .map_err(|e| fail(a, e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| fail(a, e.to_string()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("daemon")
        .args(&a.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| fail(a, e.to_string()))?)
        .stderr(log);
    // SAFETY: setsid and sigprocmask are async-signal-safe; nothing else runs between fork and
    // exec. The mask is cleared because blocked signals survive exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| fail(a, e.to_string()))?;
    let start = Instant::now();
    let mut delay = Duration::from_micros(500);
    loop {
        if ping(addr) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            // It may have lost a race to another daemon that now serves the socket.
            if ping(addr) {
                return Ok(());
            }
            return Err(fail(a, format!("the daemon exited ({status})")));
        }
        if start.elapsed() > TIMEOUT {
            return Err(fail(a, "it did not answer within 10 seconds".into()));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

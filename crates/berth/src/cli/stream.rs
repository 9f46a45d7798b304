//! Pumping a hijacked attach connection: stdin → socket in a thread (then half-close), socket →
//! stdout/stderr in the caller, demultiplexed unless the container has a TTY; with a TTY and a
//! terminal, raw mode and window-size tracking.

use std::io::{self, Read, Write};

use crate::client::{Client, Hijacked, stdcopy};

use super::term;

pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Sends the terminal size now and on every SIGWINCH, from a thread. SIGWINCH must already be
/// blocked in every thread (see [`block_winch`]).
pub fn track_size(client: &Client, id: &str, exec: bool) {
    let send = move |c: &Client, id: &str| {
        if let Some((h, w)) = term::size() {
            let kind = if exec { "exec" } else { "containers" };
            let _ = c.call("POST", &format!("/{kind}/{id}/resize?h={h}&w={w}"));
        }
    };
    send(client, id);
    let c = client.fork();
    let id = id.to_string();
    std::thread::spawn(move || {
        use nix::sys::signal::Signal;
        let mut set = nix::sys::signal::SigSet::empty();
        for s in [Signal::SIGWINCH, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        while let Ok(sig) = set.wait() {
            if sig == Signal::SIGWINCH {
                send(&c, &id);
            } else {
                // Leave the terminal as we found it, then exit as the signal would have.
                term::restore();
                std::process::exit(128 + sig as i32);
            }
        }
    });
}

/// Blocks SIGWINCH (and SIGTERM/SIGHUP, handled there too) in this thread and the threads it
/// starts later, for [`track_size`].
pub fn block_winch() {
    use nix::sys::signal::Signal;
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [Signal::SIGWINCH, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    let _ = set.thread_block();
}

pub use berth_engine::detach::{Escape, parse_detach_keys};

const PROXIED: [nix::sys::signal::Signal; 6] = {
    use nix::sys::signal::Signal::*;
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]
};

/// Blocks the signals [`proxy_signals`] forwards, in this thread and those started later.
pub fn block_proxied() {
    let mut set = nix::sys::signal::SigSet::empty();
    for s in PROXIED {
        set.add(s);
    }
    let _ = set.thread_block();
}

/// Forwards the signals we receive to the container (docker's `--sig-proxy`), from a thread.
pub fn proxy_signals(client: &Client, id: &str) {
    let c = client.fork();
    let id = id.to_string();
    std::thread::spawn(move || {
        let mut set = nix::sys::signal::SigSet::empty();
        for s in PROXIED {
            set.add(s);
        }
        while let Ok(sig) = set.wait() {
            let _ = c.call(
                "POST",
                &format!("/containers/{id}/kill?signal={}", sig.as_str()),
            );
        }
    });
}

/// Copies stdin to the connection in a thread, then half-closes it.
/// With `detach` (a TTY session), typing the detach keys ends this process with status 0,
/// leaving the container running, as docker does.
pub fn spawn_stdin(h: &Hijacked, detach: Option<Vec<u8>>) -> io::Result<()> {
    let mut w = h.writer.try_clone()?;
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = [0u8; 32 * 1024];
        let mut esc = detach.map(Escape::new);
        let mut fwd = Vec::new();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let data = match &mut esc {
                        Some(e) => {
                            fwd.clear();
                            if e.feed(&buf[..n], &mut fwd) {
                                let _ = w.write_all(&fwd);
                                term::restore();
                                std::process::exit(0);
                            }
                            &fwd[..]
                        }
                        None => &buf[..n],
                    };
                    if w.write_all(data).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = w.shutdown_write();
    });
    Ok(())
}

/// Copies the connection's output to stdout/stderr until the daemon closes it.
pub fn pump_output(h: &mut Hijacked, tty: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if tty {
        let mut buf = [0u8; 32 * 1024];
        loop {
            match h.reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    } else {
        let stderr = io::stderr();
        let mut err = stderr.lock();
        match stdcopy::demux(&mut h.reader, &mut out, &mut err) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
            r => r,
        }
    }
}

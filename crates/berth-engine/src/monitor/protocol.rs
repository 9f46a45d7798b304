//! The messages of the protocol described in the module doc, and reading/writing one line.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, recv};

use serde::{Deserialize, Serialize};

use super::{Error, ExecRequest, Result, SpawnErrorKind, SpawnRequest, Spawned, io};

/// The longest first line accepted (a spawn request holds a few paths).
pub const MAX_LINE: usize = 64 * 1024;

/// A connection's first line to the zygote.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ZygoteRequest {
    Shutdown { shutdown: bool },
    Ping { ping: bool },
    Exec { exec: Box<ExecRequest> },
    Spawn(Box<SpawnRequest>),
}

/// A connection's first line to a monitor.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MonitorRequest {
    Start {},
    Resize {
        height: u16,
        width: u16,
    },
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
    },
}

/// Every reply is one of these, on one line.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(bool),
    Created(Spawned),
    Error {
        kind: SpawnErrorKind,
        message: String,
    },
}

impl Reply {
    pub fn error(kind: SpawnErrorKind, message: impl Into<String>) -> Reply {
        Reply::Error {
            kind,
            message: message.into(),
        }
    }

    /// The reply for a failure of ours, classed as the runtime's errors are.
    pub fn from_error(e: &Error) -> Reply {
        let kind = match e {
            Error::Runtime(berth_runtime::Error::ExecNotFound(_)) => SpawnErrorKind::NotFound,
            Error::Runtime(berth_runtime::Error::ExecDenied(_)) => SpawnErrorKind::Denied,
            Error::Spawn { kind, .. } => *kind,
            _ => SpawnErrorKind::Other,
        };
        let mut message = e.to_string();
        if kind == SpawnErrorKind::NotFound {
            // Docker's wording is lowercase (`stat /x: no such file or directory`); io::Error
            // capitalizes it. Clients match on the text.
            message = message.replace("No such file or directory", "no such file or directory");
        }
        Reply::error(kind, message)
    }
}

/// Serializes `value` and writes it with its newline in one go. Errors are the caller's to
/// ignore (a client that went away) or report.
pub fn write_line<T: Serialize>(stream: &mut UnixStream, value: &T) -> Result<()> {
    let mut line =
        serde_json::to_vec(value).map_err(|e| Error::Protocol(format!("encode a message: {e}")))?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(io("write to the monitor socket"))
}

/// Reads one line, without the newline, and nothing after it: the bytes that follow may be an
/// attach stream that belongs to someone else (see [`take_line_part`]).
pub fn read_line(stream: &mut UnixStream) -> Result<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        match take_line_part(stream, &mut line, MsgFlags::empty()) {
            Ok(true) => return Ok(line),
            Ok(false) if line.len() >= MAX_LINE => {
                return Err(Error::Protocol("line too long".into()));
            }
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Error::Protocol(
                    "the connection closed before a whole line".into(),
                ));
            }
            Err(e) => return Err(io("read from the monitor socket")(e)),
        }
    }
}

/// One step of reading a line: peeks at what has arrived (`flags` may add `MSG_DONTWAIT`) and
/// moves it into `line`, taking exactly up to the newline, which is consumed but not kept.
/// Two syscalls a step, where reading byte by byte took one a byte (seven hundred for a spawn
/// request). `Ok(true)` once the line is whole; a closed connection is `UnexpectedEof`.
pub(crate) fn take_line_part(
    stream: &mut UnixStream,
    line: &mut Vec<u8>,
    flags: MsgFlags,
) -> std::io::Result<bool> {
    let mut buf = [0u8; 4096];
    let peeked = loop {
        match recv(stream.as_raw_fd(), &mut buf, flags | MsgFlags::MSG_PEEK) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => break n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    let newline = buf[..peeked].iter().position(|&b| b == b'\n');
    let take = newline.map_or(peeked, |i| i + 1);
    stream.read_exact(&mut buf[..take])?;
    line.extend_from_slice(&buf[..newline.unwrap_or(take)]);
    Ok(newline.is_some())
}

/// Reads a reply line and parses it.
pub fn read_reply(stream: &mut UnixStream) -> Result<Reply> {
    let line = read_line(stream)?;
    serde_json::from_slice(&line).map_err(|e| {
        Error::Protocol(format!(
            "bad reply {:?}: {e}",
            String::from_utf8_lossy(&line)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn a_line_is_read_without_what_follows_it() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let long = "x".repeat(10_000);
        a.write_all(format!("{long}\nshort\nstream bytes").as_bytes())
            .unwrap();
        drop(a);
        assert_eq!(read_line(&mut b).unwrap(), long.as_bytes());
        assert_eq!(read_line(&mut b).unwrap(), b"short");
        let mut rest = String::new();
        b.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "stream bytes");
    }

    #[test]
    fn unfinished_and_endless_lines_are_errors() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"no newline").unwrap();
        drop(a);
        assert!(
            read_line(&mut b)
                .unwrap_err()
                .to_string()
                .contains("closed")
        );
        let (mut a, mut b) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            let _ = a.write_all(&vec![b'y'; MAX_LINE + 10]);
        });
        assert!(
            read_line(&mut b)
                .unwrap_err()
                .to_string()
                .contains("too long")
        );
    }

    #[test]
    fn replies_have_the_documented_shape() {
        assert_eq!(json(&Reply::Ok(true)), r#"{"ok":true}"#);
        assert_eq!(
            json(&Reply::Created(Spawned {
                monitor_pid: 5,
                init_pid: 6
            })),
            r#"{"created":{"monitor_pid":5,"init_pid":6}}"#
        );
        assert_eq!(
            json(&Reply::error(SpawnErrorKind::NotFound, "x")),
            r#"{"error":{"kind":"not_found","message":"x"}}"#
        );
        assert_eq!(
            json(&Reply::error(SpawnErrorKind::Denied, "y")),
            r#"{"error":{"kind":"denied","message":"y"}}"#
        );
    }

    #[test]
    fn monitor_requests_parse() {
        let start: MonitorRequest = serde_json::from_str(r#"{"start":{}}"#).unwrap();
        assert!(matches!(start, MonitorRequest::Start {}));
        let resize: MonitorRequest =
            serde_json::from_str(r#"{"resize":{"height":40,"width":100}}"#).unwrap();
        assert!(matches!(
            resize,
            MonitorRequest::Resize {
                height: 40,
                width: 100
            }
        ));
        let attach: MonitorRequest =
            serde_json::from_str(r#"{"attach":{"stdin":true,"stdout":true,"stderr":false}}"#)
                .unwrap();
        assert!(matches!(
            attach,
            MonitorRequest::Attach {
                stdin: true,
                stdout: true,
                stderr: false
            }
        ));
        for bad in [
            r#"{"bogus":{}}"#,
            "",
            "[]",
            r#"{"resize":{"height":-1,"width":1}}"#,
        ] {
            assert!(
                serde_json::from_str::<MonitorRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn zygote_requests_parse() {
        let shutdown: ZygoteRequest = serde_json::from_str(r#"{"shutdown":true}"#).unwrap();
        assert!(matches!(
            shutdown,
            ZygoteRequest::Shutdown { shutdown: true }
        ));
        let req = SpawnRequest {
            id: "c".into(),
            bundle: "/b".into(),
            state_root: "/r".into(),
            log: "/l".into(),
            log_options: crate::logs::LogOptions::default(),
            exit_file: "/e".into(),
            socket: "/s".into(),
            tty: true,
            open_stdin: true,
            stdin_once: false,
            console_size: Some((24, 80)),
        };
        let line = json(&req);
        match serde_json::from_str::<ZygoteRequest>(&line).unwrap() {
            ZygoteRequest::Spawn(parsed) => assert_eq!(*parsed, req),
            other => panic!("{other:?}"),
        }
        assert!(serde_json::from_str::<ZygoteRequest>(r#"{"nonsense":1}"#).is_err());
    }
}

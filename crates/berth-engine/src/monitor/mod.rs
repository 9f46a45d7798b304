//! Container monitors: one small process per container that holds its stdio, writes its log
//! and exit record, and outlives the daemon. Monitors are forked from a long-lived,
//! single-threaded zygote (`berth monitor-zygote --socket PATH`) so that they share its pages
//! copy-on-write; the daemon never clones containers itself.
//!
//! # Protocol
//!
//! Every connection (to the zygote's socket or to a monitor's) starts with one JSON line from
//! the client.
//!
//! To the zygote:
//! - a [`SpawnRequest`]: the zygote forks a monitor, which keeps the connection, creates the
//!   container (its init then waits on the exec fifo) and replies
//!   `{"created":{"monitor_pid":P,"init_pid":Q}}` or
//!   `{"error":{"kind":"not_found|denied|other","message":"..."}}`, then closes it;
//! - `{"shutdown":true}`: reply `{"ok":true}`; the zygote stops accepting and exits once its
//!   last monitor has exited;
//! - `{"exec":`[`ExecRequest`]`}`: the zygote forks an exec monitor, which starts the process
//!   in the running container and replies `{"created":{"monitor_pid":P,"init_pid":Q}}` (Q is
//!   the exec'd process) or an error as above. Unless detached, the connection then carries
//!   Docker's attach bytes both ways (raw for a terminal, stdcopy frames otherwise; the
//!   client's EOF closes the process's stdin); the monitor writes the [`ExitRecord`] before
//!   it shuts the connection down. A terminal exec also binds [`ExecRequest::socket`], which
//!   serves `resize` only;
//! - `{"ping":true}`: reply `{"ok":true}` (what [`ensure_zygote`] asks to see it answers).
//!
//! To a monitor (its [`SpawnRequest::socket`]):
//! - `{"start":{}}`: runtime start; reply `{"ok":true}` or `{"error":{...}}`;
//! - `{"resize":{"height":H,"width":W}}`: set the pty size; reply as for start;
//! - `{"attach":{"stdin":B,"stdout":B,"stderr":B}}`: no reply; from then on the connection
//!   carries Docker's attach bytes: raw output for a tty container, stdcopy frames of the
//!   requested streams otherwise. Bytes the client sends go to the container's stdin (if it
//!   asked for stdin and the container has one); the client's EOF closes that stdin when
//!   `stdin_once`. When the container has exited, its output drained and its exit record
//!   written, the monitor shuts the connection down.
//!
//! A malformed first line gets an `{"error":...}` reply and the connection is closed.
//!
//! # Processes
//!
//! The zygote is started detached ([`ensure_zygote`]: double fork + setsid), so it is nobody's
//! child and outlives the daemon; monitors are its children (it reaps them through a signalfd)
//! and the containers' inits are the monitors' children. Nothing of a monitor depends on the
//! daemon: it keeps logging, and records the exit, with the daemon gone.
//!
//! # Memory
//!
//! A monitor's own pages are those it writes after the fork: it reads and writes through small
//! buffers ([`child`]'s 8 KiB chunk), trims the heap after creating the container and gives
//! back the stack pages that creating (and starting) it dirtied. Measured with three `sleep`
//! containers: about 112 KB private dirty per monitor with a release build (Pss about 760 KB,
//! most of it the zygote's shared pages), about 115 KB with a debug build.

mod child;
mod client;
mod exec;
mod exit;
mod poll;
mod protocol;
mod zygote;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use client::{attach, ensure_zygote, exec, resize, shutdown_zygote, spawn, start};
pub use exit::ExitRecord;
pub use zygote::serve_zygote;

use crate::logs::LogOptions;

/// What the engine asks the zygote to run. Serde JSON, one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRequest {
    pub id: String,
    /// OCI bundle (config.json + rootfs), written by the engine.
    pub bundle: PathBuf,
    /// The runtime's `--root`.
    pub state_root: PathBuf,
    /// The json-file log.
    pub log: PathBuf,
    pub log_options: LogOptions,
    /// The [`ExitRecord`] is written here (durably) when the container ends.
    pub exit_file: PathBuf,
    /// The monitor's own socket (attach/start/resize), mode 0600.
    pub socket: PathBuf,
    /// config.json has `process.terminal` = tty; the monitor receives the pty master.
    pub tty: bool,
    /// false: the container's stdin is /dev/null.
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached stdin client hits EOF.
    pub stdin_once: bool,
    /// (height, width): the initial pty size.
    pub console_size: Option<(u16, u16)>,
}

/// What the engine asks the zygote to run in a running container (`docker exec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The container, as the runtime knows it.
    pub container_id: String,
    /// The runtime's `--root`.
    pub state_root: PathBuf,
    /// The process, with the container's security settings (`terminal` says whether it gets a
    /// pty).
    pub process: oci_spec::runtime::Process,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// The [`ExitRecord`] is written here when the process ends.
    pub exit_file: PathBuf,
    /// For a terminal: the monitor's socket, serving `resize`. (The initial size is the
    /// process's `consoleSize`.)
    pub socket: Option<PathBuf>,
    /// The detach sequence watched for in the client's input (empty: none).
    #[serde(default)]
    pub detach_keys: Vec<u8>,
}

impl ExecRequest {
    pub fn tty(&self) -> bool {
        self.process.terminal().unwrap_or(false)
    }

    /// Nothing attached: the connection ends with the reply.
    pub fn detached(&self) -> bool {
        !(self.attach_stdin || self.attach_stdout || self.attach_stderr)
    }
}

/// A created container under its monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spawned {
    pub monitor_pid: i32,
    pub init_pid: i32,
}

/// Why a spawn failed, in Docker's exit-code classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpawnErrorKind {
    /// The program does not exist (127).
    NotFound,
    /// The program cannot be executed (126).
    Denied,
    /// Anything else (125).
    Other,
}

impl SpawnErrorKind {
    /// Docker's exit code for a container that could not start this way.
    pub fn exit_code(self) -> i32 {
        match self {
            SpawnErrorKind::NotFound => 127,
            SpawnErrorKind::Denied => 126,
            SpawnErrorKind::Other => 125,
        }
    }
}

/// Errors of the monitor and of its clients.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Log(#[from] crate::logs::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The zygote or the monitor could not create the container.
    #[error("{message}")]
    Spawn {
        kind: SpawnErrorKind,
        message: String,
    },
    /// A monitor or the zygote refused a request, or answered something unexpected.
    #[error("monitor: {0}")]
    Protocol(String),
}

pub type Result<T> = std::result::Result<T, Error>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

fn sys(context: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> Error {
    let context = context.into();
    move |errno| Error::Io {
        context,
        source: errno.into(),
    }
}

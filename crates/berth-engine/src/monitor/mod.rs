//! The per-container monitor: the process (not the daemon) that creates a container through the
//! runtime library, holds its stdout/stderr pipes, writes them to the json-file log, waits for
//! the init, and records how it ended. Because it owns the pipes and is the init's parent, the
//! container neither blocks on a full pipe nor loses its exit status when the daemon restarts.
//!
//! It runs single-threaded (the runtime clones from it) and must not be called from a process
//! that has other threads.

mod exit;
mod pump;

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use berth_runtime::container::{self, CreateOptions};
use berth_runtime::process::stdio::Stdio;
use berth_runtime::state::StateRoot;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

pub use exit::ExitRecord;

use crate::logs::{LogOptions, LogWriter};

/// Errors of the monitor: the runtime's (create failed, with its exit-code class kept) or the
/// log's, or a system call of its own.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Log(#[from] crate::logs::Error),
    #[error("{message}")]
    Spawn {
        kind: SpawnErrorKind,
        message: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// One container's monitor settings.
#[derive(Debug, Clone)]
pub struct MonitorConfig<'a> {
    /// The runtime's state root (`berth oci --root`).
    pub state_root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub log: &'a Path,
    pub log_options: LogOptions,
    /// Where the exit record is written (atomically, durably) when the container ends.
    pub exit_file: &'a Path,
}

/// Creates and starts the container, pumps its output into the log until it exits, deletes its
/// runtime state and writes the exit record. Returns the record.
pub fn run(config: &MonitorConfig) -> Result<ExitRecord> {
    let root = StateRoot::new(config.state_root);
    let mut log = LogWriter::open(config.log, config.log_options)?;
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let stdin: OwnedFd = File::open("/dev/null")
        .map_err(io("open /dev/null"))?
        .into();
    // SIGCHLD is taken through the init's pidfd; keep it from interrupting anything.
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&chld), None)
        .map_err(|e| io("block SIGCHLD")(e.into()))?;
    let init = container::create(
        &root,
        CreateOptions {
            id: config.id,
            bundle: config.bundle,
            pid_file: None,
            console_socket: None,
            stdio: Some(Stdio {
                stdin,
                stdout: out_write,
                stderr: err_write,
            }),
            no_pivot: false,
            start_at_once: true,
            preserve_fds: 0,
        },
    )?;
    let status = pump::until_exit(&init, out_read, err_read, &mut log)?;
    log.close()?;
    let oom_killed = container::events::stats(&root, config.id)
        .map(|s| s.oom_kill_count > 0)
        .unwrap_or(false);
    container::delete(&root, config.id, true)?;
    let record = ExitRecord::now(status, oom_killed);
    record.write(config.exit_file)?;
    Ok(record)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| io("pipe for the container's output")(e.into()))
}

// TEMPORARY: the zygote API being written on wip-mon; replaced at merge.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    pub id: String,
    pub bundle: std::path::PathBuf,
    pub state_root: std::path::PathBuf,
    pub log: std::path::PathBuf,
    pub log_options: LogOptions,
    pub exit_file: std::path::PathBuf,
    pub socket: std::path::PathBuf,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub console_size: Option<(u16, u16)>,
}
pub struct Spawned {
    pub monitor_pid: i32,
    pub init_pid: i32,
}
#[derive(Debug)]
pub enum SpawnErrorKind {
    NotFound,
    Denied,
    Other,
}
pub fn ensure_zygote(_s: &Path, _b: &Path) -> Result<()> {
    todo!()
}
pub fn spawn(_s: &Path, _r: &SpawnRequest) -> Result<Spawned> {
    todo!()
}
pub fn start(_s: &Path) -> Result<()> {
    todo!()
}
pub fn attach(_s: &Path, _a: bool, _b: bool, _c: bool) -> Result<std::os::unix::net::UnixStream> {
    todo!()
}
pub fn resize(_s: &Path, _h: u16, _w: u16) -> Result<()> {
    todo!()
}

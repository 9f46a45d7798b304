//! The engine's request and response types that are not Docker's own models (those come from
//! `bollard_stubs::models`). The API crate fills these from query parameters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// Where the engine keeps its state and finds its own binary.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state: images, snapshots, container records, logs (`/var/lib/berth`).
    pub data_root: PathBuf,
    /// Runtime state: the runtime's state root, monitor sockets (`/run/berth`).
    pub exec_root: PathBuf,
    /// The `berth` executable, started as the monitor zygote.
    pub berth_binary: PathBuf,
    /// Registries reached over plain HTTP (`--insecure-registry`); loopback ones always are.
    pub insecure_registries: Vec<String>,
}

/// `POST /images/create?fromImage=`.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `name[:tag]` or `name@digest`, as the client gave it.
    pub image: String,
    /// `os/arch[/variant]`.
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header: base64url JSON with `username` and `password`.
    pub auth: Option<String>,
}

/// Docker's `filters` query parameter, decoded: a key and the values it may take.
pub type Filters = BTreeMap<String, Vec<String>>;

/// `POST /images/create?fromSrc=-`.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// Dockerfile instructions applied to the config (`CMD`, `ENV`, `WORKDIR`, ...).
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub platform: Option<String>,
}

/// `GET /images/json`.
#[derive(Debug, Clone, Default)]
pub struct ImageListOptions {
    pub all: bool,
    pub filters: Filters,
}

/// `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ContainerListOptions {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

/// `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log before streaming.
    pub logs: bool,
    pub stream: bool,
}

/// An attached container: bytes read from `stream` are exactly what Docker puts on the hijacked
/// connection (raw with a TTY, stdcopy frames without); bytes written go to the container's
/// stdin; shutting down the write half is stdin's EOF. The stream ends when the container does.
#[derive(Debug)]
pub struct AttachStream {
    pub tty: bool,
    pub stream: tokio::net::UnixStream,
}

/// `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default)]
pub struct ExecStartOptions {
    /// Run without attaching (the answer comes once the process runs).
    pub detach: bool,
    /// `[height, width]` of the terminal.
    pub console_size: Option<Vec<usize>>,
}

/// What `POST /exec/{id}/start` gives the API.
pub enum ExecStarted {
    /// The process runs; nothing is attached.
    Detached,
    /// The stream, and the launch to await once the client's connection is upgraded (the
    /// process starts then, as Docker's does).
    Attached {
        stream: AttachStream,
        launch: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    },
}

/// `POST /containers/{id}/wait?condition=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Option<WaitCondition> {
        match s {
            "" | "not-running" => Some(WaitCondition::NotRunning),
            "next-exit" => Some(WaitCondition::NextExit),
            "removed" => Some(WaitCondition::Removed),
            _ => None,
        }
    }
}

/// `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub timestamps: bool,
    /// `None` is `all`.
    pub tail: Option<usize>,
}

/// A container's log as Docker's wire bytes (stdcopy frames, or raw for a TTY container), in
/// chunks; the channel closes at the end (or, when following, when the container stops).
#[derive(Debug)]
pub struct LogStream {
    pub tty: bool,
    pub chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
}

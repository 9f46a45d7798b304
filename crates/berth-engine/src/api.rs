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
    /// The default bridge network and berth's firewall table.
    pub network: NetworkOptions,
}

/// The daemon's network flags.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// The default network's Linux bridge (`berth0`; parallel daemons need their own).
    pub bridge_name: String,
    /// berth's nftables table (`table ip <name>`).
    pub nft_table: String,
    /// `--bip`: the default bridge's gateway address and subnet, e.g. `172.30.0.1/16`.
    pub bip: Option<String>,
    /// `--default-address-pool base=CIDR,size=N`, in order; Docker's pools when empty.
    pub default_address_pools: Vec<(String, u8)>,
}

impl Default for NetworkOptions {
    fn default() -> NetworkOptions {
        NetworkOptions {
            bridge_name: "berth0".into(),
            nft_table: "berth".into(),
            bip: None,
            default_address_pools: Vec::new(),
        }
    }
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

/// `POST /images/{name}/push?tag=`.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// The repository (`registry/repo`), possibly with a tag.
    pub name: String,
    /// The tag to push; without one (and none in `name`) every tag of the repository.
    pub tag: Option<String>,
    /// The `X-Registry-Auth` header: base64url JSON with `username` and `password`.
    pub auth: Option<String>,
}

/// `POST /auth` (`docker login`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LoginRequest {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `host[:port]`, possibly as a URL (`https://index.docker.io/v1/`); Docker Hub if empty.
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
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

/// `POST /build`.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// `t`: names for the image (several).
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context (`Dockerfile` when `None`).
    pub dockerfile: Option<String>,
    /// `buildargs`: a `null` value means "declared, no value".
    pub build_args: std::collections::HashMap<String, Option<String>>,
    /// The stage to build (the last one when `None`).
    pub target: Option<String>,
    /// Labels added to the final image.
    pub labels: std::collections::HashMap<String, String>,
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// Only the image id in the stream.
    pub quiet: bool,
    /// Remove intermediate containers after a successful step (`rm`).
    pub remove: bool,
    /// Remove them after a failed one too (`forcerm`).
    pub force_remove: bool,
    pub platform: Option<String>,
    /// A directory of this host to read the context from in place, instead of the body's tar
    /// (a local root client's shortcut).
    pub context_dir: Option<std::path::PathBuf>,
}

/// `POST /commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// The container, by name or id.
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the config (`CMD`, `ENV`, `WORKDIR`, ...).
    pub changes: Vec<String>,
    /// Freeze the container while its files are read (Docker's default).
    pub pause: bool,
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

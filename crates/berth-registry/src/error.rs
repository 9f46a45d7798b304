//! The crate's typed errors. Each names the registry, repository, reference or digest it is
//! about, and carries the registry's own error message when it sent one.

use berth_image::Digest;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a registry and pulling from it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry answered with an error status; `message` is from its error JSON when
    /// present (e.g. `manifest unknown`), else the HTTP reason.
    #[error("{message}: {what} (HTTP {status}{})", code_suffix(.code))]
    Registry {
        /// What was asked for, e.g. `127.0.0.1:5000/busybox:nope`.
        what: String,
        status: u16,
        /// The registry's error code, e.g. `MANIFEST_UNKNOWN`.
        code: Option<String>,
        message: String,
    },
    /// The request did not get an answer (connection, TLS, timeout, protocol).
    #[error("request to {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    /// Reading a response body failed.
    #[error("reading response from {url}: {source}")]
    Read {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// A local file operation failed (compressing a layer for a push).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Authentication was required and could not be done.
    #[error("authenticating to {registry}: {reason}")]
    Auth { registry: String, reason: String },
    /// Content whose hash is not the one it was announced with.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// An unpacked layer whose diff id differs from the config's `rootfs.diff_ids`.
    #[error(
        "layer {index} ({layer}) of {reference}: diff id {actual} does not match the config's {expected}"
    )]
    DiffIdMismatch {
        reference: String,
        index: usize,
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// An index with no manifest for the wanted platform.
    #[error("{reference}: no matching manifest for {wanted} in the manifest list (available: {})", .available.join(", "))]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },
    /// A platform string that is not `os/arch[/variant]`.
    #[error("invalid platform {platform:?}: {reason}")]
    InvalidPlatform { platform: String, reason: String },
    /// A manifest type this client does not handle.
    #[error("{reference}: unsupported manifest {media_type}")]
    UnsupportedManifest {
        reference: String,
        media_type: String,
    },
    /// A manifest, index or config that does not parse or is inconsistent.
    #[error("{reference}: invalid {what}: {reason}")]
    Invalid {
        reference: String,
        what: &'static str,
        reason: String,
    },
    /// A Docker config file that cannot be read.
    #[error("docker config {path}: {reason}")]
    DockerConfig { path: String, reason: String },
    /// The pull was abandoned because another part of it failed.
    #[error("pull aborted")]
    Aborted,
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] berth_image::Error),
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()
}

impl Error {
    /// Turns berth-image's digest mismatch into one naming `what`; other errors pass through.
    pub(crate) fn with_blob(e: berth_image::Error, what: impl FnOnce() -> String) -> Error {
        match e {
            berth_image::Error::DigestMismatch { expected, actual } => Error::DigestMismatch {
                what: what(),
                expected,
                actual,
            },
            e => Error::Image(e),
        }
    }
}

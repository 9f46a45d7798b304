//! The crate's typed errors: each variant names what was wrong (the reference, the digest,
//! the layer entry, the path) so the engine can report it without extra context.

use std::path::PathBuf;

use crate::digest::Digest;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference that does not follow Docker's grammar.
    #[error("invalid reference format: {input:?}{}", reason_suffix(.reason))]
    InvalidReference { input: String, reason: &'static str },
    /// A digest string that is not `sha256:<64 lowercase hex>`.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest { input: String, reason: &'static str },
    /// Content whose hash is not the one it was announced with.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// A blob that is not in the content store.
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    /// A name or id that matches no image.
    #[error("no such image: {0}")]
    ImageNotFound(String),
    /// An id prefix that matches more than one image.
    #[error("image id prefix {0:?} is ambiguous")]
    AmbiguousImage(String),
    /// A layer tar entry that would be unsafe or that cannot be reproduced.
    #[error("layer entry {path:?}: {reason}")]
    LayerEntry { path: String, reason: String },
    /// A layer stream that cannot be read (corrupt tar, truncated compression).
    #[error("reading layer: {0}")]
    Layer(#[source] std::io::Error),
    /// Stored metadata that does not parse.
    #[error("corrupt metadata {path}: {reason}")]
    CorruptMetadata { path: PathBuf, reason: String },
    /// An operating-system failure on a path.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A container id that cannot be used as a directory name.
    #[error("invalid container id {0:?}")]
    InvalidContainerId(String),
    /// A snapshot that is needed but not (completely) unpacked.
    #[error("snapshot {0} not found or not committed")]
    SnapshotNotFound(Digest),
    /// An unpacked layer whose uncompressed digest is not the config's diff id.
    #[error("layer {blob}: diff id {actual} does not match the config's {expected}")]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// A hostile or malformed image archive; `entry` names the file in it that is wrong.
    #[error("image archive entry {entry:?}: {reason}")]
    Archive { entry: String, reason: String },
    /// Building an OCI document failed.
    #[error("building OCI {what}: {reason}")]
    Oci { what: &'static str, reason: String },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

impl Error {
    /// Wraps an I/O error with the operation and path it concerned.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    pub(crate) fn archive(entry: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Archive {
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn entry(path: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::LayerEntry {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

//! Images: references, a content store that is a valid OCI image layout, manifests and configs,
//! safe layer unpacking and overlay snapshots. Knows nothing of containers or HTTP: the engine
//! turns names into [`Image`]s here, imports root filesystems, and asks [`Snapshots`] for the
//! overlay mount of a container's root, which it performs itself.
//!
//! On-disk layout under a root directory:
//! - `content/`: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), plus
//!   `ingest/` for blobs being written (`<hex>.partial`: a resumable download) and `index.lock`;
//! - `snapshots/<chain id>/fs`: one unpacked layer each, real once `committed` exists;
//! - `containers/<id>/{upper,work}`: containers' writable layers.

pub mod archive;
pub mod commit;
pub mod digest;
pub mod error;
mod fsutil;
pub mod import;
pub mod layer;
pub mod reference;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod testutil;
pub mod unpack;

pub use commit::{CommitOptions, amend_config, commit_layer};
pub use digest::{Digest, DigestWriter};
pub use error::{Error, Result};
pub use import::{ConfigChanges, ImportOptions, Platform, import_rootfs};
pub use reference::Reference;
pub use snapshot::{MountSpec, Snapshots, chain_ids};
pub use store::{BlobStream, ContentStore, Download, Image, ImageStore};
pub use unpack::{UnpackStats, unpack_layer};

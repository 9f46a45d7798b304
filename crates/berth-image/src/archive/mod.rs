//! Image archives, as `docker save` and `docker load` exchange them.
//!
//! [`save`] writes what Docker 25+ writes: one tar that is at the same time Docker's archive
//! (`manifest.json` with `Config`/`RepoTags`/`Layers`, `repositories`) and an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`), with every blob stored once. [`load`] reads
//! either format (also the legacy `<id>/layer.tar` one, and skopeo's `docker-archive` and
//! `oci-archive`), streaming: blobs go straight into the content store with their digests
//! checked, only the small JSON documents are held in memory. Layers are unpacked through the
//! safe unpacker with their diff ids checked, and names are written last, all at once, so a
//! load that fails anywhere leaves nothing tagged.

mod entries;
mod load;
mod save;

pub use load::{Loaded, load};
pub use save::{SaveItem, plan_save, save};

/// Annotation containerd (and Docker's save) put the full image name in.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

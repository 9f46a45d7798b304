//! Images: references, a content store that is a valid OCI image layout, manifests and configs,
//! safe layer unpacking and overlay snapshots. Knows nothing of containers.

pub mod digest;
pub mod error;
pub mod import;
pub mod reference;

pub use digest::{Digest, DigestWriter};
pub use error::{Error, Result};
pub use reference::Reference;
mod fsutil;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod testutil;
pub mod unpack;

pub use store::{ContentStore, Image, ImageStore};

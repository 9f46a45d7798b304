//! The image store: an OCI image layout holding blobs ([`layout`]) and the names that point at
//! manifests ([`images`]).

pub mod images;
pub mod layout;

pub use images::{Image, ImageStore};
pub use layout::ContentStore;

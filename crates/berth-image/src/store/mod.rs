//! The image store: an OCI image layout holding blobs ([`layout`]) and the names that point at
//! manifests ([`images`]); resumable, shared blob downloads ([`download`]).

pub mod download;
pub mod images;
pub mod layout;

pub use download::{BlobStream, Claim, Download};
pub use images::{Image, ImageStore};
pub use layout::ContentStore;

//! Images: references, a content store that is a valid OCI image layout, manifests and configs,
//! safe layer unpacking and overlay snapshots. Knows nothing of containers.

//! The OCI distribution client: talks to registries, fetches manifests and blobs into
//! berth-image's content store, verified by digest.

//! Layers made on this host (imports, commits, build steps) are stored uncompressed, as Docker
//! stores them; they go up gzip-compressed, as Docker pushes them. Each is compressed into the
//! content store (gzip at a fixed level with no timestamp is the same bytes every time, so a
//! second push sends the same blob) and the manifest pushed names the compressed blobs. Image
//! ids (config digests) do not change; the pushed manifest's digest is the repository's.

use std::borrow::Cow;
use std::io;

use berth_image::{ContentStore, Digest};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

use crate::error::{Error, Result};

/// Uncompressed layer media types and their gzip-compressed counterparts.
const GZIPPED: &[(&str, &str)] = &[
    (
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
];

/// The manifest to push for the stored manifest `manifest`: the same bytes when every layer
/// is compressed already, else a copy naming gzip-compressed blobs (made now) in their place.
/// `name` names the image in errors.
pub fn manifest_for_push<'m>(
    content: &ContentStore,
    manifest: &'m [u8],
    name: &str,
) -> Result<Cow<'m, [u8]>> {
    let invalid = |reason: String| Error::Invalid {
        reference: name.to_string(),
        what: "manifest",
        reason,
    };
    let mut value: Value = serde_json::from_slice(manifest).map_err(|e| invalid(e.to_string()))?;
    let mut changed = false;
    for layer in value["layers"].as_array_mut().into_iter().flatten() {
        let media_type = layer["mediaType"].as_str().unwrap_or_default();
        let Some((_, gzipped)) = GZIPPED.iter().find(|(plain, _)| *plain == media_type) else {
            continue;
        };
        let digest: Digest = layer["digest"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e| invalid(format!("layer digest: {e}")))?;
        let (compressed, size) = gzip_blob(content, &digest)?;
        layer["mediaType"] = Value::from(*gzipped);
        layer["digest"] = Value::from(compressed.to_string());
        layer["size"] = Value::from(size);
        changed = true;
    }
    if !changed {
        return Ok(Cow::Borrowed(manifest));
    }
    serde_json::to_vec(&value)
        .map(Cow::Owned)
        .map_err(|e| invalid(e.to_string()))
}

/// Compresses the blob `digest` into the content store; returns the compressed blob's digest
/// and size.
fn gzip_blob(content: &ContentStore, digest: &Digest) -> Result<(Digest, u64)> {
    let mut plain = content.open_blob(digest)?;
    let ingest = content.ingest()?;
    let mut gz = GzEncoder::new(ingest, Compression::fast());
    io::copy(&mut plain, &mut gz).map_err(|e| compress_error(digest, e))?;
    let ingest = gz.finish().map_err(|e| compress_error(digest, e))?;
    Ok(ingest.commit(None)?)
}

fn compress_error(digest: &Digest, e: io::Error) -> Error {
    Error::Io {
        context: format!("compressing layer {digest} for the push"),
        source: e,
    }
}

//! Stored layer blobs → snapshots. Shared by everything that brings layers in as blobs first
//! (registry pulls, archive loads): the blob is decompressed by its magic bytes (registries and
//! archives mislabel media types), unpacked through [`unpack_layer`], and hashed on the way so
//! its diff id is checked before the snapshot is committed.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::digest::{Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::snapshot::{PendingSnapshot, Snapshots};
use crate::store::ContentStore;
use crate::unpack::unpack_layer;

/// How a layer stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// By magic bytes first, then by media type (`+gzip`, `.gzip`, `+zstd`).
    pub fn detect(media_type: &str, head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") => {
                Compression::Gzip
            }
            _ if media_type.ends_with("+zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// The OCI layer media type for a blob compressed this way.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// `reader` decompressed as its magic bytes (or `media_type`) say.
pub fn decompressed<'a>(reader: impl Read + 'a, media_type: &str) -> Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::with_capacity(256 * 1024, reader);
    let head = input.fill_buf().map_err(Error::Layer)?;
    Ok(match Compression::detect(media_type, head) {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(Error::Layer)?)
        }
    })
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: DigestWriter<io::Sink>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Unpacks the stored blob `blob` into the snapshot `chain_id`, committing it only if the
/// uncompressed tar hashes to `diff_id` (else [`Error::DiffIdMismatch`], and nothing is left).
pub fn unpack_stored_layer(
    content: &ContentStore,
    snapshots: &Snapshots,
    blob: &Digest,
    media_type: &str,
    diff_id: &Digest,
    chain_id: &Digest,
) -> Result<()> {
    let file = content.open_blob(blob)?;
    unpack_layer_stream(file, snapshots, blob, media_type, diff_id)?.commit(chain_id)?;
    Ok(())
}

/// Unpacks the layer blob `blob` as it streams from `reader` into a new snapshot and checks
/// its diff id. The snapshot is left for the caller to commit: a download commits it only once
/// the blob's own digest is verified.
pub fn unpack_layer_stream(
    reader: impl Read,
    snapshots: &Snapshots,
    blob: &Digest,
    media_type: &str,
    diff_id: &Digest,
) -> Result<PendingSnapshot> {
    let pending = snapshots.begin()?;
    let mut hashed = HashingReader {
        inner: decompressed(reader, media_type)?,
        hash: DigestWriter::new(io::sink()),
    };
    unpack_layer(&mut hashed, &pending.fs_dir())?;
    // Trailing zero blocks belong to the diff id too.
    io::copy(&mut hashed, &mut io::sink()).map_err(Error::Layer)?;
    let (actual, _, _) = hashed.hash.finish();
    if &actual != diff_id {
        return Err(Error::DiffIdMismatch {
            blob: blob.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_by_magic_then_media_type() {
        let d = Compression::detect;
        assert_eq!(d("x.tar", &[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(d("x.tar", &[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(d("a.tar+gzip", b"ustar"), Compression::Gzip);
        assert_eq!(d("a.tar.gzip", b"ustar"), Compression::Gzip);
        assert_eq!(d("a.tar+zstd", b"ustar"), Compression::Zstd);
        assert_eq!(d("a.tar", b"ustar"), Compression::None);
    }
}

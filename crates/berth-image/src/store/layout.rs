//! The content store: a valid OCI image layout at `<root>/content` (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`), so standard tools can read it. Blobs are streamed into
//! `content/ingest/` and renamed into `blobs/` only once complete and verified, so a file in
//! `blobs/` always has the digest it is named by.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::fsutil::{fsync_dir, mkdir_all, remove_stale, unique_name, write_atomic};

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const EMPTY_INDEX: &str =
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// Blobs addressed by digest, in an OCI image layout.
#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

/// An in-progress blob in `ingest/`: bytes written to it are hashed; dropped without
/// [`Ingest::commit`], the temp file is removed.
pub struct Ingest {
    store: ContentStore,
    path: PathBuf,
    writer: Option<DigestWriter<File>>,
}

impl ContentStore {
    /// Opens (creating if needed) the layout at `<root>/content`.
    pub fn open(root: impl AsRef<Path>) -> Result<ContentStore> {
        let dir = root.as_ref().join("content");
        mkdir_all(&dir.join("blobs/sha256"))?;
        mkdir_all(&dir.join("ingest"))?;
        // Debris from writes a crash interrupted.
        remove_stale(&dir.join("ingest"), "")?;
        remove_stale(&dir, ".tmp-")?;
        let layout = dir.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, OCI_LAYOUT.as_bytes())?;
        }
        let index = dir.join("index.json");
        if !index.exists() {
            write_atomic(&index, EMPTY_INDEX.as_bytes())?;
        }
        Ok(ContentStore { dir })
    }

    /// The layout directory (`<root>/content`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn has(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Starts streaming a new blob into `ingest/`.
    pub fn ingest(&self) -> Result<Ingest> {
        let path = self.dir.join("ingest").join(unique_name(""));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io("create", &path))?;
        Ok(Ingest {
            store: self.clone(),
            path,
            writer: Some(DigestWriter::new(f)),
        })
    }

    /// Streams `reader` into the store, verifying `expected` if given. Returns the digest and
    /// size. Idempotent: writing a blob that is already present succeeds.
    pub fn write_blob(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut ing = self.ingest()?;
        io::copy(&mut reader, &mut ing).map_err(|e| Error::Io {
            op: "write blob",
            path: ing.path.clone(),
            source: e,
        })?;
        ing.commit(expected)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.clone()),
            _ => Error::Io {
                op: "open",
                path: p,
                source: e,
            },
        })
    }

    /// Reads a small blob (manifest, config) fully, checking its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut buf)
            .map_err(Error::io("read", self.blob_path(digest)))?;
        let actual = Digest::of(&buf);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(buf)
    }

    /// Removes a blob; returns whether it was present.
    pub fn delete_blob(&self, digest: &Digest) -> Result<bool> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Io {
                op: "remove",
                path: p,
                source: e,
            }),
        }
    }
}

impl Ingest {
    /// The temp file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.written())
    }

    /// Fsyncs, verifies `expected` and moves the blob into `blobs/`. On a mismatch the temp
    /// file is removed and nothing is added.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let (digest, size, mut f) = self.writer.take().expect("ingest committed once").finish();
        f.flush()
            .and_then(|_| f.sync_all())
            .map_err(Error::io("fsync", &self.path))?;
        drop(f);
        if let Some(exp) = expected
            && exp != &digest
        {
            return Err(Error::DigestMismatch {
                expected: exp.clone(),
                actual: digest,
            });
        }
        let dest = self.store.blob_path(&digest);
        if dest.is_file() {
            // Same digest, same content: keep the existing blob.
            return Ok((digest, size));
        }
        fs::rename(&self.path, &dest).map_err(Error::io("rename", &dest))?;
        fsync_dir(dest.parent().expect("blob path has a parent"))?;
        Ok((digest, size))
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer
            .as_mut()
            .expect("ingest not committed")
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("ingest not committed").flush()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // After a successful rename this fails with ENOENT, which is fine.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn round_trip_and_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path()).unwrap();
        let (d, n) = cs.write_blob(&b"hello"[..], None).unwrap();
        assert_eq!((d.clone(), n), (Digest::of(b"hello"), 5));
        assert!(cs.has(&d));
        assert_eq!(cs.read_blob(&d).unwrap(), b"hello");
        // Idempotent, with the expected digest.
        assert_eq!(
            cs.write_blob(&b"hello"[..], Some(&d)).unwrap(),
            (d.clone(), 5)
        );
        assert_eq!(count(&cs.dir().join("ingest")), 0);
        let layout: serde_json::Value =
            serde_json::from_slice(&fs::read(tmp.path().join("content/oci-layout")).unwrap())
                .unwrap();
        assert_eq!(layout["imageLayoutVersion"], "1.0.0");
        let index =
            oci_spec::image::ImageIndex::from_file(tmp.path().join("content/index.json")).unwrap();
        assert_eq!(index.schema_version(), 2);
        assert!(cs.delete_blob(&d).unwrap());
        assert!(!cs.delete_blob(&d).unwrap());
        assert!(matches!(cs.read_blob(&d), Err(Error::BlobNotFound(x)) if x == d));
        // Reopen keeps everything but crash debris.
        let debris = cs.dir().join("ingest/999999999-1-0");
        fs::write(&debris, b"partial").unwrap();
        let live = cs.ingest().unwrap();
        ContentStore::open(tmp.path()).unwrap();
        assert!(!debris.exists());
        assert!(live.path().exists());
    }

    #[test]
    fn mismatch_is_refused_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path()).unwrap();
        let wrong = Digest::of(b"other");
        let err = cs.write_blob(&b"hello"[..], Some(&wrong)).unwrap_err();
        match err {
            Error::DigestMismatch { expected, actual } => {
                assert_eq!(expected, wrong);
                assert_eq!(actual, Digest::of(b"hello"));
            }
            e => panic!("{e}"),
        }
        assert_eq!(count(&cs.dir().join("blobs/sha256")), 0);
        assert_eq!(count(&cs.dir().join("ingest")), 0);
    }

    #[test]
    fn failed_stream_leaves_nothing() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("boom"))
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path()).unwrap();
        assert!(cs.write_blob(Failing, None).is_err());
        assert_eq!(count(&cs.dir().join("ingest")), 0);
        assert_eq!(count(&cs.dir().join("blobs/sha256")), 0);
    }
}
